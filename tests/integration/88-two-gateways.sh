#!/bin/sh
# Two gateways sharing state through one slapd and one
# redis-server, each with its own state directory, milter port and
# private Postfix (A and B), one smtp-sink behind both.
#
# The keystore is in the directory (KeystoreBackend=ldap): alice's key,
# imported through A's smimectl, sits encrypted in userPKCS12 of her entry,
# readable by the gateways' bind DN only; B (same master key file) signs
# her mail with it, and bob's key imported through A while B runs is used
# by B at once (openssl cms verifies both).  Harvested certificates are in
# Redis (HarvestStore=redis): dave's signed message arrives through A; the
# reply alice sends through B goes out encrypted to dave's certificate
# (openssl cms decrypts it with dave's key).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks slapd slapadd ldapsearch redis-server redis-cli busybox curl jq

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"

# ---- the directory: people, the gateways' DN, another reader -------------
twogw_gw_secret
twogw_reader
twogw_people alice bob
# The escrowed keys: the gateways' DN alone reads and writes them; other
# users read the rest of the entries.
SLAPD_ACL="access to attrs=userPassword by anonymous auth by * none
access to attrs=userPKCS12 by dn.exact=\"$GWDN\" write by * none
access to * by dn.exact=\"$GWDN\" read by users read by * none"
slapd_start "$T/people.ldif" || bail "slapd started"
redis_start || bail "redis-server started"
ok "slapd on 127.0.0.1:$SLAPD_PORT, redis-server on 127.0.0.1:$REDIS_PORT"

twogw_kurl
GATE_OPTS="-o KeystoreBackend=ldap -o KeystoreLDAP=$KURL -o KeystoreLDAPTimeout=3
    -o HarvestStore=redis -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=t88:
    -o RedisKeyFile=$REDIS_KEY
    -o RedisHarvestPrefix=t88h: -o TrustAnchorFile=$P/ca.pem"

ldap_pkcs12() { # BINDDN PWFILE OUT: alice's userPKCS12 values as that DN sees them
	ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$SLAPD_PORT" \
	    ${1:+-D "$1" -y "$2"} -b "uid=alice,$SLAPD_BASE" -s base userPKCS12 \
	    >"$3" 2>&1
}

# ---- alice's key imported through A lands in the directory ---------------
inst A
gate_import "$P" alice
if ldap_pkcs12 "$GWDN" "$GWPW" "$T/gw.ldif" && grep -q '^userPKCS12:: ' "$T/gw.ldif"; then
	ok "alice's entry holds userPKCS12 (read as the gateways' DN)"
	sed -n 's/^userPKCS12:: //p' "$T/gw.ldif" | head -1 | base64 -d >"$T/value.pem" 2>/dev/null
	if grep -q 'BEGIN SMIMEGATE ENCRYPTED PRIVATE KEY' "$T/value.pem" &&
	    ! grep -Eq 'BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY' "$T/value.pem" &&
	    openssl x509 -in "$T/value.pem" -noout -email | grep -qx alice@example.com; then
		ok "the value is a keystore entry: alice's certificate and the key sealed under the master key"
	else
		not_ok "the value is a keystore entry: alice's certificate and the key sealed under the master key"
		diag_file "$T/value.pem" 5
	fi
else
	not_ok "alice's entry holds userPKCS12 (read as the gateways' DN)"
	diag_file "$T/gw.ldif" 5
fi
ldap_pkcs12 "$RDDN" "$RDPW" "$T/reader.ldif"
if grep -q '^dn: uid=alice' "$T/reader.ldif" && ! grep -qi '^userPKCS12' "$T/reader.ldif"; then
	ok "another user reads alice's entry but not its userPKCS12"
else
	not_ok "another user reads alice's entry but not its userPKCS12"
	diag_file "$T/reader.ldif" 5
fi
ldap_pkcs12 "" "" "$T/anon.ldif"
check "an anonymous search sees no userPKCS12" sh -c "! grep -qi '^userPKCS12' '$T/anon.ldif'"
nfiles=$(find "$T/state-A/keystore" -name '*.pem' | wc -l)
check "no entry file on A's disk ($nfiles)" test "$nfiles" -eq 0
gate_ctl keystore list >"$T/list-A.txt" 2>&1
check "smimectl keystore list on A shows alice" grep -q alice@example.com "$T/list-A.txt"

# B shares the master key file (copied, as an administrator would).
twogw_share_master

# ---- both gateways and their Postfix instances ---------------------------
sink_start || bail "smtp-sink started"
for i in A B; do twogw_start "$i"; done
ok "gateway A (milter $MP_A) and B (milter $MILTER_PORT), each behind its own Postfix"
inst B
gate_ctl keystore list >"$T/list-B.txt" 2>&1
check "smimectl keystore list on B shows alice" grep -q alice@example.com "$T/list-B.txt"

