#!/bin/sh
# Leavers on two gateways sharing the keystore in the directory
# (KeystoreBackend=ldap): bob retired through A's smimectl is retired on B
# too.  The retirement record is a sealed shared record in the directory
# (cn=retired-<hash>,ou=smimegate,BASE), not a file on A's disk.
#
# The attack: before the fix, B kept signing as the leaver and encrypting
# the sent copy of his mail to his escrowed certificate.  After retire on
# A (B reads the directory again within KeystoreLDAPRefresh seconds, 1 s
# here): bob's mail through B goes out unsigned with a log line naming the
# retirement, and the copy encrypted to dave is not encrypted to bob's
# certificate (bob's key cannot open it).  Read as the gateways' bind DN,
# the record shows neither bob's address nor anything but sealed data.
# Failing closed: a record in the directory that does not open (forged, or
# sealed under another master key) makes B refuse to sign as its address
# (a tempfail), never "not retired".
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch ldapadd

P="$T/pki"
dirpki_setup "$P"

twogw_gw_secret
{
	ldif_head
	ldif_entry alice alice@example.com
	ldif_entry bob bob@example.com
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	twogw_gw_ldif smimegate "$GWPW"
} >"$T/people.ldif"
SLAPD_ACL="access to attrs=userPassword by anonymous auth by * none
access to attrs=userPKCS12 by dn.exact=\"$GWDN\" write by * none
access to * by dn.exact=\"$GWDN\" write by users read by * read"
slapd_start "$T/people.ldif" || bail "slapd started"
ok "slapd on 127.0.0.1:$SLAPD_PORT"

twogw_kurl
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=3
    -o KeystoreLDAPRefresh=1 -o LDAPDirectories=$(slapd_url) -o TrustAnchorFile=$P/ca.pem
    -o CRLCheck=no -o CacheNegativeTTL=0 -o CachePositiveTTL=0"

inst A
gate_import "$P" alice bob
twogw_share_master
sink_start || bail "smtp-sink started"
for i in A B; do twogw_start "$i"; done
ok "gateway A (milter $MP_A) and B (milter $MILTER_PORT), each behind its own Postfix"
mkdir -p "$T/m"

