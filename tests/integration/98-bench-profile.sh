#!/bin/sh
# BENCH_PROFILE's arithmetic (tests/bench/profile.awk, profile.sh), without
# perf and without the bench: the summariser fed a made-up `perf script`
# text of eight samples (tests/bench/profile-fixture.txt, and the same
# without inline expansion, profile-fixture-noinline.txt) must print the
# shares worked out by hand (tests/bench/profile-fixture.expected):
# inclusive shares count a recursive function once per sample, self shares
# the innermost frame, "our code" the innermost frame in our binary (a
# function inlined into ours is ours, one inlined into libc is libc's:
# perf does not print an inlined frame's object, the --no-inline text
# gives it), with the samples that have no frame of ours apart.  Then the bench's
# glue: the report and the line under the table from a stand-in perf, and
# the one line BENCH_PROFILE=1 prints where perf is missing or refused.

. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/bench/profile.sh"

FIX=$top/tests/bench/profile-fixture.txt
NOINL=$top/tests/bench/profile-fixture-noinline.txt
WANT=$top/tests/bench/profile-fixture.expected

LC_ALL=C awk -v own=smimegate -v noinline="$NOINL" -f "$top/tests/bench/profile.awk" \
    "$FIX" >"$T/got" 2>"$T/err"
if diff -u "$WANT" "$T/got" >"$T/diff"; then
	ok "the summary of the fixture is the one worked out by hand"
else
	not_ok "the summary of the fixture differs from $WANT"
	diag_file "$T/diff" 60
	diag_file "$T/err"
fi

# has WHAT LINE [FILE]: the summary has exactly LINE.
has() { check "$1" grep -qxF -- "$2" "${3:-$T/got}"; }
has "every sample counted once" "samples: 8"
has "a recursive function: inclusive once per sample (2 of 8)" "   25.00%  walk  smimegate"
has "inlined at an address of ours with a real frame: ours" "   25.00%  value_decode  smimegate"
has "every frame at an address inlined: the object from --no-inline (ours)" \
    "   12.50%  commit  smimegate"
has "every frame at an address inlined: the object from --no-inline (libc)" \
    "   12.50%  __GI___poll  libc.so.6"
has "kernel frames are named kernel" "   12.50%  fdatasync_kernel  kernel"
has "the samples with no frame of ours, apart" "   12.50%  (no frame of smimegate)"
has "our code: each sample's innermost frame of ours, an inlined one too" "   12.50%  commit"
has "the top line of our code: the innermost frame of ours, ties by name" \
    "top ours: 25.00% value_decode"
check "self shares: d2i_X509 first, 25%" \
    sh -c 'sed -n "/^self share/{n;p;}" "$1" | grep -qxF "   25.00%  d2i_X509  libcrypto.so.3"' sh "$T/got"

# Without the --no-inline text: a real frame at the same address still
# names the object; where there is none, "?" (not a neighbour's guess).
LC_ALL=C awk -v own=smimegate -f "$top/tests/bench/profile.awk" "$FIX" >"$T/plain" 2>&1
has "without --no-inline: inlined before a real frame of ours is ours" \
    "   25.00%  value_decode  smimegate" "$T/plain"
has "without --no-inline: every frame at an address inlined: ?" \
    "   12.50%  commit  ?" "$T/plain"

# An empty recording: no division by zero, "none".
LC_ALL=C awk -v own=smimegate -f "$top/tests/bench/profile.awk" </dev/null >"$T/empty" 2>&1
check "an empty recording: 0 samples, top ours none" \
    sh -c 'grep -qx "samples: 0" "$1" && grep -qx "top ours: none" "$1"' sh "$T/empty"

# The glue, with a stand-in perf whose `perf script` prints the fixture.
mkdir -p "$T/bin" "$T/refused" "$T/none"
cat >"$T/bin/perf" <<EOF
#!/bin/sh
[ "\$1" = script ] || exit 1
[ "\$2" = --no-inline ] && exec cat "$NOINL"
exec cat "$FIX"
EOF
chmod +x "$T/bin/perf"
PROF_OUT=$T/bench-profile.txt
PROF=yes
echo "h smimegate 30" >"$T/prof.done"
PATH="$T/bin:$PATH" prof_report 2>/dev/null
check "the report has the row's heading" \
    grep -q '^== (h) sign + encrypt, 100 rcpts: smimegate, 30 messages' "$PROF_OUT"
check "the report has the row's summary" grep -qxF "top ours: 25.00% value_decode" "$PROF_OUT"
check "the report's objects of inlined frames come from perf script --no-inline" \
    grep -qxF "   12.50%  commit  smimegate" "$PROF_OUT"
prof_table >"$T/table"
check "under the table: the row's top function of ours and its share" \
    grep -qE '^\(h\) sign \+ encrypt, 100 rcpts +25\.00%  value_decode  \(of 8 samples\)$' "$T/table"
diag_file "$T/table" 5

# BENCH_PROFILE=1 where perf is missing, or refuses: one line, no profile.
PROF=no
(BENCH_PROFILE=1 PATH=$T/none; prof_init; echo "PROF=$PROF") >"$T/none.out" 2>&1
check "no perf: one line that says so, and no profile" \
    sh -c '[ "$(wc -l <"$1")" -eq 2 ] && grep -q "BENCH_PROFILE=1: no perf here" "$1" && grep -qx PROF=no "$1"' sh "$T/none.out"
printf '#!/bin/sh\necho "Error: Access to performance monitoring and observability operations is limited." >&2\nexit 255\n' >"$T/refused/perf"
chmod +x "$T/refused/perf"
(BENCH_PROFILE=1 PATH="$T/refused:$PATH"; prof_init; echo "PROF=$PROF") >"$T/refused.out" 2>&1
check "perf refused: one line with the kernel setting and perf's reason, no profile" \
    sh -c '[ "$(wc -l <"$1")" -eq 2 ] && grep -q "perf cannot record here (kernel.perf_event_paranoid=.*Access to performance monitoring" "$1" && grep -qx PROF=no "$1"' sh "$T/refused.out"
(prof_init; echo "PROF=$PROF") >"$T/off.out" 2>&1
check "BENCH_PROFILE unset: nothing printed, no profile" grep -qx PROF=no "$T/off.out"
diag_file "$T/refused.out" 3

done_testing
