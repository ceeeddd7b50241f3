#!/bin/sh
# Attack: an employee's signing certificate revoked at the embedded CA
# must never sign again.  Alice's mail is signed; her signing certificate
# is revoked (smimectl ca revoke, the gateway running); her next message
# goes out as the policy has it for a sender without a usable key
# (unsigned), the log line with the queue ID says why (revoked), and
# CAEnrollEmployees does not hand her a fresh key on the spot.
# Then a certificate of another CA (the test root's, imported): rita's,
# which the CRL of its distribution point (busybox httpd) lists as
# revoked, never signs (smimegate -t); dave's, listed nowhere, signs.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks busybox

HTTP_PORT=$(free_port) || bail "a free port for the CA endpoint"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o CAEnrollEmployees=yes"
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
gate_ctl ca issue --profile sign alice@example.com >"$T/sig.pem" 2>"$T/sig.err" ||
    { diag_file "$T/sig.err"; bail "ca issue --profile sign"; }
gate_ctl ca issue --profile encrypt alice@example.com >"$T/enc.pem" 2>"$T/enc.err" ||
    { diag_file "$T/enc.err"; bail "ca issue --profile encrypt"; }
SIG=$(openssl x509 -in "$T/sig.pem" -noout -serial | cut -d= -f2)

gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started"
mkdir -p "$T/m"

# send ID: a message from alice, delivered to $T/m/ID.got; $LINE the
# gateway's log line.
send() {
	{
		printf 'From: Alice <alice@example.com>\nTo: <carol@remote.test>\nSubject: %s\n' "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello %s.\n' "$1"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" alice@example.com carol@remote.test && wait_delivered "$QID" &&
	    sink_fetch "<$1@example.com>" "$T/m/$1.got" || { not_ok "$1: delivered"; return 1; }
	LINE=$(gate_logline "$QID")
	keep "$T/m/$1.got"
}
signer_serial() { # MSG: the serial of the signature's signer, or ""
	mime_split "$1" "$1.split" >/dev/null 2>&1 || return 0
	openssl cms -verify -binary -noverify -inform DER -in "$1.split/sig.der" \
	    -content "$1.split/content" -signer "$1.signer.pem" -out /dev/null >/dev/null 2>&1 &&
	    openssl x509 -in "$1.signer.pem" -noout -serial | cut -d= -f2
}

if send before; then
	check "before: signed with the signing certificate $SIG" test "$(signer_serial "$T/m/before.got")" = "$SIG"
fi
check "smimectl ca revoke $SIG (the gateway running)" gate_ctl ca revoke "$SIG"
if send after; then
	got=$(signer_serial "$T/m/after.got")
	check "after: NOT signed with the revoked certificate (signer '$got')" test "$got" != "$SIG"
	check "after: delivered unsigned (no multipart/signed)" sh -c \
	    "! grep -qi 'multipart/signed' '$T/m/after.got'"
	check "after: the log line with the queue ID says unsigned, revoked" \
	    log_has "$LINE" "$QID: from=<alice@example.com>" "action=unsigned" "revoked"
	check "after: a warning with the queue ID names the revocation" \
	    grep -q "$QID: warning: not signed as <alice@example.com>: .*revoked at the embedded CA" "$GATE_LOG"
fi
gate_ctl keystore list >"$T/ks.out" 2>&1
check "CAEnrollEmployees did not issue alice a new key on the spot" \
    test "$(grep -c '^alice@example.com' "$T/ks.out")" -eq 2
gate_stop

# ---- another CA's certificate, revoked by its CRL -------------------------
P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
openssl pkcs12 -export -inkey "$P/rita.key" -in "$P/rita.pem" -certfile "$P/ca.pem" \
    -passout "file:$P/p12.pass" -out "$P/rita.p12" >/dev/null 2>&1 || bail "rita.p12"
GATE_OPTS="-o TrustAnchorFile=$P/ca.pem -o LocalDomains=example.com,example.net"
gate_import "$P" rita dave
# offline ID FROM: smimegate -t; $LINE its log line, output in $T/m/ID.out
offline() {
	printf 'From: <%s>\nTo: <carol@remote.test>\nSubject: %s\nMessage-ID: <%s@example.net>\n\nHello.\n' \
	    "$2" "$1" "$1" | make_message "$T/m/$1.eml"
	gate_run -t "$T/m/$1.eml" --from "$2" --rcpt carol@remote.test --client 127.0.0.1 \
	    >"$T/m/$1.out" 2>"$T/m/$1.err"
	LINE=$(grep "from=<$2>" "$T/m/$1.err" | tail -1)
	keep "$T/m/$1.err"
}
offline crl-dave dave@example.net
check "dave (the test root's, not revoked): signed" log_has "$LINE" "action=signed"
offline crl-rita rita@example.net
check "rita (revoked by the CRL): not signed, the log says revoked (CRL)" \
    log_has "$LINE" "action=unsigned" "revoked (CRL)"
check "rita: no multipart/signed" sh -c "! grep -qi multipart/signed '$T/m/crl-rita.out'"
done_testing
