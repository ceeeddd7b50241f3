#!/bin/sh
# Configuration: `smimegate -n` accepts the test configuration, refuses
# broken ones naming file:line, and `smimectl config -d` prints every key.
# Reading a configuration writes nothing: -n and smimectl config leave an
# empty StateDirectory empty (only the daemon's start makes files there).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway

# run_n CONF: smimegate -n with CONF instead of test.conf.
run_n() {
	_saved=$GATE_CONF
	GATE_CONF=$1
	gate_run -n >"$T/n.out" 2>"$T/n.err"
	_rc=$?
	GATE_CONF=$_saved
	return $_rc
}

if run_n "$GATE_CONF"; then
	ok "smimegate -n accepts tests/lib/test.conf"
else
	not_ok "smimegate -n accepts tests/lib/test.conf"
	diag_file "$T/n.err" 10 "smimegate -n"
fi

# broken NAME LINE-TEXT: test.conf plus one bad line; -n must exit 1 and
# name the file and that line.
broken() {
	_f="$T/$1.conf"
	cp "$GATE_CONF" "$_f"
	printf '%s\n' "$2" >>"$_f"
	_line=$(wc -l <"$_f" | tr -d ' ')
	run_n "$_f"
	_rc=$?
	if [ "$_rc" -eq 1 ] && grep -q "$1.conf:$_line:" "$T/n.err"; then
		ok "smimegate -n refuses '$2' with $1.conf:$_line: ($(head -1 "$T/n.err"))"
	else
		not_ok "smimegate -n refuses '$2' with exit 1 and $1.conf:$_line:"
		diag "exit status $_rc"
		diag_file "$T/n.err" 5 "stderr"
	fi
}
broken bad-enum "SigningMode sideways"
broken unknown-key "NoSuchKey yes"
broken bad-size "MaximumMessageSize lots"
broken bad-network "InternalHosts 127.0.0.0/8, 300.1.2.3/8"
broken bad-bool "Sign perhaps"
broken missing-map "SignerMap $T/no-such-signer-map"

# The error also names the line when it is not the last one.
printf 'Syslog no\nSocket nonsense\nLogStderr yes\n' >"$T/middle.conf"
run_n "$T/middle.conf"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "middle.conf:2:" "$T/n.err"; then
	ok "smimegate -n names line 2 of 3 (Socket nonsense)"
else
	not_ok "smimegate -n names line 2 of 3 (Socket nonsense)"
	diag "exit status $rc"
	diag_file "$T/n.err" 5 "stderr"
fi

if gate_run -n -o "SigningMode=sideways" >/dev/null 2>"$T/o.err"; then
	not_ok "smimegate -n refuses -o SigningMode=sideways"
else
	ok "smimegate -n refuses -o SigningMode=sideways ($(head -1 "$T/o.err"))"
fi

# A key set twice is an error at its second line.
broken duplicate "Sign no"

# An error inside the SignerMap names both places.
printf '# login addresses\nboss notanaddress\n' >"$T/signers.bad"
cp "$GATE_CONF" "$T/badmap.conf"
echo "SignerMap $T/signers.bad" >>"$T/badmap.conf"
line=$(wc -l <"$T/badmap.conf" | tr -d ' ')
run_n "$T/badmap.conf"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "badmap.conf:$line:" "$T/n.err" && grep -q "signers.bad:2:" "$T/n.err"; then
	ok "a bad SignerMap line is reported as conf:line: and map:line: ($(head -1 "$T/n.err"))"
else
	not_ok "a bad SignerMap line is reported as badmap.conf:$line: and signers.bad:2:"
	diag "exit status $rc"
	diag_file "$T/n.err" 5 "stderr"
fi

# all_keys FILE: every key of smimegate.conf(5) as "Key = value".
all_keys() {
	_missing=""
	for _k in Socket StateDirectory KeystoreDirectory MasterKeyFile \
	    CreateMasterKey SpoolDirectory LocalDomains InternalHosts UserID \
	    PidFile Background MaximumMessageSize SpoolMemoryLimit Syslog \
	    SyslogFacility LogStderr OnInternalError UnauthorizedSender \
	    SignerMap SigningMode Sign; do
		grep -Eq "^$_k = ?" "$1" || _missing="$_missing $_k"
	done
	[ -z "$_missing" ] && return 0
	diag "missing:$_missing"
	return 1
}

