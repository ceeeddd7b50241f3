#!/bin/sh
# Enrollment on the embedded defaults (the README's run command)
# enroll an external recipient without any other service.
#
# The gateway is started exactly as `make run` starts it (contrib/run-
# embedded), with SMIMEGATE_STATE_DIR and SMIMEGATE_ARGS only pointing it
# at this test's private Postfix: LocalDomains, the milter socket, the
# portal's port (a free one: the machine is shared) and ReinjectCommand (a
# one-line wrapper that runs this Postfix instance's sendmail).  No slapd,
# no redis, no TrustAnchorFile, no PolicyFile, no EnrollmentSMTP: the CA is
# made on the first start, its root trusted, the built-in trigger
# (Outlook's Sensitivity: Company-Confidential, or "[encrypt]" in the
# Subject) asks for encryption with enrollment, and the gateway's own mail
# goes out through its spool and sendmail, carrying the mark.
#
# Checked: the message reaches the sink encrypted, the invitation reaches
# the recipient (signed as EnrollmentSender, whose key the CA issued on
# the way) and the password the sender (and not the recipient), the
# PKCS#12 fetched from the portal with that password decrypts the message
# with openssl cms; the next message to the recipient, without a trigger,
# is encrypted to the issued certificate (found, trusted, CRL from the
# gateway's own endpoint); the Subject tag is stripped; the password never
# reaches the log.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools make env openssl postfix smtp-sink swaks curl perl

if (cd "$top" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n run 2>/dev/null) |
    grep -qx 'sh contrib/run-embedded'; then
	ok "make run starts contrib/run-embedded"
else
	not_ok "make run starts contrib/run-embedded (make -n run does not show it)"
fi

STATE="$T/var"
MILTER_PORT=$(free_port) || bail "a free port for the milter"
HTTP_PORT=$(free_port) || bail "a free port for the portal"
SOCKET="inet:$MILTER_PORT@127.0.0.1"
URL="http://127.0.0.1:$HTTP_PORT"
RUN_OUT="$T/run.out"
GATE_LOG="$T/run.err"
printf '#!/bin/sh\nexec /usr/sbin/sendmail -C "%s/conf" "$@"\n' "$PF_DIR" >"$T/sendmail"
chmod 0755 "$T/sendmail"
env SMIMEGATE_STATE_DIR="$STATE" \
    SMIMEGATE_ARGS="-o LocalDomains=example.com -o InternalHosts=127.0.0.1 -o Socket=$SOCKET
	-o CAHTTPListen=127.0.0.1:$HTTP_PORT -o ReinjectCommand=$T/sendmail" \
    sh "$top/contrib/run-embedded" >"$RUN_OUT" 2>"$GATE_LOG" &
RUN_PID=$!
at_exit "stop_pid $RUN_PID 150; keep '$RUN_OUT'; keep '$GATE_LOG'"
if wait_port "$MILTER_PORT" "$RUN_PID" 300 && wait_port "$HTTP_PORT" "$RUN_PID" 100; then
	ok "contrib/run-embedded starts the gateway, milter and portal listening"
else
	diag_file "$RUN_OUT" 20 "run-embedded stdout"
	diag_file "$GATE_LOG" 20 "run-embedded stderr"
	bail "contrib/run-embedded starts the gateway"
fi
check "the CA was made on the first start in StateDirectory/ca" \
    test -s "$STATE/ca/root.crt" -a -s "$STATE/ca/issuing.crt"

sed -n 's/^    \([a-z_]* = .*\)$/\1/p' "$RUN_OUT" >"$T/attach.cf"
PF_EXTRA=$(cat "$T/attach.cf")
sink_start || bail "smtp-sink started"
pf_start || bail "Postfix started with the printed main.cf lines"

