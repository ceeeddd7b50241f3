#!/bin/sh
# 25-hostile: hostile messages through the milter's code path (offline mode,
# smimegate -t, outbound as alice and inbound): 10,000 MIME parts, 200
# levels of nesting, a 10 MB header field, too many header fields or
# recipients, NUL octets, invalid UTF-8, truncated base64, a multipart
# without its closing boundary.  Each must end cleanly, within a time
# limit: signed (and verifying), passed, or refused with the reply
# smimegate.conf(5) documents; never a crash (under make check's
# sanitizer build too: tests/run fails on any report).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl python3

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" alice
M="$T/m"
mkdir -p "$M"
GATE_OPTS="-o LocalDomains=example.com"

# The messages, made by python3 (binary-safe).
python3 - "$M" <<'PY' || bail "hostile messages made"
import sys, os
d = sys.argv[1]
H = b"From: alice@example.com\r\nTo: bob@elsewhere.test\r\nSubject: hostile\r\nMIME-Version: 1.0\r\n"
def w(n, b): open(os.path.join(d, n + ".eml"), "wb").write(b)
s = H + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
for i in range(10000):
    s += b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i
w("parts10k", s + b"--b--\r\n")
s = H + b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
for i in range(1, 200):
    s += b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i)
s += b"--b199\r\nContent-Type: text/plain\r\n\r\ndeep\r\n"
for i in range(199, -1, -1):
    s += b"--b%d--\r\n" % i
w("nest200", s)
w("header10m", H + b"X-Big: " + b"\r\n ".join([b"x" * 76] * 133000) + b"\r\n\r\nbody\r\n")
w("headers2000", H + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\nbody\r\n")
w("nul", H + b"Content-Type: text/plain; charset=us-ascii\r\nX-Nul: a\x00b\r\n\r\nbefore\x00after\r\n\x00\x00\r\n")
w("badutf8", H.replace(b"hostile", b"caf\xc3 \xff\xfe \xed\xa0\x80") +
  b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc \xf8\xa1\xa1\xa1\xa1\r\n")
w("b64trunc", H + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: application/pdf\r\n'
  b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVy\r\nL0ZsYXRlRGVj=b2Rl\r\nJVBER\r\n--b--\r\n")
# Inbound: 20,000 levels inside a multipart/signed (the verifier parses it).
s = b'From: x@elsewhere.test\r\nTo: alice@example.com\r\nContent-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary=s\r\n\r\n--s\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
for i in range(1, 20000):
    s += b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i)
s += b"--b19999\r\nContent-Type: text/plain\r\n\r\nx\r\n" + b"".join(b"--b%d--\r\n" % i for i in range(19999, -1, -1))
w("signed20k", s + b"\r\n--s\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCA\r\n--s--\r\n")
w("noclose", H + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two, and no end\r\n')
PY

# run ID WANT [ARGS...]: smimegate -t M/ID.eml, outbound as alice unless
# ARGS say otherwise; WANT is "signed", "pass" or a reply "554 5.6.0".
run() {
	_id=$1 _want=$2
	shift 2
	[ "$#" -gt 0 ] || set -- --auth alice@example.com
	_s=$(date +%s)
	timeout 120 "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
	    -o LogStderr=yes -o Syslog=no $GATE_OPTS -t "$M/$_id.eml" \
	    --from "${FROM:-alice@example.com}" --rcpt "${RCPT:-bob@elsewhere.test}" "$@" \
	    >"$M/$_id.out" 2>"$M/$_id.err"
	_rc=$?
	_t=$(($(date +%s) - _s))
	case $_want in
	signed)
		if [ "$_rc" -eq 0 ] && grep -q 'action=signed' "$M/$_id.err" &&
		    openssl cms -verify -in "$M/$_id.out" -CAfile "$T/pki/ca.pem" \
		        -out /dev/null >"$M/$_id.verify" 2>&1; then
			ok "$_id: signed, openssl cms verifies (${_t}s)"
		else
			not_ok "$_id: signed, openssl cms verifies (exit $_rc, ${_t}s)"
			diag_file "$M/$_id.err" 5; diag_file "$M/$_id.verify" 5
		fi ;;
	pass)
		if [ "$_rc" -eq 0 ] && grep -q 'action=pass' "$M/$_id.err"; then
			ok "$_id: inbound, passed unchanged (${_t}s)"
		else
			not_ok "$_id: inbound, passed unchanged (exit $_rc, ${_t}s)"
			diag_file "$M/$_id.err" 5
		fi ;;
	*)
		if [ "$_rc" -eq 1 ] && grep -q "answered $_want" "$M/$_id.err"; then
			ok "$_id: refused $_want (${_t}s): $(grep -o "answered $_want.*" "$M/$_id.err" | head -1)"
		else
			not_ok "$_id: refused $_want (exit $_rc, ${_t}s)"
			diag_file "$M/$_id.err" 5
		fi ;;
	esac
}

run parts10k "554 5.6.0"
run parts10k signed --auth alice@example.com -o MaximumMimeParts=20000
run nest200 "554 5.6.0"
run header10m "552 5.3.4" -o MaximumMessageSize=50M
run headers2000 "552 5.3.4"
for id in nul badutf8 b64trunc noclose; do
	run "$id" signed
done
for id in parts10k nest200 nul badutf8 b64trunc noclose; do
	run "$id" pass --client 192.0.2.1
done
FROM=x@elsewhere.test RCPT=alice@example.com run signed20k pass --client 192.0.2.1
check "signed20k inbound: X-Smimegate-Result says malformed (too many MIME parts)" \
    grep -q '^X-Smimegate-Result: malformed (signature: more than 1000 MIME parts)' "$M/signed20k.out"

# Recipients: the ones past MaximumRecipients are refused, 452 4.5.3.
timeout 60 "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
    -o LogStderr=yes -o Syslog=no $GATE_OPTS -o MaximumRecipients=3 -t "$M/nul.eml" \
    --from alice@example.com --rcpt a@x.test --rcpt b@x.test --rcpt c@x.test \
    --rcpt d@x.test --rcpt e@x.test --auth alice@example.com >"$M/rcpt.out" 2>"$M/rcpt.err"
n=$(grep -c 'refused 452 4.5.3 Too many recipients' "$M/rcpt.err")
if [ "$n" -eq 2 ] && grep -q 'to=<a@x.test>,<b@x.test>,<c@x.test>, .*action=signed' "$M/rcpt.err"; then
	ok "MaximumRecipients=3: recipients 4 and 5 refused 452 4.5.3, the message signed for 3"
else
	not_ok "MaximumRecipients=3: recipients 4 and 5 refused 452 4.5.3 ($n refused)"
	diag_file "$M/rcpt.err" 8
fi
done_testing
