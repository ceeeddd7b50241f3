# tests/lib/offline.sh: alice's mail through the offline mode (smimegate
# -t, gate_run) and what became of it, for the revocation tests.  Needs
# common.sh and gate.sh; GATE_OPTS as the caller sets it.
#
# offline_send ID TO       alice writes to TO ($T/m/ID.eml, saying
#                          "secret-ID"); the output in $T/m/ID.out, the log
#                          in $T/m/ID.err (kept), the status in RC, the log
#                          line in LINE
# offline_is ID encrypted|signed|tempfail WHAT
#                          ok "WHAT: ..." when ID went out so (encrypted:
#                          signed and encrypted, the secret not in clear;
#                          signed: signed only; tempfail: refused for now,
#                          nothing out), else not ok with the log line

offline_send() {
	mkdir -p "$T/m"
	make_message "$T/m/$1.eml" <<EOT
From: Alice <alice@example.com>
To: <$2>
Subject: $1
Date: Mon, 23 Nov 2026 11:00:00 +0000
Message-ID: <$1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

secret-$1: for $2 only.
EOT
	gate_run -t "$T/m/$1.eml" --from alice@example.com --rcpt "$2" \
	    --client 127.0.0.1 >"$T/m/$1.out" 2>"$T/m/$1.err"
	RC=$?
	LINE=$(grep 'from=<alice@example.com>' "$T/m/$1.err" | tail -1)
	keep "$T/m/$1.err"
}

offline_is() {
	case $2 in
	encrypted) [ "$RC" = 0 ] && log_has "$LINE" "action=signed+encrypted" &&
	    ! grep -q "secret-$1" "$T/m/$1.out" ;;
	signed) [ "$RC" = 0 ] && log_has "$LINE" "action=signed," &&
	    grep -qi 'multipart/signed' "$T/m/$1.out" ;;
	tempfail) [ "$RC" != 0 ] && grep -qi tempfail "$T/m/$1.err" &&
	    ! grep -q "secret-$1" "$T/m/$1.out" ;;
	esac
	if [ $? = 0 ]; then
		ok "$3: $2"
	else
		not_ok "$3: $2 (status $RC)"
		diag "line: $LINE"
		diag_file "$T/m/$1.err" 6
	fi
}
