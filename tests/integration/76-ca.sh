#!/bin/sh
# The embedded CA: smimectl ca init makes a root and an issuing
# CA whose keys are encrypted at rest; ca issue makes certificates with
# the profiles' key usages, emailProtection, the rfc822Name SAN, the CRL
# distribution point and the issuer URL, escrows their keys and publishes
# external recipients' certificates; openssl verify -purpose smimeencrypt
# accepts them.  The gateway serves the CRL and the issuer certificate
# over HTTP (loopback); a revoked certificate appears in the served CRL and
# the certificate lookup the encryption path uses then refuses it.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl curl

HTTP_PORT=$(free_port) || bail "a free port for the HTTP endpoint"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o CASubject=O=Example_Corp,C=DE -o CRLCheck=yes -o CRLUnavailable=tempfail"
CA="$GATE_STATE/ca"

if gate_ctl ca init >"$T/init.log" 2>&1; then
	ok "smimectl ca init"
else
	diag_file "$T/init.log" 10 "smimectl"
	bail "smimectl ca init"
fi
check "a second ca init refuses to overwrite the CA" sh -c "! $top/smimectl -c $GATE_CONF \
    -o StateDirectory=$GATE_STATE $(echo $GATE_OPTS) ca init >/dev/null 2>&1"
check "CA keys are encrypted at rest" sh -c "grep -q 'BEGIN ENCRYPTED PRIVATE KEY' '$CA/root.key' \
    && grep -q 'BEGIN ENCRYPTED PRIVATE KEY' '$CA/issuing.key' && ! grep -q 'BEGIN PRIVATE KEY' '$CA'/*.key"
check "CA key files are 0600" sh -c "[ -z \"\$(find '$CA' -type f -perm /077)\" ]"
check "the CA keys do not open with an empty password" sh -c "! openssl pkey -in '$CA/root.key' \
    -passin pass: -noout 2>/dev/null"
cat "$CA/root.crt" >"$T/root.pem"
cat "$CA/issuing.crt" >"$T/issuing.pem"
check "the root is self-signed, the issuing CA chains to it" \
    openssl verify -CAfile "$T/root.pem" "$T/issuing.pem"

issue() { # NAME PROFILE ADDRESS
	if gate_ctl ca issue --profile "$2" "$3" >"$T/$1.pem" 2>"$T/$1.err"; then
		ok "smimectl ca issue --profile $2 $3"
	else
		not_ok "smimectl ca issue --profile $2 $3"
		diag_file "$T/$1.err" 10 "smimectl"
	fi
}
issue ext external xena@example.net
issue enc encrypt alice@example.com
issue sig sign alice@example.com

ext_has() { # NAME EXTENSION PATTERN
	openssl x509 -in "$T/$1.pem" -noout -ext "$2" 2>/dev/null | grep -q "$3"
}
for n in ext enc; do
	check "$n: openssl verify -purpose smimeencrypt accepts it" \
	    openssl verify -purpose smimeencrypt -CAfile "$T/root.pem" -untrusted "$T/issuing.pem" "$T/$n.pem"
	check "$n: keyUsage has keyEncipherment (escrowed key)" ext_has $n keyUsage "Key Encipherment"
	check "$n: extendedKeyUsage emailProtection" ext_has $n extendedKeyUsage "E-mail Protection"
done
check "ext: SAN rfc822Name" ext_has ext subjectAltName "email:xena@example.net"
check "ext: CRL distribution point on the HTTP endpoint" ext_has ext crlDistributionPoints \
    "URI:http://127.0.0.1:$HTTP_PORT/ca.crl"
check "ext: issuer URL (caIssuers)" ext_has ext authorityInfoAccess \
    "CA Issuers - URI:http://127.0.0.1:$HTTP_PORT/ca.crt"
check "ext: not a CA" ext_has ext basicConstraints "CA:FALSE"
check "sig: openssl verify -purpose smimesign accepts it" \
    openssl verify -purpose smimesign -CAfile "$T/root.pem" -untrusted "$T/issuing.pem" "$T/sig.pem"
