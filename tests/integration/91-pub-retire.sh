#!/bin/sh
# Leavers: `smimectl keystore retire ADDRESS`, through a private Postfix,
# with slapd as the directory the gateway publishes to and looks up in.
#
# First the attacks: smimectl run as nobody cannot retire alice (the
# keystore is the service user's, 0700) nor remove her record; a new
# PKCS#12 for a retired address is refused (no un-retiring by import).
# Copies held before the retirement (action=hold, and encrypt=always
# waiting for a certificate) are released, by `smimectl spool release`
# and by the spool runner, encrypted but not signed as her.
#
# Then: after retire, alice's mail goes out unsigned with a log line
# naming the retirement; her certificate is gone from the directory (an
# anonymous ldapsearch on mail, as a mail program asks) and the lookup
# finds none to encrypt to; inbound mail encrypted to her certificate
# still decrypts (RetireRetention not over; AuthEnvelopedData, so
# UnprotectedContent does not stand in the way).  `smimectl keystore
# purge-retired` past the retention (RetireRetention=0 for that run)
# destroys the key (the entry file gone, the record 0600); then the same
# inbound mail stays encrypted with a log line that says her keys were
# destroyed.  The embedded CA issues nothing to the retired alice; bob's
# certificate from it is revoked when he is retired, and the gateway's own
# sweep (its spool runner) destroys both his keys under RetireRetention=0.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl slapd slapadd ldapadd ldapsearch sendmail setpriv

P="$T/pki"
dirpki_setup "$P"
BRANCH="ou=certs,$SLAPD_SUFFIX"
{
	ldif_head
	ldif_entry erin erin@example.net "userCertificate;binary" "$P/erin.der"
	printf 'dn: %s\nobjectClass: organizationalUnit\nou: certs\n\n' "$BRANCH"
} >"$T/people.ldif"
SLAPD_ACL="access to * by * read"
slapd_start "$T/people.ldif" || bail "slapd started"
BINDDN=$(echo "$SLAPD_ROOTDN" | sed 's/,/%2c/g')
DURL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_SUFFIX????bindname=$BINDDN,x-bindpwfile=$SLAPD_PWFILE"
cat >"$T/policy" <<EOF
default encrypt=if-possible
to frank@example.net encrypt=always fallback=hold
to erin@example.net action=hold
EOF
pf_reinject "$T/reinject"
GATE_OPTS="-o LDAPDirectories=$DURL -o PublishDirectory=$DURL -o PublishBranch=$BRANCH
    -o TrustAnchorFile=$P/ca.pem -o CRLCheck=no -o PolicyFile=$T/policy
    -o QueueRunInterval=1 -o CacheNegativeTTL=0 -o CachePositiveTTL=0 -o HoldTime=3600
    -o ReinjectCommand=$T/reinject -o RetireRetention=3600"
KS="$GATE_STATE/keystore"
gate_import "$P" alice bob
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with the milter"
mkdir -p "$T/m"

msg() { # ID FROM TO
	{
		printf 'From: %s\nTo: %s\nSubject: retire %s\n' "$2" "$3" "$1"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nmarker-%s\n' "$1"
	} | make_message "$T/m/$1.eml"
}
fetch() { # ID RCPT: the delivered copy in $T/m/ID.RCPT
	sink_wait_count "<$1@example.com>" "$2" 1 &&
	    sink_strip "$(sink_files "<$1@example.com>" "$2" | head -1)" "$T/m/$1.$2"
}
held_for() { # RCPT MARKER
	for _i in $(gate_ctl spool list 2>/dev/null |
	    awk -v r="<$1>" '$2 == "hold" && index($0, r) { print $1 }'); do
		gate_ctl spool show "$_i" 2>/dev/null | grep -q -F "$2" && echo "$_i"
	done | head -1
}
in_dir() { # ADDRESS: the directory shows a certificate for it to anyone
	ldapsearch -x -LLL -H "ldap://127.0.0.1:$SLAPD_PORT" -b "$SLAPD_SUFFIX" \
	    "(mail=$1)" userSMIMECertificate 'userCertificate;binary' 2>/dev/null |
	    grep -q '^user'
}
# not_signed_inside ID RCPT NAME: RCPT's copy opens with NAME's key and
# holds the message unsigned.
not_signed_inside() {
	if ! fetch "$1" "$2"; then
		not_ok "$1: delivered to $2"
		return
	fi
	keep "$T/m/$1.$2"
	if openssl cms -decrypt -in "$T/m/$1.$2" -recip "$P/$3.pem" -inkey "$P/$3.key" \
	    -out "$T/m/$1.plain" 2>>"$T/openssl.log"; then
		ok "$1: $2's copy is encrypted to $2"
	else
		not_ok "$1: $2's copy is encrypted to $2"
	fi
	check "$1: inside, the message as sent and no signature" sh -c \
	    "grep -q 'marker-$1' '$T/m/$1.plain' && ! grep -qi 'pkcs7-signature\|signed-data' '$T/m/$1.plain'"
}
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# ---- before: published, signing, two copies held -----------------------
check "alice's certificate is in the directory after the import" in_dir alice@example.com
gate_ctl lookup alice@example.com >"$T/lookup-before.out" 2>&1
check "the lookup finds alice's certificate to encrypt to" \
    grep -q "ldap" "$T/lookup-before.out"
