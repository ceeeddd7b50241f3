#!/bin/sh
# The HTTP endpoints (HTTPListen): /healthz says the state of each part
# (200 when every part in use is up, 503 otherwise) and /metrics is
# Prometheus' text format, every line checked, its counters moving as mail
# flows through a real Postfix.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/redis.sh"
need_gateway
need_tools postfix smtp-sink swaks perl curl jq redis-server

HTTP_PORT=$(free_port) || bail "a free port for HTTP"
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" -o "SpoolDirectory=$T/spool" ||
    bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
URL="http://127.0.0.1:$HTTP_PORT"

# get PATH OUT: prints the HTTP status.
get() { curl -s -o "$2" -w '%{http_code}' --max-time 5 "$URL$1"; }

code=$(get /healthz "$T/h1")
check "/healthz: 200 when all is up (got $code: $(cat "$T/h1"))" test "$code" = 200
for p in '"directory":"none"' '"cache":"in-process"' '"keystore":"up"' '"spool":"up"' \
    '"audit":"up"' '"status":"ok"'; do
	check "/healthz says $p" grep -qF "$p" "$T/h1"
done
check "/healthz is JSON" sh -c "jq -e . '$T/h1' >/dev/null"

code=$(get /nothing "$T/n")
check "an unknown path: 404 (got $code)" test "$code" = 404

# Every line of the text format: a comment (# HELP/# TYPE), or
# name{label="value",...} value.
metrics_parse() {
	awk '
	    /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* / { next }
	    /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*\})? -?[0-9.e+-]+$/ { n++; next }
	    /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \+Inf$/ { n++; next }
	    { print "bad line " NR ": " $0; bad = 1 }
	    END { exit bad || n == 0 }' "$1"
}
# value FILE SERIES: the sample's value (0 when absent).
value() { awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }' "$1"; }

code=$(get /metrics "$T/m1")
check "/metrics: 200 (got $code)" test "$code" = 200
check "/metrics: every line parses" metrics_parse "$T/m1"
check "/metrics: spool depth is there" grep -q '^smimegate_spool_files ' "$T/m1"
check "/metrics: a latency histogram with +Inf" \
    grep -q '^smimegate_lookup_duration_seconds_bucket{le="+Inf"} ' "$T/m1"

OUT='smimegate_messages_total{direction="outbound",action="unsigned"}'
IN='smimegate_messages_total{direction="inbound",action="pass"}'
o1=$(value "$T/m1" "$OUT") i1=$(value "$T/m1" "$IN")
mkdir -p "$T/m"
for id in 1 2; do
	printf 'From: dave@example.com\r\nTo: bob@elsewhere.test\r\nSubject: m%s\r\n\r\nbody\r\n' "$id" >"$T/m/o$id.eml"
	send_mail "$T/m/o$id.eml" dave@example.com bob@elsewhere.test || not_ok "outbound mail $id accepted ($SMTP_REPLY)"
done
printf 'From: mallory@outside.test\r\nTo: bob@example.com\r\nSubject: in\r\n\r\nbody\r\n' >"$T/m/i.eml"
send_mail "$T/m/i.eml" mallory@outside.test bob@example.com || not_ok "inbound mail accepted ($SMTP_REPLY)"
gate_logline "$QID" >/dev/null
get /metrics "$T/m2" >/dev/null
o2=$(value "$T/m2" "$OUT") i2=$(value "$T/m2" "$IN")
check "/metrics: outbound unsigned went from $o1 to $o2 (+2)" test "$o2" -eq $((o1 + 2))
check "/metrics: inbound pass went from $i1 to $i2 (+1)" test "$i2" -eq $((i1 + 1))
check "/metrics: still parses after mail" metrics_parse "$T/m2"

# A part that is down: the spool directory gone.
mv "$T/spool" "$T/spool.away"
code=$(get /healthz "$T/h2")
check "/healthz: 503 with the spool gone (got $code: $(cat "$T/h2"))" test "$code" = 503
check "/healthz names the spool down" grep -qF '"spool":"down"' "$T/h2"
mv "$T/spool.away" "$T/spool"
code=$(get /healthz "$T/h3")
check "/healthz: 200 again with the spool back (got $code)" test "$code" = 200

# Only loopback by default: a bare port binds 127.0.0.1.
gate_stop
P2=$(free_port)
gate_start -o "HTTPListen=$P2" -o "SpoolDirectory=$T/spool" || bail "smimegate restarted"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P2/healthz")
check "HTTPListen=PORT serves on 127.0.0.1 (got $code)" test "$code" = 200
check "HTTPListen=PORT listens on loopback only" sh -c "! ss -ltn 2>/dev/null | grep -q '0.0.0.0:$P2 '"

