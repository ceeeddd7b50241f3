#!/bin/sh
# The embedded CA as an OCSP responder on CAHTTPListen, with `openssl
# ocsp` as the client: certificates issued under CAOCSPURL name it;
# good, revoked after `smimectl ca revoke` (with its time, and its
# reason when --reason gives one, in the CRL too), unknown for
# a serial the CA did not issue and for another issuer's certificate;
# the nonce echoed; the response verified by openssl against the CA's
# root; GET /ocsp/BASE64 (RFC 6960 appendix A) as well as POST.  Refused:
# an oversized body (413), another content type (415), garbage and a
# truncated request (malformedRequest, unsigned).  And the gateway's own
# lookup asking its CA: the published certificate usable while good,
# refused once revoked, and refused under a forged answer's influence
# never arises (the lookup's checks: test_ocsp, 93-ocsp-client).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/pki.sh"
need_gateway
need_tools openssl curl base64

HTTP_PORT=$(free_port) || bail "a free port for the CA's HTTP endpoint"
BASE="http://127.0.0.1:$HTTP_PORT"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o CAOCSPURL=$BASE/ocsp -o LocalDomains=example.com"
CA="$GATE_STATE/ca"

gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
cp "$CA/root.crt" "$T/root.pem"
cp "$CA/issuing.crt" "$T/issuing.pem"
for n in xena yuri zoe; do
	gate_ctl ca issue --profile external "$n@example.net" >"$T/$n.pem" 2>"$T/$n.err" ||
	    { diag_file "$T/$n.err"; bail "smimectl ca issue $n"; }
done
check "issued certificates name the responder (authorityInfoAccess OCSP)" sh -c \
    "openssl x509 -in '$T/xena.pem' -noout -ocsp_uri | grep -qx '$BASE/ocsp'"
gate_start || bail "smimegate started with the CA's HTTP endpoint"
wait_port "$HTTP_PORT" "$GATE_PID" || bail "the CA's HTTP endpoint listens"

# ocsp NAME OUT [options]: openssl ocsp about NAME's certificate; its
# output in OUT.
ocsp() {
	_n=$1 _o=$2
	shift 2
	openssl ocsp -issuer "$T/issuing.pem" -url "$BASE/ocsp" -CAfile "$T/root.pem" \
	    -timeout 10 "$@" >"$_o" 2>&1
}
says() { # FILE PATTERN WHAT
	if grep -q "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3"
		diag_file "$1" 12
	fi
}

# ---- good ------------------------------------------------------------------
ocsp xena "$T/good.out" -cert "$T/xena.pem" -resp_text
says "$T/good.out" "xena.pem: good" "openssl ocsp: xena good"
says "$T/good.out" "Response verify OK" "the response verifies against the CA's root"
says "$T/good.out" "OCSP Nonce" "the nonce is echoed"
check "openssl finds its own nonce in the response" sh -c \
    "! grep -qi 'no nonce\|nonce verify error' '$T/good.out'"
says "$T/good.out" "Next Update:" "the answer has a nextUpdate"

# GET /ocsp/BASE64 (RFC 6960 appendix A).
openssl ocsp -issuer "$T/issuing.pem" -cert "$T/yuri.pem" -reqout "$T/get.req" \
    >/dev/null 2>&1 || bail "a request for yuri written"
b64=$(base64 -w0 "$T/get.req" | sed 's/+/%2B/g; s#/#%2F#g; s/=/%3D/g')
code=$(curl -s -o "$T/get.resp" -w '%{http_code}' --max-time 10 "$BASE/ocsp/$b64")
check "GET /ocsp/BASE64 answers 200 ($code)" test "$code" = 200
openssl ocsp -respin "$T/get.resp" -reqin "$T/get.req" -CAfile "$T/root.pem" \
    -resp_text >"$T/get.out" 2>&1
check "GET: yuri good, the response verified, its nonce the request's" sh -c \
    "grep -q 'Cert Status: good' '$T/get.out' && grep -q 'Response verify OK' '$T/get.out' \
    && ! grep -qi 'nonce verify error\|no nonce' '$T/get.out'"