msg c1 alice@example.com partner@remote.test
send_mail "$T/m/c1.eml" alice@example.com partner@remote.test || not_ok "c1 sent ($SMTP_REPLY)"
if fetch c1 partner@remote.test; then
	case $(mime_header "$T/m/c1.partner@remote.test" Content-Type) in
	*multipart/signed*) ok "control: alice's mail is signed before" ;;
	*) not_ok "control: alice's mail is signed before" ;;
	esac
else
	not_ok "control: c1 delivered"
fi
msg h1 alice@example.com erin@example.net
send_mail "$T/m/h1.eml" alice@example.com erin@example.net || not_ok "h1 sent ($SMTP_REPLY)"
msg h2 alice@example.com frank@example.net
send_mail "$T/m/h2.eml" alice@example.com frank@example.net || not_ok "h2 sent ($SMTP_REPLY)"
h1=$(held_for erin@example.net marker-h1)
h2=$(held_for frank@example.net marker-h2)
check "alice's copy to erin is held (action=hold)" test -n "$h1"
check "alice's copy to frank is held (encrypt=always, no certificate)" test -n "$h2"

# ---- attacks: who may retire or un-retire ------------------------------
if as_nobody "$top/smimectl" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
    keystore retire alice@example.com >"$T/nobody.out" 2>&1; then
	not_ok "nobody cannot retire alice (it did)"
else
	ok "nobody cannot retire alice"
fi
check "nobody made no retirement record" sh -c "! ls '$KS' | grep -q '^retired-'"

# ---- retire -------------------------------------------------------------
if gate_ctl keystore retire alice@example.com >"$T/retire.out" 2>"$T/retire.err"; then
	ok "smimectl keystore retire alice@example.com"
else
	not_ok "smimectl keystore retire alice@example.com"
	diag_file "$T/retire.err" 5
fi
keep "$T/retire.out"
REC=$(ls "$KS" | grep '^retired-' | head -1)
check "a retirement record in the keystore, mode 0600" \
    test -n "$REC" -a "$(stat -c %a "$KS/$REC" 2>/dev/null)" = 600
as_nobody rm -f "$KS/$REC" 2>/dev/null
check "nobody cannot remove the record (un-retire)" test -e "$KS/$REC"
check "retire says the certificate left the directory" \
    grep -q "alice@example.com: removed from the directory" "$T/retire.out"
check "an anonymous ldapsearch on mail no longer finds alice's certificate" \
    sh -c "! ldapsearch -x -LLL -H ldap://127.0.0.1:$SLAPD_PORT -b '$SLAPD_SUFFIX' \
    '(mail=alice@example.com)' userSMIMECertificate 'userCertificate;binary' | grep -q '^user'"
check "the lookup finds no certificate of alice to encrypt to" \
    sh -c "! $top/smimectl -c $GATE_CONF -o StateDirectory=$GATE_STATE $(echo $GATE_OPTS) \
    lookup alice@example.com >/dev/null 2>&1"
if gate_ctl keystore import "$P/alice.p12" --password-file "$P/p12.pass" \
    >"$T/reimport.out" 2>&1; then
	not_ok "a PKCS#12 for the retired alice is refused (it was imported)"
else
	check "a PKCS#12 for the retired alice is refused, saying why" \
	    grep -q "retired" "$T/reimport.out"
fi

# Her mail now: unsigned, and the log says why.
msg s1 alice@example.com partner@remote.test
send_mail "$T/m/s1.eml" alice@example.com partner@remote.test || not_ok "s1 sent ($SMTP_REPLY)"
if fetch s1 partner@remote.test; then
	case $(mime_header "$T/m/s1.partner@remote.test" Content-Type) in
	*multipart/signed*|*pkcs7*) not_ok "retired alice's mail is not signed" ;;
	*) ok "retired alice's mail is not signed" ;;
	esac
else
	not_ok "s1 delivered"
fi
line=$(gate_logline "$QID")
check "the log line says unsigned because alice is retired" \
    log_has "$line" "unsigned" "alice@example.com retired on"

