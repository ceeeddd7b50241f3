# tests/bench/profile.sh: BENCH_PROFILE=1 for tests/bench/bench.sh (sourced
# by it, after tests/lib/common.sh): where the milter's CPU goes, per row.
#
# For each profiled row, `perf record -p PID` records the milter process
# (all its threads: libmilter's, one per connection, are inherited) with
# DWARF call graphs, enabled only while the row's measured messages run
# (not its warm-up: perf starts with its events disabled and is switched
# through a control FIFO, whose acknowledgement says they are on), into
# tests/out/prof-ROW.data.  After the last row, tests/bench/profile.awk
# summarises each file into tests/out/bench-profile.txt, and prof_table
# prints, under the bench's table, each row's top function of our own code.
#
# Without perf, or where the kernel refuses it (kernel.perf_event_paranoid,
# no CAP_PERFMON), prof_init prints one line and the bench runs as usual.
# Every wait here is bounded; perf is stopped with SIGINT (it then writes
# its file), killed if it does not end.
#
# Environment: BENCH_PROFILE=1 turns it on; BENCH_PROFILE_FREQ, samples per
# second [999].

PROF=no
PROF_ROWS="t.unix b.unix c.unix d.unix h.unix e.unix f.unix g.unix large"
PROF_OUT="$top/tests/out/bench-profile.txt"
PROF_PID=""
PROF_FREQ=${BENCH_PROFILE_FREQ:-999}

# prof_init: PROF=yes when BENCH_PROFILE=1 and perf can record here.
prof_init() {
	[ "${BENCH_PROFILE:-0}" = 1 ] || return 0
	if ! command -v perf >/dev/null 2>&1; then
		echo "bench: BENCH_PROFILE=1: no perf here (Debian: apt-get install linux-perf); no profiles" >&2
		return 0
	fi
	# A recording of a short child with the options the rows use: fails
	# where the kernel does not let this user record.
	if ! perf record -q -F "$PROF_FREQ" --call-graph dwarf,16384 --no-buildid-cache \
	    -o "$T/prof-probe.data" -- true >"$T/prof-probe.log" 2>&1; then
		echo "bench: BENCH_PROFILE=1: perf cannot record here" \
		    "(kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')," \
		    "$(sed -n '/./{p;q;}' "$T/prof-probe.log")); no profiles" >&2
		return 0
	fi
	PROF=yes
	at_exit '[ -n "$PROF_PID" ] && kill -KILL "$PROF_PID"'
	rm -f "$top"/tests/out/prof-*.data "$top"/tests/out/prof-*.data.old "$PROF_OUT"
	: >"$T/prof.done"
	echo "bench: BENCH_PROFILE=1: recording the milter during each row (its CPU figures then include some of the sampling)" >&2
}

# prof_ctl COMMAND: sends enable or disable to the running perf and waits
# (10 s at most) for its acknowledgement.
prof_ctl() {
	timeout 10 sh -c 'echo "$1" >"$2" && read -r _a <"$3" && [ "$_a" = ack ]' \
	    sh "$1" "$T/prof.ctl" "$T/prof.ack" 2>/dev/null
}

# prof_start ROW PID: when ROW is one of PROF_ROWS, starts perf on PID
# (the milter) and switches it on; returns when it records.
prof_start() {
	[ "$PROF" = yes ] && [ -n "$2" ] || return 0
	case " $PROF_ROWS " in *" $1 "*) ;; *) return 0 ;; esac
	_prow=${1%%.*}
	_pexe=$(readlink "/proc/$2/exe") || return 0
	rm -f "$T/prof.ctl" "$T/prof.ack"
	mkfifo "$T/prof.ctl" "$T/prof.ack" || return 0
	perf record -q -D -1 --control "fifo:$T/prof.ctl,$T/prof.ack" -p "$2" \
	    -F "$PROF_FREQ" --call-graph dwarf,16384 --no-buildid-cache \
	    -o "$top/tests/out/prof-$_prow.data" >"$T/prof-$_prow.log" 2>&1 &
	PROF_PID=$!
	if ! prof_ctl enable; then
		echo "bench: perf did not start for ($_prow): $(sed -n '/./{p;q;}' "$T/prof-$_prow.log")" >&2
		prof_end
		return 0
	fi
	PROF_ROW=$_prow PROF_EXE=$_pexe
}

