#!/bin/sh
# One embedded CA for two gateways (A and B) that keep their keystore in
# one slapd (KeystoreBackend ldap) and harvested certificates in one
# redis-server (HarvestStore redis), each with its own state directory,
# Postfix and portal, one smtp-sink behind both.
#
# The CA: smimectl ca init run on A and B at the same instant makes one
# CA (the loser is told it exists); its keys, sealed under the master key,
# sit in userPKCS12 of an entry under ou=smimegate that only the gateways'
# DN reads; both gateways serve the same issuer.  Serials issued through A
# and B differ and both verify; a revocation through A is in B's CRL and OCSP answers; the
# CRL numbers differ.  Enrollment: mail from alice through A to an
# outsider (xena@example.net) enrolls her; the pickup on B with the
# password gives the PKCS#12 that decrypts the message; a second pickup on
# A is refused as used.  Wrong passwords on A and B lock a link on both.
# Attacks: Redis holds neither the token, nor the password, nor anything
# that marks a link; emptying Redis does not make a used link usable; the
# pickup record in the directory is sealed (no address or hash in clear);
# a genuine record copied under another token (with the right password) is
# refused.  An employee's certificate issued through A is the one B signs
# with.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch ldapadd redis-server \
    redis-cli curl

# ---- the directory: people, the gateways' DN, another reader -------------
twogw_reader
twogw_shared_dir alice bob pki
ok "slapd on 127.0.0.1:$SLAPD_PORT, redis-server on 127.0.0.1:$REDIS_PORT"

twogw_ports
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=5
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t95:
    -o RedisKeyFile=$REDIS_KEY -o RedisHarvestPrefix=t95h:
    -o CertificateAuthority=yes -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT
    -o EnrollmentSender=pki@example.com -o PolicyFile=$POLICY -o PickupMaxFailures=3"

