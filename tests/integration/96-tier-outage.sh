#!/bin/sh
# 96-tier-outage: the cache tiers hold under load.  Four recipients'
# certificates are in slapd and warmed into Redis (smimectl lookup, a
# process of its own: the daemon's in-process tier starts cold).  Then,
# through Postfix, smtp-source sends messages from alice to all four at
# once (8 sessions: more lookups at a time than the cache has Redis
# connections), with CacheTierTTL 2 s so that the daemon keeps going back
# to Redis and its connection pool:
#  1. a warm phase of 60 messages: slapd is searched no more than twice
#     (a count from slapd's log, not a timing);
#  2. a steady load in rounds of 30 messages (at least 240, at most 360):
#     slapd stopped for about 10 s after the first quarter, then started
#     again.  Postfix's log shows no milter tempfail (451) at all, every
#     message is delivered, and every delivered copy is encrypted
#     (enveloped-data); a sample of copies opens with each recipient's
#     key (openssl cms).
# /metrics shows the tier's hits and the Redis pool's counters.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/httpd.sh"
need_gateway
need_tools openssl postfix smtp-sink smtp-source slapd slapadd redis-server redis-cli busybox curl

P="$T/pki"
NR=4                    # recipients per message, as smtp-source -r names
RCPTS="rcpt 2rcpt 3rcpt 4rcpt"  # them (@example.net)
SESS=8
WARM_MSGS=60
ROUND=30
MIN_MSGS=240
MAX_ROUNDS=12
OUTAGE=10               # seconds slapd is down
WARM_BOUND=2            # slapd searches allowed in the warm phase

HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
{
	ldif_head
	for r in $RCPTS; do
		_dirpki_ee "$P" "$r" "$r@example.net" ee_rsa rsa >>"$T/dirpki.log" 2>&1 &&
		    openssl x509 -in "$P/$r.pem" -outform DER -out "$P/$r.der" ||
		    bail "a certificate for $r@example.net"
		ldif_entry "$r" "$r@example.net" "userCertificate;binary" "$P/$r.der"
	done
} >"$T/people.ldif"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
slapd_start "$T/people.ldif" || bail "slapd started"
redis_start || bail "redis-server started"
HTTP_PORT=$(free_port) || bail "a free port for HTTPListen"
GATE_OPTS="-o LDAPDirectories=$(slapd_url) -o TrustAnchorFile=$P/ca.pem
    -o TrustSystemStore=no -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisKeyFile=$REDIS_KEY
    -o RedisPrefix=t96t: -o LDAPSearchTimeout=3 -o LDAPConnectTimeout=2
    -o HTTPListen=127.0.0.1:$HTTP_PORT ${TIER_OPTS--o CacheTierTTL=2}"
gate_import "$P" alice

# Warm Redis from another process.
for r in $RCPTS; do
	gate_ctl lookup "$r@example.net" >"$T/warm-$r.out" 2>&1
done
check "the $NR certificates found in slapd and cached in Redis" \
    test "$(redis_cli --scan --pattern 't96t:*rcpt@example.net' | wc -l)" -eq $NR

gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

sent_count() { grep -c ' status=sent ' "$PF_DIR/maillog"; }
tempfails() { grep -c 'milter-reject' "$PF_DIR/maillog"; }
source_round() { # COUNT
	timeout 300 smtp-source -s $SESS -l 2048 -m "$1" -r $NR -f alice@example.com \
	    -t rcpt@example.net -M client.smimegate.test "127.0.0.1:$SMTP_PORT" \
	    >>"$T/source.log" 2>&1
}
_sent_at_least() { [ "$(sent_count)" -ge "$1" ]; }
_drained() { [ -z "$(postqueue -c "$PF_DIR/conf" -p 2>/dev/null | grep '^[0-9A-F]')" ]; }

# --- 1. the warm phase: slapd searched at most WARM_BOUND times ----------
s0=$(slapd_searches)
source_round $WARM_MSGS
wait_for 600 _sent_at_least $((WARM_MSGS * NR)) || diag "warm phase: slow delivery"
s1=$(slapd_searches)
echo "# figures: warm phase: $WARM_MSGS messages to $NR recipients, slapd searches $((s1 - s0))"
check "warm phase: slapd searched at most $WARM_BOUND times for $((WARM_MSGS * NR)) lookups ($((s1 - s0)))" \
    test $((s1 - s0)) -le $WARM_BOUND
