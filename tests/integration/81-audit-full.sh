#!/bin/sh
# Fail closed when the audit log cannot be written: with AuditDirectory on
# a full file system, mail is answered 451 (the client keeps it and
# retries) and nothing is delivered unrecorded; once there is room again
# the same message goes through and is recorded.  Needs root for a small
# tmpfs; skips otherwise.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks jq

FS="$T/auditfs"
mkdir -p "$FS"
if ! mount -t tmpfs -o size=256k,mode=0700 tmpfs "$FS" 2>"$T/mount.err"; then
	skip "audit log on a full disk" "cannot mount a tmpfs here: $(head -1 "$T/mount.err")"
	done_testing
fi
at_exit "umount '$FS'"

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$T/pki" alice
gate_start -o "AuditDirectory=$FS/audit" || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

mail() { # ID
	printf 'From: alice@example.com\nTo: bob@example.net\nSubject: full\n'
	printf 'Message-ID: <%s@audit.test>\n\nAudit me.\n' "$1"
}

# Fill the file system.  The log's last page may still have room, so send
# until the gateway refuses (bounded): every message accepted until then
# must have its record, the refused one must not be delivered.
dd if=/dev/zero of="$FS/filler" bs=1k count=1024 2>/dev/null
diag "free on the audit file system: $(df -k "$FS" | awk 'NR == 2 { print $4 }')k"
accepted=0 refused=""
i=0
while [ $i -lt 60 ]; do
	i=$((i + 1))
	mail "m$i" | make_message "$T/m$i.eml"
	if send_mail "$T/m$i.eml" alice@example.com bob@example.net; then
		accepted=$((accepted + 1))
	else
		refused=m$i
		break
	fi
done
if [ -n "$refused" ]; then
	check "disk full: answered 451 after $accepted accepted ($SMTP_REPLY)" \
	    test "$SMTP_CODE" = 451
else
	not_ok "disk full: a message is refused within 60"
fi
check "disk full: every accepted message has its record" \
    test "$(jq -c 'select(.action == "signed")' "$FS/audit/audit.log" | wc -l)" -eq "$accepted"
sleep 1
check "disk full: the refused message is not delivered" \
    sh -c "! grep -rqF '<$refused@audit.test>' '$SINK_DIR'"
check "disk full: the log says why" grep -q "audit log" "$GATE_LOG"

rm -f "$FS/filler"
if send_mail "$T/$refused.eml" alice@example.com bob@example.net && wait_delivered "$QID"; then
	ok "room again: the same message is accepted and delivered"
else
	not_ok "room again: the same message is accepted and delivered ($SMTP_REPLY)"
fi
check "room again: it is recorded as signed" \
    test "$(jq -r --arg q "$QID" 'select(.qid == $q) | .action' "$FS/audit/audit.log")" = signed
gate_stop
if gate_ctl -o "AuditDirectory=$FS/audit" audit verify >"$T/verify.out" 2>&1; then
	ok "the log is intact after the failed write ($(head -1 "$T/verify.out"))"
else
	not_ok "the log is intact after the failed write"
	diag_file "$T/verify.out"
fi
done_testing
