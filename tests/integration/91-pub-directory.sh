#!/bin/sh
# Publication: employees' encryption certificates written to a directory
# (PublishDirectory) that mail programs use as an address book.
#
# slapd (started here) lets anyone read, as a company address book does;
# the gateway binds as its admin to write.  After `smimectl keystore
# import`, an outside client asks as Thunderbird does, anonymously,
# (mail=ADDRESS) for userSMIMECertificate and userCertificate;binary:
# alice's existing entry holds her certificate (DER) and a certs-only
# PKCS#7 that `openssl pkcs7 -print_certs` opens, with the chain; bob, who
# had no entry, gets one under PublishBranch (an inetOrgPerson).
# slapd down during carol's import: the import stands, the message says
# what to run, and `smimectl keystore publish` writes her entry once slapd
# is back.  `smimectl ca issue --profile encrypt` publishes with the CA's
# chain, `ca revoke` removes it; an outsider's certificate is published
# only with PublishOutsiders yes.  Through Postfix, the gateway publishes
# an employee it gives a key (CAEnrollEmployees) and an outsider it
# enrolls on the spot.  A filter-breaking address finds nothing else.
# Retire with the directory down fails clearly and finishes when run again.  A bad PublishDirectory fails the configuration check.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl slapd slapadd ldapsearch base64 postfix smtp-sink swaks perl

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }

BRANCH="ou=certs,$SLAPD_SUFFIX"
{
	ldif_head
	ldif_entry alice alice@example.com
	printf 'dn: %s\nobjectClass: organizationalUnit\nou: certs\n\n' "$BRANCH"
} >"$T/people.ldif"
# Anyone reads (an address book); only the rootdn writes.
SLAPD_ACL="access to * by * read"
slapd_start "$T/people.ldif" || bail "slapd started"

BINDDN=$(echo "$SLAPD_ROOTDN" | sed 's/,/%2c/g')
PURL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_SUFFIX????bindname=$BINDDN,x-bindpwfile=$SLAPD_PWFILE"
GATE_OPTS="-o PublishDirectory=$PURL -o PublishBranch=$BRANCH -o PublishTimeout=5"

# What a mail program sees: an anonymous search on mail, the two
# attributes Thunderbird asks for, each value written to a file.
lookup() { # ADDRESS OUTPREFIX
	rm -f "$2.ldif" "$2.err" "$2.p7" "$2.der"
	ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$SLAPD_PORT" \
	    -b "$SLAPD_SUFFIX" "(mail=$1)" userSMIMECertificate 'userCertificate;binary' \
	    >"$2.ldif" 2>"$2.err" || return 1
	sed -n 's/^userSMIMECertificate:: //p' "$2.ldif" | head -1 | base64 -d >"$2.p7" 2>/dev/null
	sed -n 's/^userCertificate;binary:: //p' "$2.ldif" | head -1 | base64 -d >"$2.der" 2>/dev/null
	return 0
}
fp() { openssl x509 -noout -fingerprint -sha256 "$@" 2>/dev/null | sed 's/.*=//'; }
# same_cert DER PEM: the same certificate (and there is one).
same_cert() {
	_a=$(fp -inform DER -in "$1") _b=$(fp -in "$2")
	[ -n "$_a" ] && [ "$_a" = "$_b" ]
}

# alice: her existing entry.
gate_import "$P" alice
lookup alice@example.com "$T/alice" || { diag_file "$T/alice.err"; bail "ldapsearch answers"; }
check "alice: userCertificate;binary is her certificate" \
    same_cert "$T/alice.der" "$P/alice.pem"
if openssl pkcs7 -inform DER -in "$T/alice.p7" -print_certs >"$T/alice.certs" 2>"$T/p7.err"; then
	ok "alice: userSMIMECertificate is a PKCS#7 that openssl pkcs7 opens"
else
	not_ok "alice: userSMIMECertificate is a PKCS#7 that openssl pkcs7 opens"
	diag_file "$T/p7.err" 5
fi
check "alice: the PKCS#7 holds her certificate and the chain (2 certificates)" \
    test "$(grep -c 'BEGIN CERTIFICATE' "$T/alice.certs")" -eq 2
check "alice: the chain in it is the test root" \
    grep -q "smimegate test root" "$T/alice.certs"
