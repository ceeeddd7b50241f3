#!/bin/sh
# 26-security: files checked for permissions (the configuration, the
# SignerMap, the master key) and the daemon's privileges dropped to
# UserID after start (as root: the user nobody).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl

# refused WHAT PATTERN CMD...: CMD fails and says PATTERN.
refused() {
	_what=$1 _pat=$2
	shift 2
	if "$@" >"$T/out" 2>&1; then
		not_ok "$_what: refused"
	elif grep -q -- "$_pat" "$T/out"; then
		ok "$_what: refused ($(head -1 "$T/out" | cut -c1-120))"
	else
		not_ok "$_what: refused with a message saying \"$_pat\""
		diag_file "$T/out" 5
	fi
}

cp "$GATE_CONF" "$T/c.conf"
chmod 0644 "$T/c.conf"
check "configuration 0644: smimegate -n accepts it" \
    "$top/smimegate" -n -c "$T/c.conf" -o "StateDirectory=$T/st"
chmod 0666 "$T/c.conf"
refused "configuration writable by others (0666)" "writable by group or others" \
    "$top/smimegate" -n -c "$T/c.conf" -o "StateDirectory=$T/st"
chmod 0620 "$T/c.conf"
refused "configuration writable by its group (0620)" "writable by group or others" \
    "$top/smimectl" -c "$T/c.conf" -o "StateDirectory=$T/st" keystore list

printf 'alice alice@example.com\n' >"$T/signers"
chmod 0664 "$T/signers"
refused "SignerMap writable by its group (0664)" "writable by group or others" \
    "$top/smimegate" -n -c "$GATE_CONF" -o "StateDirectory=$T/st" -o "SignerMap=$T/signers"
chmod 0644 "$T/signers"
check "SignerMap 0644: accepted" \
    "$top/smimegate" -n -c "$GATE_CONF" -o "StateDirectory=$T/st" -o "SignerMap=$T/signers"

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
if [ "$(id -u)" -ne 0 ]; then
	skip "UserID nobody: privileges dropped" "not root"
	skip "master key readable by others" "not root"
	done_testing
fi
GATE_OPTS="-o UserID=nobody"
gate_import "$T/pki" alice
chmod 0644 "$GATE_STATE/keystore/master.key"
refused "master key readable by others (0644)" "master" gate_ctl keystore list
chmod 0600 "$GATE_STATE/keystore/master.key"
gate_start || bail "smimegate started with UserID=nobody"
uid=$(id -u nobody) gid=$(id -g nobody)
st=$(grep -E '^(Uid|Gid|Groups):' "/proc/$GATE_PID/status" | tr '\t' ' ')
diag "smimegate as UserID=nobody: $(echo "$st" | tr '\n' ';')"
check "UserID=nobody: every uid (real, effective, saved, fs) is nobody's" \
    test "$(echo "$st" | awk '/^Uid:/ { print $2, $3, $4, $5 }')" = "$uid $uid $uid $uid"
check "UserID=nobody: every gid is nobody's group" \
    test "$(echo "$st" | awk '/^Gid:/ { print $2, $3, $4, $5 }')" = "$gid $gid $gid $gid"
check "UserID=nobody: no supplementary group but its own" \
    test -z "$(echo "$st" | awk '/^Groups:/ { for (i = 2; i <= NF; i++) if ($i != '"$gid"') print $i }')"
check "UserID=nobody: the keystore belongs to nobody, 0700" \
    test "$(stat -c '%U %a' "$GATE_STATE/keystore")" = "nobody 700"
done_testing
