#!/bin/sh
# 25-hostile: hostile messages through the milter's code path (offline mode,
# smimegate -t, outbound as alice and inbound): 10,000 MIME parts, 200
# levels of nesting, a 10 MB header field, too many header fields or
# recipients, NUL octets, invalid UTF-8, truncated base64, a multipart
# without its closing boundary.  Each must end cleanly, within a time
# limit: signed (and verifying), passed, or refused with the reply
# smimegate.conf(5) documents; never a crash (under make check's
# sanitizer build too: tests/run fails on any report).  Inbound, the same
# entities come encrypted to alice (openssl cms -encrypt), signed
# (detached and opaque): what smimegate decrypts or verifies passes
# MaximumMimeParts, MaximumMimeDepth and MaximumHeaderLength as outbound
# mail does, each limit configurable.
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
# Inbound entities (content headers + body) to encrypt or sign: the
# hostile messages without their outer header fields, and two more.
for n in ("parts10k", "nest200", "nul", "badutf8", "b64trunc", "noclose"):
    b = open(os.path.join(d, n + ".eml"), "rb").read()
    i = b.index(b"\r\n\r\n")
    hdrs = [l for l in b[:i].split(b"\r\n") if l.lower().startswith(b"content-")]
    if not hdrs:
        hdrs = [b"Content-Type: text/plain"]
    open(os.path.join(d, n + ".ent"), "wb").write(b"\r\n".join(hdrs) + b"\r\n" + b[i + 2:])
open(os.path.join(d, "hdr10m.ent"), "wb").write(b"Content-Type: text/plain\r\nContent-Description: " +
    b"\r\n ".join([b"x" * 76] * 133000) + b"\r\n\r\nbody\r\n")
open(os.path.join(d, "hdr1m.ent"), "wb").write(b"Content-Type: text/plain\r\nContent-Description: " +
    b"\r\n ".join([b"x" * 76] * 13300) + b"\r\n\r\nbody\r\n")
s = b'Content-Type: multipart/mixed; boundary="b0"\r\n\r\n'
for i in range(1, 10):
    s += b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i - 1, i)
s += b"--b9\r\nContent-Type: text/plain\r\n\r\nten deep\r\n" + b"".join(b"--b%d--\r\n" % i for i in range(9, -1, -1))
open(os.path.join(d, "nest10.ent"), "wb").write(s)
PY

# run ID WANT [ARGS...]: smimegate -t M/ID.eml, outbound as alice unless
# ARGS say otherwise; WANT is "signed", "pass" or a reply "554 5.6.0".
run() {
	_id=$1 _want=$2
	shift 2
	[ "$#" -gt 0 ] || set -- --auth alice@example.com
	_s=$(date +%s)
	timeout "${RUN_TIMEOUT:-120}" "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
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
	pass|decrypted|verified)
		if [ "$_rc" -eq 0 ] && grep -q "action=$_want" "$M/$_id.err"; then
			ok "$_id: inbound, $_want (${_t}s)"
		else
			not_ok "$_id: inbound, $_want (exit $_rc, ${_t}s)"
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
# Inbound: from outside to a local recipient (mail from a local sender to
# an outsider leaves, whoever the client is: outbound).
for id in parts10k nest200 nul badutf8 b64trunc noclose; do
	FROM=x@elsewhere.test RCPT=alice@example.com run "$id" pass --client 192.0.2.1
done
FROM=x@elsewhere.test RCPT=alice@example.com run signed20k "554 5.6.0" --client 192.0.2.1
check "signed20k inbound: the log says why (more than 1000 MIME parts)" \
    grep -q 'verification: more than 1000 MIME parts' "$M/signed20k.err"
# The outer header limits hold inbound too.
FROM=x@elsewhere.test RCPT=alice@example.com run header10m "552 5.3.4" --client 192.0.2.1 -o MaximumMessageSize=50M
FROM=x@elsewhere.test RCPT=alice@example.com run headers2000 "552 5.3.4" --client 192.0.2.1

