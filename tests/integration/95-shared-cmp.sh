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
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch ldapmodify redis-server \
    redis-cli curl
CMPSRV="$top/tests/tools/cmpserver"
[ -x "$CMPSRV" ] || bail "tests/tools/cmpserver (make tools)"

# ---- the directory, redis, the CMP CA ---------------------------------------
GWDN="cn=smimegate,$SLAPD_SUFFIX"
GWPW="$T/gw.pw"
openssl rand -hex 12 | tr -d "\n" >"$GWPW" && chmod 0600 "$GWPW"
{
	ldif_head
	ldif_entry alice alice@example.com
	ldif_entry bob bob@example.com
	ldif_entry pki pki@example.com
	printf 'dn: %s\nobjectClass: applicationProcess\n' "$GWDN"
	printf 'objectClass: simpleSecurityObject\ncn: smimegate\nuserPassword: %s\n\n' "$(cat "$GWPW")"
} >"$T/people.ldif"
SLAPD_ACL="access to dn.subtree=\"ou=smimegate,$SLAPD_BASE\" by dn.exact=\"$GWDN\" write by * none
access to dn.base=\"$SLAPD_BASE\" attrs=children by dn.exact=\"$GWDN\" write by * none
access to attrs=userPassword by anonymous auth by * none
access to attrs=userPKCS12 by dn.exact=\"$GWDN\" write by * none
access to * by dn.exact=\"$GWDN\" read by users read by * none"
slapd_start "$T/people.ldif" || bail "slapd started"
redis_start || bail "redis-server started"
ROOTPW="$T/root.pw"
tr -d '\n' <"$SLAPD_PWFILE" >"$ROOTPW"
ldap_admin() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$SLAPD_PORT" \
	    -D "$SLAPD_ROOTDN" -y "$ROOTPW" "$@"
}

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

HTTP_A=$(free_port) || bail "a free port"
HTTP_B=$(free_port) || bail "a free port"
REINJECT_PORT=$(free_port) || bail "a free port"
POLICY="$T/policy"
printf 'default encrypt=if-possible\nto example.net encrypt=always fallback=reject\n' >"$POLICY"
gwdn=$(echo "$GWDN" | sed 's/,/%2c/g')
KURL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_BASE????bindname=$gwdn,x-bindpwfile=$GWPW"
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=5
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t95c:
    -o RedisKeyFile=$REDIS_KEY -o RedisHarvestPrefix=t95ch:
    -o CertificateAuthority=no -o CMPServer=127.0.0.1:$CMP_PORT -o CMPReference=ref1
    -o CMPSecretFile=$C/secret -o CMPTimeout=10
    -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT
    -o EnrollmentSender=pki@example.com -o PolicyFile=$POLICY -o PickupMaxFailures=3"

# inst A|B: the helpers' globals now name that instance.
inst() {
	if [ -n "${CUR:-}" ]; then
		eval "MP_$CUR=\${MILTER_PORT:-}; SP_$CUR=\${SMTP_PORT:-}; GP_$CUR=\${GATE_PID:-}"
	fi
	CUR=$1
	GATE_STATE="$T/state-$1"
	GATE_LOG="$T/gate-$1.log"
	PF_DIR="$T/pf-$1"
	eval "MILTER_PORT=\${MP_$1:-}; SMTP_PORT=\${SP_$1:-}; GATE_PID=\${GP_$1:-}"
	eval "HTTP_PORT=\$HTTP_$1"
	URL="http://127.0.0.1:$HTTP_PORT"
}

# ---- one master key, both gateways, each behind its own Postfix ------------
inst A
gate_ctl ca list >"$T/list-A.txt" 2>&1    # makes the master key (no CA: it says so)
test -s "$T/state-A/keystore/master.key" || { diag_file "$T/list-A.txt"; bail "A's master key"; }
mkdir -p "$T/state-B/keystore" && chmod 0700 "$T/state-B" "$T/state-B/keystore"
cp "$T/state-A/keystore/master.key" "$T/state-B/keystore/master.key" &&
    chmod 0600 "$T/state-B/keystore/master.key"
sink_start || bail "smtp-sink started"
for i in A B; do
	inst "$i"
	gate_start -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" || bail "smimegate $i started"
	if [ "$i" = A ]; then
		PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters="
	else
		PF_MASTER_EXTRA=""
	fi
	pf_start "$MILTER_PORT" || bail "Postfix $i started with smtpd_milters"
	at_exit "PF_DIR='$PF_DIR'; pf_stop"
	wait_port "$HTTP_PORT" "$GATE_PID" 100 || bail "the portal of $i listens"
done
ok "gateways A and B: no embedded CA, CMPServer, one keystore in the directory"
check "no CA on either gateway" sh -c "! ls '$T'/state-?/ca/*.crt 2>/dev/null | grep -q ."