mkdir -p "$T/m"
# msg ID TO SUBJECT [HEADER]
msg() {
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: %s\n' "$2" "$3"
		[ -n "${4:-}" ] && printf '%s\n' "$4"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$2" "$1"
	} | make_message "$T/m/$1.eml"
}
# delivered ID: the message delivered, encrypted, no plaintext.
delivered_encrypted() {
	if wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got"; then
		ok "$1: delivered"
	else
		not_ok "$1: delivered"
		return 1
	fi
	case $(mime_header "$T/m/$1.got" Content-Type) in
	*application/pkcs7-mime*enveloped-data*) ok "$1: delivered encrypted (enveloped-data)" ;;
	*) not_ok "$1: delivered encrypted ($(mime_header "$T/m/$1.got" Content-Type))" ;;
	esac
	check "$1: no plaintext in the delivered message" sh -c "! grep -q 'marker-$1' '$T/m/$1.got'"
}

# ---- xena: Sensitivity Company-Confidential, no certificate anywhere -----
msg one xena@example.net "the offer" "Sensitivity: Company-Confidential"
if send_mail "$T/m/one.eml" alice@example.com xena@example.net; then
	ok "one: mail to xena (no certificate) accepted"
else
	not_ok "one: mail to xena (no certificate) accepted ($SMTP_REPLY)"
	diag_file "$GATE_LOG" 20 gateway
fi
delivered_encrypted one
if sink_wait "Subject: Encrypted mail from alice@example.com" "$T/m/one.inv" &&
    grep -q "^To: xena@example.net" "$T/m/one.inv"; then
	ok "the invitation reached xena"
else
	not_ok "the invitation reached xena"
	diag_file "$GATE_LOG" 20 gateway
fi
if sink_wait "Subject: Certificate issued for xena@example.net" "$T/m/one.note" &&
    grep -q "^To: alice@example.com" "$T/m/one.note"; then
	ok "the password reached alice"
else
	not_ok "the password reached alice"
fi
check "the gateway's own mail went through its spool and ReinjectCommand, marked" \
    sh -c "[ \$(grep -c 'action=reinjected' '$GATE_LOG') -ge 2 ]"
check "the mark is stripped from what is delivered" \
    sh -c "! grep -qi '^X-Smimegate-Reinject' '$T/m/one.inv' '$T/m/one.note'"
