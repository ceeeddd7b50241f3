#!/bin/sh
# The public-key retrieval service on the portal's server (CAHTTPListen):
# GET /certs?mail=ADDRESS answers an employee's valid encryption
# certificates with their chains, as PEM (format=pem, the default) and as
# a certs-only PKCS#7 (format=p7c), and nothing else: never a key, never a
# signing-only, revoked or foreign certificate; an address without one,
# known or not, is the same 404; bad requests are 400; each client gets
# LookupClientMaxRequests lookups a PickupClientWindow, then 429.  Off
# unless LookupService is on.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl curl

HTTP_PORT=$(free_port) || bail "a free port for CAHTTPListen"
BASE="http://127.0.0.1:$HTTP_PORT"
LIMIT=30
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o CASubject=O=Example_Corp,C=DE -o LookupClientMaxRequests=$LIMIT"
CA="$GATE_STATE/ca"

pki_make "$T/pki" || bail "a test PKI"
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
issue() { # FILE PROFILE ADDRESS
	gate_ctl ca issue --profile "$2" "$3" >"$T/$1.pem" 2>"$T/$1.err" ||
	    { diag_file "$T/$1.err"; bail "smimectl ca issue --profile $2 $3"; }
}
issue enc encrypt alice@example.com
issue sig sign alice@example.com
issue old encrypt alice@example.com
issue dsig sign dan@example.com
issue xenc encrypt xena@example.com
# One of alice's encryption certificates revoked, and all of xena's.
for f in old xenc; do
	serial=$(openssl x509 -in "$T/$f.pem" -noout -serial | cut -d= -f2)
	gate_ctl ca revoke "$serial" >"$T/revoke.log" 2>&1 ||
	    { diag_file "$T/revoke.log"; bail "smimectl ca revoke $f"; }
done
gate_import "$T/pki" bob
cat "$CA/issuing.crt" "$CA/root.crt" >"$T/chain.pem"
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

# get NAME PATH-AND-QUERY [CURL-ARGS]: the status in $CODE, the body in
# $T/NAME.body, the headers in $T/NAME.hdr.
get() {
	_n=$1 _p=$2
	shift 2
	CODE=$(curl -s -g -D "$T/$_n.hdr" -o "$T/$_n.body" -w '%{http_code}' --max-time 20 \
	    "$@" "$BASE$_p")
}
# certs_of FILE(PEM) OUT: the certificates' SHA-256 fingerprints, one a line.
certs_of() {
	awk -v d="$T/split" '/BEGIN CERTIFICATE/ { n++ } n { print > (d "." n) }' "$1"
	for _c in "$T"/split.*; do
		[ -f "$_c" ] && fp "$_c"
	done >"$2"
	rm -f "$T"/split.*
}

# ---- off by default ---------------------------------------------------------
gate_start || bail "smimegate started with the CA on CAHTTPListen"
get off "/certs?mail=alice@example.com"
check "without LookupService, /certs is 404 ($CODE)" test "$CODE" = 404
check "... and says nothing of certificates" sh -c "! grep -q 'BEGIN' '$T/off.body'"
gate_stop
gate_start -o LookupService=yes || bail "smimegate restarted with LookupService=yes"

# ---- PEM ----------------------------------------------------------------------
get pem "/certs?mail=alice@example.com&format=pem"
check "alice, format=pem: 200 ($CODE)" test "$CODE" = 200
check "... Content-Type application/pem-certificate-chain" \
    grep -qi '^Content-Type: application/pem-certificate-chain' "$T/pem.hdr"
certs_of "$T/pem.body" "$T/pem.fps"
check "... her valid encryption certificate first" \
    test "$(head -1 "$T/pem.fps")" = "$(fp "$T/enc.pem")"
check "... then the chain: the issuing CA and the root" \
    sh -c "grep -qx '$(fp "$CA/issuing.crt")' '$T/pem.fps' && grep -qx '$(fp "$CA/root.crt")' '$T/pem.fps'"