# The held copies: released, never signed as her.
gate_ctl spool release "$h1" >"$T/h1.release" 2>&1
keep "$T/h1.release"
check "spool release of the held copy to erin: encrypted, not signed" \
    grep -q "$h1: released: encrypted " "$T/h1.release"
not_signed_inside h1 erin@example.net erin
check "frank's certificate appears in the directory" slapd_add_cert frank
not_signed_inside h2 frank@example.net frank

# ---- inbound within retention, then the keys destroyed -----------------
printf 'Content-Type: text/plain\n\nsecret-for-alice\n' | make_message "$T/inner.txt"
inbound() { # ID: mail encrypted to alice's certificate, from outside
	openssl cms -encrypt -aes-256-gcm -in "$T/inner.txt" "$P/alice.pem" >"$T/$1.cms" 2>>"$T/openssl.log"
	{
		printf 'From: partner@remote.test\nTo: alice@example.com\nSubject: in %s\n' "$1"
		printf 'Message-ID: <%s@example.com>\n' "$1"
		sed 's/\r$//' "$T/$1.cms"
	} | make_message "$T/m/$1.eml"
	send_mail "$T/m/$1.eml" partner@remote.test alice@example.com --local-interface 127.0.0.2
}
inbound i1 || not_ok "i1 sent ($SMTP_REPLY)"
if fetch i1 alice@example.com; then
	check "within RetireRetention, mail encrypted to alice's old certificate decrypts" \
	    grep -q "secret-for-alice" "$T/m/i1.alice@example.com"
else
	not_ok "i1 delivered"
fi
FPF=$(ls "$KS" | grep -c '\.pem$')
if gate_ctl -o RetireRetention=0 keystore purge-retired >"$T/purge.out" 2>&1; then
	ok "smimectl keystore purge-retired past the retention"
else
	not_ok "smimectl keystore purge-retired past the retention"
	diag_file "$T/purge.out" 5
fi
check "purge-retired destroyed one key" grep -q "^1 keys destroyed" "$T/purge.out"
check "alice's entry file is gone from the keystore" \
    test "$(ls "$KS" | grep -c '\.pem$')" -eq $((FPF - 1))
check "the record stays, 0600, and says destroyed" sh -c \
    "grep -q '^destroyed ' '$KS/$REC' && test \"\$(stat -c %a '$KS/$REC')\" = 600"
inbound i2 || not_ok "i2 sent ($SMTP_REPLY)"
if fetch i2 alice@example.com; then
	check "after the retention, the mail to alice stays encrypted" \
	    sh -c "! grep -q 'secret-for-alice' '$T/m/i2.alice@example.com'"
else
	not_ok "i2 delivered"
fi
check "the log says alice's keys were destroyed" \
    grep -q "not decrypted for <alice@example.com>: alice@example.com retired on .*keys destroyed on" "$GATE_LOG"

# ---- the gateway's own sweep --------------------------------------------
gate_stop
gate_start -o RetireRetention=0 || bail "smimegate restarted with RetireRetention=0"
# bob also holds a certificate of the embedded CA: retire revokes it.
CAOPTS="-o CertificateAuthority=yes -o CAHTTPListen="
gate_ctl $CAOPTS ca init >"$T/cainit.log" 2>&1 || diag_file "$T/cainit.log" 5
gate_ctl $CAOPTS ca issue --profile encrypt bob@example.com >"$T/bob-ca.pem" 2>"$T/bob-ca.err" ||
    diag_file "$T/bob-ca.err" 5
BSERIAL=$(openssl x509 -in "$T/bob-ca.pem" -noout -serial 2>/dev/null | sed 's/.*=//')
if gate_ctl $CAOPTS ca issue --profile sign alice@example.com >/dev/null 2>"$T/alice-ca.err"; then
	not_ok "the CA issues nothing to the retired alice (it did)"
else
	check "the CA issues nothing to the retired alice, saying why" grep -q "retired" "$T/alice-ca.err"
fi
gate_ctl $CAOPTS keystore retire bob@example.com >"$T/retire-bob.out" 2>&1 || diag_file "$T/retire-bob.out" 5
check "retire revokes bob's certificate at the embedded CA" \
    sh -c "test -n '$BSERIAL' && grep -q 'revoked $BSERIAL' '$T/retire-bob.out'"
gate_ctl $CAOPTS ca list >"$T/ca-list.out" 2>&1
check "ca list shows it revoked" grep -q "^$BSERIAL	bob@example.com	.*	revoked" "$T/ca-list.out"
swept() { [ "$(grep -c "retired <bob@example.com>: key of certificate .* destroyed" "$GATE_LOG")" -eq 2 ]; }
check "the gateway's spool runner destroys bob's two keys, and logs each" wait_for 100 swept
check "bob's entry files are gone" test "$(ls "$KS" | grep -c '\.pem$')" -eq $((FPF - 2))
done_testing
