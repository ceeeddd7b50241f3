#!/bin/sh
# 90-fuzz: the smoke run of every libFuzzer harness (tests/fuzz/): each
# for FUZZ_SMOKE_SECONDS (default 4) over its seeds, the regression inputs
# among them; one line per harness with its number of executions.
# `make fuzz FUZZ_SECONDS=N` is the long run.
. "$(dirname "$0")/../lib/common.sh"

ls "$top"/tests/fuzz/bin/fuzz_* >/dev/null 2>&1 ||
	{ skip "fuzz smoke run" "no harnesses built (make fuzzers needs clang)"; done_testing; }
# Its ok / not ok lines are this script's results (tests/run counts them).
sh "$top/tests/fuzz/run" "${FUZZ_SMOKE_SECONDS:-4}"
rc=$?
cp "$top"/tests/out/fuzz/*.log "$ART"/ 2>/dev/null
exit $rc