# The Redis cache is PINGed at each request; lookups do without it, so
# its loss leaves /healthz at 200, "degraded".
redis_start || bail "redis-server started"
gate_stop
gate_start -o "HTTPListen=$P2" -o "SpoolDirectory=$T/spool" \
    -o "RedisServer=127.0.0.1:$REDIS_PORT" -o "RedisKeyFile=$REDIS_KEY" || bail "smimegate restarted with Redis"
code=$(curl -s -o "$T/h4" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P2/healthz")
check "/healthz with Redis up: 200, cache up, ok (got $code: $(cat "$T/h4"))" \
    sh -c "[ $code = 200 ] && grep -qF '\"cache\":\"up\"' '$T/h4' && grep -qF '\"status\":\"ok\"' '$T/h4'"
check "/healthz gives the spool's depth" sh -c "jq -e '.details.spool.depth >= 0' '$T/h4' >/dev/null"
redis_stop
code=$(curl -s -o "$T/h5" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$P2/healthz")
check "/healthz with Redis stopped: 200, cache down, degraded (got $code: $(cat "$T/h5"))" \
    sh -c "[ $code = 200 ] && grep -qF '\"cache\":\"down\"' '$T/h5' && grep -qF '\"status\":\"degraded\"' '$T/h5'"
check "/healthz says why the cache is down" sh -c "jq -e '.details.cache.error | length > 0' '$T/h5' >/dev/null"

# SIGTERM with every thread busy: the embedded CA enrolls an outsider
# (encrypt=always), whose invitation and password notice go through the
# spool; a spool run hands them on through a slow ReinjectCommand while
# both HTTP servers are up (the CA's with its CRL timer) and a client
# holds an HTTP request half sent.  The gateway stops and joins its
# threads before it frees what they use: every copy the run started is
# finished and logged, the daemon exits 0 by itself, and the sanitizers
# (SMIMEGATE_SANITIZE builds) report nothing.
gate_stop
printf '#!/bin/sh\necho "$*" >>"%s/reinject.started"\nsleep 2\ncat >/dev/null\nexit 0\n' "$T" \
    >"$T/slow-reinject"
chmod 0755 "$T/slow-reinject"
printf 'to far@elsewhere.test encrypt=always\n' >"$T/policy"
P3=$(free_port)
gate_start -o "HTTPListen=$P2" -o "SpoolDirectory=$T/spool" -o "PolicyFile=$T/policy" \
    -o "ReinjectCommand=$T/slow-reinject" -o QueueRunInterval=1 \
    -o CertificateAuthority=yes -o "CAHTTPListen=127.0.0.1:$P3" ||
    bail "smimegate restarted with the CA and both HTTP servers"
printf 'From: dave@example.com\r\nTo: far@elsewhere.test\r\nSubject: far\r\n\r\nbody\r\n' \
    >"$T/m/far.eml"
send_mail "$T/m/far.eml" dave@example.com far@elsewhere.test ||
    not_ok "mail to an outsider to enroll accepted ($SMTP_REPLY)"
wait_for 100 test -e "$T/reinject.started"
check "a spool run is handing a copy on" test -e "$T/reinject.started"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P3/ca.crl")
check "the CA's HTTP server answers (got $code)" test "$code" = 200
perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or exit 1;
    print $s "GET /healthz HTTP/1.1\r\nHost: x\r\n"; sleep 8' "$P2" &
half=$!
at_exit "kill $half 2>/dev/null"
sleep 0.3
pid=$GATE_PID
kill -TERM "$pid"
i=0
while [ $i -lt 150 ] && kill -0 "$pid" 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
if kill -0 "$pid" 2>/dev/null; then
	not_ok "SIGTERM during a spool run: the daemon ends by itself"
	kill -KILL "$pid" 2>/dev/null
fi
wait "$pid"
rc=$?
GATE_PID=""
check "SIGTERM during a spool run, HTTP up: exit 0 (got $rc)" test "$rc" = 0
started=$(wc -l <"$T/reinject.started")
done_n=$(grep -c "smimegate\[$pid\]: .*spool: to=.*re-injected" "$GATE_LOG")
check "SIGTERM during a spool run: every copy started was finished and logged \
($started started, $done_n logged)" test "$started" -eq "$done_n"
san=$(echo "${ASAN_OPTIONS:-}" | sed -n 's/.*log_path=\([^:]*\).*/\1/p')
if [ -n "$san" ]; then
	check "SIGTERM during a spool run: no sanitizer report from the daemon" \
	    sh -c "! ls '$(dirname "$san")' | grep -q '\\.$pid\$'"
else
	skip "no sanitizer report at SIGTERM" "not a sanitizer run"
fi

done_testing