# mail ID FROM TO: a message through the current instance; the delivered
# copy in $T/m/ID.got and the gateway's log line in $LINE.
mail() {
	{
		printf 'From: <%s>\nTo: <%s>\nSubject: %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 11:00:00 +0000\nMessage-ID: <%s@test>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nmarker-%s\n' "$1"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" "$2" "$3" && wait_delivered "$QID" &&
	    sink_fetch "<$1@test>" "$T/m/$1.got" && LINE=$(gate_logline "$QID") &&
	    keep "$T/m/$1.got"
}
opens_with() { # ID NAME: NAME's key decrypts the delivered copy
	openssl cms -decrypt -in "$T/m/$1.got" -recip "$P/$2.pem" -inkey "$P/$2.key" \
	    -out "$T/m/$1.$2.plain" 2>>"$T/openssl.log"
}
signed_inside() { # ID: the decrypted copy holds a signature
	grep -qi 'pkcs7-signature\|signed-data' "$T/m/$1.dave.plain"
}

# ---- control: before the retirement B signs as bob and encrypts to him --
inst B
if mail c1 bob@example.com dave@example.net; then
	check "control: B signs and encrypts bob's mail to dave" \
	    log_has "$LINE" "action=signed+encrypted"
	if opens_with c1 dave && signed_inside c1; then
		ok "control: dave's copy holds bob's signature"
	else
		not_ok "control: dave's copy holds bob's signature"
	fi
	if opens_with c1 bob; then
		ok "control: the copy is encrypted to bob's escrowed certificate too"
	else
		not_ok "control: the copy is encrypted to bob's escrowed certificate too"
	fi
else
	not_ok "control: c1 through B delivered ($SMTP_REPLY)"
fi

# ---- retire bob through A -----------------------------------------------
inst A
if gate_ctl keystore retire bob@example.com >"$T/retire.out" 2>"$T/retire.err"; then
	ok "smimectl keystore retire bob@example.com on A"
else
	not_ok "smimectl keystore retire bob@example.com on A"
	diag_file "$T/retire.err" 5
fi
keep "$T/retire.out"
nrec=$(ls "$T/state-A/keystore" | grep -c '^retired-')
check "no retirement file on A's disk ($nrec)" test "$nrec" -eq 0
ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$GWDN" -y "$GWPW" \
    -b "ou=smimegate,$SLAPD_BASE" '(sn=retired)' '*' >"$T/rec.ldif" 2>&1
keep "$T/rec.ldif"
check "the retirement record is in the directory (cn=retired-...)" \
    grep -q '^dn: cn=retired-[0-9a-f]*,ou=smimegate,' "$T/rec.ldif"
sed -n 's/^userPKCS12:: //p' "$T/rec.ldif" | head -1 | base64 -d >"$T/rec.bin" 2>/dev/null
check "its value is sealed (SGR1), bob's address nowhere in clear" sh -c \
    "test \"\$(head -c 4 '$T/rec.bin')\" = SGR1 && ! grep -qi 'bob' '$T/rec.ldif' '$T/rec.bin'"

# ---- B sees it ----------------------------------------------------------
sleep 2        # B's answer from the directory is kept KeystoreLDAPRefresh (1) s
inst B
if mail s1 bob@example.com dave@example.net; then
	case $LINE in
	*action=signed*) not_ok "B no longer signs as the retired bob ($LINE)" ;;
	*) ok "B no longer signs as the retired bob" ;;
	esac
	check "B's log line says bob is retired" log_has "$LINE" "bob@example.com retired on"
	if opens_with s1 dave && ! signed_inside s1; then
		ok "dave's copy is encrypted and holds no signature"
	else
		not_ok "dave's copy is encrypted and holds no signature"
	fi
	if opens_with s1 bob; then
		not_ok "the copy is no longer encrypted to bob's escrowed certificate"
	else
		ok "the copy is no longer encrypted to bob's escrowed certificate"
	fi
else
	not_ok "s1 through B delivered ($SMTP_REPLY)"
fi
# A colleague is not affected.
if mail s2 alice@example.com dave@example.net; then
	check "B still signs alice's mail" log_has "$LINE" "action=signed+encrypted"
else
	not_ok "s2 through B delivered ($SMTP_REPLY)"
fi

# ---- fail closed: a record that does not open ----------------------------
# A value put in as alice's retirement record that is not sealed under the
# master key (forged, or another master key): B must not take it for "not
# retired" and sign as alice; it refuses (a tempfail) instead.
AH=$(printf '%s' alice@example.com | openssl dgst -sha256 -r | cut -d' ' -f1)
{
	printf 'dn: cn=retired-%s,ou=smimegate,%s\nobjectClass: inetOrgPerson\n' "$AH" "$SLAPD_BASE"
	printf 'cn: retired-%s\nsn: retired\nemployeeType: smimegate-record\n' "$AH"
	printf 'employeeNumber: 1\nuserPKCS12:: %s\n' "$(printf 'SGR1not-a-sealed-record-at-all-xxxxxxxxxxx' | base64 -w 0)"
} >"$T/forged.ldif"
if ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$GWDN" -y "$GWPW" -f "$T/forged.ldif" \
    >"$T/forged.log" 2>&1; then
	ok "a forged retirement record for alice added to the directory"
else
	not_ok "a forged retirement record for alice added to the directory"
	diag_file "$T/forged.log" 5
fi
sleep 2
inst B
mail f1 alice@example.com dave@example.net
case $SMTP_CODE in
4*) ok "B refuses alice's mail while her record does not open ($SMTP_CODE)" ;;
*) not_ok "B refuses alice's mail while her record does not open (got '$SMTP_REPLY', $LINE)" ;;
esac
check "B's log says the record does not open" \
    grep -q "retirement record retired-$AH in the directory does not open" "$GATE_LOG"
done_testing
