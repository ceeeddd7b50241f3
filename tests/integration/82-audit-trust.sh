#!/bin/sh
# 82-audit-trust: the audit chain against the account that writes it.
# The first start logs the new audit key's fingerprint and every
# checkpoint goes to the log (syslog) by default; a log re-signed line by
# line with a new key (as whoever can write the audit directory can do)
# passes a verify that trusts audit.pub but is refused by `audit verify
# --fingerprint` and by AuditKeyFingerprint; audit.log deleted, or cut
# at a line boundary, while the daemon is stopped is a GAP for verify
# and, at the next start, a "gap" record in the log itself.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks jq python3

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" alice
AUDIT="$GATE_STATE/audit"
LOG="$AUDIT/audit.log"
gate_start -o InternalHosts=127.0.0.1/32 -o AuditCheckpointInterval=1 ||
    bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

# The fingerprint, logged once at the first start.
fp=$(sed -n 's/.*audit: new audit key .*, fingerprint (SHA-256 of its public key) \([0-9a-f]\{64\}\):.*/\1/p' \
    "$GATE_LOG" | head -1)
if [ -n "$fp" ]; then
	ok "first start: the new audit key's fingerprint is logged ($fp)"
else
	not_ok "first start: the new audit key's fingerprint is logged"
	diag_file "$GATE_LOG" 10
fi
check "smimectl audit fingerprint prints the same" \
    test "$(gate_ctl audit fingerprint 2>"$T/fp.err")" = "$fp"
check "the fingerprint is the SHA-256 of audit.pub's public key" test "$fp" = \
    "$(openssl pkey -pubin -in "$AUDIT/audit.pub" -outform DER | openssl dgst -sha256 -r | cut -c1-64)"

mkdir -p "$T/m"
for id in one two; do
	printf 'From: alice@example.com\nTo: bob@example.net\nSubject: %s\nMessage-ID: <%s@trust.test>\n\nAudit me.\n' \
	    "$id" "$id" | make_message "$T/m/$id.eml"
	if send_mail "$T/m/$id.eml" alice@example.com bob@example.net && wait_delivered "$QID"; then
		ok "$id: delivered ($QID)"
	else
		not_ok "$id: delivered ($SMTP_REPLY)"
	fi
done

# Checkpoints reach the daemon's log (syslog by default; LogStderr here).
has_cp() { grep -q 'audit checkpoint: seq=[0-9]* time=[^ ]* hash=[0-9a-f]\{64\}' "$GATE_LOG"; }
has_later_cp() {
	_last=$(jq -c 'select(.type == "checkpoint") | .seq' "$LOG" | tail -1)
	grep -q "audit checkpoint: seq=$_last " "$GATE_LOG"
}
if wait_for 100 has_cp && wait_for 100 has_later_cp; then
	ok "checkpoints go to the log by default ($(grep 'audit checkpoint:' "$GATE_LOG" | tail -1 | cut -c1-120))"
else
	not_ok "checkpoints go to the log by default"
	diag_file "$GATE_LOG" 10
fi
cp_line=$(jq -c 'select(.type == "checkpoint")' "$LOG" | tail -1)
cp_seq=$(echo "$cp_line" | jq -r .seq)
cp_hash=$(printf '%s' "$cp_line" | openssl dgst -sha256 -r | cut -c1-64)
check "the logged checkpoint's hash is the SHA-256 of its line in the log" \
    grep -q "audit checkpoint: seq=$cp_seq time=[^ ]* hash=$cp_hash" "$GATE_LOG"
pf_stop 2>/dev/null || true
gate_stop
keep "$LOG"
# The last checkpoint the gateway wrote (more may follow the one above).
head_seq=$(sed -n 's/^seq=\([0-9]*\) hash=.*/\1/p' "$GATE_STATE/audit.head")
check "the head file holds the last checkpoint's seq" \
    test "$head_seq" = "$(jq -c 'select(.type == "checkpoint") | .seq' "$LOG" | tail -1)"

# verify CASE WANT_RC PATTERN ARGS...: smimectl audit verify ARGS.
verify() {
	_case=$1 _want=$2 _pat=$3
	shift 3
	gate_ctl "$@" >"$T/v.out" 2>&1
	_rc=$?
	if [ "$_rc" -eq "$_want" ] && grep -q -- "$_pat" "$T/v.out"; then
		ok "$_case ($(grep -- "$_pat" "$T/v.out" | head -1 | cut -c1-150))"
	else
		not_ok "$_case: exit $_rc (want $_want), output with \"$_pat\""
		diag_file "$T/v.out" 5
	fi
}

verify "the log as written: intact with the expected fingerprint" 0 "^intact:" \
    audit verify --fingerprint "$fp"
cp -a "$AUDIT" "$T/audit.orig"
cp "$GATE_STATE/audit.head" "$T/audit.head.orig"

# ---- re-keyed: every line re-chained, every checkpoint re-signed --------
cat >"$T/resign.py" <<'PY'
import hashlib, re, subprocess, sys, base64
log, key, pub = sys.argv[1], sys.argv[2], sys.argv[3]
der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"],
                     check=True, capture_output=True).stdout
keyid = hashlib.sha256(der).hexdigest()
prev, out = None, []
for line in open(log, "rb").read().decode().split("\n")[:-1]:
    if prev is not None:
        line = re.sub(r'"prev":"[0-9a-f]{64}"', '"prev":"%s"' % prev, line)
    if '"type":"checkpoint"' in line:
        seq = re.search(r'"seq":(\d+)', line).group(1)
        t = re.search(r'"time":"([^"]*)"', line).group(1)
        p = re.search(r'"prev":"([0-9a-f]{64})"', line).group(1)
        msg = "smimegate-audit-checkpoint-v1 seq=%s time=%s prev=%s" % (seq, t, p)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                             input=msg.encode(), check=True, capture_output=True).stdout
        line = re.sub(r'"sig":"[^"]*"', '"sig":"%s"' % base64.b64encode(sig).decode(), line)
        line = re.sub(r'"key":"[0-9a-f]{64}"', '"key":"%s"' % keyid, line)
    prev = hashlib.sha256(line.encode()).hexdigest()
    out.append(line)