check "sig: no keyEncipherment" sh -c "! openssl x509 -in '$T/sig.pem' -noout -ext keyUsage | grep -q Encipherment"
check "sig: refused for encryption" sh -c "! openssl verify -purpose smimeencrypt -CAfile '$T/root.pem' \
    -untrusted '$T/issuing.pem' '$T/sig.pem' >/dev/null 2>&1"
days=$(( ($(date -d "$(openssl x509 -in "$T/ext.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)) / 86400 ))
check "validity: one year by default (got $days days)" test "$days" -ge 364 -a "$days" -le 366

gate_ctl keystore list >"$T/ks.out" 2>&1
check "the external recipient's key is escrowed" grep -q "^xena@example.net" "$T/ks.out"
check "alice's keys are escrowed" test "$(grep -c '^alice@example.com' "$T/ks.out")" -eq 2
gate_ctl ca list >"$T/list.out" 2>&1
check "ca list shows three valid certificates" test "$(grep -c 'valid$' "$T/list.out")" -eq 3

# P-256 in a second CA.
if gate_ctl -o CADirectory="$T/ca2" -o CAKeyType=p-256 ca init >"$T/init2.log" 2>&1 &&
    gate_ctl -o CADirectory="$T/ca2" -o CAKeyType=p-256 ca issue --profile encrypt \
    pat@example.com >"$T/p256.pem" 2>&1; then
	check "P-256: an EC key" sh -c "openssl x509 -in '$T/p256.pem' -noout -text | grep -q 'prime256v1'"
	check "P-256 encryption: keyAgreement" ext_has p256 keyUsage "Key Agreement"
else
	not_ok "P-256 CA and certificate"
	diag_file "$T/init2.log" 10
fi

# ---- ca issue --csr: an external PKCS#10 request ---------------------------
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/carol.key" -out "$T/carol.csr" \
    -subj "/CN=ignored by the CA/O=Elsewhere" >/dev/null 2>&1 || bail "openssl req made a request"
if gate_ctl ca issue --profile encrypt --csr "$T/carol.csr" carol@example.net \
    >"$T/carol.pem" 2>"$T/carol.err"; then
	ok "smimectl ca issue --profile encrypt --csr (openssl req, PEM)"
else
	not_ok "smimectl ca issue --profile encrypt --csr (openssl req, PEM)"
	diag_file "$T/carol.err" 5
fi
check "csr: openssl verify -purpose smimeencrypt accepts it" \
    openssl verify -purpose smimeencrypt -CAfile "$T/root.pem" -untrusted "$T/issuing.pem" "$T/carol.pem"
check "csr: issued to the request's key" sh -c "[ \"\$(openssl x509 -in '$T/carol.pem' -noout -pubkey)\" \
    = \"\$(openssl pkey -in '$T/carol.key' -pubout)\" ]"
check "csr: the CA names it (SAN email, not the request's subject)" sh -c \
    "openssl x509 -in '$T/carol.pem' -noout -ext subjectAltName | grep -q 'email:carol@example.net' \
    && ! openssl x509 -in '$T/carol.pem' -noout -subject | grep -q 'ignored'"
gate_ctl keystore list >"$T/ks-csr.out" 2>&1
check "csr: the key is not escrowed" sh -c "! grep -q '^carol@example.net' '$T/ks-csr.out'"
check "csr: ca list has it" grep -q 'carol@example.net' "$(gate_ctl ca list >"$T/list-csr.out" 2>&1; echo "$T/list-csr.out")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/dave.key" \
    -outform DER -out "$T/dave.csr" -subj "/CN=dave" >/dev/null 2>&1
# refused WHAT ARGS...: smimectl ca issue ARGS must fail (stderr in $T/refused.err).
refused() {
	_what=$1
	shift
	if gate_ctl ca issue "$@" >/dev/null 2>"$T/refused.err"; then
		not_ok "csr: $_what is refused"
	else
		ok "csr: $_what is refused ($(head -1 "$T/refused.err"))"
	fi
}
if gate_ctl ca issue --profile sign --csr "$T/dave.csr" dave@example.net >"$T/dave.pem" 2>&1 &&
    openssl verify -purpose smimesign -CAfile "$T/root.pem" -untrusted "$T/issuing.pem" \
    "$T/dave.pem" >/dev/null 2>&1; then
	ok "csr: a DER request with a P-256 key, profile sign, passes -purpose smimesign"
