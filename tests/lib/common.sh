# tests/lib/common.sh: sourced first by every integration script.
#
# Gives the script: $top (the repository), $T (a private temporary directory,
# 0755 so that Postfix's unprivileged processes can traverse it), $ART (this
# script's artefact directory under tests/out/, kept after the run), TAP
# output (ok / not_ok / skip / check), a cleanup stack run on any exit, free
# loopback ports and bounded waits.  POSIX sh (dash): no bash-isms.
#
# Rules: every wait is bounded; every process a script starts is registered
# with at_exit; nothing listens anywhere but 127.0.0.1.

top=$(cd "$(dirname "$0")/../.." && pwd)
test_name=$(basename "$0" .sh)
ART="$top/tests/out/$test_name"
rm -rf "$ART"
mkdir -p "$ART"

T=$(mktemp -d /tmp/smimegate-test.XXXXXX) || { echo "not ok - mktemp"; exit 1; }
chmod 0755 "$T"

n_ok=0
n_fail=0
n_skip=0
_cleanups=""

# --- TAP ---------------------------------------------------------------

ok() { n_ok=$((n_ok + 1)); echo "ok - $*"; }
not_ok() { n_fail=$((n_fail + 1)); echo "not ok - $*"; }
skip() { # skip WHAT REASON
	n_skip=$((n_skip + 1)); echo "ok - $1 # SKIP $2"
}
diag() { echo "# $*"; }

# check WHAT COMMAND...: one assertion from a command's exit status.
check() {
	_what=$1; shift
	if "$@"; then ok "$_what"; else not_ok "$_what"; fi
}

# Shows a file to the log as '# ' lines (the last N lines, default 20).
diag_file() {
	[ -f "$1" ] || { diag "($1: no such file)"; return 0; }
	diag "--- ${3:-$1} (last ${2:-20} lines)"
	tail -n "${2:-20}" "$1" | sed 's/^/#   /'
}

# Ends the script: a summary comment and the exit status.
done_testing() {
	diag "$test_name: $n_ok passed, $n_fail failed, $n_skip skipped"
	[ "$n_fail" -eq 0 ]
	exit $?
}

# Stops the script at once with one failure (a precondition is missing).
bail() {
	not_ok "$*"
	exit 1
}

# --- cleanup -----------------------------------------------------------

# at_exit COMMAND: run COMMAND (eval'ed) on exit, most recent first.
at_exit() {
	_cleanups="$1
$_cleanups"
}

_run_cleanups() {
	_rc=$?
	trap - EXIT HUP INT TERM
	while IFS= read -r _c; do
		[ -n "$_c" ] && eval "$_c" </dev/null >/dev/null 2>&1
	done <<_EOF_
$_cleanups
_EOF_
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# KEEP_TMP: left $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$_rc"
}
trap _run_cleanups EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Keeps a copy of a file under tests/out/NAME/ for later reading.
keep() {
	[ -e "$1" ] && cp -p "$1" "$ART/${2:-$(basename "$1")}" 2>/dev/null
	return 0
}

# --- ports and waiting ------------------------------------------------

_ports_taken=" "

# port_bindable PORT: 0 when a TCP listener can bind 127.0.0.1:PORT now.
port_bindable() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
		    LocalPort => $ARGV[0], Proto => "tcp", Listen => 1,
		    ReuseAddr => 1) or exit 1;
		exit 0;' "$1"
}

# free_port: prints a port on 127.0.0.1 that binds now and that this script
# has not handed out before.  Bounded: 200 tries.
free_port() {
	_i=0
	while [ $_i -lt 200 ]; do
		_i=$((_i + 1))
		_p=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
		_p=$((20000 + _p % 40000))
		case "$_ports_taken" in *" $_p "*) continue ;; esac
		if port_bindable "$_p"; then
			_ports_taken="$_ports_taken$_p "
			echo "$_p"
			return 0
		fi
	done
	return 1
}

# port_accepts PORT [HOST]: 0 when something accepts a TCP connection.
port_accepts() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(PeerAddr => $ARGV[1],
		    PeerPort => $ARGV[0], Proto => "tcp", Timeout => 1)
		    or exit 1;
		exit 0;' "$1" "${2:-127.0.0.1}"
}

# wait_port PORT [PID] [TENTHS]: waits until PORT accepts (default 10 s);
# gives up early when PID has died.
wait_port() {
	_i=0
	while [ $_i -lt "${3:-100}" ]; do
		port_accepts "$1" && return 0
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# wait_for TENTHS COMMAND...: retries COMMAND every 0.1 s.
wait_for() {
	_n=$1; shift
	_i=0
	while [ $_i -lt "$_n" ]; do
		"$@" && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	return 1
}

# stop_pid PID [TENTHS]: SIGTERM, wait (default 10 s), then SIGKILL.
stop_pid() {
	[ -n "${1:-}" ] || return 0
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1" 2>/dev/null
	_i=0
	while [ $_i -lt "${2:-100}" ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		diag "pid $1 ignored SIGTERM; killing it"
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	return 0
}

# --- bytes -------------------------------------------------------------

# to_crlf IN OUT: every line ends in CRLF (existing CRs are not doubled).
to_crlf() { sed 's/\r*$/\r/' "$1" >"$2"; }
# to_lf IN OUT: strips the CR of CRLF.
to_lf() { sed 's/\r$//' "$1" >"$2"; }
# make_message OUT: a CRLF message from stdin (LF or CRLF text).
make_message() { sed 's/\r*$/\r/' >"$1"; }

# same_file A B: byte for byte; on a difference, shows where.
same_file() {
	if cmp -s "$1" "$2"; then return 0; fi
	diag "files differ: $1 $2: $(cmp "$1" "$2" 2>&1 | head -1)"
	return 1
}

# Checks the tools the tests drive; the milter's own programs are checked
# by need_gateway.
need_tools() {
	for _t in "$@"; do
		command -v "$_t" >/dev/null 2>&1 || bail "tool $_t is installed"
	done
}
