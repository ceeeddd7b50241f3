#!/bin/sh
# 27-secret-files: every key and password file is read by one reader (no
# symbolic link followed, owner us or root, no group or other access) and
# start-up as root never follows a link it did not make when it gives the
# state to UserID: a reinject.key planted as a symbolic or hard link to a
# root-owned file leaves that file alone and the daemon refuses, naming
# the path; a group-readable reinject.key, a master key of another user,
# loose or linked bind password files and a linked audit key are refused.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl timeout

# refused WHAT PATTERN CMD...: CMD fails and its output says PATTERN.
refused() {
	_what=$1 _pat=$2
	shift 2
	if "$@" >"$T/out" 2>&1; then
		not_ok "$_what: refused"
		diag_file "$T/out" 5
	elif grep -qF -- "$_pat" "$T/out"; then
		ok "$_what: refused ($(grep -F -- "$_pat" "$T/out" | head -1 | cut -c1-160))"
	else
		not_ok "$_what: refused with a message saying \"$_pat\""
		diag_file "$T/out" 5
	fi
}

# daemon_refuses WHAT PATTERN [-o K=V]...: the daemon, started in the
# foreground, exits by itself (within 20 s) saying PATTERN.
daemon_refuses() {
	_what=$1 _pat=$2
	shift 2
	_port=$(free_port) || bail "a free port"
	refused "$_what" "$_pat" timeout 20 "$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" \
	    -o CreateMasterKey=yes -o LogStderr=yes -o Syslog=no -f \
	    -o "Socket=inet:$_port@127.0.0.1" "$@"
}

# new_master STATE: STATE/keystore with a master key of ours, 0600.
new_master() {
	mkdir -p -m 0700 "$1" "$1/keystore"
	openssl rand 32 >"$1/keystore/master.key"
	chmod 0600 "$1/keystore/master.key"
}

# ---- as any user: modes and links -------------------------------------

GATE_STATE="$T/st-mode"
mkdir -m 0700 "$GATE_STATE"
openssl rand 32 >"$GATE_STATE/reinject.key"
chmod 0640 "$GATE_STATE/reinject.key"
refused "a group-readable reinject.key (0640)" "$GATE_STATE/reinject.key: mode 0640" \
    gate_run -n
chmod 0600 "$GATE_STATE/reinject.key"
check "reinject.key 0600: smimegate -n accepts it" gate_run -n
openssl rand 16 >"$GATE_STATE/reinject.key"
refused "a reinject.key of 16 bytes" "$GATE_STATE/reinject.key: 16 bytes" gate_run -n

GATE_STATE="$T/st-link"
mkdir -m 0700 "$GATE_STATE"
openssl rand 32 >"$T/elsewhere.key"
chmod 0600 "$T/elsewhere.key"
ln -s "$T/elsewhere.key" "$GATE_STATE/reinject.key"
refused "a reinject.key that is a symbolic link" "$GATE_STATE/reinject.key: is a symbolic link" \
    gate_run -n

# Bind password files (LDAPDirectories, KeystoreLDAP): 0644 and links.
printf 'bind-secret\n' >"$T/bind.pw"
chmod 0644 "$T/bind.pw"
ln -s "$T/bind.pw" "$T/bind-link.pw"
GATE_STATE="$T/st-ldap"
URL="ldap://127.0.0.1:1/dc=example,dc=com????bindname=cn=gw%2cdc=example%2cdc=com"
refused "an LDAPDirectories bind password file 0644" "$T/bind.pw: mode 0644" \
    gate_run -n -o "LDAPDirectories=$URL,x-bindpwfile=$T/bind.pw"
chmod 0600 "$T/bind.pw"
refused "an LDAPDirectories bind password file that is a symbolic link" \
    "$T/bind-link.pw: is a symbolic link" \
    gate_run -n -o "LDAPDirectories=$URL,x-bindpwfile=$T/bind-link.pw"
check "an LDAPDirectories bind password file 0600: accepted" \
    gate_run -n -o "LDAPDirectories=$URL,x-bindpwfile=$T/bind.pw"
new_master "$GATE_STATE"
chmod 0640 "$T/bind.pw"
refused "a KeystoreLDAP bind password file 0640" "$T/bind.pw: mode 0640" \
    gate_ctl -o KeystoreBackend=ldap -o "KeystoreLDAP=$URL,x-bindpwfile=$T/bind.pw" keystore list
