#!/bin/sh
# tests/integration/docs_keys.sh: docs track code (style.md 14).
#
# Every key the configuration table knows (as `./smimectl config -d` lists
# them) must be documented in docs/smimegate.conf.5 as a tagged entry
# (".TP" followed by ".B Key") and present in the stock conf/smimegate.conf
# (as "Key value" or "#Key value"); the stock file must pass
# `./smimegate -n`; the man pages must render without groff warnings.
#
# Run from the top of the tree (tests/run does).  Prints one "ok - ..." or
# "not ok - ..." line per check; exits 1 when any check failed.
set -u

fails=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; fails=$((fails + 1)); }

man5=docs/smimegate.conf.5
conf=conf/smimegate.conf
tmp=${TMPDIR:-/tmp}/docs_keys.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

if [ ! -x ./smimectl ]; then
	echo "not ok - smimectl built"
	exit 1
fi
if ! ./smimectl config -d >"$tmp.defaults" 2>"$tmp.err"; then
	notok "smimectl config -d runs: $(head -n 1 "$tmp.err")"
	exit 1
fi
keys=$(sed -n 's/^\([A-Za-z][A-Za-z0-9]*\) = .*/\1/p' "$tmp.defaults")
if [ -z "$keys" ]; then
	notok "smimectl config -d lists keys"
	exit 1
fi
ok "smimectl config -d lists $(echo "$keys" | wc -l | tr -d ' ') keys"

# The tags of the man page: the line after each .TP, first word after the
# macro, quotes dropped (".B Key", ".BR Key ...", ".B \"Key\"").
awk 'prev == ".TP" && $1 ~ /^\.B[IR]?$/ { gsub(/"/, "", $2); print $2 }
     { prev = $1 }' "$man5" >"$tmp.tags" 2>/dev/null

for k in $keys; do
	if grep -qx "$k" "$tmp.tags"; then
		ok "$k documented in $man5"
	else
		notok "$k documented in $man5"
	fi
	if grep -Eq "^#?$k([[:space:]]|=|\$)" "$conf"; then
		ok "$k present in $conf"
	else
		notok "$k present in $conf"
	fi
done

# The other way round: no documented key the table does not have.
while read -r t; do
	case " $(echo $keys) " in
	*" $t "*) ;;
	*) case "$t" in
	   [A-Z]*[a-z]*) notok "$man5 documents \"$t\", which is not a key" ;;
	   esac ;;
	esac
done <"$tmp.tags"

if [ ! -x ./smimegate ]; then
	notok "smimegate built"
elif ./smimegate -n -c "$conf" >"$tmp.out" 2>&1; then
	ok "smimegate -n -c $conf"
else
	notok "smimegate -n -c $conf: $(head -n 1 "$tmp.out")"
fi

for page in docs/smimegate.conf.5 docs/smimegate.8 docs/smimectl.8 docs/smimegate-policy.5; do
	if [ ! -f "$page" ]; then
		notok "$page exists"
		continue
	fi
	if ! command -v groff >/dev/null 2>&1; then
		notok "$page renders (groff not installed)"
		continue
	fi
	groff -man -Tutf8 -ww -z "$page" >"$tmp.groff" 2>&1
	if [ $? -eq 0 ] && [ ! -s "$tmp.groff" ]; then
		ok "$page renders without warnings"
	else
		notok "$page renders without warnings: $(head -n 1 "$tmp.groff")"
	fi
done

[ "$fails" -eq 0 ]
