#!/bin/sh
# The invitation, the password notice and the pickup pages from the
# templates (TemplateDirectory), end to end through Postfix to smtp-sink.
#
# An outside recipient without a certificate under encrypt=always is
# enrolled: the invitation is multipart/alternative (text and HTML),
# signed as EnrollmentSender (openssl cms -verify), and both parts carry
# every field: the sender, the recipient, the pickup link, its expiry,
# the company (CompanyName, with an "&" that the HTML part escapes) and
# the SHA-256 fingerprint of the root certificate /root.crt serves.  A
# recipient whose domain's policy says language=de gets the German set,
# and its link opens the German page.  The page keeps the markup contract
# the browser tests rely on, preselects the file format for the visitor's
# platform (User-Agent) and puts its instructions first; the format asked
# for is the one downloaded (AES or 3DES PKCS#12).  Error pages say what
# to do next with their HTTP status.  A broken template (an unknown field,
# an unclosed "{{", a missing file, a language that is not there) and a
# bad policy language stop `smimegate -n` with the file and line.  A
# reload (SIGHUP) reads edited templates; a broken one is refused with
# its file:line, and the templates in force stay.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks curl

# ---- smimegate -n: broken templates, with file:line -----------------------
TPL="$T/tpl"
cp -R "$top/conf/templates" "$TPL"
# n_fails WHAT WANT [options]: smimegate -n fails and says WANT
n_fails() {
	_what=$1 _want=$2
	shift 2
	if gate_run -n "$@" >"$T/n.out" 2>&1; then
		not_ok "smimegate -n refuses $_what (it passed)"
	elif grep -qF -- "$_want" "$T/n.out"; then
		ok "smimegate -n refuses $_what: $(head -1 "$T/n.out")"
	else
		not_ok "smimegate -n refuses $_what, saying \"$_want\""
		diag_file "$T/n.out" 3
	fi
}
if gate_run -n -o "TemplateDirectory=$TPL" >"$T/n.out" 2>&1; then
	ok "smimegate -n accepts a copy of the shipped templates"
else
	not_ok "smimegate -n accepts a copy of the shipped templates"
	diag_file "$T/n.out" 3
fi
cp "$TPL/en/invite.html" "$T/invite.html.orig"
line=$(grep -n '{{recipient}}' "$TPL/en/invite.html" | head -1 | cut -d: -f1)
sed -i "${line}s/{{recipient}}/{{ recipent }}/" "$TPL/en/invite.html"
n_fails "an unknown field" "$TPL/en/invite.html:$line: unknown field {{recipent}}" \
    -o "TemplateDirectory=$TPL"
cp "$T/invite.html.orig" "$TPL/en/invite.html"
line=$(grep -n '{{expiry}}' "$TPL/de/invite.txt" | head -1 | cut -d: -f1)
sed -i "${line}s/{{expiry}}/{{expiry/" "$TPL/de/invite.txt"
n_fails "an unclosed {{" "$TPL/de/invite.txt:$line: \"{{\" not closed" -o "TemplateDirectory=$TPL"
cp "$top/conf/templates/de/invite.txt" "$TPL/de/invite.txt"
line=$(grep -n '{{password}}' "$TPL/en/password.txt" | cut -d: -f1)
sed -i "${line}s/{{password}}/{{link}}/" "$TPL/en/password.txt"
n_fails "the link in the sender's password notice" "$TPL/en/password.txt:$line: unknown field {{link}}" \
    -o "TemplateDirectory=$TPL"
cp "$top/conf/templates/en/password.txt" "$TPL/en/password.txt"
sed -i '1s/^Subject:/Subjekt:/' "$TPL/de/invite.txt"
n_fails "a mail template without its Subject line" "$TPL/de/invite.txt:1: want a first line" \
    -o "TemplateDirectory=$TPL"
cp "$top/conf/templates/de/invite.txt" "$TPL/de/invite.txt"
mv "$TPL/de/pickup.html" "$T/pickup.html.moved"
n_fails "a missing template file" "$TPL/de/pickup.html: No such file" -o "TemplateDirectory=$TPL"
mv "$T/pickup.html.moved" "$TPL/de/pickup.html"
n_fails "a TemplateLanguage without its directory" "-o TemplateLanguage=fr: TemplateLanguage: fr: no such directory" \
    -o "TemplateDirectory=$TPL" -o TemplateLanguage=fr
