#!/bin/sh
# Enrollment of unknown external recipients by the embedded CA,
# end to end through Postfix.  Under encrypt=always, mail to an address
# without a certificate reaches it encrypted to a certificate issued on the
# spot (key escrowed); the recipient gets an invitation with a one-time
# pickup link, the sender a notice with the PKCS#12 password, both
# re-injected through a Postfix smtpd without the milter.  The PKCS#12
# downloaded from the portal with that password decrypts the message with
# openssl cms and gpgsm; a second download fails; an expired link fails;
# wrong passwords fail and lock the link; failures from one client address
# over several links lock that address out of links that do not exist
# (PickupClientMaxFailures), never out of a live one; the
# abuse limits (EnrollmentMaxPerSender, EnrollmentAllowDomains,
# EnrollmentDenyDomains) refuse enrollment, and the fallback applies.  The
# notice to alice (who has a certificate in the keystore) is S/MIME-
# encrypted to her and signed by the gateway (EnrollmentSender's key): it
# decrypts with her key, and its password opens the PKCS#12; held in the
# gateway's spool, neither notice nor invitation holds the password in
# clear, and smimectl spool show leaves their bodies out.  The notice
# cannot be sent: no invitation goes out, the message is tempfailed, and
# the retry uses the certificate issued the first time (exactly one).
# The invitation cannot be sent: the message is tempfailed, nothing goes
# out in clear, and the certificate kept pending for the retry is revoked
# once EnrollmentPendingTime has passed.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf postfix smtp-sink swaks curl

HTTP_PORT=$(free_port) || bail "a free port for the portal"
REINJECT_PORT=$(free_port) || bail "a free port for re-injection"
POLICY="$T/policy"
echo "default encrypt=always fallback=reject" >"$POLICY"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT -o EnrollmentSender=pki@example.com
    -o PolicyFile=$POLICY -o CRLCheck=yes"
URL="http://127.0.0.1:$HTTP_PORT"

gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
cat "$GATE_STATE/ca/root.crt" "$GATE_STATE/ca/issuing.crt" >"$T/trust.pem"
GATE_OPTS="$GATE_OPTS -o TrustAnchorFile=$T/trust.pem"
gate_ctl ca issue --profile external alice@example.com >"$T/alice.pem" 2>"$T/alice.err" ||
    { diag_file "$T/alice.err"; bail "alice's certificate issued"; }
echo alice-export-pw >"$T/alice.pw"
gate_ctl keystore export alice@example.com --password-file "$T/alice.pw" --out "$T/alice.p12" \
    >/dev/null 2>"$T/alice.err" &&
    openssl pkcs12 -in "$T/alice.p12" -passin "file:$T/alice.pw" -nodes -out "$T/alice.key.pem" \
    2>>"$T/alice.err" || { diag_file "$T/alice.err"; bail "alice's key exported"; }
# The gateway's own signing key (EnrollmentSender), for the password notice.
gate_ctl ca issue --profile sign pki@example.com >"$T/pki.pem" 2>"$T/pki.err" ||
    { diag_file "$T/pki.err"; bail "the gateway's signing key issued"; }
ok "the CA made, alice's and the gateway's keys issued and escrowed"

gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
# A second re-injection listener that refuses mail to alice (the sender):
# the password notice cannot be sent, the invitation could.
NOALICE_PORT=$(free_port) || bail "a free port for re-injection refusing alice"
echo "alice@example.com REJECT no notices for alice here" >"$T/no-alice"
PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters=
127.0.0.1:$NOALICE_PORT inet n - n - - smtpd -o smtpd_milters=
  -o smtpd_recipient_restrictions=check_recipient_access,texthash:$T/no-alice,permit_mynetworks,reject"
pf_start "$MILTER_PORT" || bail "Postfix started"
ok "Postfix with the milter on $SMTP_PORT, re-injection without it on $REINJECT_PORT"