# bob's key imported through A while B runs.
inst A
gate_import "$P" bob
sleep 2        # B reads the directory again on a miss, at most every 2 s
inst B
mkdir -p "$T/m"

# mail ID FROM TO BODY-LINE: a message sent through the current instance;
# the delivered copy in $T/m/ID.got and B's log line in $LINE.
mail() {
	{
		printf 'From: <%s>\nTo: <%s>\nSubject: %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 11:00:00 +0000\nMessage-ID: <%s@test>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' "$4"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" "$2" "$3" && wait_delivered "$QID" &&
	    sink_fetch "<$1@test>" "$T/m/$1.got" && LINE=$(gate_logline "$QID") &&
	    keep "$T/m/$1.got"
}

# signed_by ID ADDRESS: openssl verifies the delivered copy against the test
# root, and its signer certificate names ADDRESS.
signed_by() {
	openssl cms -verify -in "$T/m/$1.got" -CAfile "$P/ca.pem" -purpose smimesign \
	    -signer "$T/m/$1.signer" -out /dev/null >"$T/m/$1.verify" 2>&1 &&
	    openssl x509 -in "$T/m/$1.signer" -noout -email | grep -qx "$2"
}

for who in alice bob; do
	if mail "sign-$who" "$who@example.com" carol@example.org "signed by B for $who"; then
		check "B signs $who's mail with the key imported through A" \
		    log_has "$LINE" "action=signed"
		if signed_by "sign-$who" "$who@example.com"; then
			ok "openssl cms verifies B's signature as $who@example.com"
		else
			not_ok "openssl cms verifies B's signature as $who@example.com"
			diag_file "$T/m/sign-$who.verify" 5
		fi
	else
		not_ok "$who's mail through B delivered ($SMTP_REPLY)"
	fi
done

# A sender without a key costs B one search for that person, not a reading
# of every entry in the directory.
sleep 2
full_scans() { grep -c 'filter="(&(userPKCS12=\*)' "$SLAPD_LOG" 2>/dev/null || true; }
scans0=$(full_scans)
if mail nokey carol@example.com dave@example.net "no key for carol"; then
	check "carol (no key) goes out unsigned through B" log_has "$LINE" "action=unsigned"
	scans1=$(full_scans)
	check "no full reading of the directory for her (full scans $scans0 -> $scans1)" \
	    test "$scans1" = "$scans0"
else
	not_ok "carol's mail through B delivered ($SMTP_REPLY)"
fi

# ---- smimectl on A: export, then rekey (the new master key copied to B,
# B restarted: it reads every entry again, now sealed under the new key) --
inst A
if gate_ctl keystore export alice@example.com --out "$T/alice-out.p12" \
    --password-file "$P/p12.pass" >"$T/export.log" 2>&1 &&
    openssl pkcs12 -in "$T/alice-out.p12" -passin "file:$P/p12.pass" -nodes \
    -out "$T/alice-out.pem" 2>>"$T/export.log" &&
    [ "$(openssl x509 -in "$T/alice-out.pem" -noout -modulus)" = \
      "$(openssl rsa -in "$T/alice-out.pem" -noout -modulus 2>/dev/null)" ]; then
	ok "smimectl keystore export on A gives alice's key and certificate back"
else
	not_ok "smimectl keystore export on A gives alice's key and certificate back"
	diag_file "$T/export.log" 5
fi
old_mk=$(od -An -tx1 "$T/state-A/keystore/master.key" | tr -d ' \n')
if gate_ctl keystore rekey >"$T/rekey.log" 2>&1 &&
    [ "$(od -An -tx1 "$T/state-A/keystore/master.key" | tr -d ' \n')" != "$old_mk" ]; then
	ok "smimectl keystore rekey on A seals the directory's entries under a new master key"
else
	not_ok "smimectl keystore rekey on A seals the directory's entries under a new master key"
	diag_file "$T/rekey.log" 5
fi
cp "$T/state-A/keystore/master.key" "$T/state-B/keystore/master.key.tmp" &&
    chmod 0600 "$T/state-B/keystore/master.key.tmp" &&
    mv "$T/state-B/keystore/master.key.tmp" "$T/state-B/keystore/master.key"
inst B
gate_stop
gate_start || bail "smimegate B restarted with the new master key"
if mail sign-rekeyed alice@example.com carol@example.org "after the rekey" &&
    signed_by sign-rekeyed alice@example.com; then
	ok "after the rekey B signs alice's mail with the resealed entry"
else
	not_ok "after the rekey B signs alice's mail with the resealed entry ($LINE)"
fi

# ---- a certificate harvested by A encrypts B's reply ----------------------
inst A
{
	printf 'From: Dave <dave@example.net>\nTo: Alice <alice@example.com>\nSubject: hello\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <hello@test>\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\nHello Alice, this is Dave.\n' |
	    openssl cms -sign -md sha256 -signer "$P/dave.pem" -inkey "$P/dave.key" 2>>"$T/openssl.log" |
	    sed 's/\r$//'
} | make_message "$T/m/hello.eml"
if send_mail "$T/m/hello.eml" dave@example.net alice@example.com &&
    wait_delivered "$QID" && sink_fetch "<hello@test>" "$T/m/hello.got"; then
	res=$(mime_header "$T/m/hello.got" X-Smimegate-Result)
	case $res in
	pass*) ok "A verifies dave's signed message (X-Smimegate-Result: $res)" ;;
	*) not_ok "A verifies dave's signed message (got '$res')" ;;
	esac