check "alice: found in her own entry (uid=alice)" \
    grep -q "^dn: uid=alice,$SLAPD_BASE" "$T/alice.ldif"

# bob: no entry, one made under the branch.
gate_import "$P" bob
lookup bob@example.com "$T/bob"
check "bob: an entry made for him under PublishBranch" \
    grep -q "^dn: mail=bob@example.com,$BRANCH" "$T/bob.ldif"
check "bob: his certificate there" \
    same_cert "$T/bob.der" "$P/bob.pem"
ldapsearch -x -LLL -H "ldap://127.0.0.1:$SLAPD_PORT" -b "$BRANCH" "(mail=bob@example.com)" \
    objectClass cn sn >"$T/bob.entry" 2>&1
check "bob: the new entry is an inetOrgPerson with cn and sn" sh -c \
    "grep -q 'objectClass: inetOrgPerson' '$T/bob.entry' && grep -q '^cn: ' '$T/bob.entry' \
    && grep -q '^sn: ' '$T/bob.entry'"

# carol while slapd is down: the import stands and says so.
slapd_stop
if gate_ctl keystore import "$P/carol.p12" --password-file "$P/p12.pass" \
    >"$T/carol.out" 2>"$T/carol.err"; then
	ok "carol: imported while the directory is down"
else
	not_ok "carol: imported while the directory is down"
	diag_file "$T/carol.err" 5
fi
check "carol: the message names the command that publishes her later" \
    grep -q "smimectl keystore publish carol@example.com" "$T/carol.err"
check "carol: keystore publish fails (exit 1) while the directory is down" \
    sh -c "! $top/smimectl -c $GATE_CONF -o StateDirectory=$GATE_STATE $GATE_OPTS \
    keystore publish carol@example.com >/dev/null 2>&1"
slapd_start || bail "slapd started again"
if gate_ctl keystore publish >"$T/pub.out" 2>"$T/pub.err"; then
	ok "smimectl keystore publish (every address) once the directory is back"
else
	not_ok "smimectl keystore publish (every address) once the directory is back"
	diag_file "$T/pub.err" 5
fi
lookup carol@example.com "$T/carol"
check "carol: her certificate in the directory now" \
    same_cert "$T/carol.der" "$P/carol.pem"

# A filter-breaking address matches nothing it should not.
lookup 'x*)(mail=*' "$T/inject"
check "an address with filter characters publishes nothing and finds no one" \
    sh -c "! $top/smimectl -c $GATE_CONF -o StateDirectory=$GATE_STATE $GATE_OPTS \
    keystore publish 'x*)(mail=*' >/dev/null 2>&1 && ! grep -q '^dn:' '$T/inject.ldif'"

# The embedded CA: issue publishes (with the CA's chain), revoke removes.
CAOPTS="-o CertificateAuthority=yes -o CAHTTPListen="
gate_ctl $CAOPTS ca init >"$T/cainit.log" 2>&1 || { diag_file "$T/cainit.log"; bail "ca init"; }
if gate_ctl $CAOPTS ca issue --profile encrypt dora@example.com >"$T/dora.pem" 2>"$T/dora.err"; then
	ok "ca issue --profile encrypt dora@example.com"
else
	not_ok "ca issue --profile encrypt dora@example.com"
	diag_file "$T/dora.err" 5
fi
lookup dora@example.com "$T/l-dora"
openssl pkcs7 -inform DER -in "$T/l-dora.p7" -print_certs >"$T/dora.certs" 2>/dev/null
check "dora: issued by the CA and published with its chain (3 certificates)" \
    test "$(grep -c 'BEGIN CERTIFICATE' "$T/dora.certs")" -eq 3
check "dora: the published certificate is the one issued" \
    same_cert "$T/l-dora.der" "$T/dora.pem"
SERIAL=$(openssl x509 -in "$T/dora.pem" -noout -serial | sed 's/.*=//')
gate_ctl $CAOPTS ca revoke "$SERIAL" >"$T/revoke.out" 2>&1 || diag_file "$T/revoke.out" 5
lookup dora@example.com "$T/dora2"
check "dora: ca revoke takes her certificate out of the directory" \
    sh -c "grep -q '^dn:' '$T/dora2.ldif' && ! grep -q 'userCertificate' '$T/dora2.ldif' \
    && ! grep -q 'userSMIMECertificate' '$T/dora2.ldif'"