mkdir -p "$T/m"
msg() { # ID TO
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: enrollment %s\n' "$2" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$2" "$1"
	} | make_message "$T/m/$1.eml"
}
# enroll_case ID RCPT: sends, waits for the three mails; sets TOKEN, PASSWORD.
enroll_case() {
	msg "$1" "$2"
	TOKEN="" PASSWORD=""
	if ! send_mail "$T/m/$1.eml" alice@example.com "$2"; then
		not_ok "$1: mail to $2 (no certificate) accepted ($SMTP_REPLY)"
		return 1
	fi
	ok "$1: mail to $2 (no certificate) accepted"
	if wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got"; then
		ok "$1: delivered"
	else
		not_ok "$1: delivered"
		return 1
	fi
	case $(mime_header "$T/m/$1.got" Content-Type) in
	*application/pkcs7-mime*enveloped-data*) ok "$1: delivered encrypted (enveloped-data)" ;;
	*) not_ok "$1: delivered encrypted" ;;
	esac
	check "$1: no plaintext in the delivered message" sh -c "! grep -q 'marker-$1' '$T/m/$1.got'"
	if sink_wait "Subject: Encrypted mail from alice@example.com" "$T/m/$1.inv" &&
	    grep -q "^To: $2" "$T/m/$1.inv"; then
		ok "$1: invitation to $2"
	else
		not_ok "$1: invitation to $2"
	fi
	if sink_wait "Subject: Certificate issued for $2" "$T/m/$1.note" &&
	    grep -q "^To: alice@example.com" "$T/m/$1.note"; then
		ok "$1: notice with the password to the sender"
	else
		not_ok "$1: notice with the password to the sender"
	fi
	mime_part_text "$T/m/$1.inv" text/plain "$T/m/$1.inv.txt"
	TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/$1.inv.txt" | head -1)
	note_open "$1"
	PASSWORD=$(tr -d '\r' <"$T/m/$1.note.txt" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
	check "$1: the invitation has a link, the notice a password" test -n "$TOKEN" -a -n "$PASSWORD"
	check "$1: the password is not in the notice in clear" \
	    sh -c "[ -n '$PASSWORD' ] && ! grep -q -F -- '$PASSWORD' '$T/m/$1.note'"
	check "$1: the password is not in the invitation" sh -c "! grep -q '$PASSWORD' '$T/m/$1.inv'"
	# sink_fetch takes the first match: move these aside for the next case.
	mkdir -p "$T/sink-old"
	grep -l -e "$2" "$SINK_DIR"/* 2>/dev/null | xargs -r mv -t "$T/sink-old"
}
# note_open ID: the notice $T/m/ID.note is encrypted to alice and signed by
# the gateway (pki@example.com): decrypted with alice's key, verified, its
# text in $T/m/ID.note.txt.
note_open() {
	: >"$T/m/$1.note.txt"
	case $(mime_header "$T/m/$1.note" Content-Type) in
	*application/pkcs7-mime*enveloped-data*) ok "$1: the notice is S/MIME-encrypted" ;;
	*) not_ok "$1: the notice is S/MIME-encrypted"; return 1 ;;
	esac
	if openssl cms -decrypt -in "$T/m/$1.note" -recip "$T/alice.key.pem" \
	    -inkey "$T/alice.key.pem" -out "$T/m/$1.note.dec" 2>"$T/m/$1.dec.log"; then
		ok "$1: the notice decrypts with alice's key (openssl cms)"
	else
		not_ok "$1: the notice decrypts with alice's key (openssl cms)"
		diag_file "$T/m/$1.dec.log" 5
		return 1
	fi
	if openssl cms -verify -in "$T/m/$1.note.dec" -CAfile "$T/trust.pem" \
	    -signer "$T/m/$1.signer.pem" -out "$T/m/$1.note.txt" 2>"$T/m/$1.ver.log" &&
	    openssl x509 -in "$T/m/$1.signer.pem" -noout -ext subjectAltName |
	    grep -q 'email:pki@example.com'; then
		ok "$1: the notice is signed by the gateway (pki@example.com), verified"
	else
		not_ok "$1: the notice is signed by the gateway (pki@example.com), verified"
		diag_file "$T/m/$1.ver.log" 5
	fi
}
# pickup TOKEN PASSWORD OUT [legacy]: POSTs; prints the HTTP status.
pickup() {
	curl -s -o "$3" -w '%{http_code}' --data-urlencode "t=$1" \
	    --data-urlencode "password=$2" ${4:+--data legacy=1} "$URL/pickup"
}

# ---- xena: enrolled, downloads, decrypts ----------------------------------
enroll_case one xena@example.net
check "the portal's form for the link" sh -c "curl -sf '$URL/pickup?t=$TOKEN' | grep -q 'type=\"password\"'"
code=$(pickup "$TOKEN" wrong-password "$T/wrong.out")
check "a wrong password is refused (HTTP $code)" test "$code" = 403
code=$(pickup "$TOKEN" "$PASSWORD" "$T/xena.p12" legacy)
check "the PKCS#12 downloads with the password (HTTP $code)" test "$code" = 200
if openssl pkcs12 -in "$T/xena.p12" -passin "pass:$PASSWORD" -nodes -out "$T/xena.pem" 2>"$T/p12.log"; then
	ok "the PKCS#12 opens with the password"
else
	not_ok "the PKCS#12 opens with the password"
	diag_file "$T/p12.log" 5
fi
check "it holds xena's certificate" sh -c "openssl x509 -in '$T/xena.pem' -noout -ext subjectAltName \
    | grep -q 'email:xena@example.net'"
if openssl cms -decrypt -in "$T/m/one.got" -recip "$T/xena.pem" -inkey "$T/xena.pem" \
    -out "$T/one.openssl" 2>"$T/one.openssl.log" && grep -q marker-one "$T/one.openssl"; then
	ok "xena decrypts the message with openssl cms"
else
	not_ok "xena decrypts the message with openssl cms"
	diag_file "$T/one.openssl.log" 5
fi
G="$T/gnupg"
mkdir -p "$G" && chmod 0700 "$G"
echo allow-loopback-pinentry >"$G/gpg-agent.conf"
at_exit "GNUPGHOME='$G' gpgconf --kill all"
echo "$PASSWORD" >"$T/pw"
# gpgsm 2.2.40 misreads about one legacy PKCS#12 in 150 (see
# gpgsm_import_p12): the link is used, so a new export of the same escrowed
# key (new salt) is tried then.
cp "$T/xena.p12" "$T/xena.try.p12"
gp_ok=1
gpgsm_import_p12 "$G" "$T/xena.try.p12" "$T/pw" xena@example.net \
    gate_ctl keystore export xena@example.net --legacy --password-file "$T/pw" \
    --out "$T/xena.try.p12" && gp_ok=0
if [ "$gp_ok" -eq 0 ]; then
	mime_body "$T/m/one.got" "$T/one.b64"
	tr -d '\r' <"$T/one.b64" | base64 -d >"$T/one.der"
	GNUPGHOME="$G" gpgsm --batch --disable-dirmngr --disable-crl-checks --pinentry-mode loopback \
	    --passphrase-fd 0 --status-fd 3 --decrypt -o "$T/one.gpgsm" "$T/one.der" <"$T/pw" \
	    3>"$T/one.gpgsm.status" >"$T/one.gpgsm.log" 2>&1
	check "xena decrypts the message with gpgsm (legacy PKCS#12)" sh -c \
	    "grep -q DECRYPTION_OKAY '$T/one.gpgsm.status' && grep -q marker-one '$T/one.gpgsm'"
else
	not_ok "gpgsm imports the legacy PKCS#12"
	diag_file "$T/xena.try.p12.gpgsm.log" 5
fi
code=$(pickup "$TOKEN" "$PASSWORD" "$T/again.out")
check "a second download fails (HTTP $code)" test "$code" = 410
gate_ctl keystore list >"$T/ks.out" 2>&1
check "xena's key is escrowed" grep -q '^xena@example.net' "$T/ks.out"

# A second message to xena: her certificate is found, no second enrollment.
msg two xena@example.net
send_mail "$T/m/two.eml" alice@example.com xena@example.net && wait_delivered "$QID"
check "a second message to xena is encrypted to the same certificate, no new invitation" \
    test "$(grep -c 'enroll <xena@example.net>: certificate issued' "$GATE_LOG")" -eq 1

# ---- zoe: wrong passwords lock the link -----------------------------------
enroll_case three zoe@example.net
c1=$(pickup "$TOKEN" x1 /dev/null); c2=$(pickup "$TOKEN" x2 /dev/null)
c3=$(pickup "$TOKEN" x3 /dev/null); c4=$(pickup "$TOKEN" x4 /dev/null)
c5=$(pickup "$TOKEN" x5 /dev/null)
check "wrong passwords: 403 four times, then locked (429) ($c1 $c2 $c3 $c4 $c5)" \
    test "$c1$c2$c3$c4$c5" = 403403403403429
code=$(pickup "$TOKEN" "$PASSWORD" "$T/zoe.p12")
check "a locked link refuses even the right password (HTTP $code)" test "$code" = 429

# ---- yves: an expired link ------------------------------------------------
gate_stop
gate_start -o PickupLifetime=1 || bail "smimegate restarted with PickupLifetime=1"
enroll_case four yves@example.net
sleep 2
code=$(pickup "$TOKEN" "$PASSWORD" "$T/yves.p12")
check "an expired link fails (HTTP $code)" test "$code" = 410

# ---- one client address failing over several links: refused ----
gate_stop
gate_start -o PickupClientMaxFailures=3 || bail "smimegate restarted with PickupClientMaxFailures=3"
enroll_case six ursula@example.net
fake1=$(printf '%064d' 1) fake2=$(printf '%064d' 2)
fake3=$(printf '%064d' 3)
c1=$(pickup "$fake1" guess1 /dev/null); c2=$(pickup "$fake2" guess2 /dev/null)
c3=$(pickup "$TOKEN" guess3 /dev/null); c4=$(pickup "$fake3" guess4 /dev/null)
check "3 failures over 3 links from 127.0.0.1, then refused for a link that does not exist ($c1 $c2 $c3 $c4)" \
    test "$c1$c2$c3$c4" = 410410403429
code=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
    --data-urlencode "t=$fake3" --data-urlencode "password=x" "$URL/pickup")
check "another client address is not refused (HTTP $code)" test "$code" = 410
code=$(pickup "$TOKEN" "$PASSWORD" "$T/ursula.p12")
check "the address over its limit still picks up a live link: junk locks no recipient out (HTTP $code)" \
    test "$code" = 200
check "no password reaches the gateway's log" sh -c "! grep -q -F -- '$PASSWORD' '$GATE_LOG'"

# ---- abuse limits: enrollments per sender a day, domains -----------------
gate_stop
gate_start -o EnrollmentMaxPerSender=1 -o EnrollmentDenyDomains=blocked.example ||
    bail "smimegate restarted with EnrollmentMaxPerSender=1, EnrollmentDenyDomains"
enroll_case seven vera@example.net
msg eight wanda@example.net
send_mail "$T/m/eight.eml" alice@example.com wanda@example.net
check "the second enrollment of the day for alice is refused: fallback=reject ($SMTP_REPLY)" \
    test "$SMTP_CODE" = 550
check "the log says why" grep -q 'enroll <wanda@example.net>: refused: <alice@example.com> has reached EnrollmentMaxPerSender (1)' "$GATE_LOG"
msg nine x@sub.blocked.example
send_mail "$T/m/nine.eml" bob@example.com x@sub.blocked.example
check "a denied domain (and below it) is not enrolled: refused ($SMTP_REPLY)" test "$SMTP_CODE" = 550
check "the log says the domain is not allowed" \
    grep -q 'enroll <x@sub.blocked.example>: refused: domain sub.blocked.example not allowed' "$GATE_LOG"
gate_ctl ca list >"$T/ca-list7.out" 2>&1
check "neither wanda nor the denied domain got a certificate" \
    sh -c "! grep -Eq 'wanda@|blocked.example' '$T/ca-list7.out'"
gate_stop
gate_start -o EnrollmentAllowDomains=partner.example || bail "smimegate restarted with EnrollmentAllowDomains"
msg ten yara@example.net
send_mail "$T/m/ten.eml" alice@example.com yara@example.net
check "outside EnrollmentAllowDomains: not enrolled, refused ($SMTP_REPLY)" test "$SMTP_CODE" = 550
enroll_case eleven pia@partner.example

# ---- bob, an employee without a key: one on the spot (CAEnrollEmployees) --
gate_stop
gate_start -o CAEnrollEmployees=yes || bail "smimegate restarted with CAEnrollEmployees=yes"
{
	printf 'From: Bob <bob@example.com>\nTo: xena@example.net\nSubject: from bob\n'
	printf 'Message-ID: <bob1@example.com>\nMIME-Version: 1.0\n'
	printf 'Content-Type: text/plain\n\nHello marker-bob1.\n'
} | make_message "$T/m/bob1.eml"
if send_mail "$T/m/bob1.eml" bob@example.com xena@example.net && wait_delivered "$QID"; then
	ok "bob (no key) to xena: accepted and delivered"
	l=$(gate_logline "$QID")
	check "bob's message is signed (new key) and encrypted" log_has "$l" \
	    "action=signed+encrypted" "signer=<bob@example.com>"
	check "the log says bob was enrolled" grep -q 'enroll employee <bob@example.com>: signing and encryption' "$GATE_LOG"
	gate_ctl keystore list >"$T/ks2.out" 2>&1
	check "bob has a signing and an encryption key in escrow" sh -c \
	    "grep '^bob@example.com' '$T/ks2.out' | grep -q '	sign	' && grep '^bob@example.com' '$T/ks2.out' | grep -q '	encrypt	'"
	# The sender's copy goes to bob's encryption certificate, never
	# to the signing-only one (RecipientInfos name them by serial number).
	enc_ser=$(awk -F'\t' '$1 == "bob@example.com" && $5 == "encrypt" { print $3 }' "$T/ks2.out")
	sig_ser=$(awk -F'\t' '$1 == "bob@example.com" && $5 == "sign" { print $3 }' "$T/ks2.out")
	sink_fetch "<bob1@example.com>" "$T/m/bob1.got" &&
	    openssl cms -cmsout -print -in "$T/m/bob1.got" 2>/dev/null |
	    sed -n 's/^ *serialNumber: *//p' >"$T/bob1.serials"
	dec() { python3 -c "import sys; print(int(sys.argv[1], 16))" "$1" 2>/dev/null; }
	if [ -n "$enc_ser" ] && [ -n "$sig_ser" ] &&
	    grep -qix -e "$(dec "$enc_ser")" -e "0x$enc_ser" "$T/bob1.serials" &&
	    ! grep -qix -e "$(dec "$sig_ser")" -e "0x$sig_ser" "$T/bob1.serials"; then
		ok "bob's own copy is encrypted to his encryption certificate, not the signing one"
	else
		not_ok "bob's own copy is encrypted to his encryption certificate, not the signing one"
		diag "encryption $enc_ser, signing $sig_ser; RecipientInfo serials: $(tr '\n' ' ' <"$T/bob1.serials")"
	fi
else
	not_ok "bob (no key) to xena: accepted and delivered ($SMTP_REPLY)"
fi

# ---- the notice cannot be sent: no invitation, tempfail; the retry ------
# ---- uses the certificate issued by the first try --------------
# serials ADDR: the serials `smimectl ca list` shows for ADDR, one a line.
serials() { gate_ctl ca list 2>/dev/null | awk -F'\t' -v a="$1" '$2 == a { print $1 }'; }
gate_stop
gate_start -o "EnrollmentSMTP=127.0.0.1:$NOALICE_PORT" || bail "smimegate restarted, notices refused"
msg twelve quinn@example.net
send_mail "$T/m/twelve.eml" alice@example.com quinn@example.net
check "the notice refused: the message is tempfailed ($SMTP_REPLY)" test "$SMTP_CODE" = 451
check "the notice refused: the log says so" \
    grep -q 'enroll <quinn@example.net>: invitation: password notice to <alice@example.com> not sent (so no invitation)' "$GATE_LOG"
sleep 1
check "the notice refused: no invitation went out (no dead link)" \
    sh -c "! grep -q 'quinn@example.net' '$SINK_DIR'/* 2>/dev/null"
check "the notice refused: nothing for quinn delivered" \
    sh -c "! grep -q 'marker-twelve' '$SINK_DIR'/* 2>/dev/null"
q1=$(serials quinn@example.net)
gate_ctl ca list >"$T/ca-q1.out" 2>&1
check "one certificate issued for quinn, kept pending, not revoked ($q1)" sh -c \
    "[ \$(grep -c 'quinn@example.net' '$T/ca-q1.out') -eq 1 ] && grep 'quinn@example.net' '$T/ca-q1.out' | grep -q 'valid\$'"
check "the log says it is kept for the retry" \
    grep -q 'enroll <quinn@example.net>: certificate kept pending for the retry' "$GATE_LOG"
gate_stop
gate_start || bail "smimegate restarted, re-injection up"
enroll_case twelve quinn@example.net
q2=$(serials quinn@example.net)
check "the retry issued no second certificate: exactly one for quinn ($q2)" \
    test "$(echo "$q2" | grep -c .)" -eq 1 -a "$q2" = "$q1"
check "the log says the earlier try's certificate was used" \
    grep -q 'enroll <quinn@example.net>: certificate of the earlier try used' "$GATE_LOG"
code=$(pickup "$TOKEN" "$PASSWORD" "$T/quinn.p12")
openssl pkcs12 -in "$T/quinn.p12" -passin "pass:$PASSWORD" -nodes -out "$T/quinn.pem" 2>/dev/null
qs=$(openssl x509 -in "$T/quinn.pem" -noout -serial 2>/dev/null | sed 's/^serial=//')
check "the PKCS#12 from the retry's link holds that certificate (HTTP $code, $qs)" \
    sh -c "[ '$code' = 200 ] && [ -n '$qs' ] && echo '$q1' | grep -qix '0*$qs'"
if openssl cms -decrypt -in "$T/m/twelve.got" -recip "$T/quinn.pem" -inkey "$T/quinn.pem" \
    -out "$T/twelve.txt" 2>"$T/twelve.log" && grep -q marker-twelve "$T/twelve.txt"; then
	ok "the retried message arrived encrypted to the pending certificate (openssl cms)"
else
	not_ok "the retried message arrived encrypted to the pending certificate (openssl cms)"
	diag_file "$T/twelve.log" 5
fi
gate_ctl ca list >"$T/ca-q2.out" 2>&1
check "quinn's certificate is valid (not revoked) after the retry" sh -c \
    "grep 'quinn@example.net' '$T/ca-q2.out' | grep -q 'valid\$'"
check "no pending enrollment is left for quinn" \
    sh -c "[ -z \"\$(ls -A '$GATE_STATE/enroll-pending' 2>/dev/null)\" ]"

# ---- the password is never in the spool in clear ---------------
# The gateway's own mail through its spool (EnrollmentSMTP empty) with a
# ReinjectCommand that fails: the notice and invitation stay held in the
# spool; they are copied while held, then released.
gate_stop
printf '#!/bin/sh\nexit 75\n' >"$T/reinject-down"
chmod 0755 "$T/reinject-down"
pf_reinject "$T/reinject-up"
gate_start -o EnrollmentSMTP= -o "ReinjectCommand=$T/reinject-down" ||
    bail "smimegate restarted, spool, re-injection failing"
msg thirteen olga@example.net
if send_mail "$T/m/thirteen.eml" alice@example.com olga@example.net && wait_delivered "$QID"; then
	ok "thirteen: to olga accepted and delivered, the gateway's mails queued"
else
	not_ok "thirteen: to olga accepted and delivered ($SMTP_REPLY)"
fi
held() { [ "$(grep -rl 'olga@example.net' "$GATE_STATE/queue" 2>/dev/null | wc -l)" -ge 2 ]; }
wait_for 50 held
mkdir -p "$T/held"
find "$GATE_STATE/queue" -type f -exec cp {} "$T/held/" \;
check "the notice and the invitation are held in the spool" \
    test "$(grep -l 'olga@example.net' "$T/held"/* 2>/dev/null | wc -l)" -ge 2
check "the held notice is S/MIME-encrypted" \
    sh -c "grep -l 'Subject: Certificate issued for olga' '$T/held'/* | xargs grep -l 'application/pkcs7-mime' | grep -q ."
# smimectl spool show: the gateway's own mail without its body (a link, a
# password); --body shows it.
inv_id=$(gate_ctl spool list 2>/dev/null | awk '/to=<olga@example.net>/ { print $1 }' | head -1)
gate_ctl spool show "$inv_id" >"$T/show.out" 2>&1
gate_ctl spool show --body "$inv_id" >"$T/show-body.out" 2>&1
check "spool show: the invitation's header, its body (the link) not shown ($inv_id)" sh -c \
    "grep -q '^Form: own mail' '$T/show.out' && grep -q '^To: olga@example.net' '$T/show.out' &&
    grep -q 'body not shown' '$T/show.out' && ! grep -q 'pickup?t=' '$T/show.out'"
# (the body is quoted-printable: "=" is "=3D")
check "spool show --body: the invitation's body (the link)" grep -q 'pickup?t=3D[0-9a-f]' "$T/show-body.out"
gate_stop
gate_start -o EnrollmentSMTP= -o "ReinjectCommand=$T/reinject-up" ||
    bail "smimegate restarted, spool, re-injection up"
if sink_wait "Subject: Certificate issued for olga" "$T/m/thirteen.note" &&
    sink_wait "Subject: Encrypted mail from alice@example.com" "$T/m/thirteen.inv"; then
	ok "thirteen: released, the notice and the invitation arrive"
	note_open thirteen
	PASSWORD=$(tr -d '\r' <"$T/m/thirteen.note.txt" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
	check "thirteen: the decrypted notice holds the password" test -n "$PASSWORD"
	check "thirteen: the password is in no spool file held (in clear)" \
	    sh -c "[ -n '$PASSWORD' ] && ! grep -r -q -F -- '$PASSWORD' '$T/held'"
	mime_part_text "$T/m/thirteen.inv" text/plain "$T/m/thirteen.inv.txt"
	TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/thirteen.inv.txt" | head -1)
	code=$(pickup "$TOKEN" "$PASSWORD" "$T/olga.p12")
	check "the password from the encrypted notice opens the pickup and the PKCS#12 (HTTP $code)" \
	    sh -c "[ '$code' = 200 ] && openssl pkcs12 -in '$T/olga.p12' -passin 'pass:$PASSWORD' \
	    -nokeys -noout 2>/dev/null"
else
	not_ok "thirteen: released, the notice and the invitation arrive"
fi
check "no password reaches the gateway's log" sh -c "! grep -q -F -- '$PASSWORD' '$GATE_LOG'"
mkdir -p "$T/sink-old"
grep -l -e olga@example.net "$SINK_DIR"/* 2>/dev/null | xargs -r mv -t "$T/sink-old"

# ---- the invitation cannot be sent: tempfail, nothing in clear ------------
# The certificate is kept pending for the retry, and revoked when
# EnrollmentPendingTime has passed unused (here 1 s, checked at start).
gate_stop
dead=$(free_port)
gate_start -o "EnrollmentSMTP=127.0.0.1:$dead" -o EnrollmentPendingTime=1 ||
    bail "smimegate restarted, re-injection down"
msg five walt@example.net
send_mail "$T/m/five.eml" alice@example.com walt@example.net
check "re-injection down: the message is tempfailed ($SMTP_REPLY)" test "$SMTP_CODE" = 451
check "re-injection down: nothing for walt delivered" sh -c "! grep -q 'marker-five' '$SINK_DIR'/* 2>/dev/null"
check "re-injection down: the log says why" grep -q 'enroll <walt@example.net>: invitation: .*cannot connect' "$GATE_LOG"
sleep 2
gate_stop
gate_start -o EnrollmentPendingTime=1 || bail "smimegate restarted after EnrollmentPendingTime"
gate_ctl ca list >"$T/ca-list.out" 2>&1
walt_serial=$(awk -F'\t' '$2 == "walt@example.net" { print $1 }' "$T/ca-list.out" | head -1)
check "re-injection down: walt's unused certificate is revoked after EnrollmentPendingTime" sh -c \
    "[ -n '$walt_serial' ] && ! grep 'walt@example.net' '$T/ca-list.out' | grep -q 'valid\$'"
check "re-injection down: the log says it was revoked" \
    grep -q "enroll <walt@example.net>: certificate $walt_serial revoked: never used" "$GATE_LOG"
curl -sf -o "$T/ca.crl" "$URL/ca.crl"
check "re-injection down: the served CRL lists it" sh -c "openssl crl -inform DER -in '$T/ca.crl' \
    -noout -text | tr -d ' :' | grep -qi 'SerialNumber$walt_serial'"
gate_stop
done_testing