# prof_end: SIGINT to perf, then at most 120 s for it to write its file.
prof_end() {
	kill -INT "$PROF_PID" 2>/dev/null
	_pi=0
	while [ $_pi -lt 1200 ] && kill -0 "$PROF_PID" 2>/dev/null; do
		sleep 0.1
		_pi=$((_pi + 1))
	done
	kill -KILL "$PROF_PID" 2>/dev/null
	wait "$PROF_PID" 2>/dev/null
	PROF_PID=""
}

# prof_stop [MESSAGES]: switches perf off and ends it; the row is then
# summarised by prof_report.
prof_stop() {
	[ -n "$PROF_PID" ] || return 0
	prof_ctl disable
	prof_end
	echo "$PROF_ROW ${PROF_EXE##*/} ${1:-?}" >>"$T/prof.done"
}

# prof_summary FILE OWN: the summary of one recording (profile.awk),
# OWN the file name of the profiled program.  perf script twice: with the
# functions inlined at each address (the names), and without (the object
# of each address, which perf does not print for an inlined frame).
prof_summary() {
	perf script --no-inline -i "$1" -F comm,tid,ip,sym,dso >"$T/prof-noinline.txt" 2>/dev/null
	perf script -i "$1" -F comm,tid,ip,sym,dso 2>/dev/null |
	    LC_ALL=C awk -v own="$2" -v noinline="$T/prof-noinline.txt" \
	    -f "$top/tests/bench/profile.awk"
	rm -f "$T/prof-noinline.txt"
}

# prof_report: summarises every recorded row into $PROF_OUT and keeps
# each row's "top ours" line in $T/prof.top for prof_table.
prof_report() {
	[ "$PROF" = yes ] || return 0
	[ -s "$T/prof.done" ] || return 0
	echo "profiles: summarising (perf script; a minute or more)" >&2
	: >"$T/prof.top"
	{
		echo "smimegate bench profile: $(date -u +%Y-%m-%dT%H:%MZ), perf record -p (the milter"
		echo "process only, all its threads), $PROF_FREQ Hz, DWARF call graphs, only while each row's"
		echo "measured messages ran.  Shares are of the milter's samples in that row."
		while read -r _prow _pown _pmsg; do
			echo
			echo "== ($_prow) $(prof_label "$_prow"): $_pown, $_pmsg messages, tests/out/prof-$_prow.data =="
			prof_summary "$top/tests/out/prof-$_prow.data" "$_pown" >"$T/prof-$_prow.sum"
			cat "$T/prof-$_prow.sum"
			echo "$_prow $(sed -n 's/^samples: //p' "$T/prof-$_prow.sum")" \
			    "$(sed -n 's/^top ours: //p' "$T/prof-$_prow.sum")" >>"$T/prof.top"
		done <"$T/prof.done"
	} >"$PROF_OUT"
}

prof_label() {
	case $1 in
	t) echo "do-nothing milter" ;;
	b) echo "sign" ;;
	c) echo "sign + encrypt, 1 rcpt" ;;
	d) echo "sign + encrypt, 5 rcpts" ;;
	h) echo "sign + encrypt, 100 rcpts" ;;
	e) echo "inbound: verify" ;;
	f) echo "inbound: decrypt" ;;
	g) echo "inbound: decrypt + verify" ;;
	large) echo "the large message (daemon)" ;;
	*) echo "$1" ;;
	esac
}

# prof_table: under the bench's table, each profiled row's top function of
# our own code.
prof_table() {
	[ "$PROF" = yes ] && [ -s "$T/prof.top" ] || return 0
	echo
	echo "Profile (BENCH_PROFILE=1, tests/out/bench-profile.txt): per row, the function of"
	echo "our own code with the largest share of the milter's samples, counting the"
	echo "libraries it calls (each sample charged to its innermost frame in our binary)"
	while read -r _prow _psamples _pshare _pfn; do
		[ "$_pshare" = none ] && _pshare="" _pfn="(no frame of ours)"
		printf '%-40s %7s  %s  (of %s samples)\n' "($_prow) $(prof_label "$_prow")" \
		    "$_pshare" "$_pfn" "$_psamples"
	done <"$T/prof.top"
}