else
	not_ok "dave's signed message through A delivered ($SMTP_REPLY)"
fi
nkeys=$(redis_cli --scan --pattern 't88h:*' | wc -l)
check "dave's certificate is in Redis ($nkeys hash)" test "$nkeys" -eq 1
nh=$(find "$T/state-A/harvest" -type f 2>/dev/null | wc -l)
check "and not in A's harvest directory ($nh files)" test "$nh" -eq 0

inst B
if mail reply alice@example.com dave@example.net "marker-reply from B"; then
	check "B signs and encrypts the reply to the certificate A harvested" \
	    log_has "$LINE" "action=signed+encrypted"
	if grep -q marker-reply "$T/m/reply.got"; then
		not_ok "no plaintext in the delivered reply"
	else
		ok "no plaintext in the delivered reply"
	fi
	if openssl cms -decrypt -in "$T/m/reply.got" -recip "$P/dave.pem" -inkey "$P/dave.key" \
	    -out "$T/m/reply.dec" 2>"$T/m/reply.dec.log" &&
	    openssl cms -verify -in "$T/m/reply.dec" -CAfile "$P/ca.pem" -out "$T/m/reply.txt" \
	    >"$T/m/reply.ver.log" 2>&1 && grep -q marker-reply "$T/m/reply.txt"; then
		ok "dave decrypts B's reply with openssl cms, and alice's signature inside verifies"
	else
		not_ok "dave decrypts B's reply with openssl cms, and alice's signature inside verifies"
		diag_file "$T/m/reply.dec.log" 5
		diag_file "$T/m/reply.ver.log" 5
	fi
else
	not_ok "alice's reply through B delivered ($SMTP_REPLY)"
fi

# ---- /healthz on A checks each part now: stop redis-server, then slapd ----
inst A
gate_stop
HTTP_PORT=$(free_port) || bail "a free port for HTTP"
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" -o "LDAPDirectories=$(slapd_url)" ||
    bail "smimegate A restarted with HTTPListen and a certificate directory"
health() { # OUT: prints the HTTP status
	curl -s -o "$1" -w '%{http_code}' --max-time 20 "http://127.0.0.1:$HTTP_PORT/healthz"
}
want_health() { # WHAT CODE FIELD...: /healthz answers CODE and says each FIELD
	_w=$1 _code=$2
	shift 2
	_got=$(health "$T/health.json")
	if [ "$_got" != "$_code" ]; then
		not_ok "$_w: /healthz $_code (got $_got: $(cat "$T/health.json"))"
		return
	fi
	for _f in "$@"; do
		if ! grep -qF "$_f" "$T/health.json"; then
			not_ok "$_w: /healthz says $_f (got $(cat "$T/health.json"))"
			return
		fi
	done
	ok "$_w: /healthz $_code with $*"
}
want_health "all up" 200 '"directory":"up"' '"cache":"up"' '"harvest":"up"' \
    '"keystore":"up"' '"spool":"up"' '"status":"ok"' '"backend":"ldap"' '"entries":2'
check "/healthz is JSON" sh -c "jq -e .details.keystore.master_key '$T/health.json' >/dev/null"

redis_stop
want_health "redis-server stopped" 503 '"cache":"down"' '"harvest":"down"' \
    '"directory":"up"' '"keystore":"up"' '"status":"unhealthy"'
redis_start || bail "redis-server started again"
want_health "redis-server back" 200 '"cache":"up"' '"harvest":"up"' '"status":"ok"'

slapd_stop
want_health "slapd stopped" 503 '"directory":"down"' '"keystore":"down"' \
    '"cache":"up"' '"status":"unhealthy"'
inst A
# An outsider never looked up before (no cached answer): mail between
# colleagues needs no directory since mail to them is never encrypted.
mail while-down alice@example.com zoe@example.net "slapd down" 2>/dev/null
case $SMTP_CODE in
4*) ok "with slapd down, A's Postfix answers a tempfail to alice's mail ($SMTP_CODE)" ;;
*) not_ok "with slapd down, A's Postfix answers a tempfail to alice's mail (got '$SMTP_REPLY')" ;;
esac
slapd_start || bail "slapd started again"
want_health "slapd back" 200 '"directory":"up"' '"keystore":"up"' '"status":"ok"'

done_testing