check "warm phase: no message refused 4xx ($(tempfails))" test "$(tempfails)" -eq 0

# --- 2. steady load, slapd down for OUTAGE seconds in the middle ---------
base=$(sent_count)
rm -f "$T/outage-done"
(
	r=0 n=0
	while [ $r -lt $MAX_ROUNDS ]; do
		[ -f "$T/outage-done" ] && [ $n -ge $MIN_MSGS ] && break
		source_round $ROUND
		r=$((r + 1)) n=$((n + ROUND))
		echo $n >"$T/load-sent"
	done
) &
loader=$!
wait_for 1200 _sent_at_least $((base + MIN_MSGS * NR / 4)) || diag "load: slow delivery"
at_stop=$((($(sent_count) - base) / NR))
diag "slapd stopped after $at_stop messages"
slapd_stop
port_accepts "$SLAPD_PORT" && diag "slapd's port still accepts"
sleep $OUTAGE
during=$((($(sent_count) - base) / NR))
slapd_start "" || bail "slapd started again"
diag "slapd started again after $during messages"
touch "$T/outage-done"
wait "$loader"
total=$(cat "$T/load-sent")
wait_for 600 _sent_at_least $((base + total * NR)) || diag "load: not all delivered"
postqueue -c "$PF_DIR/conf" -f >/dev/null 2>&1
wait_for 300 _drained || diag "Postfix's queue not empty after 30 s"

delivered=$(($(sent_count) - base))
tf=$(tempfails)
echo "# figures: load: $total messages to $NR recipients, slapd down ${OUTAGE}s after a quarter; deliveries $delivered of $((total * NR)), tempfails (451) $tf"
# what counts is mail going through while slapd was down (on a fast
# machine the whole load may be done within the outage)
check "outage: messages went through while slapd was down ($((during - at_stop)) of $total)" \
    test "$during" -gt "$at_stop"
check "outage: no message refused 4xx while slapd was down ($tf)" test "$tf" -eq 0
check "outage: every message delivered to every recipient ($delivered of $((total * NR)))" \
    test "$delivered" -eq $((total * NR))
grep 'milter-reject' "$PF_DIR/maillog" | head -3 | sed 's/^/#   /'

# Every copy at the sink encrypted; a sample opened with each key.
files=$(ls "$SINK_DIR" | wc -l)
plain=0
for f in "$SINK_DIR"/*; do
	grep -qi 'smime-type=enveloped-data\|smime-type=authEnveloped-data' "$f" ||
	    { plain=$((plain + 1)); [ $plain -le 3 ] && diag "not encrypted: $f"; }
done
check "every delivered copy is encrypted ($plain of $files not)" test "$plain" -eq 0
opened=0 tried=0
for f in $(ls "$SINK_DIR"/* | awk 'NR % 61 == 1'); do
	sink_strip "$f" "$T/one.eml"
	for r in $RCPTS; do
		tried=$((tried + 1))
		openssl cms -decrypt -in "$T/one.eml" -recip "$P/$r.pem" -inkey "$P/$r.key" \
		    -out "$T/one.dec" >/dev/null 2>&1 && opened=$((opened + 1))
	done
done
check "sampled copies open with each recipient's key ($opened of $tried)" \
    test "$tried" -gt 0 -a "$opened" -eq "$tried"

# The counters.
if curl -s --max-time 5 -o "$T/metrics" "http://127.0.0.1:$HTTP_PORT/metrics"; then
	hits=$(sed -n 's/^smimegate_cache_tier_total{result="hit"} //p' "$T/metrics")
	grep '^smimegate_cache_tier\|^smimegate_redis_pool\|^smimegate_cache_stale' "$T/metrics" |
	    sed 's/^/# /'
	check "/metrics: the tier answered lookups (${hits:-none})" test "${hits:-0}" -gt 0
	check "/metrics: the Redis pool's waits are counted" \
	    grep -q '^smimegate_redis_pool_waits_total{outcome="timeout"} ' "$T/metrics"
else
	not_ok "/metrics answers"
fi
done_testing