# inst A|B (tests/lib/twogw.sh) sets HTTP_PORT and URL from HTTP_A/HTTP_B.
ctl() { gate_ctl -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" "$@"; }

# ---- one master key, then ca init on both at once ------------------------
# smimectl ca makes the master key (no CA yet: it says so)
twogw_master ctl
inst A
ctl ca init >"$T/init-A.log" 2>&1 &
pa=$!
inst B
ctl ca init >"$T/init-B.log" 2>&1 &
pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
if [ $((ra + rb)) -ne 0 ] && { [ $ra -eq 0 ] || [ $rb -eq 0 ]; } &&
    cat "$T/init-A.log" "$T/init-B.log" | grep -q 'exists already'; then
	ok "smimectl ca init on A and B at once: one makes the CA, the other is told it exists"
else
	not_ok "smimectl ca init on A and B at once: one makes the CA ($ra, $rb)"
	diag_file "$T/init-A.log" 5
	diag_file "$T/init-B.log" 5
fi
ldap_admin -b "ou=smimegate,$SLAPD_BASE" '(cn=ca-keys)' userPKCS12 >"$T/ca.ldif" 2>&1
nca=$(grep -c '^dn: cn=ca-keys' "$T/ca.ldif")
check "one CA in the directory ($nca)" test "$nca" -eq 1
sed -n 's/^userPKCS12:: //p' "$T/ca.ldif" | base64 -d >"$T/ca.value" 2>/dev/null
check "the CA's record is sealed: no certificate or key in clear" \
    sh -c "test -s '$T/ca.value' && ! grep -q 'BEGIN' '$T/ca.value'"
for who in "$RDDN:$RDPW" ""; do
	label=${who:+another user}
	ldapsearch -x -LLL -H "ldap://127.0.0.1:$SLAPD_PORT" ${who:+-D "${who%%:*}" -y "${who#*:}"} \
	    -b "$SLAPD_BASE" '(cn=ca-keys)' >"$T/ca-other.ldif" 2>&1
	check "${label:-an anonymous search} does not see the CA's entry" \
	    sh -c "! grep -q '^dn: cn=ca-keys' '$T/ca-other.ldif'"
done

# ---- both gateways, each behind its own Postfix ---------------------------
sink_start || bail "smtp-sink started"
twogw_start_portals
for i in A B; do
	inst "$i"
	curl -s -o "$T/ca-$i.der" "$URL/ca.crt"
	openssl x509 -inform DER -in "$T/ca-$i.der" -noout -fingerprint -sha256 >"$T/fp-$i" 2>&1
done
if [ -s "$T/fp-A" ] && grep -q Fingerprint "$T/fp-A" && cmp -s "$T/fp-A" "$T/fp-B"; then
	ok "A and B serve the same issuing CA ($(cut -c1-40 "$T/fp-A")...)"
else
	not_ok "A and B serve the same issuing CA ($(cat "$T/fp-A") / $(cat "$T/fp-B"))"
fi
check "A and B have the same root" cmp -s "$T/state-A/ca/root.crt" "$T/state-B/ca/root.crt"
check "no CA key on either disk" sh -c "! ls '$T'/state-?/ca/*.key 2>/dev/null | grep -q ."
cat "$T/state-A/ca/root.crt" "$T/state-A/ca/issuing.crt" >"$T/chain.pem"

# ---- serials issued through A and B: distinct, both verify ----------------
inst A
ctl ca issue --profile external una@example.net >"$T/una.pem" 2>"$T/una.err"
inst B
ctl ca issue --profile external ugo@example.net >"$T/ugo.pem" 2>"$T/ugo.err"
sa=$(openssl x509 -in "$T/una.pem" -noout -serial 2>/dev/null | cut -d= -f2)
sb=$(openssl x509 -in "$T/ugo.pem" -noout -serial 2>/dev/null | cut -d= -f2)
if [ -n "$sa" ] && [ -n "$sb" ] && [ "$sa" != "$sb" ]; then
	ok "serials issued through A ($sa) and B ($sb) differ"
else
	not_ok "serials issued through A and B differ ('$sa' '$sb')"
	diag_file "$T/una.err" 3
	diag_file "$T/ugo.err" 3
fi
for f in una ugo; do
	check "$f's certificate verifies against the one CA" \
	    sh -c "openssl verify -purpose smimeencrypt -CAfile '$T/state-A/ca/root.crt' \
	    -untrusted '$T/state-A/ca/issuing.crt' '$T/$f.pem' >/dev/null 2>&1"
done
ctl ca list >"$T/list-B.txt" 2>&1
check "smimectl ca list on B shows what A issued" grep -q "$sa" "$T/list-B.txt"

# ---- a revocation through A is in B's CRL ----------------------------------
inst A
ctl ca revoke "$sb" >"$T/revoke.log" 2>&1 || diag_file "$T/revoke.log" 3
ctl ca crl --out "$T/crl-A.der" >/dev/null 2>&1
inst B
ctl ca crl --out "$T/crl-B.der" >"$T/crl-B.log" 2>&1
openssl crl -inform DER -in "$T/crl-B.der" -noout -text >"$T/crl-B.txt" 2>&1
openssl crl -inform DER -in "$T/crl-A.der" -noout -text >"$T/crl-A.txt" 2>&1
check "B's CRL lists the certificate A revoked (B issued it)" grep -q "Serial Number: $sb" "$T/crl-B.txt"
check "and not the one that was not revoked" sh -c "! grep -q 'Serial Number: $sa' '$T/crl-B.txt'"
if openssl verify -crl_check -CAfile "$T/state-A/ca/root.crt" -untrusted "$T/state-A/ca/issuing.crt" \
    -CRLfile "$T/crl-B.der" "$T/ugo.pem" 2>&1 | grep -q 'certificate revoked'; then
	ok "openssl verify with B's CRL: ugo's certificate revoked"
else
	not_ok "openssl verify with B's CRL: ugo's certificate revoked"
fi
# B's OCSP responder (CAHTTPListen) answers from the same record.
ocsp_b() { # CERT: openssl ocsp against B's running responder
	openssl ocsp -issuer "$T/state-A/ca/issuing.crt" -cert "$T/$1.pem" \
	    -url "http://127.0.0.1:$HTTP_B/ocsp" -CAfile "$T/state-A/ca/root.crt" \
	    -verify_other "$T/state-A/ca/issuing.crt" -timeout 10 >"$T/ocsp-$1.txt" 2>&1
}
ocsp_b ugo
check "B's OCSP responder says revoked for what A revoked" grep -q "ugo.pem: revoked" "$T/ocsp-ugo.txt"
ocsp_b una
check "and good for what A issued and did not revoke" grep -q "una.pem: good" "$T/ocsp-una.txt"
na=$(sed -n '/CRL Number/{n;s/ //gp}' "$T/crl-A.txt")
nb=$(sed -n '/CRL Number/{n;s/ //gp}' "$T/crl-B.txt")
check "A's and B's CRLs carry CRL numbers, and different ones ($na, $nb)" \
    sh -c "[ -n '$na' ] && [ -n '$nb' ] && [ '$na' != '$nb' ]"

# ---- enrollment through A, pickup on B -------------------------------------
inst A
twogw_enroll one xena@example.net
XTOKEN=$TOKEN XPASSWORD=$PASSWORD
TOKHASH=$(printf '%s' "$XTOKEN" | openssl dgst -sha256 -r | cut -d' ' -f1)

# The attacks first: what Redis and the directory hold of the link.
redis_cli --scan >"$T/redis-keys.txt" 2>/dev/null
: >"$T/redis-values.txt"
while read -r k; do
	case $(redis_cli type "$k") in
	string) redis_cli --no-raw get "$k" ;;
	hash) redis_cli --no-raw hgetall "$k" ;;
	set) redis_cli --no-raw smembers "$k" ;;
	list) redis_cli --no-raw lrange "$k" 0 -1 ;;
	esac >>"$T/redis-values.txt" 2>&1