chmod 0600 "$T/bind.pw"
refused "a KeystoreLDAP bind password file that is a symbolic link" \
    "$T/bind-link.pw: is a symbolic link" \
    gate_ctl -o KeystoreBackend=ldap -o "KeystoreLDAP=$URL,x-bindpwfile=$T/bind-link.pw" keystore list

# The master key: 0640 and a link.
GATE_STATE="$T/st-master"
new_master "$GATE_STATE"
check "a master key 0600: accepted" gate_ctl keystore list
MK="$GATE_STATE/keystore/master.key"
chmod 0640 "$MK"
refused "a master key 0640" "$MK: mode 0640" gate_ctl keystore list
chmod 0600 "$MK"
mv "$MK" "$T/master.real"
ln -s "$T/master.real" "$MK"
refused "a master key that is a symbolic link" "$MK: is a symbolic link" gate_ctl keystore list
rm -f "$MK"
mv "$T/master.real" "$MK"
check "the master key back in place, 0600: accepted" gate_ctl keystore list

# The audit key: a symbolic link to a good key is not followed.
GATE_STATE="$T/st-audit"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/audit-real.key" 2>/dev/null
chmod 0600 "$T/audit-real.key"
mkdir -m 0700 "$T/akeys"
ln -s "$T/audit-real.key" "$T/akeys/audit.key"
daemon_refuses "an audit key that is a symbolic link" "$T/akeys/audit.key: is a symbolic link" \
    -o "AuditKeyFile=$T/akeys/audit.key"

# The milter's unix socket is still made 0660 (chmod without following).
GATE_STATE="$T/st-sock"
mkdir -m 0700 "$T/sock"
"$top/smimegate" -c "$GATE_CONF" -o "StateDirectory=$GATE_STATE" -o CreateMasterKey=yes \
    -o LogStderr=yes -o Syslog=no -f -o "Socket=unix:$T/sock/milter.sock" \
    >"$T/sock.log" 2>&1 &
sock_pid=$!
at_exit "stop_pid $sock_pid 100"
has_sock() { [ -S "$T/sock/milter.sock" ]; }
if wait_for 100 has_sock; then
	check "a unix milter socket is mode 0660" \
	    test "$(stat -c %a "$T/sock/milter.sock")" = 660
else
	not_ok "a unix milter socket is made"
	diag_file "$T/sock.log" 5
fi
stop_pid "$sock_pid" 100

# ---- as root with UserID: start-up gives nothing away -----------------

if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	skip "planted reinject.key links at start-up as root" "not root, or no user nobody"
	skip "master key of another user" "not root"
	done_testing
fi

# A state directory as a first start leaves it: the service user's.
victim="$T/victim"
printf 'root only\n' >"$victim"
chmod 0600 "$victim"
GATE_STATE="$T/st-root"
mkdir -m 0700 "$GATE_STATE"
chown nobody "$GATE_STATE"
ln -s "$victim" "$GATE_STATE/reinject.key"
daemon_refuses "as root, UserID=nobody, reinject.key a symbolic link to a root file" \
    "$GATE_STATE/reinject.key: is a symbolic link" -o UserID=nobody
check "the link's target still belongs to root, mode 0600" \
    test "$(stat -c '%U %a' "$victim")" = "root 600"

# The same with a hard link to a root-owned 32-byte file (as if the
# kernel let the service user make one).
rm -f "$GATE_STATE/reinject.key"
openssl rand 32 >"$victim"
chmod 0600 "$victim"
ln "$victim" "$GATE_STATE/reinject.key"
daemon_refuses "as root, UserID=nobody, reinject.key a hard link to a root file" \
    "$GATE_STATE/reinject.key: a regular file with more than one link" -o UserID=nobody
check "the hard link's target still belongs to root, mode 0600" \
    test "$(stat -c '%U %a' "$victim")" = "root 600"
rm -f "$GATE_STATE/reinject.key"

# A clean start as root with UserID still gives the state to nobody.
GATE_OPTS="-o UserID=nobody"
if gate_start; then
	check "a clean start: reinject.key made and given to nobody, 0600" \
	    test "$(stat -c '%U %a' "$GATE_STATE/reinject.key")" = "nobody 600"
	gate_stop
else
	not_ok "a clean start as root with UserID=nobody"
fi
GATE_OPTS=""

# A master key of another user in root's keystore: refused.
GATE_STATE="$T/st-owner"
new_master "$GATE_STATE"
chown nobody "$GATE_STATE/keystore/master.key"
refused "a master key owned by another user (root runs smimectl)" \
    "$GATE_STATE/keystore/master.key: owned by uid $(id -u nobody)" gate_ctl keystore list
done_testing