open(log, "w").write("\n".join(out) + "\n")
PY
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/evil.key" 2>/dev/null
openssl pkey -in "$T/evil.key" -pubout -out "$T/evil.pub"
if python3 "$T/resign.py" "$LOG" "$T/evil.key" "$T/evil.pub" 2>"$T/resign.err"; then
	cp "$T/evil.pub" "$AUDIT/audit.pub"
	cp "$T/evil.key" "$AUDIT/audit.key"
	verify "re-keyed log, head file left alone: GAP (the head's line was replaced)" 1 \
	    "^GAP: .*not the one the gateway wrote" audit verify
	# The same account can rewrite the head file too.
	printf 'seq=%s hash=%s\n' "$(tail -n 1 "$LOG" | jq -r .seq)" \
	    "$(tail -n 1 "$LOG" | tr -d '\n' | openssl dgst -sha256 -r | cut -c1-64)" \
	    >"$GATE_STATE/audit.head"
	verify "re-keyed log and head: a verify trusting audit.pub is fooled (the attack works)" 0 \
	    "^intact:" audit verify
	verify "re-keyed log: refused with --fingerprint" 1 "^REFUSED: .*not the expected audit key" \
	    audit verify --fingerprint "$fp"
	verify "re-keyed log: refused with AuditKeyFingerprint in the configuration" 1 \
	    "^REFUSED: .*not the expected audit key" -o "AuditKeyFingerprint=$fp" audit verify
	verify "re-keyed log: the report says so too" 1 "REFUSED" \
	    audit report --fingerprint "$fp"
else
	not_ok "the re-signing script ran"
	diag_file "$T/resign.err" 5
fi
verify "a malformed AuditKeyFingerprint is a configuration error" 1 "AuditKeyFingerprint" \
    -o "AuditKeyFingerprint=abc" audit verify

# restore: the log as the gateway wrote it
restore() {
	rm -rf "$AUDIT"
	cp -a "$T/audit.orig" "$AUDIT"
	cp "$T/audit.head.orig" "$GATE_STATE/audit.head"
}

# ---- cut at a line boundary while stopped ------------------------------
restore
head -n 2 "$LOG" >"$T/cut" && cat "$T/cut" >"$LOG"
verify "audit.log cut at a line boundary: GAP" 1 "^GAP: .*gateway wrote up to seq $head_seq" \
    audit verify --fingerprint "$fp"

# ---- deleted while stopped ---------------------------------------------
restore
rm -f "$LOG"
verify "audit.log deleted: GAP" 1 "^GAP: " audit verify --fingerprint "$fp"
gate_start -o InternalHosts=127.0.0.1/32 || bail "smimegate restarted"
gate_stop
gap=$(jq -c 'select(.action == "gap")' "$LOG" 2>/dev/null)
if [ -n "$gap" ] && echo "$gap" | jq -r .reason | grep -q "sealed seq $head_seq"; then
	ok "the next start writes a gap record ($(echo "$gap" | jq -r .reason | cut -c1-120))"
else
	not_ok "the next start writes a gap record"
	diag_file "$LOG" 5
fi
check "the next start logs the gap" grep -q "audit: gap recorded" "$GATE_LOG"
verify "after the restart verify still reports the gap, at its record" 1 \
    "^GAP: $LOG:[0-9]*: the gateway recorded a gap" audit verify --fingerprint "$fp"

# ---- a clean restart is not a gap --------------------------------------
restore
gate_start -o InternalHosts=127.0.0.1/32 || bail "smimegate restarted"
gate_stop
check "a clean restart writes no gap record" \
    test -z "$(jq -c 'select(.action == "gap")' "$LOG")"
verify "a clean restart: intact" 0 "^intact:" audit verify --fingerprint "$fp"

# ---- a root-owned audit key: read as root, out of the account's reach --
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	skip "a root-owned audit key with UserID" "not root, or no user nobody"
	done_testing
fi
GATE_STATE="$T/st-root" MILTER_PORT=""
GATE_OPTS="-o UserID=nobody"
gate_start || bail "smimegate started with UserID=nobody"
gate_stop
RKEY="$GATE_STATE/audit/audit.key"
check "UserID=nobody: the audit key is made for nobody" test "$(stat -c %U "$RKEY")" = nobody
rfp=$(gate_ctl audit fingerprint 2>/dev/null)
chown root:root "$RKEY"
check "a root-owned audit key: nobody cannot read it" \
    sh -c "! su -s /bin/sh nobody -c 'cat $RKEY' >/dev/null 2>&1"
# Rotation at once: a new file, whose first checkpoint needs the key.
if gate_start -o AuditRotateSize=1 -o AuditCheckpointInterval=1; then
	has_rotated() { ls "$GATE_STATE/audit" | grep -q '^audit\.log\.2'; }
	wait_for 100 has_rotated || diag "no rotation seen"
	gate_stop
	verify "a root-owned audit key: the daemon (UserID=nobody) still signs with it" 0 \
	    "^intact: .*audit.log.2" audit verify --fingerprint "$rfp"
else
	not_ok "a root-owned audit key: the daemon (UserID=nobody) starts"
fi
GATE_OPTS=""
done_testing