printf 'default encrypt=if-possible\nto de.example language=deutsch\n' >"$T/bad.policy"
n_fails "a policy language that is not a tag" "$T/bad.policy:2: language: \"deutsch\"" \
    -o "PolicyFile=$T/bad.policy"
printf 'TemplateDirectory %s/none\n' "$T" >"$T/tpl.conf"
chmod 0644 "$T/tpl.conf"
if "$top/smimegate" -n -c "$T/tpl.conf" -o "StateDirectory=$T/nstate" >"$T/n.out" 2>&1; then
	not_ok "smimegate -n refuses a TemplateDirectory that does not exist"
else
	check "a TemplateDirectory that does not exist: the configuration's line ($(head -1 "$T/n.out"))" \
	    grep -qF "$T/tpl.conf:1: TemplateDirectory: $T/none" "$T/n.out"
fi

# ---- the gateway, the CA, Postfix ----------------------------------------
HTTP_PORT=$(free_port) || bail "a free port for the portal"
REINJECT_PORT=$(free_port) || bail "a free port for re-injection"
POLICY="$T/policy"
printf 'default encrypt=always fallback=reject\nto de.example language=de\n' >"$POLICY"
COMPANY='Example & Partners'
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT -o EnrollmentSender=pki@example.com
    -o PolicyFile=$POLICY -o CRLCheck=yes -o PickupLifetime=172800"
URL="http://127.0.0.1:$HTTP_PORT"
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
cat "$GATE_STATE/ca/root.crt" "$GATE_STATE/ca/issuing.crt" >"$T/trust.pem"
GATE_OPTS="$GATE_OPTS -o TrustAnchorFile=$T/trust.pem"
gate_ctl ca issue --profile sign pki@example.com >"$T/pki.pem" 2>"$T/pki.err" ||
    { diag_file "$T/pki.err"; bail "the gateway's signing key issued"; }
FP=$(openssl x509 -in "$GATE_STATE/ca/root.crt" -noout -fingerprint -sha256 | sed 's/.*=//')
gate_start -o "CompanyName=$COMPANY" -o "TemplateDirectory=$TPL" || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters="
pf_start "$MILTER_PORT" || bail "Postfix started"
ok "the CA, the gateway's signing key (pki@example.com), Postfix and the sink"

