#!/bin/sh
# Renewal and enrollment with two gateways (A and B) sharing one embedded
# CA and keystore in one slapd (KeystoreBackend ldap, ca_shared.c) and
# harvested certificates in one redis-server.  Of the two, exactly one
# renews a certificate and exactly one enrolls a recipient: each under a
# lease in the directory (keystore_lease.h).
#
#  - Renewal on one seen by the other: A alone runs; its renewal thread
#    renews alice's two 10-day certificates (RenewBefore 30).  Then B
#    signs alice's mail with the new signing certificate, and decrypts
#    mail encrypted to her OLD encryption certificate.
#  - Both renewal threads (RenewInterval 1) against bob's new 10-day
#    certificate: exactly one new certificate at the CA.
#  - smimectl keystore renew carol on A and B at the same instant: one
#    renews, the other is told (before the lease both renewed: three).
#  - alice's mail to the unknown zoe@example.net through A and B at the
#    same instant (encrypt=always): one certificate issued, one invitation,
#    both copies encrypted to that certificate.
#  - purge-retired with the keystore in the directory: a leaver past
#    RetireRetention loses his keys there (audited, once); one retired
#    within the retention and one not retired keep theirs; the gateways'
#    own sweep does the same, one of them.
#  - A directory outage (slapd stopped): signing goes on with the lists
#    read last (KeystoreLDAPMaxStale), then tempfails; back after slapd.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch redis-server redis-cli

twogw_shared_dir alice bob carol dora erin gina pki
ok "slapd on 127.0.0.1:$SLAPD_PORT, redis-server on 127.0.0.1:$REDIS_PORT"

twogw_ports
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=3
    -o KeystoreLDAPRefresh=1 -o KeystoreLDAPMaxStale=20
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t95r:
    -o RedisKeyFile=$REDIS_KEY -o RedisHarvestPrefix=t95rh:
    -o CertificateAuthority=yes -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT
    -o EnrollmentSender=pki@example.com -o PolicyFile=$POLICY
    -o UnprotectedContent=decrypt -o RenewBefore=30 -o SharedLeaseWait=20"
