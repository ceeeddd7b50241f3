#!/bin/sh
# The audit log through a real Postfix: every message leaves one record per
# recipient with the right action, signer certificate and reason; `smimectl
# audit verify` says the log is intact, and finds each kind of tampering
# (one byte edited, a line deleted, two lines swapped, the file cut) at the
# right line; `smimectl audit report` totals equal counts jq makes from the
# records themselves, and its HTML form is well-formed and shows them.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks jq xmllint

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" alice
AUDIT="$GATE_STATE/audit"
gate_start -o InternalHosts=127.0.0.1/32 -o AuditCheckpointInterval=1 -o AuditSyslog=yes ||
    bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

mkdir -p "$T/m"
msg() { # FROM ID
	printf 'From: %s\nTo: someone@example.net\nSubject: audit %s\n' "$1" "$2"
	printf 'Message-ID: <%s@audit.test>\nMIME-Version: 1.0\n' "$2"
	printf 'Content-Type: text/plain; charset=us-ascii\n\nAudit me.\n'
}

# send ID FROM RCPT... [-- swaks options]: sends, waits for delivery, sets
# QID_<ID>.
send() {
	_id=$1 _from=$2
	shift 2
	_to=$1
	shift
	msg "$_from" "$_id" | make_message "$T/m/$_id.eml"
	if send_mail "$T/m/$_id.eml" "$_from" "$_to" "$@" && wait_delivered "$QID"; then
		ok "$_id: accepted and delivered ($QID)"
		eval "QID_$_id=$QID"
	else
		not_ok "$_id: accepted and delivered ($SMTP_REPLY)"
		eval "QID_$_id=none"
	fi
}

# signed, to two recipients; from an outside client (inbound); a local
# sender without a key (clear).
send signed alice@example.com "bob@example.net,carol@example.org"
send inbound alice@example.com bob@example.com --local-interface 127.0.0.2
send nokey dave@example.com bob@example.net

# The records are on disk before the MTA hears the answer: no wait needed.
LOG="$AUDIT/audit.log"
[ -f "$LOG" ] || bail "the audit log $LOG exists"
keep "$LOG"

# record QID RCPT: the one record of that queue ID and recipient.
record() {
	jq -c --arg q "$1" --arg r "$2" 'select(.qid == $q and .rcpt == $r)' "$LOG"
}