mime_part_text "$T/m/one.inv" text/plain "$T/m/one.inv.txt"
TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/one.inv.txt" | head -1)
PASSWORD=$(tr -d '\r' <"$T/m/one.note" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
check "the invitation has a link to the portal, the notice a password" \
    sh -c "[ -n '$TOKEN' ] && [ -n '$PASSWORD' ] && grep -q '$URL/pickup?t=$TOKEN' '$T/m/one.inv.txt'"
check "the password is not in the invitation" sh -c "! grep -q -- '$PASSWORD' '$T/m/one.inv'"
# The gateway's sender identity had no key: the embedded CA issued one,
# and the invitation is signed with it.
cat "$STATE/ca/root.crt" "$STATE/ca/issuing.crt" >"$T/ca-chain.pem"
check "the invitation is signed as EnrollmentSender (postmaster@example.com), verified" sh -c \
    "openssl cms -verify -in '$T/m/one.inv' -CAfile '$T/ca-chain.pem' -signer '$T/inv.signer' \
    -out /dev/null 2>/dev/null && openssl x509 -in '$T/inv.signer' -noout -ext subjectAltName |
    grep -q 'email:postmaster@example.com'"
check "alice has no certificate: the notice went in clear, logged at notice level" \
    grep -q 'enroll: password notice to <alice@example.com> sent in clear: no certificate' "$GATE_LOG"

code=$(curl -s -o "$T/xena.p12" -w '%{http_code}' --data-urlencode "t=$TOKEN" \
    --data-urlencode "password=$PASSWORD" "$URL/pickup")
check "the PKCS#12 downloads from the portal with the password (HTTP $code)" test "$code" = 200
if openssl pkcs12 -in "$T/xena.p12" -passin "pass:$PASSWORD" -nodes -out "$T/xena.pem" \
    2>"$T/p12.log"; then
	ok "the PKCS#12 opens with the password"
else
	not_ok "the PKCS#12 opens with the password"
	diag_file "$T/p12.log" 5
fi
if openssl cms -decrypt -in "$T/m/one.got" -recip "$T/xena.pem" -inkey "$T/xena.pem" \
    -out "$T/one.plain" 2>"$T/one.log" && grep -q marker-one "$T/one.plain"; then
	ok "xena decrypts the message with openssl cms"
else
	not_ok "xena decrypts the message with openssl cms"
	diag_file "$T/one.log" 5
fi
check "xena's certificate chains to the embedded CA (smimeencrypt)" \
    sh -c "openssl x509 -in '$T/xena.pem' -out '$T/xena.crt' && openssl verify \
    -purpose smimeencrypt -CAfile '$STATE/ca/root.crt' -untrusted '$STATE/ca/issuing.crt' \
    '$T/xena.crt' >/dev/null"

# ---- xena again, no trigger: her certificate is found and trusted --------
msg two xena@example.net "a follow-up"
send_mail "$T/m/two.eml" alice@example.com xena@example.net ||
    not_ok "two: accepted ($SMTP_REPLY)"
delivered_encrypted two
check "two: encrypted to the issued certificate without a new enrollment" sh -c \
    "[ \$(grep -c 'enroll <xena@example.net>: certificate issued' '$GATE_LOG') -eq 1 ]"
check "two: xena decrypts it" sh -c "openssl cms -decrypt -in '$T/m/two.got' \
    -recip '$T/xena.pem' -inkey '$T/xena.pem' 2>/dev/null | grep -q marker-two"

# ---- yves: the Subject tag, stripped ---------------------------------------
msg three yves@example.net "[encrypt] the contract"
send_mail "$T/m/three.eml" alice@example.com yves@example.net ||
    not_ok "three: accepted ($SMTP_REPLY)"
delivered_encrypted three
# Header protection is on by default: outside, the Subject is "[...]";
# the real one, inside, has lost its tag (yves picks up his key to see).
check "three: the outer Subject is obscured, the tag not shown" \
    sh -c "tr -d '\r' <'$T/m/three.got' | grep -qx 'Subject: \[\.\.\.\]' &&
    ! grep -q 'encrypt\]' '$T/m/three.got'"
check "three: yves is invited" sink_wait "Subject: Certificate issued for yves@example.net" \
    "$T/m/three.note"
sink_fetch "Subject: Encrypted mail from alice@example.com" "$T/m/three.inv" yves@example.net
mime_part_text "$T/m/three.inv" text/plain "$T/m/three.inv.txt"
TOKEN3=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/three.inv.txt" | head -1)
PASSWORD3=$(tr -d '\r' <"$T/m/three.note" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
curl -s -o "$T/yves.p12" --data-urlencode "t=$TOKEN3" \
    --data-urlencode "password=$PASSWORD3" "$URL/pickup"
openssl pkcs12 -in "$T/yves.p12" -passin "pass:$PASSWORD3" -nodes -out "$T/yves.pem" 2>/dev/null
openssl cms -decrypt -in "$T/m/three.got" -recip "$T/yves.pem" -inkey "$T/yves.pem" \
    -out "$T/three.plain" 2>/dev/null
check "three: inside, the real Subject without its tag (yves decrypts)" \
    sh -c "tr -d '\r' <'$T/three.plain' | grep -qx 'Subject: the contract' &&
    grep -q marker-three '$T/three.plain'"

# ---- no trigger, no certificate: signed only, nobody enrolled ------------
msg four zack@example.net "lunch"
if send_mail "$T/m/four.eml" alice@example.com zack@example.net && wait_delivered "$QID" &&
    sink_fetch "<four@example.com>" "$T/m/four.got"; then
	check "four: without a trigger the built-in encrypt=if-possible sends it as it is" \
	    grep -q marker-four "$T/m/four.got"
	check "four: zack was not enrolled" sh -c "! grep -q 'enroll <zack@' '$GATE_LOG'"
else
	not_ok "four: accepted and delivered ($SMTP_REPLY)"
fi

check "no password reaches the log" sh -c "! grep -q -F -- '$PASSWORD' '$GATE_LOG'"
check "no error in the gateway's log" sh -c "! grep -Eq 'error|tempfail' '$GATE_LOG'"
done_testing
