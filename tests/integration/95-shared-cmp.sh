#!/bin/sh
# Two gateways (A and B) without the embedded CA, enrolling over CMP
# (CMPServer: tests/tools/cmpserver, a CMP CA that issues to the requested
# key), with one keystore in slapd (KeystoreBackend ldap) and the harvest
# store in redis-server: the pending enrollments and pickup links are in
# the directory, as with the embedded CA, so that a link made on A works
# on B, once.
#
# Enrollment: alice's mail through A to xena@example.net enrolls her over
# CMP; the pickup on B gives the PKCS#12 that decrypts it; a second pickup
# on A is refused.  yves is enrolled through B.  Attacks: yves's link with
# xena's password is refused; xena's sealed record put under yves's link
# (whoever can write the directory) releases nothing; wrong passwords on
# A and B count against one link on both and lock it on both.  A pending
# enrollment made on A (its invitation could not go out) is used by B.
# An employee's certificate enrolled over CMP through A keeps its origin
# in the directory, and B renews it over CMP.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch ldapmodify redis-server \
    redis-cli curl
CMPSRV="$top/tests/tools/cmpserver"
[ -x "$CMPSRV" ] || bail "tests/tools/cmpserver (make tools)"

# ---- the directory, redis, the CMP CA ---------------------------------------
twogw_shared_dir alice bob pki

C="$T/cmp"
mkdir -p "$C"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/ca.key" -out "$C/ca.crt" \
    -subj "/O=Test CMP CA/CN=Test CMP CA" -days 60 -addext basicConstraints=critical,CA:TRUE \
    >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "the CMP CA made"; }
echo "s3cret-shared" >"$C/secret"
chmod 0600 "$C/secret"
CMP_PORT=$(free_port) || bail "a free port"
"$CMPSRV" "$CMP_PORT" "$C/ca.crt" "$C/ca.key" s3cret-shared 30 30 >"$T/cmpserver.log" 2>&1 &
at_exit "stop_pid $! 20"
wait_port "$CMP_PORT" "$!" 50 || bail "cmpserver on 127.0.0.1:$CMP_PORT"
ok "slapd, redis-server and a CMP CA on loopback"

twogw_ports
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=5
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t95c:
    -o RedisKeyFile=$REDIS_KEY -o RedisHarvestPrefix=t95ch:
    -o CertificateAuthority=no -o CMPServer=127.0.0.1:$CMP_PORT -o CMPReference=ref1
    -o CMPSecretFile=$C/secret -o CMPTimeout=10
    -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT
    -o EnrollmentSender=pki@example.com -o PolicyFile=$POLICY -o PickupMaxFailures=3"

# ---- one master key, both gateways, each behind its own Postfix ------------
twogw_master gate_ctl    # makes the master key (no CA: it says so)
sink_start || bail "smtp-sink started"
twogw_start_portals
ok "gateways A and B: no embedded CA, CMPServer, one keystore in the directory"
check "no CA on either gateway" sh -c "! ls '$T'/state-?/ca/*.crt 2>/dev/null | grep -q ."

# ---- enrollment ------------------------------------------------------------
hash() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1; }

inst A
twogw_enroll one xena@example.net
XTOKEN=$TOKEN XPASSWORD=$PASSWORD
check "xena's certificate came over CMP" grep -q 'issued ir xena@example.net' "$T/cmpserver.log"
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pickup-$(hash "$XTOKEN"))" dn >"$T/pickup.ldif" 2>&1
check "the link's record is in the directory, not on A's disk" sh -c \
    "grep -q '^dn: cn=pickup-' '$T/pickup.ldif' && ! ls '$T'/state-?/pickup/* 2>/dev/null | grep -q ."

inst B
twogw_enroll two yves@example.net
YTOKEN=$TOKEN YPASSWORD=$PASSWORD

# Attacks: one outsider's link must not release another's key.
inst A
code=$(twogw_pickup "$YTOKEN" "$XPASSWORD" "$T/cross.out")
check "yves's link with xena's password is refused on A (HTTP $code)" test "$code" = 403
# xena's sealed record written over yves's (whoever can write the
# directory): the seal is bound to the record's name.
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pickup-$(hash "$XTOKEN"))" userPKCS12 \
    >"$T/xrec.ldif" 2>&1
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pickup-$(hash "$YTOKEN"))" dn >"$T/yrec.ldif" 2>&1
xval=$(sed -n 's/^userPKCS12:: //p' "$T/xrec.ldif")
ydn=$(sed -n 's/^dn: //p' "$T/yrec.ldif")
if [ -n "$xval" ] && [ -n "$ydn" ]; then
	cp "$T/yrec.ldif" "$T/yrec.dn"
	ldap_admin -b "$ydn" -s base userPKCS12 employeeNumber >"$T/ysaved.ldif" 2>&1
	printf 'dn: %s\nchangetype: modify\nreplace: userPKCS12\nuserPKCS12:: %s\n\n' "$ydn" "$xval" |
	    ldapmodify -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$SLAPD_ROOTDN" -y "$ROOTPW" \
	    >"$T/swap.log" 2>&1
	inst B
	code=$(twogw_pickup "$YTOKEN" "$XPASSWORD" "$T/swap.out")
	check "xena's record under yves's link releases nothing on B (HTTP $code)" \
	    sh -c "[ '$code' != 200 ] && ! openssl pkcs12 -in '$T/swap.out' -passin 'pass:$XPASSWORD' \
	    -nokeys >/dev/null 2>&1"
	# put yves's record back
	yv=$(sed -n 's/^userPKCS12:: //p' "$T/ysaved.ldif")
	printf 'dn: %s\nchangetype: modify\nreplace: userPKCS12\nuserPKCS12:: %s\n\n' "$ydn" "$yv" |
	    ldapmodify -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$SLAPD_ROOTDN" -y "$ROOTPW" \
	    >>"$T/swap.log" 2>&1