gate_ctl $CAOPTS ca issue --profile external xena@partner.example >/dev/null 2>&1
lookup xena@partner.example "$T/xena"
check "an outsider's certificate is not published by default" \
    sh -c "! grep -q '^dn:' '$T/xena.ldif'"
gate_ctl $CAOPTS -o PublishOutsiders=yes ca issue --profile external yves@partner.example \
    >"$T/yves.pem" 2>/dev/null
lookup yves@partner.example "$T/l-yves"
check "an outsider's certificate is published with PublishOutsiders yes" \
    same_cert "$T/l-yves.der" "$T/yves.pem"

# The gateway's own issuing, through Postfix: an employee without a key
# (CAEnrollEmployees) and an outside recipient enrolled on the spot
# (enroll=yes) with PublishOutsiders yes, both published with the chain.
HTTP_PORT=$(free_port) || bail "a free port for the portal"
pf_reinject "$T/reinject"
printf 'to olga@partner.example enroll=yes\n' >"$T/policy"
gate_start $CAOPTS -o CAHTTPListen=127.0.0.1:$HTTP_PORT -o CAEnrollEmployees=yes \
    -o PublishOutsiders=yes -o PolicyFile=$T/policy -o ReinjectCommand=$T/reinject \
    -o QueueRunInterval=1 || bail "smimegate started with the CA"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with the milter"
mkdir -p "$T/m"
for who in gina:partner@remote.test gina:olga@partner.example; do
	to=${who#*:}
	printf 'From: gina@example.com\nTo: %s\nSubject: hello\nMessage-ID: <%s@example.com>\n\nmarker\n' \
	    "$to" "$(echo "$to" | tr '@.' '__')" | make_message "$T/m/$to.eml"
	send_mail "$T/m/$to.eml" gina@example.com "$to" || not_ok "gina to $to: 250 ($SMTP_REPLY)"
done
lookup gina@example.com "$T/l-gina"
openssl pkcs7 -inform DER -in "$T/l-gina.p7" -print_certs >"$T/gina.certs" 2>/dev/null
check "an employee enrolled by the gateway (CAEnrollEmployees) is published with the chain" \
    test "$(grep -c 'BEGIN CERTIFICATE' "$T/gina.certs")" -eq 3
check "the gateway logged the publication" grep -q "publish <gina@example.com>: certificate written" "$GATE_LOG"
lookup olga@partner.example "$T/l-olga"
openssl pkcs7 -inform DER -in "$T/l-olga.p7" -print_certs >"$T/olga.certs" 2>/dev/null
check "an outsider enrolled on the spot is published (PublishOutsiders yes)" \
    test "$(grep -c 'BEGIN CERTIFICATE' "$T/olga.certs")" -eq 3

# Retire while the directory is down: retired at once, the step that
# failed said, and running it again finishes the job.
slapd_stop
if gate_ctl keystore retire bob@example.com >"$T/retire1.out" 2>"$T/retire1.err"; then
	not_ok "retire with the directory down exits 1 (it said done)"
else
	check "retire with the directory down says to run it again" \
	    grep -q "is retired, but a step failed; run it again" "$T/retire1.err"
fi
check "bob is retired all the same" grep -q "retired bob@example.com" "$T/retire1.out"
slapd_start || bail "slapd started again"
check "bob's certificate is still in the directory meanwhile" sh -c \
    "ldapsearch -x -LLL -H ldap://127.0.0.1:$SLAPD_PORT -b '$SLAPD_SUFFIX' \
    '(mail=bob@example.com)' 'userCertificate;binary' | grep -q '^userCertificate'"
check "retire run again finishes" gate_ctl keystore retire bob@example.com
check "bob's certificate has left the directory" sh -c \
    "! ldapsearch -x -LLL -H ldap://127.0.0.1:$SLAPD_PORT -b '$SLAPD_SUFFIX' \
    '(mail=bob@example.com)' 'userCertificate;binary' userSMIMECertificate | grep -q '^user'"

# The configuration check reads the URL and its password file.
check "a PublishDirectory that is no LDAP URL fails the configuration" \
    sh -c "$top/smimectl -c $GATE_CONF -o StateDirectory=$GATE_STATE \
    -o PublishDirectory=http://x/ config 2>&1 | grep -q PublishDirectory"
done_testing