done <"$T/redis-keys.txt"
check "Redis holds keys (the harvest store, the cache)" test -s "$T/redis-keys.txt"
check "Redis holds neither the token nor its hash nor the password" \
    sh -c "! grep -q -i -e '$XTOKEN' -e '$TOKHASH' -e '$XPASSWORD' '$T/redis-keys.txt' '$T/redis-values.txt'"
check "no key in Redis names a pickup" sh -c "! grep -qi pickup '$T/redis-keys.txt'"
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pickup-$TOKHASH)" >"$T/pickup.ldif" 2>&1
sed -n 's/^userPKCS12:: //p' "$T/pickup.ldif" | base64 -d >"$T/pickup.value" 2>/dev/null
check "the link's record is in the directory, named by the token's hash" \
    grep -q "^dn: cn=pickup-$TOKHASH," "$T/pickup.ldif"
check "its value is sealed: neither address nor anything readable" \
    sh -c "test -s '$T/pickup.value' && ! grep -q -a -e xena -e '$XPASSWORD' '$T/pickup.value'"
check "nothing of the link on A's or B's disk" \
    sh -c "! ls '$T'/state-?/pickup/* 2>/dev/null | grep -q ."
# A genuine record copied under another token (whoever can write the
# directory, without the master key): refused with the right password.
FTOKEN=$(openssl rand -hex 32)
FHASH=$(printf '%s' "$FTOKEN" | openssl dgst -sha256 -r | cut -d' ' -f1)
sed -e "s/cn=pickup-$TOKHASH/cn=pickup-$FHASH/" -e "s/^cn: pickup-$TOKHASH/cn: pickup-$FHASH/" \
    "$T/pickup.ldif" >"$T/forged.ldif"
if ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$SLAPD_ROOTDN" -y "$ROOTPW" \
    -f "$T/forged.ldif" >"$T/forged.log" 2>&1; then
	inst B
	code=$(twogw_pickup "$FTOKEN" "$XPASSWORD" "$T/forged.out")
	check "a record copied under another token is refused on B (HTTP $code)" test "$code" = 410
else
	not_ok "the forged record added to the directory"
	diag_file "$T/forged.log" 5
fi

twogw_pickup_decrypt xena one "$XTOKEN" "$XPASSWORD"
check "xena's certificate is from the one CA" \
    sh -c "openssl verify -purpose smimeencrypt -CAfile '$T/state-A/ca/root.crt' \
    -untrusted '$T/state-A/ca/issuing.crt' '$T/xena.pem' >/dev/null 2>&1"
inst A
code=$(twogw_pickup "$XTOKEN" "$XPASSWORD" "$T/again.out")
check "a second pickup on A is refused as used (HTTP $code)" test "$code" = 410
redis_cli flushall >/dev/null 2>&1
code=$(twogw_pickup "$XTOKEN" "$XPASSWORD" "$T/again2.out")
check "emptying Redis does not make the link usable again (HTTP $code)" test "$code" = 410

# ---- wrong passwords on A and B lock one link on both -----------------------
inst B
twogw_enroll two yves@example.net
if [ -n "$TOKEN" ]; then
	c1=$(twogw_pickup "$TOKEN" wrong-one "$T/w1.out")
	inst A
	c2=$(twogw_pickup "$TOKEN" wrong-two "$T/w2.out")
	inst B
	c3=$(twogw_pickup "$TOKEN" wrong-three "$T/w3.out")
	check "wrong passwords on B, A, B: refused, the third locks ($c1 $c2 $c3)" \
	    test "$c1 $c2 $c3" = "403 403 429"
	inst A
	c4=$(twogw_pickup "$TOKEN" "$PASSWORD" "$T/w4.out")
	check "the link is locked on A too, even with the right password (HTTP $c4)" test "$c4" = 429
