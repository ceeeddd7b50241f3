# tests/lib/gate.sh: the programs under test, ./smimegate and ./smimectl,
# run with tests/lib/test.conf and a private state directory under $T.
# Needs common.sh.
#
# need_gateway            bails out unless both programs are built
# gate_ctl ARGS...        ./smimectl with the test configuration
# gate_import PKIDIR NAME...  imports NAME.p12 for each NAME
# gate_start [-o K=V]...  ./smimegate -f on a free port, $MILTER_PORT (a
#                         restart keeps it), stderr to $GATE_LOG; waits
#                         until the port accepts
# gate_stop
# gate_logline QID        waits (bounded) for the gateway's line about QID
#                         and prints it
#
# $GATE_OPTS (no spaces inside a value) adds -o options to every call.

GATE_CONF="$top/tests/lib/test.conf"
GATE_STATE="$T/state"
GATE_LOG="$T/gate.log"
GATE_OPTS=${GATE_OPTS:-}

need_gateway() {
	for _p in smimegate smimectl; do
		[ -x "$top/$_p" ] || bail "./$_p is built (run make)"
	done
}

_gate_state() {
	[ -d "$GATE_STATE" ] || { mkdir -p "$GATE_STATE" && chmod 0700 "$GATE_STATE"; }
}

# gate_ctl ARGS...: smimectl -c test.conf -o ... ARGS
gate_ctl() {
	_gate_state
	# shellcheck disable=SC2086
	"$top/smimectl" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
	    -o CreateMasterKey=yes \
	    $GATE_OPTS "$@"
}

# gate_run ARGS...: smimegate -c test.conf -o ... ARGS (offline modes, -n)
gate_run() {
	_gate_state
	# shellcheck disable=SC2086
	${GATE_EXEC:-} "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
	    -o CreateMasterKey=yes \
	    -o LogStderr=yes -o Syslog=no $GATE_OPTS "$@"
}

gate_import() {
	_pd=$1
	shift
	for _n in "$@"; do
		if gate_ctl keystore import "$_pd/$_n.p12" \
		    --password-file "$_pd/p12.pass" >"$T/import-$_n.log" 2>&1; then
			ok "smimectl keystore import $_n.p12"
		else
			not_ok "smimectl keystore import $_n.p12"
			diag_file "$T/import-$_n.log" 10 "smimectl"
		fi
	done
}

gate_start() {
	# A restart keeps the port Postfix knows.
	if [ -z "${MILTER_PORT:-}" ]; then
		MILTER_PORT=$(free_port) || bail "a free port for the milter"
	fi
	_gate_state
	echo "=== gate_start $*" >>"$GATE_LOG"
	# exec: $! must be smimegate itself, not a subshell around it.
	(GATE_EXEC='exec'; gate_run -f -o "Socket=inet:$MILTER_PORT@127.0.0.1" "$@") \
	    >>"$T/gate.stdout" 2>>"$GATE_LOG" &
	GATE_PID=$!
	at_exit "stop_pid $GATE_PID 100; keep '$GATE_LOG'"
	if wait_port "$MILTER_PORT" "$GATE_PID" 100; then
		return 0
	fi
	diag "smimegate did not accept on 127.0.0.1:$MILTER_PORT"
	diag_file "$GATE_LOG" 20 "smimegate stderr"
	return 1
}

gate_stop() {
	stop_pid "${GATE_PID:-}" 100
	GATE_PID=""
}

_gate_has() {
	grep -q "$1: from=<" "$GATE_LOG"
}

gate_logline() {
	wait_for 50 _gate_has "$1" || { diag "smimegate logged nothing for $1"; return 1; }
	grep "$1: from=<" "$GATE_LOG" | tail -1
}

# log_has LINE FIELD...: every FIELD (a fixed string) occurs in LINE.
log_has() {
	_l=$1
	shift
	for _fld in "$@"; do
		case $_l in
		*"$_fld"*) ;;
		*) diag "log line lacks '$_fld': $_l"; return 1 ;;
		esac
	done
}
