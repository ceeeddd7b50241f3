#!/bin/sh
# The gateway as an OCSP client, against `openssl ocsp` as the responder
# of a test PKI (index.txt of `openssl ca`; its certificates name the
# responder in authorityInfoAccess and a CRL served by busybox httpd).
# `openssl ocsp -port` listens on every interface, so the whole script runs
# in a private network namespace (unshare -rn) with only its loopback.
#
# Attacks first, each with rita's revoked certificate, the CRL saying so
# too: a responder that says "good" for her signed by another key, one
# signed by a certificate of the CA without id-kp-OCSPSigning, an old
# "good" answer (signed by the CA) replayed with another nonce, and a
# "good" answer about dave's certificate served for hers: none makes her
# certificate usable (mail to her is signed only), and the replay server
# serving a fitting answer for dave shows the path works.  (A stale
# answer: test_ocsp, since `openssl ocsp` cannot backdate one.)
# Then the real responder: dave good (encrypted, no CRL fetched), rita
# revoked (signed only; smimectl lookup says why), uma unknown (refused
# by default, the CRL deciding under OCSPUnknown crl); the answer kept in
# Redis until its nextUpdate (two messages, one request at the
# responder; the key's TTL within -nmin); the responder down: the CRL
# decides (dave encrypted, rita not), oscar (no CRL) tempfails, and
# OCSPUnavailable tempfail tempfails dave.
if [ -z "${SMIMEGATE_NETNS:-}" ]; then
	if unshare -rn true 2>/dev/null; then
		SMIMEGATE_NETNS=1 exec unshare -rn sh -c 'ip link set lo up 2>/dev/null ||
		    ifconfig lo up 2>/dev/null; exec sh "$0"' "$0"
	fi
	echo "ok - OCSP client tests # SKIP no private network namespace (unshare -rn)"
	exit 0
fi
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/offline.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
need_gateway
need_tools openssl slapd slapadd busybox python3 redis-server redis-cli

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
OCSP_PORT=$(free_port) || bail "a free port for the responder"
OCSP_URL="http://127.0.0.1:$OCSP_PORT/ocsp"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl" "$OCSP_URL"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"