# Inbound: the entities encrypted to alice (enc-), signed detached (sig-)
# and opaque (opq-) by bob, in a message from outside to alice.
inwrap() { # inwrap ID: M/ID.eml from openssl's output M/ID.cms
	{ printf 'From: x@elsewhere.test\r\nTo: alice@example.com\r\nSubject: in %s\r\n' "$1"
	  printf 'Message-ID: <%s@elsewhere.test>\r\n' "$1"; cat "$M/$1.cms"; } >"$M/$1.eml"
}
for e in parts10k nest200 nest10 nul badutf8 b64trunc noclose hdr10m hdr1m; do
	openssl cms -encrypt -binary -aes256 -in "$M/$e.ent" -out "$M/enc-$e.cms" "$T/pki/alice.pem" &&
	    openssl cms -sign -binary -signer "$T/pki/bob.pem" -inkey "$T/pki/bob.key" \
	        -in "$M/$e.ent" -out "$M/sig-$e.cms" &&
	    openssl cms -sign -binary -nodetach -signer "$T/pki/bob.pem" -inkey "$T/pki/bob.key" \
	        -in "$M/$e.ent" -out "$M/opq-$e.cms" || bail "inbound $e encrypted and signed"
	for k in enc sig opq; do inwrap "$k-$e"; done
done
# enveloped-data (AES-CBC), unsigned: decrypted only with
# UnprotectedContent=decrypt; the limits on what it reveals are the point.
GATE_OPTS="$GATE_OPTS -o TrustAnchorFile=$T/pki/ca.pem -o UnprotectedContent=decrypt"
inrun() { FROM=x@elsewhere.test RCPT=alice@example.com run "$@" --client 192.0.2.1; }
for k in enc sig opq; do
	inrun "$k-parts10k" "554 5.6.0"
	inrun "$k-nest200" "554 5.6.0"
	inrun "$k-nest10" "554 5.6.0" -o MaximumMimeDepth=5
done
check "enc-parts10k refused: the log names decryption and the limit" \
    grep -q 'decryption: more than 1000 MIME parts' "$M/enc-parts10k.err"
check "enc-nest10 refused: the log names decryption and the depth" \
    grep -q 'decryption: MIME structure nested deeper than 5 levels' "$M/enc-nest10.err"
inrun enc-parts10k decrypted -o MaximumMimeParts=20000
inrun sig-parts10k verified -o MaximumMimeParts=20000
inrun opq-nest10 verified
inrun enc-nest10 decrypted
inrun enc-hdr10m "552 5.3.4" -o MaximumMessageSize=50M
# (1 MB, not 10: GMime's header parser reallocates in small steps, which
# takes minutes for 10 MB under make check's AddressSanitizer.)
inrun enc-hdr1m "552 5.3.4"
# (about 55 s under AddressSanitizer on a quiet machine, twice that on a
# busy one: its own time limit.)
RUN_TIMEOUT=400 inrun enc-hdr1m decrypted -o MaximumHeaderLength=2M
for e in nul badutf8 b64trunc noclose; do
	inrun "enc-$e" decrypted
	inrun "sig-$e" verified
	inrun "opq-$e" verified
done

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
# The same inbound (from outside to local recipients).
timeout 60 "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
    -o LogStderr=yes -o Syslog=no $GATE_OPTS -o MaximumRecipients=3 -t "$M/nul.eml" \
    --from x@elsewhere.test --rcpt a@example.com --rcpt b@example.com --rcpt c@example.com \
    --rcpt d@example.com --rcpt e@example.com --client 192.0.2.1 >"$M/rcptin.out" 2>"$M/rcptin.err"
n=$(grep -c 'refused 452 4.5.3 Too many recipients' "$M/rcptin.err")
if [ "$n" -eq 2 ] && grep -q 'to=<a@example.com>,<b@example.com>,<c@example.com>, .*action=pass' "$M/rcptin.err"; then
	ok "inbound MaximumRecipients=3: recipients 4 and 5 refused 452 4.5.3, the message passed for 3"
else
	not_ok "inbound MaximumRecipients=3: recipients 4 and 5 refused 452 4.5.3 ($n refused)"
	diag_file "$M/rcptin.err" 8
fi
done_testing
