#!/bin/sh
# The README's run command starts the gateway, and a
# message sent through a Postfix attached to it as the README says comes
# out signed and verifies with gpgsm.
#
# The README's run command is `sh contrib/bootstrap run`, that is `make
# run`, which starts contrib/run-embedded once the packages are there and
# the programs built.  The test checks that make run starts it (make -n,
# so nothing is built or installed from inside a test), then starts it as
# make does, on its embedded defaults, with SMIMEGATE_ARGS giving the local
# domain and a free socket as the README shows, and SMIMEGATE_STATE_DIR
# keeping the state in the test's directory: a developer's ./var is never
# touched (checked).  The main.cf lines it prints go into a private
# Postfix, a key is imported with the command it prints, a message from
# an internal client is sent, and the delivered message is checked by
# gpgsm (and openssl and NSS), a tampered copy refused.  Ctrl-C (SIGINT)
# stops the gateway, as the printed hint says.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools make env openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl

# 1. make run starts contrib/run-embedded.
if (cd "$top" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n run 2>/dev/null) |
    grep -qx 'sh contrib/run-embedded'; then
	ok "make run starts contrib/run-embedded"
else
	not_ok "make run starts contrib/run-embedded (make -n run does not show it)"
fi

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
verifiers_setup "$T/pki/ca.pem" || bail "verifiers set up"

# A developer's ./var, as it is before (or its absence).
var_listing() {
	if [ -e "$top/var" ]; then
		find "$top/var" -exec ls -ld --time-style=full-iso {} + 2>&1
	else
		echo "no ./var"
	fi
}
var_listing >"$T/var.before"

# 2. Start it.  The shell ignores SIGINT in a background job; a terminal's
# Ctrl-C reaches a program that does not, hence --default-signal.
# run-embedded execs smimegate: $! is the gateway.
STATE="$T/var"
MILTER_PORT=$(free_port) || bail "a free port for the milter"
SOCKET="inet:$MILTER_PORT@127.0.0.1"
RUN_OUT="$T/run.out"
GATE_LOG="$T/run.err"
# The embedded CA's portal (on by default, 127.0.0.1:8896) on a free port:
# the machine is shared.
HTTP_PORT=$(free_port) || bail "a free port for the portal"
env --default-signal=INT SMIMEGATE_STATE_DIR="$STATE" \
    SMIMEGATE_ARGS="-o LocalDomains=example.com -o InternalHosts=127.0.0.1 -o Socket=$SOCKET -o CAHTTPListen=127.0.0.1:$HTTP_PORT" \
    sh "$top/contrib/run-embedded" >"$RUN_OUT" 2>"$GATE_LOG" &
RUN_PID=$!
at_exit "stop_pid $RUN_PID 150; keep '$RUN_OUT'; keep '$GATE_LOG'"
if wait_port "$MILTER_PORT" "$RUN_PID" 100; then
	ok "contrib/run-embedded starts the gateway on $SOCKET"
else
	diag_file "$RUN_OUT" 20 "run-embedded stdout"
	diag_file "$GATE_LOG" 20 "run-embedded stderr"
	bail "contrib/run-embedded starts the gateway on $SOCKET"
fi
check "it says where its state is and which socket it uses" \
    grep -Fqx "smimegate: state in $STATE, milter socket $SOCKET" "$RUN_OUT"
check "the state is under SMIMEGATE_STATE_DIR" test -d "$STATE/keystore"

# 3. The main.cf lines it prints (indented "name = value" lines), into
# the private Postfix.
sed -n 's/^    \([a-z_]* = .*\)$/\1/p' "$RUN_OUT" >"$T/attach.cf"
keep "$T/attach.cf"
for l in "smtpd_milters = inet:127.0.0.1:$MILTER_PORT" \
    "non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT" \
    "milter_default_action = tempfail" "milter_protocol = 6"; do
	check "it prints the main.cf line '$l'" grep -Fqx "$l" "$T/attach.cf"
done
PF_EXTRA=$(cat "$T/attach.cf")
sink_start || bail "smtp-sink started"
pf_start || bail "Postfix started with the printed main.cf lines"
check "Postfix has them: smtpd_milters = inet:127.0.0.1:$MILTER_PORT" \
    test "$(postconf -c "$PF_DIR/conf" -h smtpd_milters 2>/dev/null)" = "inet:127.0.0.1:$MILTER_PORT"

# 4. A key imported with the command it prints, the password in
# SMIMEGATE_P12_PASSWORD (no prompt), the daemon left running.
imp=$(sed -n 's/^Import a key: *//p' "$RUN_OUT")
case $imp in
"./smimectl "*" keystore import alice.p12")
	ok "it prints how to import a key ($imp)"
	# shellcheck disable=SC2086
	set -- ${imp% alice.p12}
	if (cd "$top" && SMIMEGATE_P12_PASSWORD=$(cat "$T/pki/p12.pass") \
	    "$@" "$T/pki/alice.p12") >"$T/import.log" 2>&1; then
		ok "the printed import command imports alice.p12"
	else
		not_ok "the printed import command imports alice.p12"
		diag_file "$T/import.log" 10 "smimectl"
	fi ;;
*)
	not_ok "it prints how to import a key (got '$imp')" ;;
esac
check "the key went to SMIMEGATE_STATE_DIR" \
    sh -c "'$top/smimectl' -o 'StateDirectory=$STATE' keystore list 2>&1 | grep -q alice@example.com"

# 5. A message from an internal client (127.0.0.1, listed in
# SMIMEGATE_ARGS as the README shows: InternalHosts is empty by default)
# comes out signed.
mkdir -p "$T/m"
make_message "$T/m/run.eml" <<'EOF'
From: Alice <alice@example.com>
To: Bob <bob@elsewhere.test>
Subject: through make run
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <run-embedded@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Signed by the gateway that make run started.
Grüße, and a line that begins with a dot:
.like this one
EOF
if send_mail "$T/m/run.eml" alice@example.com bob@elsewhere.test &&
    wait_delivered "$QID" && sink_fetch "<run-embedded@example.com>" "$T/m/run.got"; then
	ok "Postfix took the message and delivered it (queue ID $QID)"
	_l=$(gate_logline "$QID")
	check "the gateway logs '$QID: from=<alice@example.com>' action=signed" \
	    log_has "$_l" "$QID: from=<alice@example.com>" direction=outbound action=signed \
	    "signer=<alice@example.com>"
	check_signed "message through make run's gateway" "$T/m/run.got" "$T/m/run.eml" \
	    alice@example.com
	check "gpgsm trusts the signer's chain (TRUST_FULLY)" \
	    grep -q '^\[GNUPG:\] TRUST_FULLY' "$T/m/run.got.split/gpgsm.status"
else
	not_ok "Postfix took the message and delivered it ($SMTP_REPLY)"
	diag_file "$T/m/run.eml.swaks.log" 10 swaks
	diag_file "$GATE_LOG" 10 "gateway"
fi

# 6. Ctrl-C stops it (libmilter takes about 5 s); ./var was never touched.
kill -INT "$RUN_PID" 2>/dev/null
_gone() { ! kill -0 "$RUN_PID" 2>/dev/null; }
if wait_for 150 _gone; then
	ok "SIGINT (Ctrl-C) stops the gateway"
else
	not_ok "SIGINT (Ctrl-C) stops the gateway within 15 s"
fi
var_listing >"$T/var.after"
check "the developer's ./var is untouched" same_file "$T/var.before" "$T/var.after"

done_testing
