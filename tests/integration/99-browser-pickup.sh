#!/bin/sh
# The pickup page in a real browser: Debian's chromium driven by
# playwright-core (tests/browser/pickup.mjs; npm packages installed by
# contrib/bootstrap with npm ci in tests/browser), against the portal of a
# gateway this script starts, with links made by real enrollments through
# Postfix (as 77-enroll makes them).
#
# Three recipients are enrolled: yves under PickupLifetime=1 (his link has
# expired by the time the browser comes), then, after a restart with
# PickupMaxFailures=2, xena (her link is downloaded) and zoe (her link is
# locked by two wrong passwords).  The browser, one Chromium for it all:
# - the form page at phone width (iPhone, 390x844, isMobile) and desktop
#   width (Windows, 1280x800): renders with no console errors, passes
#   axe-core (no serious or critical violation; they are printed), holds
#   every item of the markup contract (pickup.mjs names them, one TAP line
#   each), the visitor's platform's instructions first; a screenshot of
#   each, full page, under tests/out/99-browser-pickup/ for a human;
# - the wrong-password, locked, expired and used pages, each reached by
#   submitting the form as a person would, each naming what happened and
#   what to do next (screenshots too);
# - typing xena's password and submitting, with JavaScript off, downloads
#   the PKCS#12 exactly once; it opens with openssl pkcs12 and decrypts the message that
#   waited for her with openssl cms; the page's root fingerprint is the
#   SHA-256 fingerprint of /root.crt, a self-signed root.
# `make screenshots` copies the two form screenshots into docs/img.
#
# Skips when node, chromium or the npm packages are missing (the README's
# commands install them).  Only writes under tests/out and $T.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"

BROWSER_DIR="$top/tests/browser"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
why=""
if ! command -v node >/dev/null 2>&1; then
	why="no node (Node.js 20 or later)"
elif [ ! -x "$CHROMIUM" ]; then
	why="no $CHROMIUM (Debian's chromium, in contrib/debian-packages.txt)"
elif [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] ||
    [ ! -f "$BROWSER_DIR/node_modules/axe-core/axe.min.js" ]; then
	why="no playwright-core or axe-core in tests/browser/node_modules (sh contrib/bootstrap runs npm ci there)"
fi
if [ -n "$why" ]; then
	skip "the pickup page in a real browser" "$why"
	done_testing
fi
need_gateway
need_tools openssl postfix smtp-sink swaks curl timeout

HTTP_PORT=$(free_port) || bail "a free port for the portal"
REINJECT_PORT=$(free_port) || bail "a free port for re-injection"
URL="http://127.0.0.1:$HTTP_PORT"
echo "default encrypt=always fallback=reject" >"$T/policy"
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
cat "$GATE_STATE/ca/root.crt" "$GATE_STATE/ca/issuing.crt" >"$T/trust.pem"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT -o PolicyFile=$T/policy
    -o TrustAnchorFile=$T/trust.pem"

gate_start -o PickupLifetime=1 || bail "smimegate started (PickupLifetime=1)"
sink_start || bail "smtp-sink started"
PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters="
pf_start "$MILTER_PORT" || bail "Postfix started"