# ---- enrollment ------------------------------------------------------------
mkdir -p "$T/m"
msg() { # ID FROM TO
	{
		printf 'From: <%s>\nTo: %s\nSubject: shared %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$3" "$1"
	} | make_message "$T/m/$1.eml"
}
# enroll ID RCPT: alice's mail through the current instance; TOKEN, PASSWORD.
enroll() {
	TOKEN="" PASSWORD=""
	msg "$1" alice@example.com "$2"
	if send_mail "$T/m/$1.eml" alice@example.com "$2" && wait_delivered "$QID" &&
	    sink_fetch "<$1@example.com>" "$T/m/$1.got"; then
		ok "$1: alice's mail to $2 through $CUR delivered"
	else
		not_ok "$1: alice's mail to $2 through $CUR delivered ($SMTP_REPLY)"
		diag_file "$GATE_LOG" 10
		return 1
	fi
	case $(mime_header "$T/m/$1.got" Content-Type) in
	*application/pkcs7-mime*) ok "$1: delivered encrypted" ;;
	*) not_ok "$1: delivered encrypted" ;;
	esac
	sink_wait "Subject: Certificate issued for $2" "$T/m/$1.note"
	sink_wait_count "Subject: Encrypted mail from alice@example.com" "$2" 1 &&
	    sink_fetch "Subject: Encrypted mail from alice@example.com" "$T/m/$1.inv" "$2" &&
	    mime_part_text "$T/m/$1.inv" text/plain "$T/m/$1.inv.txt"
	TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/$1.inv.txt" 2>/dev/null | head -1)
	PASSWORD=$(tr -d '\r' <"$T/m/$1.note" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
	check "$1: an invitation with a link, a notice with a password" \
	    test -n "$TOKEN" -a -n "$PASSWORD"
	mkdir -p "$T/sink-old"
	grep -l -e "$2" "$SINK_DIR"/* 2>/dev/null | xargs -r mv -t "$T/sink-old"
}
# pickup TOKEN PASSWORD OUT: POSTs to the current instance's portal.
pickup() {
	curl -s -o "$3" -w '%{http_code}' --data-urlencode "t=$1" \
	    --data-urlencode "password=$2" "$URL/pickup"
}
hash() { printf '%s' "$1" | openssl dgst -sha256 -r | cut -d' ' -f1; }

inst A
enroll one xena@example.net
XTOKEN=$TOKEN XPASSWORD=$PASSWORD
check "xena's certificate came over CMP" grep -q 'issued ir xena@example.net' "$T/cmpserver.log"
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pickup-$(hash "$XTOKEN"))" dn >"$T/pickup.ldif" 2>&1
check "the link's record is in the directory, not on A's disk" sh -c \
    "grep -q '^dn: cn=pickup-' '$T/pickup.ldif' && ! ls '$T'/state-?/pickup/* 2>/dev/null | grep -q ."

inst B
enroll two yves@example.net
YTOKEN=$TOKEN YPASSWORD=$PASSWORD

# Attacks: one outsider's link must not release another's key.
inst A
code=$(pickup "$YTOKEN" "$XPASSWORD" "$T/cross.out")
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
	code=$(pickup "$YTOKEN" "$XPASSWORD" "$T/swap.out")
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
inst B
code=$(pickup "$XTOKEN" "$XPASSWORD" "$T/xena.p12")
check "the link made on A works on B: the PKCS#12 downloads (HTTP $code)" test "$code" = 200
if openssl pkcs12 -in "$T/xena.p12" -passin "pass:$XPASSWORD" -nodes -out "$T/xena.pem" \
    2>"$T/p12.log" && openssl cms -decrypt -in "$T/m/one.got" -recip "$T/xena.pem" \
    -inkey "$T/xena.pem" -out "$T/one.txt" 2>>"$T/p12.log" && grep -q marker-one "$T/one.txt"; then
	ok "xena decrypts the message A encrypted with the key picked up on B"
else
	not_ok "xena decrypts the message A encrypted with the key picked up on B"
	diag_file "$T/p12.log" 5
fi
openssl x509 -in "$T/xena.pem" -noout -ext subjectAltName >"$T/xena.san" 2>&1
check "the PKCS#12 holds xena's certificate, nobody else's" \
    sh -c "grep -q 'email:xena@example.net' '$T/xena.san' && ! grep -q yves '$T/xena.san' \
    && [ \$(grep -c 'BEGIN PRIVATE KEY' '$T/xena.pem') -eq 1 ]"
inst A
code=$(pickup "$XTOKEN" "$XPASSWORD" "$T/again.out")
check "a second pickup on A is refused as used (HTTP $code)" test "$code" = 410

# Wrong passwords on A and B count against one link: the cross try above
# (on A) was the first.
inst B
c2=$(pickup "$YTOKEN" wrong-two "$T/w2.out")
inst A
c3=$(pickup "$YTOKEN" wrong-three "$T/w3.out")
check "wrong passwords on A, B, A: refused, the third locks ($code 403 $c2 $c3)" \
    test "$c2 $c3" = "403 429"
inst B
c4=$(pickup "$YTOKEN" "$YPASSWORD" "$T/w4.out")
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
inst A
DEAD_PORT=$(free_port) || bail "a free port"
gate_stop
gate_start -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" -o "EnrollmentSMTP=127.0.0.1:$DEAD_PORT" ||
    bail "smimegate A restarted without a way to send invitations"
msg pend alice@example.com zed@example.net
send_mail "$T/m/pend.eml" alice@example.com zed@example.net
case $SMTP_CODE in
4*) ok "A tempfails alice's mail to zed: the invitation cannot go out ($SMTP_CODE)" ;;
*) not_ok "A tempfails alice's mail to zed (got '$SMTP_REPLY')" ;;
esac
ldap_admin -b "ou=smimegate,$SLAPD_BASE" "(cn=pending-$(hash zed@example.net))" dn \
    >"$T/pending.ldif" 2>&1
check "the pending enrollment is in the directory" grep -q "^dn: cn=pending-" "$T/pending.ldif"
inst B
if send_mail "$T/m/pend.eml" alice@example.com zed@example.net && wait_delivered "$QID"; then
	ok "the retry through B is delivered"
else
	not_ok "the retry through B is delivered ($SMTP_REPLY)"
fi
check "B used the certificate A kept pending" \
    grep -q 'enroll <zed@example.net>: certificate of the earlier try used' "$GATE_LOG"
check "the CMP CA was asked once for zed" test "$(grep -c 'issued ir zed@' "$T/cmpserver.log")" -eq 1
for i in A B; do
	inst "$i"
	gate_stop
done
done_testing
