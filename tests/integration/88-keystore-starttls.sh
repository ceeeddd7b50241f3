#!/bin/sh
# The keystore in a directory (KeystoreBackend ldap) over
# StartTLS, and one unreadable entry there costs only that entry.
#
# slapd offers StartTLS (a server certificate of the test root for
# 127.0.0.1) and refuses any operation without TLS ("security tls=1").
# KeystoreLDAP with x-starttls (as in LDAPDirectories): smimectl imports
# alice's key into her entry, and the gateway signs her mail with it
# (openssl cms verifies); slapd's log shows StartTLS.  Without x-starttls
# the directory refuses the gateway; with StartTLS but a server
# certificate it cannot verify (no LDAPTLS_CACERT), no connection is made
# (never one in clear): her mail is not signed with a key it could not read.
#
# bob's entry holds a userPKCS12 value that is no keystore entry: alice
# still signs, the log names bob's entry once, and /metrics counts it
# (smimegate_keystore_entries_skipped 1).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl slapd slapadd ldapsearch curl

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
# slapd's certificate, for 127.0.0.1, from the test root.
printf 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n' \
    >"$P/slapd.ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$P/slapd.key" -subj "/CN=127.0.0.1" \
    -out "$P/slapd.csr" >>"$T/slapd-pki.log" 2>&1 &&
openssl x509 -req -in "$P/slapd.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
    -set_serial "0x$(openssl rand -hex 8)" -days 30 -extfile "$P/slapd.ext" \
    -out "$P/slapd.pem" >>"$T/slapd-pki.log" 2>&1 ||
    { diag_file "$T/slapd-pki.log"; bail "slapd's certificate made"; }

head -c 600 /dev/urandom >"$T/garbage"
{
	ldif_head
	ldif_entry alice alice@example.com
	ldif_entry bob bob@example.com userPKCS12 "$T/garbage"
} >"$T/people.ldif"
SLAPD_GLOBAL="TLSCACertificateFile $P/ca.pem
TLSCertificateFile $P/slapd.pem
TLSCertificateKeyFile $P/slapd.key
security tls=1"
slapd_start "$T/people.ldif" || bail "slapd started with StartTLS"
chmod 0600 "$SLAPD_PWFILE"

KURL=$(slapd_url)
export LDAPTLS_CACERT="$P/ca.pem"
if LDAPTLS_CACERT="$P/ca.pem" ldapsearch -x -ZZ -H "ldap://127.0.0.1:$SLAPD_PORT" \
    -D "$SLAPD_ROOTDN" -w "$(cat "$SLAPD_PWFILE")" -b "$SLAPD_BASE" -s one uid >"$T/zz.out" 2>&1; then
	ok "slapd answers ldapsearch -ZZ (StartTLS)"
else
	not_ok "slapd answers ldapsearch -ZZ (StartTLS)"
	diag_file "$T/zz.out" 5
fi
if ldapsearch -x -H "ldap://127.0.0.1:$SLAPD_PORT" -D "$SLAPD_ROOTDN" -w "$(cat "$SLAPD_PWFILE")" \
    -b "$SLAPD_BASE" -s one uid >"$T/clear.out" 2>&1; then
	not_ok "slapd refuses a client without TLS"
else
	ok "slapd refuses a client without TLS"
fi

starttls_ops() { grep -c 'STARTTLS' "$SLAPD_LOG" 2>/dev/null || true; }
ops0=$(starttls_ops)
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL,x-starttls -o KeystoreLDAPTimeout=5"
gate_import "$P" alice
mkdir -p "$T/m"
make_message "$T/m/a.eml" <<EOT
From: Alice <alice@example.com>
To: <carol@elsewhere.test>
Subject: signed with a key from the directory
Date: Mon, 23 Nov 2026 11:00:00 +0000
Message-ID: <a@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Signed with the key the directory keeps.
EOT
# sign ID: smimegate -t on a.eml; ID.out, ID.err, $RC, $LINE.
sign() {
	gate_run -t "$T/m/a.eml" --from alice@example.com --rcpt carol@elsewhere.test \
	    --client 127.0.0.1 >"$T/m/$1.out" 2>"$T/m/$1.err"
	RC=$?
	LINE=$(grep 'from=<alice@example.com>' "$T/m/$1.err" | tail -1)
	keep "$T/m/$1.err"
}
sign tls
if [ "$RC" = 0 ] && log_has "$LINE" "action=signed" &&
    openssl cms -verify -in "$T/m/tls.out" -CAfile "$P/ca.pem" -purpose smimesign \
    -signer "$T/m/tls.signer" -out /dev/null >"$T/m/tls.verify" 2>&1 &&
    openssl x509 -in "$T/m/tls.signer" -noout -email | grep -qx alice@example.com; then
	ok "alice's mail signed with her key from the directory (StartTLS); openssl verifies"
else
	not_ok "alice's mail signed with her key from the directory (StartTLS); openssl verifies (status $RC)"
	diag "line: $LINE"
	diag_file "$T/m/tls.err" 5
	diag_file "$T/m/tls.verify" 5
fi
ops1=$(starttls_ops)
check "slapd's log shows the gateway's StartTLS ($ops0 -> $ops1 operations)" test "$ops1" -gt "$ops0"
check "bob's unreadable entry was skipped, and the log names it" \
    grep -q "keystore: 1 entry of the directory skipped.*uid=bob" "$T/m/tls.err"

# Without x-starttls: the directory refuses; with it but no CA to verify
# slapd's certificate: no connection.
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=5"
sign clear
check "without x-starttls: alice's mail is not signed (status $RC)" \
    sh -c "[ $RC != 0 ] || ! grep -q 'action=signed' '$T/m/clear.err'"
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL,x-starttls -o KeystoreLDAPTimeout=5"
LDAPTLS_CACERT=/dev/null
sign untrusted
check "StartTLS to a server certificate it cannot verify: not signed (status $RC)" \
    sh -c "[ $RC != 0 ] || ! grep -q 'action=signed' '$T/m/untrusted.err'"
check "... and the log says StartTLS failed" grep -q 'StartTLS' "$T/m/untrusted.err"
LDAPTLS_CACERT="$P/ca.pem"

# The daemon: /metrics counts the skipped entry.
HTTP_PORT=$(free_port) || bail "a free port for HTTPListen"
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" || bail "smimegate started"
curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics" 2>&1
check "/metrics: smimegate_keystore_entries_skipped 1" \
    grep -qx 'smimegate_keystore_entries_skipped 1' "$T/metrics"
curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/healthz" >"$T/healthz" 2>&1
check "/healthz: the keystore is up, 1 entry, 1 skipped" \
    sh -c "grep -q '\"skipped\":1' '$T/healthz' && grep -q '\"entries\":1' '$T/healthz'"
gate_stop

done_testing