else
	not_ok "the two pickup records found in the directory"
fi

# The link made on A works on B, and gives xena's key only.
twogw_pickup_decrypt xena one "$XTOKEN" "$XPASSWORD"
openssl x509 -in "$T/xena.pem" -noout -ext subjectAltName >"$T/xena.san" 2>&1
check "the PKCS#12 holds xena's certificate, nobody else's" \
    sh -c "grep -q 'email:xena@example.net' '$T/xena.san' && ! grep -q yves '$T/xena.san' \
    && [ \$(grep -c 'BEGIN PRIVATE KEY' '$T/xena.pem') -eq 1 ]"
inst A
code=$(twogw_pickup "$XTOKEN" "$XPASSWORD" "$T/again.out")
check "a second pickup on A is refused as used (HTTP $code)" test "$code" = 410

# Wrong passwords on A and B count against one link: the cross try above
# (on A) was the first.
inst B
c2=$(twogw_pickup "$YTOKEN" wrong-two "$T/w2.out")
inst A
c3=$(twogw_pickup "$YTOKEN" wrong-three "$T/w3.out")
check "wrong passwords on A, B, A: refused, the third locks ($code 403 $c2 $c3)" \
    test "$c2 $c3" = "403 429"
inst B
c4=$(twogw_pickup "$YTOKEN" "$YPASSWORD" "$T/w4.out")
check "the link is locked on B too, even with the right password (HTTP $c4)" test "$c4" = 429
# ---- an employee's certificate over CMP: its origin in the directory -------
# bob enrolled over CMP through A; the sealed value in the directory says
# where it came from, and B renews it over CMP (a kur signed with bob's key).
inst A
gate_ctl ca cmp bob@example.com >"$T/bob.pem" 2>"$T/bob.err" || diag_file "$T/bob.err" 5
ldap_admin -b "$SLAPD_BASE" "(mail=bob@example.com)" userPKCS12 >"$T/bob.ldif" 2>&1
sed -n 's/^userPKCS12:: //p' "$T/bob.ldif" | base64 -d >"$T/bob.value" 2>/dev/null
check "bob's entry in the directory records its origin (cmp 127.0.0.1:$CMP_PORT ...)" \
    grep -q "^Origin: cmp 127.0.0.1:$CMP_PORT pkix/ ref1" "$T/bob.value"
inst B
gate_ctl keystore renew bob@example.com >"$T/bobrenew.out" 2>"$T/bobrenew.err"
check "B renews it over CMP from the shared keystore ($(head -c 100 "$T/bobrenew.out"))" \
    sh -c "grep -q '^renewed bob@example.com' '$T/bobrenew.out' && grep -q 'issued kur bob@example.com' '$T/cmpserver.log'"
ldap_admin -b "$SLAPD_BASE" "(mail=bob@example.com)" userPKCS12 >"$T/bob2.ldif" 2>&1
nv=0 no=0
for v in $(sed -n 's/^userPKCS12:: //p' "$T/bob2.ldif"); do
	nv=$((nv + 1))
	printf '%s' "$v" | base64 -d 2>/dev/null | grep -q '^Origin: cmp' && no=$((no + 1))
done
check "bob's directory entry now holds both keys, each with its origin ($nv values, $no with)" \
    test "$nv $no" = "2 2"
[ "$nv $no" = "2 2" ] || diag_file "$T/bob2.ldif" 5

# ---- a pending enrollment made on A is used by B ---------------------------
# A cannot send the invitation (its EnrollmentSMTP refuses): the message
# is tempfailed and the certificate kept pending in the directory; the
# retry through B uses that certificate instead of asking the CMP CA again.
twogw_pend_a
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pending-$(hash zed@example.net))" dn \
    >"$T/pending.ldif" 2>&1
check "the pending enrollment is in the directory" grep -q "^dn: cn=pending-" "$T/pending.ldif"
twogw_pend_b
check "the CMP CA was asked once for zed" test "$(grep -c 'issued ir zed@' "$T/cmpserver.log")" -eq 1
for i in A B; do
	inst "$i"
	gate_stop
done
done_testing
