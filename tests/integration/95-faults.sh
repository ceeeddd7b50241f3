#!/bin/sh
# 95-faults: faults while mail flows through Postfix (milter_default_action
# = tempfail), counted at smtp-sink and in Postfix's queue.
#  1. SIGKILL of smimegate in the middle of a bounded batch of outbound
#     mail, then a restart: every message Postfix accepted (250) is
#     delivered exactly once and signed, or still queued; none is lost,
#     none delivered unsigned ("leaked in clear").
#  2. The keystore made unreadable (moved away) while running: 451, nothing
#     delivered unsigned.
#  3. The spool disk full (a 1 MB tmpfs as SpoolDirectory; skipped without
#     the right to mount): 451, nothing delivered.
# The figures go to the log as "# figures:" lines.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" alice
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# mail ID: an outbound message from alice (127.0.0.1 is in InternalHosts).
mail() {
	printf 'From: alice@example.com\nTo: bob@elsewhere.test\nSubject: fault %s\nMessage-ID: <%s@faults.test>\n\nbody of %s\n' \
	    "$1" "$1" "$1" >"$T/m/$1.eml"
	send_mail "$T/m/$1.eml" alice@example.com bob@elsewhere.test
}

# --- 1. SIGKILL and restart during a batch --------------------------------
N=${FAULT_BATCH:-40}
: >"$T/sent"
(
	i=1
	while [ $i -le "$N" ]; do
		if mail "batch-$i"; then echo "$i 250" >>"$T/sent"
		else echo "$i ${SMTP_CODE:-none}" >>"$T/sent"; fi
		i=$((i + 1))
	done
) &
SENDER=$!
at_exit "kill $SENDER 2>/dev/null"
_tenth() { [ "$(wc -l <"$T/sent")" -ge $((N / 4)) ]; }
wait_for 600 _tenth || diag "the batch is slow"
kill -9 "$GATE_PID"
diag "smimegate killed (SIGKILL) after $(wc -l <"$T/sent") of $N messages"
sleep 1
gate_start || bail "smimegate restarted"
wait "$SENDER"
accepted=$(grep -c ' 250$' "$T/sent")
refused=$(grep -vc ' 250$' "$T/sent")
# Flush and wait for the queue to drain (bounded).
postqueue -c "$PF_DIR/conf" -f >/dev/null 2>&1
_drained() { [ -z "$(postqueue -c "$PF_DIR/conf" -p 2>/dev/null | grep '^[0-9A-F]')" ]; }
wait_for 300 _drained || diag "queue not empty after 30 s"
queued=$(postqueue -c "$PF_DIR/conf" -p 2>/dev/null | grep -c '^[0-9A-F]')
delivered=0 twice=0 clear=0 lost=0
for i in $(awk '$2 == 250 { print $1 }' "$T/sent"); do
	files=$(grep -l -F "<batch-$i@faults.test>" "$SINK_DIR"/* 2>/dev/null)
	n=$(echo "$files" | grep -c .)
	if [ "$n" -eq 0 ]; then lost=$((lost + 1)); continue; fi
	delivered=$((delivered + 1))
	[ "$n" -gt 1 ] && twice=$((twice + 1))
	for f in $files; do
		grep -qi '^Content-Type: multipart/signed' "$f" || clear=$((clear + 1))
	done
done
# Refused messages (451 while the gateway was down) must not arrive either.
for i in $(awk '$2 != 250 { print $1 }' "$T/sent"); do
	grep -q -F "<batch-$i@faults.test>" "$SINK_DIR"/* 2>/dev/null && clear=$((clear + 1))
done
lost=$((lost - queued))
[ "$lost" -lt 0 ] && lost=0
diag "figures: SIGKILL batch: sent $N, accepted $accepted, refused 4xx $refused, delivered $delivered, still queued $queued, lost $lost, delivered twice $twice, leaked in clear $clear"
check "SIGKILL mid-batch: some mail accepted before and after ($accepted of $N)" test "$accepted" -gt 0
check "SIGKILL mid-batch: no accepted message lost ($lost)" test "$lost" -eq 0
check "SIGKILL mid-batch: none delivered twice ($twice)" test "$twice" -eq 0
check "SIGKILL mid-batch: none delivered unsigned ($clear)" test "$clear" -eq 0

# --- 2. the keystore unreadable --------------------------------------------
ks="$GATE_STATE/keystore"
mv "$ks" "$ks.away"
if mail keystore-gone; then
	not_ok "keystore moved away: the message was accepted ($SMTP_REPLY)"
else
	check "keystore moved away: refused 4xx, not accepted ($SMTP_REPLY)" test "$SMTP_CODE" -ge 400 -a "$SMTP_CODE" -lt 500
fi
sleep 1
if grep -q -F '<keystore-gone@faults.test>' "$SINK_DIR"/* 2>/dev/null; then
	not_ok "keystore moved away: nothing delivered unsigned"
else
	ok "keystore moved away: nothing delivered unsigned"
fi
mv "$ks.away" "$ks"

# --- 3. the spool disk full -------------------------------------------------
spool="$T/spool-tmpfs"
mkdir -p "$spool"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=1m tmpfs "$spool" 2>/dev/null; then
	skip "spool disk full" "cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)"
else
	at_exit "umount '$spool'"
	chmod 0700 "$spool"
	gate_stop
	gate_start -o "SpoolDirectory=$spool" -o SpoolMemoryLimit=0 || bail "smimegate restarted on the small spool"
	# 2 MB: more than the tmpfs holds.
	{ printf 'From: alice@example.com\nTo: bob@elsewhere.test\nSubject: big\nMessage-ID: <spool-full@faults.test>\n\n'
	  perl -e 'print "x" x 75, "\n" for 1..28000'; } >"$T/m/big.eml"
	if send_mail "$T/m/big.eml" alice@example.com bob@elsewhere.test; then
		not_ok "spool disk full: the message was accepted"
	else
		check "spool disk full: refused 4xx ($SMTP_REPLY)" test "$SMTP_CODE" -ge 400 -a "$SMTP_CODE" -lt 500
	fi
	sleep 1
	if grep -q -F '<spool-full@faults.test>' "$SINK_DIR"/* 2>/dev/null; then
		not_ok "spool disk full: nothing delivered"
	else
		ok "spool disk full: nothing delivered"
	fi
	mail after-full && ok "spool disk full: a small message afterwards is signed and accepted" ||
	    not_ok "spool disk full: a small message afterwards is accepted ($SMTP_REPLY)"
fi
done_testing