# uma: the test root's, not in its index (the responder says unknown);
# oscar: names the responder and no CRL.
ee() { # NAME EXTRA-EXTENSION-LINE
	printf '%s\n' "basicConstraints = critical, CA:FALSE" \
	    "keyUsage = critical, digitalSignature, keyEncipherment" \
	    "extendedKeyUsage = emailProtection" "subjectAltName = email:$1@example.net" \
	    "authorityInfoAccess = OCSP;URI:$OCSP_URL" "$2" >"$P/$1.ext"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$P/$1.key" -subj "/CN=$1" \
	    -out "$P/$1.csr" >>"$T/ee.log" 2>&1 &&
	openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
	    -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$P/$1.ext" \
	    -out "$P/$1.pem" >>"$T/ee.log" 2>&1 &&
	openssl x509 -in "$P/$1.pem" -outform DER -out "$P/$1.der"
}
ee uma "crlDistributionPoints = URI:http://127.0.0.1:$HTTPD_PORT/ca.crl" &&
ee oscar "" || { diag_file "$T/ee.log"; bail "uma's and oscar's certificates made"; }
check "dave's certificate names the responder" sh -c \
    "openssl x509 -in '$P/dave.pem' -noout -ocsp_uri | grep -qx '$OCSP_URL'"
{
	ldif_head
	for n in dave rita frank uma oscar; do
		ldif_entry "$n" "$n@example.net" "userCertificate;binary" "$P/$n.der"
	done
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

# The index as it was before rita was revoked (what forged answers say).
sed 's/^R\(\t[^\t]*\t\)[^\t]*\(\t.*CN=rita\/.*\)$/V\1\2/' "$P/index.txt" >"$P/index-old.txt"
check "the old index has rita valid" grep -q '^V.*CN=rita' "$P/index-old.txt"

RESP_PID=""
# ocsp_start NAME INDEX SIGNER KEY: openssl ocsp on $OCSP_PORT, its
# requests in $T/ocsp-NAME.log.
ocsp_start() {
	openssl ocsp -index "$2" -port "$OCSP_PORT" -rsigner "$3" -rkey "$4" \
	    -CA "$P/ca.pem" -nmin 5 -text -ignore_err >>"$T/ocsp-$1.log" 2>&1 &
	RESP_PID=$!
	at_exit "stop_pid $RESP_PID 20"
	# Not wait_port: its probe connection would hold the one-at-a-time
	# responder.
	wait_for 50 grep -q 'waiting for OCSP client' "$T/ocsp-$1.log" ||
	    bail "openssl ocsp ($1) listens"
}
# replay_start FILE: a server answering every POST with FILE's bytes.
replay_start() {
	python3 -c "
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        body = open(sys.argv[1], 'rb').read()
        self.send_response(200)
        self.send_header('Content-Type', 'application/ocsp-response')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write('replayed\n')
http.server.HTTPServer(('127.0.0.1', $OCSP_PORT), H).serve_forever()
" "$1" >>"$T/replay.log" 2>&1 &
	RESP_PID=$!
	at_exit "stop_pid $RESP_PID 20"
	wait_port "$OCSP_PORT" "$RESP_PID" 50 || bail "the replay server listens"
}
resp_stop() { stop_pid "$RESP_PID" 20; RESP_PID=""; }
# ask NAME OUT [openssl ocsp options]: an answer about NAME from the
# responder running now, kept in OUT.
ask() {
	_n=$1 _o=$2
	shift 2
	openssl ocsp -issuer "$P/ca.pem" -cert "$P/$_n.pem" -url "$OCSP_URL" \
	    -CAfile "$P/ca.pem" -timeout 5 -respout "$_o" "$@" >>"$T/ask.log" 2>&1
}
requests() { cat "$T/ocsp-$1.log" 2>/dev/null | grep -c 'OCSP Request Data:'; }

URL=$(slapd_url)
BASE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLTimeout=2 -o OCSPTimeout=2"
GATE_OPTS="$BASE_OPTS"
gate_import "$P" alice
mkdir -p "$T/m"

lookup_says() { # ADDRESS TEXT WHAT
	gate_ctl lookup "$1" >"$T/lookup.out" 2>&1
	if grep -q "$2" "$T/lookup.out"; then
		ok "$3"
	else
		not_ok "$3"
		diag_file "$T/lookup.out" 12
	fi
}

# ---- attacks: rita's certificate is revoked; nothing makes it good -------
ocsp_start forged-key "$P/index-old.txt" "$P/untrusted.pem" "$P/untrusted.key"
offline_send atk-key rita@example.net
offline_is atk-key signed "rita, a 'good' answer signed by another key"
lookup_says rita@example.net "does not verify" "smimectl lookup: the other key's answer does not verify"
check "the forged responder was asked ($(requests forged-key))" test "$(requests forged-key)" -ge 1
resp_stop

ocsp_start forged-ee "$P/index-old.txt" "$P/dave.pem" "$P/dave.key"
offline_send atk-ee rita@example.net
offline_is atk-ee signed "rita, a 'good' answer signed by a certificate of the CA without OCSPSigning"
lookup_says rita@example.net "does not verify" "smimectl lookup: an undelegated signer does not verify"
resp_stop

# An answer the CA itself signed while rita was good, and one about dave.
ocsp_start old "$P/index-old.txt" "$P/ca.pem" "$P/ca.key"
ask rita "$T/rita-old.der" || bail "an old answer about rita captured"
ask dave "$T/dave-nonce.der" -no_nonce || bail "an answer about dave captured"
resp_stop
check "the captured old answer says rita is good" sh -c \
    "openssl ocsp -respin '$T/rita-old.der' -resp_text -noverify | grep -q 'Cert Status: good'"

replay_start "$T/rita-old.der"
offline_send atk-replay rita@example.net
offline_is atk-replay signed "rita, her old 'good' answer replayed (another nonce)"
lookup_says rita@example.net "nonce" "smimectl lookup: the replay's nonce is not the request's"
resp_stop

replay_start "$T/dave-nonce.der"
offline_send atk-other rita@example.net
offline_is atk-other signed "rita, a 'good' answer about dave's certificate"
lookup_says rita@example.net "does not answer for this certificate" \
    "smimectl lookup: the answer is about another certificate"
offline_send replay-control dave@example.net
offline_is replay-control encrypted "dave, the replay server's (fitting, nonce-less) answer: the path works"
n=$(grep -c replayed "$T/replay.log")
check "the replay server was asked ($n)" test "$n" -ge 3
resp_stop

# ---- the real responder --------------------------------------------------
ocsp_start real "$P/index.txt" "$P/ca.pem" "$P/ca.key"
crls_before=$(grep -c 'url:/ca.crl' "$T/httpd.log")
offline_send dave dave@example.net
offline_is dave encrypted "dave, good at the responder"
check "no CRL fetched for an OCSP 'good'" test "$(grep -c 'url:/ca.crl' "$T/httpd.log")" = "$crls_before"
offline_send rita rita@example.net
offline_is rita signed "rita, revoked at the responder (signed only, as encrypt=if-possible says)"
check "the log says why rita was not encrypted" grep -q \
    'recipient <rita@example.net>: certificate .* not used: revoked (OCSP: since' "$T/m/rita.err"
lookup_says rita@example.net "revoked (OCSP" "smimectl lookup: rita revoked (OCSP), with its time"
offline_send uma uma@example.net
offline_is uma signed "uma, unknown at the responder, OCSPUnknown refuse (default)"
lookup_says uma@example.net "unknown to its OCSP responder" "smimectl lookup: uma unknown"
GATE_OPTS="$BASE_OPTS -o OCSPUnknown=crl"
offline_send uma-crl uma@example.net
offline_is uma-crl encrypted "uma, unknown at the responder, OCSPUnknown crl (the CRL decides)"
check "the responder saw requests ($(requests real))" test "$(requests real)" -ge 4

# ---- cached until nextUpdate, in Redis -----------------------------------
redis_start || bail "redis-server"
RBASE="$BASE_OPTS -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisKeyFile=$REDIS_KEY"
GATE_OPTS="$RBASE"
before=$(requests real)
offline_send frank1 frank@example.net
offline_is frank1 encrypted "frank (first message, Redis cache)"
offline_send frank2 frank@example.net
offline_is frank2 encrypted "frank (second message)"
got=$(($(requests real) - before))
check "one request at the responder for two messages ($got)" test "$got" -eq 1
key=$(redis_cli --scan --pattern '*ocsp:*' | head -1)
ttl=$(redis_cli ttl "$key" 2>/dev/null)
check "the answer is kept in Redis until its nextUpdate (key $key, TTL $ttl s, -nmin 5)" \
    test -n "$key" -a "${ttl:-0}" -gt 0 -a "${ttl:-999}" -le 300
redis_cli del "$key" >/dev/null
offline_send frank3 frank@example.net
offline_is frank3 encrypted "frank (the kept answer dropped)"
got=$(($(requests real) - before))
check "asked again once the kept answer is gone ($got)" test "$got" -eq 2
resp_stop

# ---- the responder down: the CRL decides ----------------------------------
GATE_OPTS="$BASE_OPTS"
crls_before=$(grep -c 'url:/ca.crl' "$T/httpd.log")
offline_send down-dave dave@example.net
offline_is down-dave encrypted "dave, responder down, his CRL says good"
check "the CRL was fetched as the fallback" test "$(grep -c 'url:/ca.crl' "$T/httpd.log")" -gt "$crls_before"
offline_send down-rita rita@example.net
offline_is down-rita signed "rita, responder down, her CRL says revoked"
lookup_says rita@example.net "revoked" "smimectl lookup: rita revoked by the CRL"
offline_send down-oscar oscar@example.net
offline_is down-oscar tempfail "oscar (no CRL), responder down, CRLUnavailable tempfail"
GATE_OPTS="$BASE_OPTS -o OCSPUnavailable=tempfail"
offline_send down-dave-tf dave@example.net
offline_is down-dave-tf tempfail "dave, responder down, OCSPUnavailable tempfail"
GATE_OPTS="$BASE_OPTS -o OCSPCheck=no -o CRLCheck=no"
offline_send nocheck-rita rita@example.net
offline_is nocheck-rita encrypted "rita with OCSPCheck no and CRLCheck no (no revocation check at all)"

done_testing