ctl() { gate_ctl -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" "$@"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# ncerts ADDRESS: how many certificates the one CA issued for ADDRESS
ncerts() { ctl ca list 2>/dev/null | grep -c "$1"; }

twogw_master ctl
ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
# issue NAME PROFILE ADDRESS: a 10-day certificate (key escrowed) in $T/NAME.pem
issue() {
	ctl -o CAValidityDays=10 ca issue --profile "$2" "$3" >"$T/$1.pem" 2>"$T/$1.err" ||
	    { diag_file "$T/$1.err"; bail "smimectl ca issue --profile $2 $3"; }
}
# gina: a key from another PKI (the embedded CA's revocation records are
# not asked for it), for the outage.
pki_make "$T/pki" && _pki_ee "$T/pki" gina Gina rsa || bail "a test PKI with gina"
gate_import "$T/pki" gina
issue oldsig sign alice@example.com
issue oldenc encrypt alice@example.com
OLDSIG=$(serial "$T/oldsig.pem")
mkdir -p "$T/m"
printf 'Content-Type: text/plain; charset=us-ascii\n\nOld secret: marker-old-4711.\n' |
    make_message "$T/inner-old.txt"
openssl cms -encrypt -aes256 -in "$T/inner-old.txt" -out "$T/old.cms" "$T/oldenc.pem" ||
    bail "openssl cms -encrypt to the old certificate"

# ---- A renews; B sees it ------------------------------------------------
# The gateways' own sweep of leavers' keys: RetireRetention 45 s, every 2 s.
SWEEP="-o RetireRetention=45 -o QueueRunInterval=2"
# shellcheck disable=SC2086
sink_start || bail "smtp-sink started"
PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters="
twogw_start A -o "CAHTTPListen=127.0.0.1:$HTTP_A" -o RenewInterval=1 $SWEEP
PF_MASTER_EXTRA=""
_renewed_a() { [ "$(grep -c 'renew <alice@example.com>: certificate .* renewed: new' "$T/gate-A.log")" -ge 2 ]; }
if wait_for 300 _renewed_a; then
	ok "A renewed alice's two certificates"
else
	not_ok "A renewed alice's two certificates"
	diag_file "$T/gate-A.log" 20
fi
check "the CA issued four certificates for alice (two old, two new)" \
    test "$(ncerts alice@example.com)" -eq 4
ctl keystore list >"$T/ks.out" 2>&1
NEWSIG=$(awk -F'\t' -v o="$OLDSIG" '$1 == "alice@example.com" && $5 == "sign" && $3 != o { print $3 }' "$T/ks.out")
check "alice's new signing certificate is in the shared keystore ($NEWSIG)" test -n "$NEWSIG"

# shellcheck disable=SC2086
twogw_start B -o "CAHTTPListen=127.0.0.1:$HTTP_B" -o RenewInterval=1 $SWEEP
ok "B started, sharing the CA and the keystore"
{
	printf 'From: Alice <alice@example.com>\nTo: <carol@remote.test>\nSubject: after renewal\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <out1@example.com>\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nSigned with the new key.\n'
} | make_message "$T/m/out1.eml"
if send_mail "$T/m/out1.eml" alice@example.com carol@remote.test && wait_delivered "$QID" &&
    sink_fetch "<out1@example.com>" "$T/m/out1.got" && mime_split "$T/m/out1.got" "$T/m/out1.split"; then
	openssl cms -verify -binary -noverify -inform DER -in "$T/m/out1.split/sig.der" \
	    -content "$T/m/out1.split/content" -signer "$T/m/out1.signer.pem" -out /dev/null \
	    >"$T/m/out1.verify.log" 2>&1
	got=$(serial "$T/m/out1.signer.pem" 2>/dev/null)
	check "B signs alice's mail with the certificate A renewed ($got)" \
	    test -n "$got" -a "$got" = "$NEWSIG"
else
	not_ok "B signs alice's mail with the certificate A renewed ($SMTP_REPLY)"
fi
{
	printf 'From: Dave <dave@remote.test>\nTo: Alice <alice@example.com>\nSubject: old\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <old@remote.test>\n'
	sed 's/\r$//' "$T/old.cms"
} | make_message "$T/m/old.eml"
if send_mail "$T/m/old.eml" dave@remote.test alice@example.com && wait_delivered "$QID" &&
    sink_fetch "<old@remote.test>" "$T/m/old.got"; then
	RES=$(mime_header "$T/m/old.got" X-Smimegate-Result)
	check "B decrypts mail to alice's OLD certificate (got '$RES')" sh -c \
	    "echo '$RES' | grep -q '^decrypted' && grep -q marker-old-4711 '$T/m/old.got'"
else
	not_ok "B decrypts mail to alice's OLD certificate ($SMTP_REPLY)"
fi

# ---- both renewal threads against one certificate ------------------------
inst A
issue bobsig sign bob@example.com
_bob_renewed() { grep -q 'renew <bob@example.com>: certificate .* renewed: new' "$T/gate-A.log" "$T/gate-B.log"; }
if wait_for 300 _bob_renewed; then
	ok "bob's 10-day certificate renewed by one of the two gateways"
else
	not_ok "bob's 10-day certificate renewed by one of the two gateways"
fi
sleep 4        # both threads look again (RenewInterval 1)
nb=$(ncerts bob@example.com)
check "exactly one new certificate for bob at the CA ($nb in all)" test "$nb" -eq 2
na=$(grep -c 'renew <bob@example.com>: certificate .* renewed: new' "$T/gate-A.log")
nbb=$(grep -c 'renew <bob@example.com>: certificate .* renewed: new' "$T/gate-B.log")
check "one gateway renewed it, once (A $na, B $nbb)" test $((na + nbb)) -eq 1

# ---- smimectl keystore renew on A and B at the same instant ----------------
inst A
ctl ca issue --profile sign carol@example.com >"$T/carol.pem" 2>"$T/carol.err" ||
    diag_file "$T/carol.err" 3
ctl keystore renew carol@example.com >"$T/renew-A.out" 2>"$T/renew-A.err" &
pa=$!
inst B
ctl keystore renew carol@example.com >"$T/renew-B.out" 2>"$T/renew-B.err" &
pb=$!
wait $pa
wait $pb
nc=$(ncerts carol@example.com)
check "renew on A and B at once: one new certificate for carol ($nc in all)" test "$nc" -eq 2
nr=$(cat "$T/renew-A.out" "$T/renew-B.out" | grep -c '^renewed carol@example.com')
check "one of them says renewed ($nr)" test "$nr" -eq 1
check "the other says another gateway renewed it" \
    grep -q -e 'renewed meanwhile (another gateway)' -e 'being renewed by another gateway' \
    "$T/renew-A.err" "$T/renew-B.err"

# ---- two enrollments of one outsider at the same instant ------------------
msg() { # ID FROM TO
	{
		printf 'From: <%s>\nTo: %s\nSubject: shared %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$3" "$1"
	} | make_message "$T/m/$1.eml"
}
msg za alice@example.com zoe@example.net
msg zb alice@example.com zoe@example.net
inst A
(send_mail "$T/m/za.eml" alice@example.com zoe@example.net; echo "$SMTP_CODE $QID" >"$T/za.res") &
pa=$!
inst B
(send_mail "$T/m/zb.eml" alice@example.com zoe@example.net; echo "$SMTP_CODE $QID" >"$T/zb.res") &
pb=$!
wait $pa
wait $pb
read -r ca qa <"$T/za.res"
read -r cb qb <"$T/zb.res"
check "both messages to zoe accepted (A $ca, B $cb)" test "$ca $cb" = "250 250"
inst A
[ -n "$qa" ] && wait_delivered "$qa"
inst B
[ -n "$qb" ] && wait_delivered "$qb"
nz=$(ncerts zoe@example.net)
check "one certificate issued for zoe ($nz)" test "$nz" -eq 1
check "the other gateway used the winner's certificate" \
    grep -q 'enroll <zoe@example.net>: enrolled by another gateway meanwhile' \
    "$T/gate-A.log" "$T/gate-B.log"
sink_wait_count "Subject: Encrypted mail from alice@example.com" zoe@example.net 1
sleep 1
ninv=$(grep -l 'Subject: Encrypted mail from alice@example.com' "$SINK_DIR"/* 2>/dev/null |
    xargs -r grep -l zoe@example.net | wc -l)
check "one invitation to zoe ($ninv)" test "$ninv" -eq 1
rs() { # ID: the serial the delivered copy is encrypted to
	sink_fetch "<$1@example.com>" "$T/m/$1.got" &&
	    openssl cms -cmsout -print -in "$T/m/$1.got" 2>/dev/null |
	    sed -n 's/^ *serialNumber: *//p' | head -1
}
sa=$(rs za)
sb=$(rs zb)
check "both copies encrypted to the one certificate ($sa, $sb)" \
    sh -c "[ -n '$sa' ] && [ '$sa' = '$sb' ]"

# ---- purge-retired with the keystore in the directory ---------------------
inst A
for n in dora erin; do
	ctl ca issue --profile encrypt "$n@example.com" >"$T/$n.pem" 2>"$T/$n.err" ||
	    diag_file "$T/$n.err" 3
done
pkcs12_of() { # NAME: how many userPKCS12 values NAME's entry holds
	ldap_admin -b "uid=$1,$SLAPD_BASE" -s base userPKCS12 2>/dev/null | grep -c '^userPKCS12::'
}
check "erin's and dora's keys are in the directory" \
    test "$(pkcs12_of erin)" -ge 1 -a "$(pkcs12_of dora)" -ge 1
ctl keystore retire erin@example.com >"$T/retire-erin.out" 2>&1 || diag_file "$T/retire-erin.out" 3
# The attack: whoever can write the directory (not the master key) moves
# erin's genuine, sealed retirement record under alice's name.  It must
# not make a purge destroy alice's keys.
EH=$(printf '%s' erin@example.com | openssl dgst -sha256 -r | cut -d' ' -f1)
AH=$(printf '%s' alice@example.com | openssl dgst -sha256 -r | cut -d' ' -f1)
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=retired-$EH)" >"$T/erin-rec.ldif" 2>&1
sed -e "s/retired-$EH/retired-$AH/g" "$T/erin-rec.ldif" >"$T/moved.ldif"
if grep -q "^dn: cn=retired-$AH," "$T/moved.ldif" && ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" \
    -D "$SLAPD_ROOTDN" -y "$ROOTPW" -f "$T/moved.ldif" >"$T/moved.log" 2>&1; then
	ok "erin's sealed retirement record copied under alice's name in the directory"