# smimectl config: the values in force; config -d: the built-in defaults.
if gate_ctl config >"$T/config.out" 2>"$T/config.err"; then
	ok "smimectl config"
	check "smimectl config prints all 21 keys as 'Key = value'" all_keys "$T/config.out"
	check "smimectl config shows LocalDomains from test.conf" \
	    grep -Eq '^LocalDomains = .*example\.com.*example\.org' "$T/config.out"
	check "smimectl config shows the -o StateDirectory override" \
	    grep -Fqx "StateDirectory = $GATE_STATE" "$T/config.out"
	check "smimectl config fills in KeystoreDirectory = StateDirectory/keystore" \
	    grep -Fqx "KeystoreDirectory = $GATE_STATE/keystore" "$T/config.out"
	keep "$T/config.out"
else
	not_ok "smimectl config"
	diag_file "$T/config.err" 10 "smimectl"
fi
if gate_ctl config -d >"$T/config-d.out" 2>"$T/config-d.err"; then
	ok "smimectl config -d"
	check "smimectl config -d prints all 21 keys as 'Key = value'" all_keys "$T/config-d.out"
	if grep -q '^LocalDomains = .*example' "$T/config-d.out"; then
		not_ok "smimectl config -d prints the defaults, not test.conf's LocalDomains"
	else
		ok "smimectl config -d prints the defaults, not test.conf's LocalDomains"
	fi
	keep "$T/config-d.out"
else
	not_ok "smimectl config -d"
	diag_file "$T/config-d.err" 10 "smimectl"
fi

# Reading a configuration writes nothing, as root too: a fresh, empty
# StateDirectory is still empty after -n and smimectl config (-d).
fresh="$T/fresh"
mkdir -m 0700 "$fresh"
cp "$GATE_CONF" "$T/fresh.conf"
echo "StateDirectory $fresh" >>"$T/fresh.conf"
"$top/smimegate" -n -c "$T/fresh.conf" >"$T/fresh-n.out" 2>&1
rc=$?
left=$(ls -A "$fresh")
if [ "$rc" -eq 0 ] && [ -z "$left" ]; then
	ok "smimegate -n -c FILE leaves an empty StateDirectory empty"
else
	not_ok "smimegate -n -c FILE leaves an empty StateDirectory empty"
	diag "exit status $rc; in $fresh: $(echo $left)"
	diag_file "$T/fresh-n.out" 5 "smimegate -n"
fi
for args in "config" "config -d"; do
	# shellcheck disable=SC2086
	"$top/smimectl" -c "$T/fresh.conf" $args >"$T/fresh-ctl.out" 2>&1
	rc=$?
	left=$(ls -A "$fresh")
	if [ "$rc" -eq 0 ] && [ -z "$left" ]; then
		ok "smimectl -c FILE $args leaves an empty StateDirectory empty"
	else
		not_ok "smimectl -c FILE $args leaves an empty StateDirectory empty"
		diag "exit status $rc; in $fresh: $(echo $left)"
		diag_file "$T/fresh-ctl.out" 5 "smimectl $args"
	fi
done
rmdir "$fresh"
check "smimegate -n -c FILE does not make a missing StateDirectory" \
    sh -c '"$1" -n -c "$2" >/dev/null 2>&1 && test ! -e "$3"' sh "$top/smimegate" \
    "$T/fresh.conf" "$fresh"
# config -d reads the built-in defaults: StateDirectory /var/lib/smimegate,
# looked at in a mount namespace of its own, on an empty /var/lib.
if [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
	left=$(unshare -m --propagation private sh -c 'mount -t tmpfs tmpfs /var/lib &&
	    "$1" config -d >/dev/null && ls -A /var/lib' sh "$top/smimectl" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [ -z "$left" ]; then
		ok "smimectl config -d makes nothing under /var/lib (the default StateDirectory)"
	else
		not_ok "smimectl config -d makes nothing under /var/lib (the default StateDirectory)"
		diag "exit status $rc; in /var/lib: $(echo $left)"
	fi
else
	skip "smimectl config -d makes nothing under /var/lib" "needs root and unshare -m"
fi

done_testing