# ---- revoked ---------------------------------------------------------------
serial=$(openssl x509 -in "$T/xena.pem" -noout -serial | cut -d= -f2)
gate_ctl ca revoke "$serial" >"$T/revoke.log" 2>&1 || { diag_file "$T/revoke.log"; not_ok "ca revoke"; }
ocsp xena "$T/revoked.out" -cert "$T/xena.pem"
says "$T/revoked.out" "xena.pem: revoked" "openssl ocsp: xena revoked after smimectl ca revoke"
says "$T/revoked.out" "Revocation Time:" "... with the time of revocation"
says "$T/revoked.out" "Response verify OK" "... and the response verifies"
ocsp yuri "$T/yuri.out" -cert "$T/yuri.pem"
says "$T/yuri.out" "yuri.pem: good" "yuri still good"
zserial=$(openssl x509 -in "$T/zoe.pem" -noout -serial | cut -d= -f2)
check "ca revoke refuses a reason RFC 5280 does not name" sh -c \
    "! $top/smimectl -c $GATE_CONF -o StateDirectory=$GATE_STATE ca revoke $zserial \
    --reason whim >/dev/null 2>&1"
gate_ctl ca revoke "$zserial" --reason keyCompromise >"$T/revoke-zoe.log" 2>&1 ||
    { diag_file "$T/revoke-zoe.log"; not_ok "ca revoke --reason keyCompromise"; }
ocsp zoe "$T/zoe.out" -cert "$T/zoe.pem"
says "$T/zoe.out" "Reason: keyCompromise" "revoked with --reason keyCompromise: the answer gives the reason"
openssl crl -inform DER -in "$CA/crl.der" -noout -text >"$T/crl.txt" 2>&1
says "$T/crl.txt" "Key Compromise" "... and so does the CRL"

# ---- unknown ---------------------------------------------------------------
ocsp none "$T/unknown.out" -serial 0x1234ABCD
says "$T/unknown.out" ": unknown" "a serial the CA did not issue: unknown"
pki_make "$T/other" >"$T/other.log" 2>&1 || bail "another PKI"
openssl ocsp -issuer "$T/other/ca.pem" -cert "$T/other/alice.pem" -url "$BASE/ocsp" \
    -CAfile "$T/root.pem" -timeout 10 >"$T/foreign.out" 2>&1
says "$T/foreign.out" "alice.pem: unknown" "another issuer's certificate: unknown"

# ---- refused ---------------------------------------------------------------
post() { # FILE CONTENT-TYPE OUT: the HTTP status
	curl -s -o "$3" -w '%{http_code}' --max-time 10 -H "Content-Type: $2" \
	    --data-binary "@$1" "$BASE/ocsp"
}
head -c 5000 /dev/urandom >"$T/big.req"
code=$(post "$T/big.req" application/ocsp-request "$T/big.resp")
check "an oversized request is refused (413, got $code)" test "$code" = 413
code=$(post "$T/get.req" text/plain "$T/ct.resp")
check "another content type is refused (415, got $code)" test "$code" = 415
head -c 300 /dev/urandom >"$T/junk.req"
code=$(post "$T/junk.req" application/ocsp-request "$T/junk.resp")
openssl ocsp -respin "$T/junk.resp" -resp_text -noverify >"$T/junk.out" 2>&1
check "garbage gets malformedRequest ($code)" sh -c \
    "[ '$code' = 200 ] && grep -qi 'malformedrequest' '$T/junk.out' && ! grep -q 'Signature Algorithm' '$T/junk.out'"
head -c 40 "$T/get.req" >"$T/cut.req"
code=$(post "$T/cut.req" application/ocsp-request "$T/cut.resp")
openssl ocsp -respin "$T/cut.resp" -resp_text -noverify >"$T/cut.out" 2>&1
check "a truncated request gets malformedRequest ($code)" grep -qi 'malformedrequest' "$T/cut.out"
code=$(curl -s -o "$T/badget.resp" -w '%{http_code}' --max-time 10 "$BASE/ocsp/%%%not-base64")
openssl ocsp -respin "$T/badget.resp" -resp_text -noverify >"$T/badget.out" 2>&1
check "GET with something that is not base64 gets malformedRequest ($code)" \
    grep -qi 'malformedrequest' "$T/badget.out"
ocsp yuri "$T/after.out" -cert "$T/yuri.pem"
says "$T/after.out" "yuri.pem: good" "the responder still answers after the refusals"

# ---- the gateway's lookup asks its own CA -----------------------------------
gate_ctl lookup yuri@example.net >"$T/lookup-yuri.out" 2>&1
says "$T/lookup-yuri.out" "chosen" "smimectl lookup: yuri's certificate (OCSP good) chosen"
gate_ctl lookup xena@example.net >"$T/lookup-xena.out" 2>&1
says "$T/lookup-xena.out" "revoked (OCSP" "smimectl lookup: xena's certificate refused, revoked (OCSP)"

done_testing
