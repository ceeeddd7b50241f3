#!/bin/sh
# Command-line habits: smimegate, smimectl and every smimectl command
# listed by `smimectl --help` answer --help and -h with their usage on
# standard output and exit 0, without doing any work (no state directory
# made); an unknown option, a missing operand or an unknown command prints
# the usage on standard error and exits 2; --version prints the version of
# debian/changelog.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway

# The state directory of every run below: help must never make it.
NOSTATE="$T/nostate"
ctl() {
	"$top/smimectl" -c "$GATE_CONF" -o "StateDirectory=$NOSTATE" "$@"
}

# answers WHAT RC WANT-RC OUT ERR WORDS: the exit status, and the usage on
# the right stream (naming WORDS), nothing on the other.
answers() {
	_what=$1 _rc=$2 _want=$3 _out=$4 _err=$5 _words=$6
	if [ "$_want" -eq 0 ]; then _on=$_out _off=$_err; else _on=$_err _off=$_out; fi
	if [ "$_rc" -eq "$_want" ] && grep -q '^usage: ' "$_on" \
	    && grep -q -F -- "$_words" "$_on" && [ ! -s "$_off" ]; then
		ok "$_what"
	else
		not_ok "$_what"
		diag "exit status $_rc (want $_want)"
		diag_file "$_out" 8 "stdout"
		diag_file "$_err" 8 "stderr"
	fi
}

# --- smimectl --help, -h, --version ---------------------------------------

for _h in --help -h; do
	ctl $_h >"$T/top.out" 2>"$T/top.err"
	answers "smimectl $_h: usage on stdout, exit 0" $? 0 "$T/top.out" "$T/top.err" \
	    "smimectl"
done

# The commands: the leading lower-case words of each line "  NAME ARGS"
# of the command list.
"$top/smimectl" --help 2>/dev/null | sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)*\)\( .*\)*$/\1/p' \
    >"$T/commands"
diag "commands listed: $(tr '\n' ',' <"$T/commands")"
n=$(wc -l <"$T/commands" | tr -d ' ')
if [ "$n" -ge 20 ]; then
	ok "smimectl --help lists $n commands"
else
	not_ok "smimectl --help lists every command (got $n)"
fi
for _g in keystore ca config audit lookup cache policy spool; do
	check "smimectl --help lists the $_g commands" grep -q "^$_g\( \|\$\)" "$T/commands"
done

# --- every command: --help, -h, an unknown option ----------------------------

while IFS= read -r cmd; do
	for _h in --help -h; do
		# shellcheck disable=SC2086
		ctl $cmd $_h >"$T/c.out" 2>"$T/c.err"
		answers "smimectl $cmd $_h: its usage on stdout, exit 0" $? 0 \
		    "$T/c.out" "$T/c.err" "smimectl [options] $cmd"
	done
	# shellcheck disable=SC2086
	ctl $cmd --no-such-option >"$T/c.out" 2>"$T/c.err"
	answers "smimectl $cmd --no-such-option: its usage on stderr, exit 2" $? 2 \
	    "$T/c.out" "$T/c.err" "smimectl [options] $cmd"
done <"$T/commands"

# The groups: `smimectl keystore --help` shows every keystore command.
for _g in keystore ca audit cache policy spool; do
	ctl $_g --help >"$T/g.out" 2>"$T/g.err"
	answers "smimectl $_g --help: the $_g commands on stdout, exit 0" $? 0 \
	    "$T/g.out" "$T/g.err" "smimectl [options] $_g "
	ctl $_g >"$T/g.out" 2>"$T/g.err"
	answers "smimectl $_g (no command): the $_g usage on stderr, exit 2" $? 2 \
	    "$T/g.out" "$T/g.err" "smimectl [options] $_g "
done

if [ ! -e "$NOSTATE" ]; then
	ok "help and usage errors made no state directory"
else
	not_ok "help and usage errors made no state directory ($NOSTATE exists)"
fi

# --- usage errors that get past the options -------------------------------

ctl no-such-command >"$T/u.out" 2>"$T/u.err"
answers "smimectl no-such-command: the usage on stderr, exit 2" $? 2 \
    "$T/u.out" "$T/u.err" "smimectl"
ctl --no-such-option >"$T/u.out" 2>"$T/u.err"
answers "smimectl --no-such-option: the usage on stderr, exit 2" $? 2 \
    "$T/u.out" "$T/u.err" "smimectl"
ctl >"$T/u.out" 2>"$T/u.err"
answers "smimectl (no command): the usage on stderr, exit 2" $? 2 \
    "$T/u.out" "$T/u.err" "smimectl"
# Missing operands: found by the command after reading the configuration.
mkdir -p "$T/state" && chmod 0700 "$T/state"
for _c in "keystore import" "keystore export" "lookup" "spool show" "ca revoke" \
    "policy explain --from a@example.com"; do
	# shellcheck disable=SC2086
	"$top/smimectl" -c "$GATE_CONF" -o "StateDirectory=$T/state" \
	    -o CreateMasterKey=yes $_c >"$T/u.out" 2>"$T/u.err"
	answers "smimectl $_c (an operand missing): its usage on stderr, exit 2" $? 2 \
	    "$T/u.out" "$T/u.err" "smimectl [options] $(echo "$_c" | cut -d' ' -f1-2)"
done

# --- --version ----------------------------------------------------------------

want=$(awk 'NR == 1 { v = $2; gsub(/[()]/, "", v); sub(/-[^-]*$/, "", v); print v; exit }' \
    "$top/debian/changelog")
[ -n "$want" ] || bail "debian/changelog has a version"
for _p in smimectl smimegate; do
	"$top/$_p" --version >"$T/v.out" 2>"$T/v.err"
	_rc=$?
	if [ "$_rc" -eq 0 ] && [ "$(cat "$T/v.out")" = "$_p $want" ] && [ ! -s "$T/v.err" ]; then
		ok "$_p --version: \"$_p $want\" (debian/changelog), exit 0"
	else
		not_ok "$_p --version: \"$_p $want\", exit 0"
		diag "exit status $_rc"
		diag_file "$T/v.out" 3 "stdout"
		diag_file "$T/v.err" 3 "stderr"
	fi
done

# --- smimegate ------------------------------------------------------------------

for _h in --help -h; do
	"$top/smimegate" $_h >"$T/g.out" 2>"$T/g.err"
	answers "smimegate $_h: usage on stdout, exit 0" $? 0 "$T/g.out" "$T/g.err" \
	    "smimegate"
done
"$top/smimegate" --no-such-option >"$T/g.out" 2>"$T/g.err"
answers "smimegate --no-such-option: usage on stderr, exit 2" $? 2 \
    "$T/g.out" "$T/g.err" "smimegate"
"$top/smimegate" -t >"$T/g.out" 2>"$T/g.err"
answers "smimegate -t (its value missing): usage on stderr, exit 2" $? 2 \
    "$T/g.out" "$T/g.err" "smimegate"

done_testing