else
	not_ok "erin's sealed retirement record copied under alice's name in the directory"
	diag_file "$T/moved.log" 5
fi
sleep 15       # erin past the purge's RetireRetention (12 s), dora not
ctl keystore retire dora@example.com >"$T/retire-dora.out" 2>&1 || diag_file "$T/retire-dora.out" 3
na0=$(pkcs12_of alice)
inst B
if ctl -o RetireRetention=12 keystore purge-retired >"$T/purge.out" 2>&1; then
	ok "smimectl keystore purge-retired on B with the keystore in the directory"
else
	not_ok "smimectl keystore purge-retired on B with the keystore in the directory"
	diag_file "$T/purge.out" 5
fi
check "it destroyed erin's key, one ($(tail -1 "$T/purge.out"))" grep -q '^1 keys destroyed' "$T/purge.out"
check "erin's key is gone from the directory" test "$(pkcs12_of erin)" -eq 0
check "dora, retired within RetireRetention, keeps hers" test "$(pkcs12_of dora)" -ge 1
check "alice, not retired (a moved record names her), keeps every key ($na0)" \
    test "$(pkcs12_of alice)" -eq "$na0"
check "the destruction is audited" grep -q '"action":"key-destroyed"' "$T/state-B/audit/audit.log"
inst A
ctl -o RetireRetention=12 keystore purge-retired >"$T/purge2.out" 2>&1
check "a second purge (on A) destroys nothing more" grep -q '^0 keys destroyed' "$T/purge2.out"
check "dora still keeps hers" test "$(pkcs12_of dora)" -ge 1