alice_fp=$(openssl x509 -in "$T/pki/alice.pem" -noout -fingerprint -sha256 |
    sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
for r in bob@example.net carol@example.org; do
	rec=$(record "$QID_signed" "$r")
	if [ "$(echo "$rec" | jq -r '.action + " " + .direction + " " + .sender')" = \
	    "signed outbound alice@example.com" ] &&
	    [ "$(echo "$rec" | jq -r '.certs[0].sha256')" = "$alice_fp" ] &&
	    [ "$(echo "$rec" | jq -r '.msgid')" = "<signed@audit.test>" ] &&
	    [ "$(echo "$rec" | jq -r '.algorithms[0]')" = "sha256WithRSAEncryption" ]; then
		ok "signed mail: a record for $r with alice's certificate"
	else
		not_ok "signed mail: a record for $r with alice's certificate"
		diag "got: $rec"
	fi
done
check "signed mail: exactly two records" \
    test "$(jq -c --arg q "$QID_signed" 'select(.qid == $q)' "$LOG" | wc -l)" -eq 2
rec=$(record "$QID_inbound" bob@example.com)
check "inbound mail: recorded as inbound pass" \
    test "$(echo "$rec" | jq -r '.direction + " " + .action')" = "inbound pass"
rec=$(record "$QID_nokey" bob@example.net)
if [ "$(echo "$rec" | jq -r '.action')" = clear ] &&
    echo "$rec" | jq -r '.reason' | grep -q 'dave@example.com'; then
	ok "sender without a key: recorded as clear, with the reason"
else
	not_ok "sender without a key: recorded as clear, with the reason"
	diag "got: $rec"
fi
line=$(grep "$QID_signed: audit: {" "$GATE_LOG" | head -1)
if [ -n "$line" ] && echo "${line#*audit: }" | jq -e '.action == "signed"' >/dev/null 2>&1; then
	ok "AuditSyslog: the record as a JSON log line for a SIEM"
else
	not_ok "AuditSyslog: the record as a JSON log line for a SIEM"
	diag "got: $line"
fi
check "no subject recorded by default" \
    test "$(jq -c 'select(.subject != null)' "$LOG" | wc -l)" -eq 0

# Stopping seals the log with a final checkpoint.
gate_stop
if gate_ctl audit verify >"$T/verify.out" 2>&1; then
	ok "audit verify: intact ($(head -1 "$T/verify.out"))"
else
	not_ok "audit verify: intact"
	diag_file "$T/verify.out"
fi
check "audit verify: no unsealed records after stop" \
    sh -c "! grep -qi unsealed '$T/verify.out'"

# Tampering, each on a copy; verify must say TAMPERED at the line.
nlines=$(wc -l <"$LOG")
[ "$nlines" -ge 6 ] || diag "only $nlines lines in the log"
tampered() { # WHAT WANT_LINE FILE
	if gate_ctl audit verify "$3" >"$T/t.out" 2>&1; then
		not_ok "$1: detected"
		diag_file "$T/t.out"
	elif grep -q "TAMPERED: $3:$2:" "$T/t.out"; then
		ok "$1: detected at line $2"
	else
		not_ok "$1: detected at line $2"
		diag_file "$T/t.out"
	fi
}
cp "$LOG" "$T/edit.log"
sed -i '3s/"outbound"/"Outbound"/; 3s/"inbound"/"Inbound"/' "$T/edit.log"
cmp -s "$LOG" "$T/edit.log" || tampered "one byte edited in line 3" 3 "$T/edit.log"
sed '4d' "$LOG" >"$T/del.log"
tampered "line 4 deleted" 4 "$T/del.log"
awk 'NR == 3 { held = $0; next } { print } NR == 4 { print held }' "$LOG" >"$T/swap.log"
tampered "lines 3 and 4 swapped" 3 "$T/swap.log"
head -c $(($(wc -c <"$LOG") - 10)) "$LOG" >"$T/cut.log"
tampered "file cut in its last line" "$nlines" "$T/cut.log"

# Reports: totals as jq counts them from the records.
today=$(date -u +%Y-%m-%d)
if gate_ctl audit report --since "$today" --until "$today" --format json \
    >"$T/report.json" 2>"$T/report.err"; then
	ok "audit report --format json"
else
	not_ok "audit report --format json"
	diag_file "$T/report.err"
fi
keep "$T/report.json"
want_signed=$(jq -c 'select(.action == "signed")' "$LOG" | wc -l)
want_clear=$(jq -c 'select(.action == "clear")' "$LOG" | wc -l)
want_out=$(jq -c 'select(.direction == "outbound")' "$LOG" | wc -l)
check "jq finds 2 signed, 1 clear, 3 outbound records" \
    test "$want_signed $want_clear $want_out" = "2 1 3"
want_in=$(jq -c 'select(.direction == "inbound")' "$LOG" | wc -l)
want_records=$(jq -c 'select(.type != "checkpoint")' "$LOG" | wc -l)
for pair in "outbound_signed $want_signed" "outbound_clear $want_clear" \
    "outbound_delivered $want_out" "inbound $want_in" "records $want_records"; do
	k=${pair% *} want=${pair#* }
	got=$(jq -r ".totals.$k" "$T/report.json" 2>/dev/null)
	if [ "$got" = "$want" ]; then
		ok "report total $k: $got, as counted from the records"
	else
		not_ok "report total $k: got '$got', want $want"
	fi
done
if gate_ctl audit report --since "$today" --until "$today" --format html \
    >"$T/report.html" 2>"$T/report.err" &&
    xmllint --noout "$T/report.html" 2>"$T/xmllint.err"; then
	ok "the HTML report is well-formed"
else
	not_ok "the HTML report is well-formed"
	diag_file "$T/xmllint.err"
fi
keep "$T/report.html"
check "the HTML report has a chart" grep -q '<svg' "$T/report.html"
check "the HTML report names the sender" grep -q 'alice@example.com' "$T/report.html"
pct=$(awk -v s="$want_signed" -v o="$want_out" 'BEGIN { printf "%.1f", 100 * s / o }')
check "the HTML report shows the signed share, $pct%" grep -q "$pct" "$T/report.html"

done_testing
