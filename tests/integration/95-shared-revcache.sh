#!/bin/sh
# The shared CA's revocations as two gateways (A and B) sign with them
# (KeystoreBackend ldap, ca_shared.c): each gateway keeps the revocation
# records read last in memory (KeystoreLDAPRefresh, KeystoreLDAPMaxStale).
#
#  - A certificate revoked through A stops B signing with it within
#    KeystoreLDAPRefresh (B's copy is read again).
#  - A directory outage (slapd stopped): A still signs alice's mail with
#    her embedded-CA certificate past KeystoreLDAPRefresh (the copy read
#    last); past KeystoreLDAPMaxStale it tempfails (fail closed); after
#    slapd is back it signs again.
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

twogw_shared_dir alice bob pki
ok "slapd on 127.0.0.1:$SLAPD_PORT, redis-server on 127.0.0.1:$REDIS_PORT"

twogw_ports
REFRESH=2
MAXSTALE=20
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=3
    -o KeystoreLDAPRefresh=$REFRESH -o KeystoreLDAPMaxStale=$MAXSTALE
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t95c:
    -o RedisKeyFile=$REDIS_KEY -o RedisHarvestPrefix=t95ch:
    -o CertificateAuthority=yes -o EnrollmentSMTP=127.0.0.1:$REINJECT_PORT
    -o EnrollmentSender=pki@example.com"
ctl() { gate_ctl -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" "$@"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }

twogw_master ctl
ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
for n in alice bob; do
	ctl ca issue --profile sign "$n@example.com" >"$T/$n.pem" 2>"$T/$n.err" ||
	    { diag_file "$T/$n.err"; bail "smimectl ca issue --profile sign $n@example.com"; }
done
ok "the shared CA issued signing certificates for alice and bob"

sink_start || bail "smtp-sink started"
twogw_start A -o "CAHTTPListen=127.0.0.1:$HTTP_A"
twogw_start B -o "CAHTTPListen=127.0.0.1:$HTTP_B"
ok "A and B started, sharing the CA and the keystore"
mkdir -p "$T/m"
# sign NAME ID: NAME's mail to carol@remote.test through the current
# gateway; 0 when signed (SMTP_CODE, LINE: what happened).
sign() {
	LINE=""
	{
		printf 'From: <%s@example.com>\nTo: <carol@remote.test>\nSubject: %s\n' "$1" "$2"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$2"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' "$2"
	} | make_message "$T/m/$2.eml"
	send_mail "$T/m/$2.eml" "$1@example.com" carol@remote.test && wait_delivered "$QID" &&
	    LINE=$(gate_logline "$QID") && log_has "$LINE" "action=signed"
}

# ---- a revocation through A, seen by B ------------------------------------
inst B
if sign bob b1; then ok "control: B signs bob's mail"; else not_ok "control: B signs bob's mail ($SMTP_REPLY)"; fi
inst A
if ctl ca revoke "$(serial "$T/bob.pem")" >"$T/revoke.log" 2>&1; then
	ok "bob's certificate revoked through A"
else
	not_ok "bob's certificate revoked through A"
	diag_file "$T/revoke.log" 5
fi
sleep $((REFRESH + 2))     # past B's KeystoreLDAPRefresh
inst B
if sign bob b2; then
	not_ok "past KeystoreLDAPRefresh, B no longer signs with bob's revoked certificate"
	diag "$LINE"
else
	ok "past KeystoreLDAPRefresh, B no longer signs with bob's revoked certificate ($SMTP_CODE)"
fi
if sign alice b3; then ok "B still signs alice's mail"; else not_ok "B still signs alice's mail ($SMTP_REPLY)"; fi

# ---- a directory outage ------------------------------------------------------
inst A
if sign alice up1; then ok "control: A signs alice's mail"; else not_ok "control: A signs alice's mail ($SMTP_REPLY)"; fi
slapd_stop
if port_accepts "$SLAPD_PORT"; then not_ok "slapd stopped"; else ok "slapd stopped"; fi
sleep $((REFRESH + 2))     # the revocations cannot be read again
if sign alice down1; then
	ok "slapd down past KeystoreLDAPRefresh: A still signs with alice's embedded-CA certificate"
else
	not_ok "slapd down past KeystoreLDAPRefresh: A still signs with alice's embedded-CA certificate ($SMTP_REPLY)"
	diag_file "$GATE_LOG" 5
fi
sleep $((REFRESH + MAXSTALE + 1))
sign alice down2
case $SMTP_CODE in
4*) ok "past KeystoreLDAPMaxStale: A tempfails ($SMTP_CODE)" ;;
*) not_ok "past KeystoreLDAPMaxStale: A tempfails (got '$SMTP_REPLY')" ;;
esac
slapd_start || bail "slapd started again"
sleep $((REFRESH + 1))
if sign alice up2; then ok "slapd back: A signs alice's mail again"; else not_ok "slapd back: A signs alice's mail again ($SMTP_REPLY)"; fi
done_testing
