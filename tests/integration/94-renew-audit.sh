#!/bin/sh
# Key events in the audit log: keystore import and export, CA issue and
# revoke (smimectl), and the gateway's own issues, each an audit record
# ("key-imported", "key-exported", "cert-issued", "cert-revoked"), and
# pub's retire and purge-retired ("key-retired", "key-destroyed"), naming
# the address and the certificate.  smimectl appends while the daemon
# holds the log and mail flows through it: the chain stays one, and
# `smimectl audit verify` says intact, during and after.  The report
# (text and JSON) shows the key events.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks jq

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
P="$T/pki"
HTTP_PORT=$(free_port) || bail "a free port for the CA endpoint"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o AuditCheckpointRecords=7"
LOG="$GATE_STATE/audit/audit.log"
gate_import "$P" alice
check "import before the first start: not recorded (no audit key yet), and said so" \
    grep -q 'warning: keystore import not in the audit log: it has no key yet' "$T/import-alice.log"
check "... and smimectl made no audit key (the daemon makes it and logs its fingerprint)" \
    test ! -e "$GATE_STATE/audit/audit.key"

gate_start || bail "smimegate started"
check "the daemon made the audit key at its first start and logged its fingerprint" \
    grep -q 'audit: new audit key' "$GATE_LOG"
gate_import "$P" bob
check "import while the daemon runs: a key-imported record" sh -c \
    "grep '\"action\":\"key-imported\"' '$LOG' | grep -q '\"sender\":\"bob@example.com\"'"
fp=$(openssl x509 -in "$P/bob.pem" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1)
check "... naming the certificate's SHA-256" sh -c "grep '\"action\":\"key-imported\"' '$LOG' | grep -q '$fp'"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started"
mkdir -p "$T/m"

# Mail flows in the background while smimectl appends.
mailer() {
	i=0
	while [ $i -lt 12 ]; do
		{
			printf 'From: Alice <alice@example.com>\nTo: <x%s@remote.test>\n' "$i"
			printf 'Subject: flow %s\nMessage-ID: <flow%s@example.com>\n\nbody %s\n' "$i" "$i" "$i"
		} | make_message "$T/m/flow$i.eml"
		send_mail "$T/m/flow$i.eml" alice@example.com "x$i@remote.test" || echo "fail $i"
		i=$((i + 1))
	done
}
mailer >"$T/mailer.out" 2>&1 &
MAILER=$!
printf 'export-pass\n' >"$T/pw"
n=0
while [ $n -lt 6 ]; do
	gate_ctl keystore export alice@example.com --out "$T/out$n.p12" --password-file "$T/pw" \
	    >>"$T/export.log" 2>&1 || echo "export $n failed" >>"$T/export.err"
	n=$((n + 1))
done
gate_ctl ca issue --profile encrypt dora@example.com >"$T/dora.pem" 2>"$T/dora.err"
check "smimectl ca issue while the daemon runs" test -s "$T/dora.pem"
SER=$(openssl x509 -in "$T/dora.pem" -noout -serial | cut -d= -f2)
check "smimectl ca revoke while the daemon runs" gate_ctl ca revoke "$SER"
check "smimectl keystore retire dora while the daemon runs" gate_ctl keystore retire dora@example.com
check "smimectl keystore purge-retired (RetireRetention 0) destroys dora's key" \
    gate_ctl -o RetireRetention=0 keystore purge-retired
wait "$MAILER"
check "every message of the flow was accepted" sh -c "! grep -q fail '$T/mailer.out'"
check "six exports while mail flowed" test ! -s "$T/export.err"

if gate_ctl audit verify >"$T/verify1.out" 2>&1; then
	ok "audit verify with the daemon running: intact"
else
	not_ok "audit verify with the daemon running: intact"
	diag_file "$T/verify1.out" 10
fi
gate_stop
if gate_ctl audit verify >"$T/verify2.out" 2>&1; then
	ok "audit verify after stop: intact ($(head -1 "$T/verify2.out"))"
else
	not_ok "audit verify after stop: intact"
	diag_file "$T/verify2.out" 10
fi
keep "$LOG"
count() { grep -c "\"action\":\"$1\"" "$LOG"; }
check "six key-exported records" test "$(count key-exported)" -eq 6
check "mail records too (12 outbound)" test "$(grep -c '"direction":"outbound"' "$LOG")" -eq 12
check "cert-issued for dora, with the serial" sh -c "grep '\"action\":\"cert-issued\"' '$LOG' \
    | grep '\"sender\":\"dora@example.com\"' | grep -qi '$SER'"
check "cert-revoked for dora" sh -c "grep '\"action\":\"cert-revoked\"' '$LOG' | grep -q dora@example.com"
check "key-retired for dora" sh -c "grep '\"action\":\"key-retired\"' '$LOG' | grep -q dora@example.com"
check "key-destroyed for dora, naming the certificate" sh -c "grep '\"action\":\"key-destroyed\"' '$LOG' \
    | grep 'dora@example.com' | grep -q '\"sha256\":\"[0-9a-f]\{64\}\"'"
check "records say who (smimectl and the uid)" sh -c "grep '\"action\":\"key-exported\"' '$LOG' \
    | grep -q 'smimectl keystore export (uid '"
check "the seq runs 1, 2, 3... without a gap or a repeat" sh -c \
    "jq -r .seq '$GATE_STATE'/audit/audit.log* | awk 'NR != \$1 { exit 1 }'"

gate_ctl audit report --format text >"$T/report.txt" 2>&1
keep "$T/report.txt"
check "report (text): a key events section with key-exported alice" sh -c \
    "grep -q '^Key events' '$T/report.txt' && grep -Eq 'key-exported +6 +alice@example.com' '$T/report.txt'"
gate_ctl audit report --format json >"$T/report.json" 2>"$T/report.err"
check "report (json): key_events total 11 (import, 6 exports, issue, revoke, retire, destroy)" \
    test "$(jq .totals.key_events "$T/report.json")" -eq 11
check "report (json): cert-revoked dora with its serial" sh -c "jq -e '.key_events[] \
    | select(.action == \"cert-revoked\" and .address == \"dora@example.com\")' '$T/report.json' >/dev/null"

# Tampering with a key event is found like any other line.
sed -i 's/"action":"key-exported"/"action":"key-imported"/' "$LOG"
check "a key-exported record changed: audit verify says tampered" sh -c \
    "! gate_ctl audit verify >'$T/verify3.out' 2>&1"
done_testing