fi

# ---- an employee's certificate issued through A is used by B ----------------
inst A
ctl ca issue --profile sign bob@example.com >"$T/bob.pem" 2>"$T/bob.err" ||
    diag_file "$T/bob.err" 3
bserial=$(openssl x509 -in "$T/bob.pem" -noout -serial 2>/dev/null | cut -d= -f2)
sleep 2        # B reads the directory again on a miss, at most every 2 s
inst B
twogw_msg bobmail bob@example.com carol@example.org
if send_mail "$T/m/bobmail.eml" bob@example.com carol@example.org && wait_delivered "$QID" &&
    sink_fetch "<bobmail@example.com>" "$T/m/bobmail.got" &&
    openssl cms -verify -in "$T/m/bobmail.got" -CAfile "$T/chain.pem" -purpose any \
    -signer "$T/bob.signer" -out /dev/null >"$T/bob.verify" 2>&1 &&
    [ "$(openssl x509 -in "$T/bob.signer" -noout -serial | cut -d= -f2)" = "$bserial" ]; then
	ok "B signs bob's mail with the certificate issued through A ($bserial)"
else
	not_ok "B signs bob's mail with the certificate issued through A ($SMTP_REPLY)"
	diag_file "$T/bob.verify" 5
fi

# ---- a pending enrollment made on A is used by B ----------------------------
# A cannot send the invitation (its EnrollmentSMTP refuses): the message
# is tempfailed and the certificate kept pending in the directory; the
# retry through B uses that certificate instead of issuing another.
twogw_pend_a
ZHASH=$(printf '%s' zed@example.net | openssl dgst -sha256 -r | cut -d' ' -f1)
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pending-$ZHASH)" dn >"$T/pending.ldif" 2>&1
check "the pending enrollment is in the directory" grep -q "^dn: cn=pending-$ZHASH," "$T/pending.ldif"
twogw_pend_b
ctl ca list >"$T/list-zed.txt" 2>&1
nz=$(grep -c 'zed@example.net' "$T/list-zed.txt")
check "one certificate issued for zed ($nz)" test "$nz" -eq 1
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pending-$ZHASH)" dn >"$T/pending2.ldif" 2>&1
check "and the pending entry is gone" sh -c "! grep -q '^dn: cn=pending' '$T/pending2.ldif'"

# ---- a rekey through A seals the CA's records again; B, given the new
# master key, still is the same CA with the same revocations ----------------
inst A
gate_stop
if ctl keystore rekey >"$T/rekey.log" 2>&1; then
	ok "smimectl keystore rekey on A"
else
	not_ok "smimectl keystore rekey on A"
	diag_file "$T/rekey.log" 5
fi
cp "$T/state-A/keystore/master.key" "$T/state-B/keystore/master.key.tmp" &&
    chmod 0600 "$T/state-B/keystore/master.key.tmp" &&
    mv "$T/state-B/keystore/master.key.tmp" "$T/state-B/keystore/master.key"
inst B
gate_stop
gate_start -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" || bail "smimegate B restarted with the new master key"
wait_port "$HTTP_PORT" "$GATE_PID" 100
curl -s -o "$T/ca-B2.der" "$URL/ca.crt"
openssl x509 -inform DER -in "$T/ca-B2.der" -noout -fingerprint -sha256 >"$T/fp-B2" 2>&1
check "after the rekey B opens the same CA" cmp -s "$T/fp-A" "$T/fp-B2"
ctl ca crl --out "$T/crl-B2.der" >/dev/null 2>&1
openssl crl -inform DER -in "$T/crl-B2.der" -noout -text >"$T/crl-B2.txt" 2>&1
check "and its CRL still lists what A revoked" grep -q "Serial Number: $sb" "$T/crl-B2.txt"
if ctl ca issue --profile external vic@example.net >"$T/vic.pem" 2>"$T/vic.err" &&
    openssl verify -CAfile "$T/state-A/ca/root.crt" -untrusted "$T/state-A/ca/issuing.crt" \
    "$T/vic.pem" >/dev/null 2>&1; then
	ok "and issues certificates that verify"
else
	not_ok "and issues certificates that verify"
	diag_file "$T/vic.err" 5
fi

done_testing
