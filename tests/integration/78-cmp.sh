#!/bin/sh
# Enrollment over CMP: OpenSSL's OSSL_CMP_* client in smimectl
# and the gateway against `openssl cmp` as a mock server.  The mock server
# listens on all interfaces, so the whole script runs in a private network
# namespace (unshare -rn) with only its own loopback.  A certificate is
# enrolled (PBM shared secret) and its key escrowed;
# a server that rejects, one that is down and a wrong secret fail, and the
# gateway tempfails a message whose recipient it could not enroll.
if [ -z "${SMIMEGATE_NETNS:-}" ]; then
	if unshare -rn true 2>/dev/null; then
		SMIMEGATE_NETNS=1 exec unshare -rn sh -c 'ip link set lo up 2>/dev/null ||
		    ifconfig lo up 2>/dev/null; exec sh "$0"' "$0"
	fi
	echo "ok - CMP tests # SKIP no private network namespace (unshare -rn)"
	exit 0
fi
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl curl

C="$T/cmp"
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout srv.key -out srv.crt \
	    -subj /CN=mock-ca -days 30 &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ee.key &&
	openssl req -new -key ee.key -subj /CN=xena@example.net -out ee.csr &&
	printf 'subjectAltName=email:xena@example.net\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n' >ext.cnf &&
	openssl x509 -req -in ee.csr -CA srv.crt -CAkey srv.key -CAcreateserial -days 30 \
	    -extfile ext.cnf -out ee.crt
) >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "mock CA made"; }
echo "s3cret-shared" >"$C/secret"
chmod 0600 "$C/secret"

MOCK_PID=""
mock_start() { # PORT [extra options]
	_p=$1
	shift
	openssl cmp -port "$_p" -srv_ref ref1 -srv_secret pass:s3cret-shared \
	    -srv_cert "$C/srv.crt" -srv_key "$C/srv.key" -rsp_cert "$C/ee.crt" "$@" \
	    >>"$T/mock.log" 2>&1 &
	MOCK_PID=$!
	at_exit "stop_pid $MOCK_PID 20"
	wait_port "$_p" "$MOCK_PID" 50
}
mock_stop() { stop_pid "$MOCK_PID" 20; }

PORT=$(free_port) || bail "a free port"
GATE_OPTS="-o CMPServer=127.0.0.1:$PORT -o CMPReference=ref1 -o CMPSecretFile=$C/secret
    -o CMPTimeout=5"
mock_start "$PORT" || bail "openssl cmp mock server on 127.0.0.1:$PORT"
ok "openssl cmp mock server in a private network namespace"

if gate_ctl ca cmp --key "$C/ee.key" xena@example.net >"$T/xena.pem" 2>"$T/xena.err"; then
	ok "smimectl ca cmp: a certificate over CMP"
else
	not_ok "smimectl ca cmp: a certificate over CMP"
	diag_file "$T/xena.err" 5
fi
check "it is the CA's answer (rfc822Name xena@example.net)" sh -c "openssl x509 -in '$T/xena.pem' \
    -noout -ext subjectAltName | grep -q 'email:xena@example.net'"
gate_ctl keystore list >"$T/ks.out" 2>&1
check "its key is escrowed" grep -q '^xena@example.net' "$T/ks.out"
check "a wrong key for the answer is refused (key mismatch)" sh -c "! $top/smimectl -c $GATE_CONF \
    -o StateDirectory=$GATE_STATE $(echo $GATE_OPTS) ca cmp nokey@example.net >/dev/null 2>&1"

echo "wrong-secret" >"$C/wrong"
chmod 0600 "$C/wrong"
if gate_ctl -o CMPSecretFile="$C/wrong" ca cmp --key "$C/ee.key" xena@example.net \
    >/dev/null 2>"$T/wrong.err"; then
	not_ok "a wrong shared secret fails"
else
	ok "a wrong shared secret fails ($(head -c 150 "$T/wrong.err"))"
fi
chmod 0644 "$C/wrong"
gate_ctl -o CMPSecretFile="$C/wrong" ca cmp --key "$C/ee.key" xena@example.net >/dev/null 2>"$T/loose.err"
check "a secret file readable by others is refused" grep -q 'not private' "$T/loose.err"
mock_stop

mock_start "$PORT" -pkistatus 2 -failure 2 || bail "mock server that rejects"
gate_ctl ca cmp --key "$C/ee.key" xena@example.net >/dev/null 2>"$T/rej.err"
check "a rejection fails with the server's status" grep -q 'rejection' "$T/rej.err"

# The gateway (offline mode, the milter's code): enrollment over CMP fails,
# the message is tempfailed, never passed in clear.
echo "default encrypt=always fallback=reject" >"$T/policy"
printf 'From: alice@example.com\nTo: zed@example.net\nSubject: x\n\nsecret marker-cmp\n' |
    make_message "$T/m.eml"
gate_run -o PolicyFile="$T/policy" -o EnrollmentSMTP=127.0.0.1:9 -t "$T/m.eml" \
    --from alice@example.com --rcpt zed@example.net --client 127.0.0.1 >"$T/out.eml" 2>"$T/gate.err"
check "CMP rejects: the message is tempfailed (451)" grep -q '451 4.3.0' "$T/gate.err"
check "CMP rejects: the log says why" grep -q 'enroll <zed@example.net>: CA: CMP .*rejection' "$T/gate.err"
mock_stop
gate_run -o PolicyFile="$T/policy" -o EnrollmentSMTP=127.0.0.1:9 -t "$T/m.eml" \
    --from alice@example.com --rcpt zed@example.net --client 127.0.0.1 >"$T/out2.eml" 2>"$T/gate2.err"
check "CMP server down: the message is tempfailed (451)" grep -q '451 4.3.0' "$T/gate2.err"

# The daemon with CMP and no embedded CA runs the pickup portal alone.
HP=$(free_port)
if gate_start -o "CAHTTPListen=127.0.0.1:$HP" && wait_port "$HP" "$GATE_PID" 50; then
	ok "CMP without the embedded CA: the daemon serves the portal on $HP"
	check "the portal answers (unknown link: 404)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
	    'http://127.0.0.1:$HP/pickup?t=00')\" = 404 ]"
	check "no CA certificate to serve (404)" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
	    'http://127.0.0.1:$HP/ca.crt')\" = 404 ]"
	gate_stop
else
	not_ok "CMP without the embedded CA: the daemon serves the portal"
fi
done_testing
