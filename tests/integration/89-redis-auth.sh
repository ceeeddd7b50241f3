#!/bin/sh
# The Redis the gateways share is a hostile neighbour's too.
#
# redis-server with requirepass (and an ACL user): the gateway configured
# with the password (RedisPasswordFile, or RedisUser and its password)
# encrypts alice's mail to dave (certificate in slapd, answer cached in
# Redis, harvest store in Redis); without the password, or with a wrong
# one, mail to someone whose certificate only the harvest store could
# hold tempfails (never out in clear), and dave's is still encrypted.
#
# Values written to Redis by someone else are not believed: a forged "no
# certificate" for dave (the bare format "N", and the sealed format with a
# wrong MAC), and a genuine "no certificate" of another address copied to
# dave's key: the message is still encrypted to dave.  Dave's signed
# message (signed by a second gateway, so that its SMIMECapabilities
# announce AES-256-GCM) is harvested into Redis; a forged harvest record
# of his certificate without capabilities and with a newer signing time
# does not bring mail to him down to AES-256-CBC.
#
# Every message goes through `smimegate -t` (the milter's code path).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
need_gateway
need_tools openssl slapd slapadd redis-server redis-cli busybox sha256sum base64

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

# The server's password, an ACL user's, and a wrong one (files 0600).
(umask 077
	openssl rand -hex 16 >"$T/redis.pw"
	openssl rand -hex 16 >"$T/gw.pw"
	echo wrong-password >"$T/wrong.pw")
REDIS_ARGS="--requirepass $(cat "$T/redis.pw") --user gw on >$(cat "$T/gw.pw") allkeys allcommands"
redis_start || bail "redis-server started with requirepass"
rcli() { REDISCLI_AUTH=$(cat "$T/redis.pw") redis_cli "$@" 2>/dev/null; }
check "redis-server refuses a client without the password" \
    sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT get x 2>&1 | grep -q NOAUTH"

URL=$(slapd_url)
BASE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisKeyFile=$REDIS_KEY -o RedisPrefix=t89:
    -o HarvestStore=redis -o RedisHarvestPrefix=t89h: -o CacheNegativeTTL=600"
GATE_OPTS="$BASE_OPTS -o RedisPasswordFile=$T/redis.pw"
gate_import "$P" alice
mkdir -p "$T/m"

# send ID TO [ARGS...]: alice writes to TO through smimegate -t; the output
# in ID.out, the log in ID.err, the status in $RC, the log line in $LINE.
send() {
	_id=$1 _to=$2
	shift 2
	make_message "$T/m/$_id.eml" <<EOF
From: Alice <alice@example.com>
To: <$_to>
Subject: $_id
Date: Mon, 23 Nov 2026 11:00:00 +0000
Message-ID: <$_id@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

secret-$_id: for $_to only.
EOF
	gate_run -t "$T/m/$_id.eml" --from alice@example.com --rcpt "$_to" \
	    --client 127.0.0.1 "$@" >"$T/m/$_id.out" 2>"$T/m/$_id.err"
	RC=$?
	LINE=$(grep 'from=<alice@example.com>' "$T/m/$_id.err" | tail -1)
	keep "$T/m/$_id.err"
}

# encrypted_to_dave ID CIPHER WHAT: the output is encrypted with CIPHER
# (aes-256-cbc or aes-256-gcm, as logged), opens with dave's key, and
# holds no plaintext.
encrypted_to_dave() {
	if [ "$RC" = 0 ] && log_has "$LINE" "action=signed+encrypted" "$2" &&
	    ! grep -q "secret-$1" "$T/m/$1.out" &&
	    openssl cms -decrypt -in "$T/m/$1.out" -recip "$P/dave.pem" -inkey "$P/dave.key" \
	    -out "$T/m/$1.dec" >/dev/null 2>&1 && grep -q "secret-$1" "$T/m/$1.dec"; then
		ok "$3: encrypted to dave ($2), opens with his key"
	else
		not_ok "$3: encrypted to dave ($2), opens with his key (status $RC)"
		diag "line: $LINE"
		diag_file "$T/m/$1.err" 5
	fi
}

# tempfailed ID WHAT: refused for now, and nothing written in clear.
tempfailed() {
	if [ "$RC" != 0 ] && grep -qi tempfail "$T/m/$1.err" && ! grep -q "secret-$1" "$T/m/$1.out"; then
		ok "$2: tempfail, nothing in clear"
	else
		not_ok "$2: tempfail, nothing in clear (status $RC)"
		diag "line: $LINE"
		diag_file "$T/m/$1.err" 5
	fi
}

# ---- AUTH -----------------------------------------------------------------
send auth dave@example.net
encrypted_to_dave auth aes-256-cbc "with RedisPasswordFile"
v=$(rcli --no-raw get t89:dave@example.net)
case $v in
'"v1:'*) ok "the cached answer in Redis is sealed (v1:MAC:expiry:value)" ;;
*) not_ok "the cached answer in Redis is sealed (got ${v%%:*})" ;;
esac