check "... three certificates in all ($(wc -l <"$T/pem.fps"))" test "$(wc -l <"$T/pem.fps")" -eq 3
check "... not her signing certificate" sh -c "! grep -qx '$(fp "$T/sig.pem")' '$T/pem.fps'"
check "... not her revoked encryption certificate" sh -c "! grep -qx '$(fp "$T/old.pem")' '$T/pem.fps'"
check "... no key of any kind" sh -c "! grep -q 'PRIVATE KEY' '$T/pem.body'"
check "... nothing but certificates" sh -c "! grep -v '^[A-Za-z0-9+/=]*\$' '$T/pem.body' | grep -v CERTIFICATE-----"
head -n "$(grep -n 'END CERTIFICATE' "$T/pem.body" | head -1 | cut -d: -f1)" "$T/pem.body" >"$T/served.pem"
check "openssl verify -purpose smimeencrypt accepts the served certificate with the served chain" \
    openssl verify -purpose smimeencrypt -CAfile "$CA/root.crt" -untrusted "$T/pem.body" "$T/served.pem"

get dflt "/certs?mail=alice@example.com"
check "format defaults to pem" sh -c "[ '$CODE' = 200 ] && cmp -s '$T/dflt.body' '$T/pem.body'"

# ---- certs-only PKCS#7 -----------------------------------------------------------
get p7c "/certs?mail=alice@example.com&format=p7c"
check "alice, format=p7c: 200 ($CODE)" test "$CODE" = 200
check "... Content-Type application/pkcs7-mime; smime-type=certs-only" \
    grep -qi '^Content-Type: application/pkcs7-mime; *smime-type=certs-only' "$T/p7c.hdr"
if openssl pkcs7 -inform DER -in "$T/p7c.body" -print_certs -out "$T/p7c.pem" 2>"$T/p7c.err"; then
	ok "openssl pkcs7 -print_certs reads it"
	certs_of "$T/p7c.pem" "$T/p7c.fps"
	check "... the same certificates as the PEM answer" cmp -s "$T/p7c.fps" "$T/pem.fps"
else
	not_ok "openssl pkcs7 -print_certs reads it"
	diag_file "$T/p7c.err" 5
fi
check "... no signer, no content (certs-only)" sh -c "openssl cms -cmsout -print -inform DER \
    -in '$T/p7c.body' | grep -q 'signerInfos:' && ! openssl cms -cmsout -print -inform DER \
    -in '$T/p7c.body' | grep -A1 'signerInfos:' | grep -q 'version'"
check "... no key in the DER" sh -c "! openssl asn1parse -inform DER -in '$T/p7c.body' | grep -qi 'rsaEncryption.*PRIVATE\|privateKey'"

# ---- an imported employee: the chain that came with the PKCS#12 ----------------
get bob "/certs?mail=bob@example.com&format=pem"
certs_of "$T/bob.body" "$T/bob.fps"
check "bob (imported): 200 with his certificate and the test root" sh -c "[ '$CODE' = 200 ] \
    && [ \"\$(head -1 '$T/bob.fps')\" = '$(fp "$T/pki/bob.pem")' ] \
    && grep -qx '$(fp "$T/pki/ca.pem")' '$T/bob.fps' && [ \$(wc -l <'$T/bob.fps') -eq 2 ]"
check "... no key" sh -c "! grep -q 'PRIVATE KEY' '$T/bob.body'"
get bobcase "/certs?mail=bob@EXAMPLE.com&format=pem"
check "the domain is case-insensitive ($CODE)" sh -c "[ '$CODE' = 200 ] && cmp -s '$T/bobcase.body' '$T/bob.body'"
get bobcase2 "/certs?mail=Bob@example.com&format=pem"
check "the local part is exact: Bob@ is not bob@ ($CODE)" test "$CODE" = 404

