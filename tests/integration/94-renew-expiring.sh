#!/bin/sh
# What expires: `smimectl keystore expiring [--days N]` lists each
# address's newest signing and encryption certificates expiring within N
# days (default RenewBefore), soonest first; /metrics has the gauges
# smimegate_certificates_expiring and _expired, and the example alert
# rules in contrib/ use them.  `smimectl keystore renew ADDRESS` renews by
# hand (audited); renewed certificates are no longer listed or counted;
# a certificate of another CA is not renewed.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl curl

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" carol
GATE_OPTS="-o RenewBefore=20"   # carol's test certificate: 30 days
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }
issue() { # DAYS PROFILE ADDRESS
	gate_ctl -o CAValidityDays="$1" ca issue --profile "$2" "$3" >"$T/$3.$2.pem" 2>"$T/issue.err" ||
	    { diag_file "$T/issue.err"; bail "ca issue $2 $3"; }
}
issue 10 sign alice@example.com
issue 12 encrypt alice@example.com
issue 200 sign bob@example.com
issue 200 encrypt bob@example.com

gate_ctl keystore expiring >"$T/exp.out" 2>&1
keep "$T/exp.out"
check "expiring (RenewBefore 20): alice's two certificates only" test "$(grep -c '^alice@example.com	' "$T/exp.out")" -eq 2 -a "$(wc -l <"$T/exp.out")" -eq 2
check "expiring: not bob's (200 days)" sh -c "! grep -q '^bob@' '$T/exp.out'"
check "expiring: soonest first, with use and days left" sh -c \
    "head -1 '$T/exp.out' | grep -Eq '^alice@example.com	[0-9A-F]+	.*	sign	in (9|10) days	'"
gate_ctl keystore expiring --days 400 >"$T/exp400.out" 2>&1
check "expiring --days 400: alice, bob and carol (5 lines)" test "$(wc -l <"$T/exp400.out")" -eq 5
check "carol's certificate, both uses, is one line" test "$(grep -c '^carol@example.com	.*	sign,encrypt	' "$T/exp400.out")" -eq 1
gate_ctl keystore expiring --days 0 >"$T/exp0.out" 2>&1
check "expiring --days 0: nothing expired" test ! -s "$T/exp0.out"
gate_ctl keystore expiring --days soon >/dev/null 2>&1
check "expiring --days soon: a usage error (exit 2)" test $? -eq 2

HTTP_PORT=$(free_port) || bail "a free port for /metrics"
# No CA in the daemon here: nothing renews behind this test's back.
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" || bail "smimegate started"
wait_port "$HTTP_PORT" "$GATE_PID" 50 || not_ok "HTTPListen"
metric() { curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
check "/metrics: smimegate_certificates_expiring 2" test "$(metric smimegate_certificates_expiring)" = 2
check "/metrics: smimegate_certificates_expired 0" test "$(metric smimegate_certificates_expired)" = 0

if gate_ctl keystore renew alice@example.com >"$T/renew.out" 2>"$T/renew.err"; then
	ok "smimectl keystore renew alice@example.com"
else
	not_ok "smimectl keystore renew alice@example.com"
	diag_file "$T/renew.err"
fi
check "renew: both certificates renewed" test "$(grep -c '^renewed alice@example.com' "$T/renew.out")" -eq 2
gate_ctl keystore expiring >"$T/exp2.out" 2>&1
check "after renew: nothing of alice expiring (old entries kept, not listed)" sh -c \
    "! grep -q '^alice' '$T/exp2.out'"
gate_ctl keystore list >"$T/ks.out" 2>&1
check "after renew: alice has four entries" test "$(grep -c '^alice@example.com' "$T/ks.out")" -eq 4
check "after renew: two cert-renewed audit records" \
    test "$(grep -c '"action":"cert-renewed"' "$GATE_STATE/audit/audit.log")" -eq 2
_gauge0() { [ "$(metric smimegate_certificates_expiring)" = 0 ]; }
check "/metrics after renew: smimegate_certificates_expiring 0" wait_for 50 _gauge0
gate_ctl keystore renew carol@example.com >/dev/null 2>"$T/renew2.err"
check "renew carol (another CA's certificate): refused" test $? -ne 0
check "... saying why" grep -q 'no certificate of the embedded CA' "$T/renew2.err"
gate_stop
ALERTS="$top/contrib/prometheus/smimegate-alerts.yml"
check "contrib's alert rules use both gauges" sh -c "grep -q 'smimegate_certificates_expiring' '$ALERTS' \
    && grep -q 'smimegate_certificates_expired' '$ALERTS'"
done_testing