mkdir -p "$T/m"
# enroll ID RCPT: sends; the invitation in $T/m/ID.inv, the notice's password.
enroll() {
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: offer %s\n' "$2" "$1"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1"
		printf 'Content-Type: text/plain\n\nConfidential marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
	PASSWORD=""
	if ! send_mail "$T/m/$1.eml" alice@example.com "$2" || ! wait_delivered "$QID"; then
		not_ok "$1: mail to $2 accepted and delivered ($SMTP_REPLY)"
		return 1
	fi
	if wait_for 300 _sink_has "multipart/alternative" &&
	    sink_fetch "multipart/alternative" "$T/m/$1.inv" "$2"; then
		ok "$1: the invitation to $2 arrived"
	else
		not_ok "$1: the invitation to $2 arrived"
		return 1
	fi
	sink_wait "Subject: Certificate issued for $2" "$T/m/$1.note" &&
	    PASSWORD=$(tr -d '\r' <"$T/m/$1.note" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
	check "$1: the password notice to alice (English: TemplateLanguage) has the password" \
	    test -n "$PASSWORD"
	mkdir -p "$T/sink-old"
	grep -l -e "$2" "$SINK_DIR"/* 2>/dev/null | xargs -r mv -t "$T/sink-old"
}
# parts ID: the invitation's structure, its signature, its two parts.
parts() {
	case $(mime_header "$T/m/$1.inv" Content-Type) in
	multipart/signed*) ok "$1: the invitation is multipart/signed" ;;
	*) not_ok "$1: the invitation is multipart/signed ($(mime_header "$T/m/$1.inv" Content-Type))" ;;
	esac
	if openssl cms -verify -in "$T/m/$1.inv" -CAfile "$T/trust.pem" -signer "$T/m/$1.signer" \
	    -out /dev/null 2>"$T/m/$1.verify" &&
	    openssl x509 -in "$T/m/$1.signer" -noout -ext subjectAltName | grep -q 'email:pki@example.com'; then
		ok "$1: its signature verifies (openssl cms -verify), signed as pki@example.com"
	else
		not_ok "$1: its signature verifies (openssl cms -verify), signed as pki@example.com"
		diag_file "$T/m/$1.verify" 5
	fi
	mime_leaves "$T/m/$1.inv" "$T/m/$1.l"
	check "$1: signed multipart/alternative of text/plain and text/html" sh -c \
	    "grep -q '^1 multipart/alternative' '$T/m/$1.l/structure' &&
	    grep -q '^2 text/plain utf-8' '$T/m/$1.l/structure' &&
	    grep -q '^2 text/html utf-8' '$T/m/$1.l/structure'"
	mime_part_text "$T/m/$1.inv" text/plain "$T/m/$1.txt"
	mime_part_text "$T/m/$1.inv" text/html "$T/m/$1.html"
}
# has ID PART WHAT STRING: the part holds STRING.
has() {
	if grep -qF -- "$4" "$T/m/$1.$2"; then
		ok "$1: the $2 part has $3"
	else
		not_ok "$1: the $2 part has $3 ($4)"
	fi
}
# fields ID RCPT LINK_TXT LINK_HTML
fields() {
	exp=$(date -u -d "@$(($(date +%s) + 172800))" +%Y-%m-%d)
	for p in txt html; do
		has "$1" "$p" "the sender" "alice@example.com"
		has "$1" "$p" "the recipient" "$2"
		has "$1" "$p" "the expiry (in two days)" "$exp"
		has "$1" "$p" "the CA's SHA-256 fingerprint" "$FP"
	done
	has "$1" txt "the link" "$3"
	has "$1" html "the link (href, & escaped)" "href=\"$4\""
	has "$1" txt "the company" "$COMPANY"
	has "$1" html "the company, HTML-escaped" "Example &amp; Partners"
	check "$1: no unescaped company in the HTML part" sh -c "! grep -qF '$COMPANY' '$T/m/$1.html'"
	check "$1: no field left unreplaced" sh -c "! grep -q '{{' '$T/m/$1.txt' '$T/m/$1.html'"
	check "$1: no password in the invitation" sh -c "[ -n '$PASSWORD' ] && ! grep -qF '$PASSWORD' \
	    '$T/m/$1.inv' '$T/m/$1.txt' '$T/m/$1.html'"
}

# ---- an English invitation -------------------------------------------------
enroll one xena@en.example
parts one
TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/one.txt" | head -1)
check "one: a pickup link with a token" test -n "$TOKEN"
fields one xena@en.example "$URL/pickup?t=$TOKEN" "$URL/pickup?t=$TOKEN"
has one txt "the English text" "What to do, in three steps"
has one txt "that it costs nothing" "It costs you nothing"
has one txt "that the password comes by phone" "by phone"
has one html "lang=en" '<html lang="en">'
check "one: the subject is English" grep -q '^Subject: Encrypted mail from alice@example.com' "$T/m/one.inv"

# ---- the pickup page --------------------------------------------------------
# page UA OUT: GET the page with that User-Agent.
page() { curl -s -A "$1" -o "$2" -w '%{http_code}' "$URL/pickup?t=$TOKEN${3:-}"; }
code=$(page "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0" "$T/win.html")
check "the page answers (HTTP $code)" test "$code" = 200
for want in '<html lang="en">' '<meta name="viewport"' '<form id="pickup-form" method="post">' \
    '<label for="password">' '<input id="password" name="password" type="password">' \
    '<button type="submit">' '<a id="root-cert" href="/root.crt">' \
    "<code id=\"root-fingerprint\">$FP</code>" "value=\"$TOKEN\""; do
	check "the page has $want" grep -qF -- "$want" "$T/win.html"
done
check "the page has all six instruction sections" test "$(grep -c '<section class="howto" id="howto-' "$T/win.html")" -eq 6
check "the page needs no external asset and no script" sh -c \
    "! grep -Eqi '<script|<link |src=\"http|href=\"http' '$T/win.html'"
check "the page names no gpgsm" sh -c "! grep -qi gpgsm '$T/win.html'"
first() { grep -o '<section class="howto" id="howto-[a-z-]*"' "$1" | head -1 | sed 's/.*id="howto-//; s/"$//'; }
checked() { grep -o 'name="format" value="[a-z]*" checked' "$1" | sed 's/.*value="//; s/".*//'; }
check "Windows 10: the modern format preselected, Outlook for Windows first ($(checked "$T/win.html"), $(first "$T/win.html"))" \
    test "$(checked "$T/win.html")/$(first "$T/win.html")" = modern/outlook-windows
page "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) Mobile/15E148" "$T/ios.html" >/dev/null
check "iPhone: the legacy format preselected, Apple Mail for iOS first ($(checked "$T/ios.html"), $(first "$T/ios.html"))" \
    test "$(checked "$T/ios.html")/$(first "$T/ios.html")" = legacy/apple-mail-ios
page "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15" "$T/mac.html" >/dev/null
check "Mac: legacy, the Mac's sections first ($(checked "$T/mac.html"), $(first "$T/mac.html"))" \
    test "$(checked "$T/mac.html")/$(first "$T/mac.html")" = legacy/outlook-mac
page "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.0" "$T/linux.html" >/dev/null
check "Linux: modern, Thunderbird first ($(checked "$T/linux.html"), $(first "$T/linux.html"))" \
    test "$(checked "$T/linux.html")/$(first "$T/linux.html")" = modern/thunderbird
page "Mozilla/5.0 (Linux; Android 10; K) Chrome/120.0 Mobile" "$T/android.html" >/dev/null
check "Android: legacy, Android first ($(checked "$T/android.html"), $(first "$T/android.html"))" \
    test "$(checked "$T/android.html")/$(first "$T/android.html")" = legacy/android
curl -s -o "$T/ca.der" "$URL/root.crt"
check "the fingerprint shown is the one of /root.crt" sh -c \
    "[ \"\$(openssl x509 -inform DER -in '$T/ca.der' -noout -fingerprint -sha256 | sed 's/.*=//')\" = '$FP' ]"

# post TOKEN PASSWORD OUT [field=value...]: the status
post() {
	_t=$1 _p=$2 _o=$3
	shift 3
	curl -s -o "$_o" -w '%{http_code}' --data-urlencode "t=$_t" --data-urlencode "password=$_p" \
	    ${1:+--data "$1"} ${2:+--data "$2"} "$URL/pickup"
}
code=$(post "$TOKEN" wrong-password "$T/wrong.html" l=en)
check "a wrong password: 403 and the page says what to do, with the way back ($code)" sh -c \
    "[ '$code' = 403 ] && grep -q '<main id=\"error\" data-reason=\"wrong-password\">' '$T/wrong.html' &&
    grep -q '<p class=\"next\">.*href=\"/pickup?t=$TOKEN&amp;l=en\"' '$T/wrong.html'"
code=$(post "$TOKEN" "$PASSWORD" "$T/one.p12" format=legacy l=en)
check "format=legacy: the PKCS#12 downloads (HTTP $code)" test "$code" = 200
openssl pkcs12 -in "$T/one.p12" -passin "pass:$PASSWORD" -info -nokeys -noout >"$T/one.p12.info" 2>&1
check "format=legacy: it is the 3DES form" grep -q 'pbeWithSHA1And3-KeyTripleDES-CBC' "$T/one.p12.info"
code=$(post "$TOKEN" "$PASSWORD" "$T/used.html")
check "the link once used: 410, the used page ($code)" sh -c "[ '$code' = 410 ] && \
    grep -q '<main id=\"error\" data-reason=\"used\">' '$T/used.html' && grep -q '<p class=\"next\">' '$T/used.html'"
code=$(page "curl" "$T/used-get.html")
check "the used link's page says so at once (HTTP $code)" sh -c "[ '$code' = 410 ] && \
    grep -q 'data-reason=\"used\"' '$T/used-get.html'"

# ---- a German invitation (policy: to de.example language=de) -------------
enroll two karl@de.example
parts two
TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/two.txt" | head -1)
fields two karl@de.example "$URL/pickup?t=$TOKEN&l=de" "$URL/pickup?t=$TOKEN&amp;l=de"
has two txt "the German text" "So geht es, in drei Schritten"
has two txt "that it costs nothing (German)" "Es kostet Sie nichts"
has two html "the German HTML" "Mein Zertifikat abholen"
has two html "lang=de" '<html lang="de">'
check "two: no English text in the German invitation" sh -c "! grep -q 'What to do' '$T/m/two.txt' '$T/m/two.html'"
code=$(page "Mozilla/5.0 (Windows NT 10.0)" "$T/de.html" "&l=de")
check "the German link opens the German page (HTTP $code)" sh -c "[ '$code' = 200 ] && \
    grep -q '<html lang=\"de\">' '$T/de.html' && grep -q 'Zertifikat herunterladen' '$T/de.html' &&
    grep -q '<input type=\"hidden\" name=\"l\" value=\"de\">' '$T/de.html'"
for i in 1 2 3 4; do post "$TOKEN" "x$i" /dev/null l=de >/dev/null; done
code=$(post "$TOKEN" x5 "$T/locked.html" l=de)
check "too many wrong passwords: 429, the German locked page, what to do next ($code)" sh -c \
    "[ '$code' = 429 ] && grep -q '<main id=\"error\" data-reason=\"locked\">' '$T/locked.html' &&
    grep -q '<p class=\"next\">' '$T/locked.html' && grep -q '<html lang=\"de\">' '$T/locked.html'"

# ---- a reload reads the templates again; a broken one keeps those in force --
# reloaded N: the Nth reload (done or failed) is in the log.
reloaded() { [ "$(grep -c -e 'reloaded ' -e 'reload failed' "$GATE_LOG")" -ge "$1" ]; }
sed -i 's|<h1>Read the encrypted e-mail from {{company}}</h1>|<h1>Edited heading for {{company}}</h1>|' \
    "$TPL/en/pickup.html"
kill -HUP "$GATE_PID"
wait_for 100 reloaded 1
page "Mozilla/5.0 (Windows NT 10.0)" "$T/edited.html" >/dev/null
check "after an edit and SIGHUP the page has the new text" \
    grep -q '<h1>Edited heading for Example &amp; Partners</h1>' "$T/edited.html"
sed -i 's|<h1>Edited heading|<h1>{{headline}} Edited heading|' "$TPL/en/pickup.html"
line=$(grep -n '{{headline}}' "$TPL/en/pickup.html" | cut -d: -f1)
kill -HUP "$GATE_PID"
wait_for 100 reloaded 2
check "a broken template on reload: refused, the log names file:line" \
    grep -q "reload failed.*$TPL/en/pickup.html:$line: unknown field {{headline}}" "$GATE_LOG"
page "Mozilla/5.0 (Windows NT 10.0)" "$T/kept.html" >/dev/null
check "a broken template on reload: the templates in force stay" \
    grep -q '<h1>Edited heading for Example &amp; Partners</h1>' "$T/kept.html"
cp "$top/conf/templates/en/pickup.html" "$TPL/en/pickup.html"

# ---- an expired link -------------------------------------------------------
gate_stop
gate_start -o "CompanyName=$COMPANY" -o "TemplateDirectory=$TPL" -o PickupLifetime=1 || bail "smimegate restarted, PickupLifetime=1"
enroll three yves@en.example
mime_part_text "$T/m/three.inv" text/plain "$T/m/three.txt"
TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/three.txt" | head -1)
sleep 2
code=$(post "$TOKEN" "$PASSWORD" "$T/expired.html")
check "an expired link: 410, the expired page ($code)" sh -c "[ '$code' = 410 ] && \
    grep -q '<main id=\"error\" data-reason=\"expired\">' '$T/expired.html' &&
    grep -q '<p class=\"next\">' '$T/expired.html'"
# For a human to look at: the invitations' parts and the pages.
for f in one.txt one.html two.txt two.html one.inv; do keep "$T/m/$f" "invite-$f"; done
for f in win.html ios.html de.html wrong.html used.html locked.html expired.html; do keep "$T/$f" "page-$f"; done
check "no password reaches the gateway's log" sh -c "! grep -qF -- '$PASSWORD' '$GATE_LOG'"
gate_stop
done_testing