mkdir -p "$T/m" "$T/sink-old"
# inv_file RCPT ID: the sink's file to RCPT that is not message ID (the
# invitation); note_file RCPT: the one to alice that names RCPT (the
# notice).  Neither relies on a Subject.
inv_file() {
	for _f in $(sink_files "$1" "$1"); do
		grep -q "<$2@example.com>" "$_f" || { echo "$_f"; return 0; }
	done
	return 1
}
note_file() { sink_files "$1" alice@example.com | head -1; }
_enrolled() { [ -n "$(inv_file "$1" "$2")" ] && [ -n "$(note_file "$1")" ]; }
# text_of FILE OUT: every leaf of the delivered message, decoded, in OUT.
text_of() {
	sink_strip "$1" "$2.eml"
	mime_leaves "$2.eml" "$2.d" && cat "$2.d"/*.body >"$2" 2>/dev/null
}
# enroll ID RCPT: mail from alice to RCPT (no certificate), delivered
# encrypted; sets TOKEN and PASSWORD from the invitation and the notice.
enroll() {
	TOKEN="" PASSWORD=""
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: the offer\n' "$2"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$2" "$1"
	} | make_message "$T/m/$1.eml"
	if send_mail "$T/m/$1.eml" alice@example.com "$2" && wait_delivered "$QID" &&
	    sink_fetch "<$1@example.com>" "$T/m/$1.got" &&
	    ! grep -q "marker-$1" "$T/m/$1.got"; then
		ok "$1: mail to $2 (no certificate) delivered encrypted"
	else
		not_ok "$1: mail to $2 (no certificate) delivered encrypted ($SMTP_REPLY)"
		diag_file "$GATE_LOG" 10 gateway
		return 1
	fi
	if ! wait_for 300 _enrolled "$2" "$1"; then
		not_ok "$1: the invitation to $2 and the notice to alice arrive"
		diag_file "$GATE_LOG" 10 gateway
		return 1
	fi
	text_of "$(inv_file "$2" "$1")" "$T/m/$1.inv"
	text_of "$(note_file "$2")" "$T/m/$1.note"
	TOKEN=$(tr -d '\r' <"$T/m/$1.inv" | grep -a -o 'pickup?t=[0-9a-f]\{64\}' | head -1 | cut -d= -f2)
	PASSWORD=$(tr -d '\r' <"$T/m/$1.note" | sed -n 's/^[[:space:]]*\([A-Za-z0-9]\{20\}\)[[:space:]]*$/\1/p' | head -1)
	check "$1: the invitation to $2 has a pickup link, the notice to alice a password" \
	    test -n "$TOKEN" -a -n "$PASSWORD"
	# The next enrollment's mails are found by recipient: these go aside.
	sink_files "$2" | xargs -r mv -t "$T/sink-old"
}

enroll expired yves@example.net
YVES="$TOKEN" YVES_PW="$PASSWORD"
gate_stop
gate_start -o PickupMaxFailures=2 || bail "smimegate restarted (PickupMaxFailures=2)"
enroll main xena@example.net
XENA="$TOKEN" XENA_PW="$PASSWORD"
enroll locked zoe@example.net
ZOE="$TOKEN" ZOE_PW="$PASSWORD"
[ -n "$YVES" ] && [ -n "$XENA" ] && [ -n "$ZOE" ] || bail "three pickup links made"

# ---- the browser --------------------------------------------------------
cat >"$T/browser.json" <<EOF
{
  "base": "$URL",
  "main": { "token": "$XENA", "password": "$XENA_PW" },
  "locked": { "token": "$ZOE", "password": "$ZOE_PW" },
  "expired": { "token": "$YVES", "password": "$YVES_PW" },
  "out": "$ART",
  "download": "$T/xena.p12",
  "fingerprint": "$T/fingerprint"
}
EOF
# Chromium's profile and Playwright's files go to TMPDIR: here, $T.
mkdir -p "$T/tmp"
env TMPDIR="$T/tmp" CHROMIUM="$CHROMIUM" timeout 300 node "$BROWSER_DIR/pickup.mjs" \
    "$T/browser.json" >"$T/browser.tap" 2>"$T/browser.err"
rc=$?
keep "$T/browser.err"
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "${line#ok - }" ;;
	"not ok - "*) not_ok "${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done <"$T/browser.tap"
if [ "$rc" -ne 0 ] && ! grep -q '^not ok - ' "$T/browser.tap"; then
	not_ok "the browser script ran (exit $rc)"
	diag_file "$T/browser.err" 20 "node stderr"
fi

# ---- what the browser brought: the PKCS#12 and the fingerprint ----------
if [ -s "$T/xena.p12" ] && openssl pkcs12 -in "$T/xena.p12" -passin "pass:$XENA_PW" \
    -nodes -out "$T/xena.pem" 2>"$T/p12.log"; then
	ok "the downloaded PKCS#12 opens with the password (openssl pkcs12)"
else
	not_ok "the downloaded PKCS#12 opens with the password (openssl pkcs12)"
	diag_file "$T/p12.log" 5
fi
if [ -s "$T/xena.pem" ] && openssl cms -decrypt -in "$T/m/main.got" -recip "$T/xena.pem" \
    -inkey "$T/xena.pem" -out "$T/main.plain" 2>"$T/cms.log" &&
    grep -q marker-main "$T/main.plain"; then
	ok "its key decrypts the message that waited for xena (openssl cms -decrypt)"
else
	not_ok "its key decrypts the message that waited for xena (openssl cms -decrypt)"
	diag_file "$T/cms.log" 5
fi
curl -sf -o "$T/root.crt" "$URL/root.crt"
want=$( { openssl x509 -in "$T/root.crt" -noout -fingerprint -sha256 2>/dev/null ||
    openssl x509 -inform DER -in "$T/root.crt" -noout -fingerprint -sha256 2>/dev/null; } |
    sed 's/^.*=//' | tr 'a-f' 'A-F')
got=$(tr -d ' \r\n' <"$T/fingerprint" 2>/dev/null | tr 'a-f' 'A-F')
if [ -n "$want" ] && [ "$got" = "$want" ]; then
	ok "the page's root fingerprint is /root.crt's SHA-256 fingerprint"
else
	not_ok "the page's root fingerprint is /root.crt's SHA-256 fingerprint"
	diag "page:    ${got:-none}"
	diag "root.crt:  ${want:-none (no /root.crt)}"
fi
# What people are asked to trust is the root: self-signed, and the anchor
# of xena's certificate.
subj=$(openssl x509 -inform DER -in "$T/root.crt" -noout -subject 2>/dev/null | sed 's/^subject=//')
iss=$(openssl x509 -inform DER -in "$T/root.crt" -noout -issuer 2>/dev/null | sed 's/^issuer=//')
check "/root.crt is self-signed (a root)" test -n "$subj" -a "$subj" = "$iss"
check "no password reaches the gateway's log" \
    sh -c "! grep -q -F -e '$XENA_PW' -e '$ZOE_PW' -e '$YVES_PW' '$GATE_LOG'"
diag "screenshots: $(cd "$ART" && ls ./*.png 2>/dev/null | tr '\n' ' ')"
done_testing
