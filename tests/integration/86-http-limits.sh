#!/bin/sh
# The limits of both HTTP listeners: the operations endpoint
# (HTTPListen: /healthz, /metrics) and the CA and pickup portal
# (CAHTTPListen).  Each takes a flood of small header lines (the daemon's
# memory stays bounded, read from /proc, and the connection is closed), a
# request with too many header lines (431), a client sending one byte a
# second (cut off after HTTPRequestTimeout in all, not at each byte) and
# more connections than HTTPMaxConnections (the extra one closed, the
# others served).  Behind a TLS proxy (PickupTrustedProxies), failed
# pickups count per forwarded client: junk POSTs from many clients, and
# an address over its limit, never lock out a recipient whose link is
# live; wrong passwords on a live link count on that link and lock it
# (PickupMaxFailures), whoever sends them; a client that is not a trusted
# proxy cannot pick its address with X-Forwarded-For.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools python3 curl openssl
[ -x "$top/tests/tools/pickuptool" ] || bail "tests/tools/pickuptool is built (make tools)"
PROBE="python3 $top/tests/tools/httpprobe.py"

OPS_PORT=$(free_port) || bail "a free port for HTTPListen"
CA_PORT=$(free_port) || bail "a free port for CAHTTPListen"
# LIMIT_OPTS="-o PickupClientMaxFailures=3" runs the attacks against the
# defaults (to see them fail on a build without these options).
LIMIT_OPTS=${LIMIT_OPTS-"-o HTTPRequestTimeout=4 -o HTTPMaxConnections=8 -o HTTPMaxHeaders=50
    -o PickupTrustedProxies=127.0.0.1,192.0.2.0/24 -o PickupClientMaxFailures=3"}
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
# shellcheck disable=SC2086
gate_start -o "HTTPListen=127.0.0.1:$OPS_PORT" -o CertificateAuthority=yes \
    -o "CAHTTPListen=127.0.0.1:$CA_PORT" $LIMIT_OPTS || bail "smimegate started"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$GATE_PID/status"; }

# ---- header floods: memory bounded, connection closed --------------------
for l in "ops:$OPS_PORT:/healthz" "portal:$CA_PORT:/pickup"; do
	name=${l%%:*} rest=${l#*:}
	port=${rest%%:*} path=${rest#*:}
	before=$(rss)
	out=$($PROBE flood "$port" "$path" 33554432)
	after=$(rss)
	grown=$(((after - before) / 1024))
	diag "$name flood: $out; VmRSS $before kB -> $after kB"
	check "$name: 32 MB of header lines end with the connection closed ($out)" \
	    sh -c "echo '$out' | grep -q 'closed=1'"
	check "$name: the daemon grew by at most 16 MB under the flood (+$grown MB)" \
	    test "$grown" -le 16
	check "$name: most of the flood was refused unread ($out)" \
	    sh -c "[ \$(echo '$out' | sed 's/sent=\([0-9]*\).*/\1/') -lt 33554432 ]"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$OPS_PORT/healthz")
check "ops: /healthz answers after the floods (got $code)" test "$code" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$CA_PORT/ca.crt")
check "portal: /ca.crt answers after the floods (got $code)" test "$code" = 200

# ---- header count ----------------------------------------------------------
hdrs=""
for i in $(seq 1 120); do hdrs="$hdrs -H X-Many-$i:v"; done
for l in "ops:$OPS_PORT:/healthz" "portal:$CA_PORT:/ca.crt"; do
	name=${l%%:*} rest=${l#*:}
	# shellcheck disable=SC2086
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 $hdrs "http://127.0.0.1:${rest%%:*}${rest#*:}")
	check "$name: 120 header lines (under the size limit) refused with 431 (got $code)" \
	    test "$code" = 431
done

# ---- slow loris: a total bound, not one per byte ---------------------------
for l in "ops:$OPS_PORT:/healthz" "portal:$CA_PORT:/pickup"; do
	name=${l%%:*} rest=${l#*:}
	out=$($PROBE loris "${rest%%:*}" "${rest#*:}" 15)
	diag "$name loris: $out"
	check "$name: a byte a second is cut off within HTTPRequestTimeout (4 s) + 2 ($out)" \
	    sh -c "case '$out' in closed_after=[0-6]) exit 0;; *) exit 1;; esac"
done

# ---- connections -------------------------------------------------------------
for l in "ops:$OPS_PORT" "portal:$CA_PORT"; do
	name=${l%%:*}
	out=$($PROBE conns "${l#*:}" 8)
	diag "$name conns: $out"
	check "$name: a 9th connection over HTTPMaxConnections=8 is closed ($out)" \
	    sh -c "echo '$out' | grep -q 'extra_closed=1'"
	check "$name: the 8 held connections are still served ($out)" \
	    sh -c "echo '$out' | grep -q 'held_open=8 held_answers=404'"
done

# ---- pickup behind a trusted proxy ---------------------------------------------
URL="http://127.0.0.1:$CA_PORT"
link() { # ADDRESS: issues a key for it, makes a link; sets TOKEN PASSWORD
	gate_ctl ca issue --profile external "$1" >"$T/$1.pem" 2>"$T/$1.err" ||
	    { diag_file "$T/$1.err"; bail "a certificate for $1"; }
	"$top/tests/tools/pickuptool" "$GATE_STATE/pickup" "$1" >"$T/$1.link" 2>"$T/$1.err" ||
	    { diag_file "$T/$1.err"; bail "a pickup link for $1"; }
	TOKEN=$(sed -n 1p "$T/$1.link") PASSWORD=$(sed -n 2p "$T/$1.link")
}
# pickup TOKEN PASSWORD OUT [X-Forwarded-For] [curl options]: the status
pickup() {
	_t=$1 _p=$2 _o=$3 _x=${4:-}
	shift 3; [ $# -gt 0 ] && shift
	curl -s -o "$_o" -w '%{http_code}' --max-time 10 ${_x:+-H "X-Forwarded-For: $_x"} "$@" \
	    --data-urlencode "t=$_t" --data-urlencode "password=$_p" "$URL/pickup"
}
link xena@example.net
fake=$(printf '%064d' 7)
codes=$($PROBE forwarded "$CA_PORT" 12 192.0.2 "$fake")
check "12 junk POSTs forwarded for 12 clients: each 410, none over its own limit ($codes)" \
    test "$codes" = "410 410 410 410 410 410 410 410 410 410 410 410"
codes=$($PROBE forwarded "$CA_PORT" 12 192.0.2 "$fake")
check "12 more from the same 12 clients: still 410, 2 failures each ($codes)" \
    test "$codes" = "410 410 410 410 410 410 410 410 410 410 410 410"
c=""
for i in 1 2 3 4; do c="$c$(pickup "$fake" junk /dev/null "198.51.100.66, 203.0.113.9")"; done
check "one forwarded client (the last hop, 203.0.113.9) over its limit: 410 x3, then 429 ($c)" \
    test "$c" = 410410410429
code=$(pickup "$TOKEN" "$PASSWORD" "$T/xena.p12" "203.0.113.10")
check "the recipient behind the same proxy picks the link up after all that junk (HTTP $code)" \
    test "$code" = 200
check "what it got is a PKCS#12 that the password opens" \
    openssl pkcs12 -in "$T/xena.p12" -passin "pass:$PASSWORD" -nokeys -noout

# An address over its limit still reaches a live link: its own counter decides.
link yara@example.net
code=$(pickup "$TOKEN" "$PASSWORD" "$T/yara.p12" "203.0.113.9")
check "the client over its limit (203.0.113.9) still opens a live link with its password (HTTP $code)" \
    test "$code" = 200

# Wrong passwords on a live link count on that link, from any client.
link zoe@example.net
c=""
for i in 1 2 3 4 5; do c="$c$(pickup "$TOKEN" "wrong$i" /dev/null "198.51.100.$i")"; done
check "5 wrong passwords on one live link from 5 clients: 403 x4, then locked ($c)" \
    test "$c" = 403403403403429
code=$(pickup "$TOKEN" "$PASSWORD" "$T/zoe.p12" "198.51.100.99")
check "the locked link refuses the right password too (HTTP $code): the trade-off" test "$code" = 429

# A peer that is not a trusted proxy cannot choose its address.
c=""
for i in 1 2 3 4; do c="$c$(pickup "$fake" junk /dev/null "192.0.2.20$i" --interface 127.0.0.2)"; done
check "127.0.0.2 (no trusted proxy) with a new X-Forwarded-For each time: counted as itself ($c)" \
    test "$c" = 410410410429
check "no password reaches the gateway's log" sh -c "! grep -q -F -- '$PASSWORD' '$GATE_LOG'"

done_testing