# ---- the gateways' sweep: dora's key, once ----------------------------------
_dora_gone() { grep -q 'keystore: retired <dora@example.com>: key of certificate' "$T/gate-A.log" "$T/gate-B.log"; }
if wait_for 1200 _dora_gone; then
	ok "a gateway's sweep destroyed dora's key past RetireRetention (45 s)"
else
	not_ok "a gateway's sweep destroyed dora's key past RetireRetention (45 s)"
fi
sleep 5        # both sweeps ran again meanwhile
check "dora's key is gone from the directory" test "$(pkcs12_of dora)" -eq 0
nd=$(cat "$T/gate-A.log" "$T/gate-B.log" | grep -c 'keystore: retired <dora@example.com>: key of certificate')
check "one gateway destroyed it, once ($nd)" test "$nd" -eq 1
check "alice still keeps every key" test "$(pkcs12_of alice)" -eq "$na0"
check "erin's destruction was not repeated by a sweep" \
    sh -c "! grep -q 'keystore: retired <erin@example.com>' '$T/gate-A.log' '$T/gate-B.log'"

# ---- a directory outage ----------------------------------------------------
inst A
# sign ID: gina's mail to carol@remote.test through A; 0 when signed.
# (gina's key is from another PKI; the embedded CA's revocations through
# an outage: 95-shared-revcache.)
sign() {
	{
		printf 'From: Gina <gina@example.com>\nTo: <carol@remote.test>\nSubject: %s\n' "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' "$1"
	} | make_message "$T/m/$1.eml"
	send_mail "$T/m/$1.eml" gina@example.com carol@remote.test && wait_delivered "$QID" &&
	    LINE=$(gate_logline "$QID") && log_has "$LINE" "action=signed"
}
if sign up1; then ok "control: A signs gina's mail"; else not_ok "control: A signs gina's mail ($SMTP_REPLY)"; fi
slapd_stop
if port_accepts "$SLAPD_PORT"; then not_ok "slapd stopped"; else ok "slapd stopped"; fi
sleep 3        # past KeystoreLDAPRefresh (1 s): the lists cannot be read again
if sign down1; then
	ok "slapd down past KeystoreLDAPRefresh: A still signs with the lists read last"
else
	not_ok "slapd down past KeystoreLDAPRefresh: A still signs with the lists read last ($SMTP_REPLY)"
	diag_file "$GATE_LOG" 5
fi
sleep 22       # past KeystoreLDAPRefresh + KeystoreLDAPMaxStale (1 + 20 s)
sign down2
case $SMTP_CODE in
4*) ok "past KeystoreLDAPMaxStale: A tempfails ($SMTP_CODE)" ;;
*) not_ok "past KeystoreLDAPMaxStale: A tempfails (got '$SMTP_REPLY')" ;;
esac
slapd_start || bail "slapd started again"
sleep 3
if sign up2; then ok "slapd back: A signs again"; else not_ok "slapd back: A signs again ($SMTP_REPLY)"; fi
done_testing