# ---- nothing else: unknown, sign-only and revoked-only addresses look the same --
get unknown "/certs?mail=nobody@example.com"
check "an unknown address: 404 ($CODE)" test "$CODE" = 404
get dan "/certs?mail=dan@example.com"
check "a sign-only employee: 404 ($CODE)" test "$CODE" = 404
check "... with the unknown address's answer, byte for byte" cmp -s "$T/dan.body" "$T/unknown.body"
get xena "/certs?mail=xena@example.com&format=p7c"
check "an employee whose only encryption certificate is revoked: 404 ($CODE)" test "$CODE" = 404
check "... the same answer" cmp -s "$T/xena.body" "$T/unknown.body"
for b in unknown dan xena; do
	check "$b: no certificate in the answer" sh -c "! grep -q 'BEGIN' '$T/$b.body'"
done

# ---- bad requests -------------------------------------------------------------------
get nomail "/certs"
check "no mail=: 400 ($CODE)" test "$CODE" = 400
get badfmt "/certs?mail=alice@example.com&format=der"
check "format=der: 400 ($CODE)" test "$CODE" = 400
get noat "/certs?mail=alice"
check "mail without @: 400 ($CODE)" test "$CODE" = 400
long=$(head -c 400 /dev/zero | tr '\0' a)
get long "/certs?mail=$long@example.com"
check "an address over 320 octets: 400 ($CODE)" test "$CODE" = 400
get ctl "/certs?mail=alice%0a@example.com"
check "an address with a control character: 400 ($CODE)" test "$CODE" = 400
huge=$(head -c 20000 /dev/zero | tr '\0' a)
get huge "/certs?mail=$huge@example.com"
check "a request line over HTTPMaxHeaderSize is refused, not served ($CODE)" \
    sh -c "[ '$CODE' != 200 ] && ! grep -q BEGIN '$T/huge.body'"
get post "/certs?mail=alice@example.com" -X POST -d x=1
check "POST /certs is not served ($CODE)" sh -c "[ '$CODE' != 200 ] && ! grep -q BEGIN '$T/post.body'"
# an unknown link gets the portal's own page for it: 410, not a refusal
check "the portal still answers /pickup (an unknown link: 410, its page)" sh -c "curl -s \
    -o '$T/pk1.body' -w '%{http_code}' --max-time 20 \
    '$BASE/pickup?t=0000000000000000000000000000000000000000000000000000000000000000' |
    grep -qx 410 && grep -q 'id=\"error\"' '$T/pk1.body'"
check "the CA still answers /ca.crt" sh -c "curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
    '$BASE/ca.crt' | grep -qx 200"

# ---- the per-client limit -----------------------------------------------------------
# Every GET /certs the portal saw above counted, the 400s too: 14 so far
# (evhttp refused the huge one, the POST is not a lookup).
i=0 first=""
while [ $i -lt $((LIMIT + 5)) ]; do
	get rate "/certs?mail=alice@example.com"
	if [ "$CODE" = 429 ] && [ -z "$first" ]; then
		first=$i
		cp "$T/rate.body" "$T/rate429.body"
	fi
	[ -n "$first" ] && [ "$CODE" != 429 ] && break
	i=$((i + 1))
done
check "after LookupClientMaxRequests ($LIMIT) lookups, 429 (at request $first of this loop)" \
    test "$first" = $((LIMIT - 14))
check "... and 429 it stays ($CODE)" test "$CODE" = 429
check "... a 429 holds no certificate" sh -c "[ -n '$first' ] && ! grep -q BEGIN '$T/rate429.body'"
check "... the pickup page is not limited by lookups (410, not 429)" sh -c "curl -s \
    -o '$T/pk2.body' -w '%{http_code}' --max-time 20 \
    '$BASE/pickup?t=0000000000000000000000000000000000000000000000000000000000000000' |
    grep -qx 410 && grep -q 'id=\"error\"' '$T/pk2.body'"

check "the gateway still runs" kill -0 "$GATE_PID"
done_testing