GATE_OPTS="$BASE_OPTS -o RedisUser=gw -o RedisPasswordFile=$T/gw.pw"
rcli del t89:dave@example.net >/dev/null
send acl dave@example.net
encrypted_to_dave acl aes-256-cbc "as the ACL user gw (AUTH gw password)"

# Without the password the harvest store cannot be read: a recipient
# whose certificate may be there tempfails; dave's is in slapd.
GATE_OPTS="$BASE_OPTS"
send nopw nobody@elsewhere.test
tempfailed nopw "without the password, to someone only the harvest store could know"
send nopw-dave dave@example.net
encrypted_to_dave nopw-dave aes-256-cbc "without the password, to dave (slapd answers)"
GATE_OPTS="$BASE_OPTS -o RedisPasswordFile=$T/wrong.pw"
send wrongpw nobody@elsewhere.test
tempfailed wrongpw "with a wrong password"
check "the refusal is logged without the password" \
    sh -c "grep -q 'AUTH' '$T/m/wrongpw.err' && ! grep -q wrong-password '$T/m/wrongpw.err'"
chmod 0644 "$T/gw.pw"
GATE_OPTS="$BASE_OPTS -o RedisUser=gw -o RedisPasswordFile=$T/gw.pw"
if gate_run -n >"$T/n.out" 2>&1; then
	not_ok "a password file readable by others is refused at start (smimegate -n passed)"
else
	check "a password file readable by others is refused at start" grep -q 0600 "$T/n.out"
fi
chmod 0600 "$T/gw.pw"
GATE_OPTS="$BASE_OPTS -o RedisPasswordFile=$T/redis.pw"

# ---- forged "no certificate" ----------------------------------------------
rcli set t89:dave@example.net N >/dev/null
send forged-n dave@example.net
encrypted_to_dave forged-n aes-256-cbc "a bare \"N\" (no certificate) written for dave"
rcli set t89:dave@example.net "v1:$(printf '%064d' 0):9999999999:N" >/dev/null
send forged-mac dave@example.net
encrypted_to_dave forged-mac aes-256-cbc "a sealed-looking \"no certificate\" with a wrong MAC"
send nobody nobody@elsewhere.test
check "a genuine \"no certificate\" cached for nobody@elsewhere.test" \
    sh -c "[ \"\$(REDISCLI_AUTH=\$(cat '$T/redis.pw') redis-cli -h 127.0.0.1 -p $REDIS_PORT exists t89:nobody@elsewhere.test)\" = 1 ]"
rcli copy t89:nobody@elsewhere.test t89:dave@example.net replace >/dev/null
send copied dave@example.net
encrypted_to_dave copied aes-256-cbc "another address's genuine \"no certificate\" copied to dave"

# ---- forged "no GCM" --------------------------------------------------------
# Dave's message, signed by a gateway of his own (its SMIMECapabilities
# announce AES-256-GCM), arrives from outside and is harvested into Redis.
make_message "$T/m/hello.eml" <<EOF
From: Dave <dave@example.net>
To: <alice@example.com>
Subject: hello
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <hello@example.net>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Hello Alice, this is Dave.
EOF
( GATE_STATE="$T/state-dave" GATE_OPTS="-o LocalDomains=example.net"
  gate_import "$P" dave >/dev/null
  gate_run -t "$T/m/hello.eml" --from dave@example.net --rcpt alice@example.com \
      --client 127.0.0.1 >"$T/m/hello.signed" 2>"$T/m/hello.sign.err" )
check "dave's gateway signs his message" grep -qi 'multipart/signed' "$T/m/hello.signed"
gate_run -t "$T/m/hello.signed" --from dave@example.net --rcpt alice@example.com \
    --client 192.0.2.10 --inbound >"$T/m/hello.in" 2>"$T/m/hello.in.err"
AH=$(printf %s dave@example.net | sha256sum | cut -c1-64)
n=$(rcli hlen "t89h:$AH")
check "dave's certificate is harvested into Redis ($n record)" test "$n" = 1
rcli del t89:dave@example.net >/dev/null
send gcm dave@example.net
encrypted_to_dave gcm aes-256-gcm "harvested with AES-256-GCM announced"

# The forged record: dave's certificate, no capabilities, a later signing
# time, in the record format, under another field; then the same with a
# sealed-looking wrong MAC.
b64time=$(printf %s 4102444800 | base64)
{
	cat "$P/dave.pem" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p'
	printf -- '-----BEGIN SMIMEGATE SIGNING TIME-----\n%s\n-----END SMIMEGATE SIGNING TIME-----\n' "$b64time"
} >"$T/forged.rec"
rcli -x hset "t89h:$AH" "$(printf '%064d' 1)" <"$T/forged.rec" >/dev/null
{ printf 'v1:%064d:0:' 2; cat "$T/forged.rec"; } >"$T/forged.sealed"
rcli -x hset "t89h:$AH" "$(printf '%064d' 2)" <"$T/forged.sealed" >/dev/null
n=$(rcli hlen "t89h:$AH")
check "two forged records next to the genuine one ($n records)" test "$n" = 3
send nogcm dave@example.net
encrypted_to_dave nogcm aes-256-gcm "forged harvest records without capabilities"

done_testing