else
	not_ok "csr: a DER request with a P-256 key, profile sign, passes -purpose smimesign"
	diag_file "$T/dave.pem" 5
fi
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/weak.key" -out "$T/weak.csr" -subj "/CN=w" \
    >/dev/null 2>&1
refused "a 1024-bit RSA key" --csr "$T/weak.csr" w@example.net
# A request whose signature does not verify: one bit of the signature flipped.
openssl req -in "$T/carol.csr" -outform DER -out "$T/bad.der"
perl -e 'local $/; open my $f, "+<", $ARGV[0] or die; binmode $f; my $d = <$f>;
    substr($d, length($d) - 5, 1) ^= "\x01"; seek $f, 0, 0; print $f $d;' "$T/bad.der"
refused "a request whose signature does not verify" --csr "$T/bad.der" b@example.net
check "csr: ... and says why" grep -q 'does not verify' "$T/refused.err"
refused "a file that is not a request" --csr "$T/root.pem" b@example.net
refused "a missing file" --csr "$T/nothing.csr" b@example.net

# ---- the gateway serves the CRL; revocation reaches the lookup -------------
gate_start || bail "smimegate started with the CA"
ok "smimegate started with CertificateAuthority=yes"
wait_port "$HTTP_PORT" "$GATE_PID" 50 || not_ok "HTTP endpoint on 127.0.0.1:$HTTP_PORT"
check "GET /ca.crt is the issuing certificate" sh -c "curl -sf http://127.0.0.1:$HTTP_PORT/ca.crt \
    | openssl x509 -inform DER -noout -subject | grep -q 'Issuing CA'"
check "GET /ca.crl is a CRL signed by the issuing CA" sh -c "curl -sf -o '$T/crl0.der' \
    http://127.0.0.1:$HTTP_PORT/ca.crl && openssl crl -inform DER -in '$T/crl0.der' \
    -CAfile '$T/issuing.pem' -noout"
check "GET /nothing is 404" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' \
    http://127.0.0.1:$HTTP_PORT/nothing)\" = 404 ]"
check "the HTTP endpoint listens on loopback only" sh -c "! ss -ltn | grep ':$HTTP_PORT ' | grep -qv '127.0.0.1'"

gate_ctl lookup xena@example.net >"$T/lookup0.out" 2>&1
keep "$T/lookup0.out"
check "lookup xena without TrustAnchorFile: the CA's root is trusted by itself" \
    grep -q '^result: found' "$T/lookup0.out"
cat "$T/root.pem" "$T/issuing.pem" >"$T/trust.pem"
GATE_OPTS="$GATE_OPTS -o TrustAnchorFile=$T/trust.pem"
gate_ctl lookup xena@example.net >"$T/lookup1.out" 2>&1
check "lookup xena: the published certificate is found (CRL checked)" grep -q '^result: found' "$T/lookup1.out"
keep "$T/lookup1.out"

serial=$(openssl x509 -in "$T/ext.pem" -noout -serial | cut -d= -f2)
check "smimectl ca revoke $serial" gate_ctl ca revoke "$serial"
curl -sf -o "$T/crl1.der" "http://127.0.0.1:$HTTP_PORT/ca.crl"
check "the served CRL lists the revoked serial" sh -c "openssl crl -inform DER -in '$T/crl1.der' \
    -noout -text | grep -q 'Serial Number: $serial'"
check "ca list says revoked" grep -q "^$serial.*revoked" "$(gate_ctl ca list >"$T/list2.out" 2>&1; echo "$T/list2.out")"
openssl crl -inform DER -in "$T/crl1.der" -out "$T/crl1.pem"
check "openssl verify -crl_check refuses it with the served CRL" sh -c "openssl verify -crl_check \
    -CAfile '$T/trust.pem' -CRLfile '$T/crl1.pem' '$T/ext.pem' 2>&1 | grep -q 'certificate revoked'"
gate_ctl lookup xena@example.net >"$T/lookup2.out" 2>&1
keep "$T/lookup2.out"
check "lookup xena after revocation: never used (certificate revoked)" sh -c \
    "grep -q 'no usable certificate' '$T/lookup2.out' && grep -q 'certificate revoked' '$T/lookup2.out'"
gate_stop
done_testing
