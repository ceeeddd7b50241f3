#!/bin/sh
# The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of the tree
# (the build cleans and writes next to its source), then the package
# unpacked into a throwaway root with dpkg -x: the programs run from there
# and `smimegate -n` accepts the packaged configuration; the package holds
# the unit, the man pages and a postinst that makes the service user.
# SMIMEGATE_SKIP_PACKAGE=yes skips it (about 15 s).
. "$(dirname "$0")/../lib/common.sh"

if [ "${SMIMEGATE_SKIP_PACKAGE:-}" = yes ]; then
	skip "package build" "SMIMEGATE_SKIP_PACKAGE=yes"
	done_testing
fi
need_tools dpkg-buildpackage dh fakeroot git tar

mkdir -p "$T/build/src" "$T/root"
(cd "$top" && git ls-files -co --exclude-standard | grep -v '^debian/smimegate/' |
    tar cf - -T -) | (cd "$T/build/src" && tar xf -) || bail "copy of the tree"
if (cd "$T/build/src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	not_ok "dpkg-buildpackage -us -uc -b"
	diag_file "$T/build.log" 30 "build"
	done_testing
fi
deb=$(ls "$T"/build/smimegate_*_*.deb 2>/dev/null | head -1)
check "a .deb was written ($(basename "${deb:-none}"))" test -n "$deb"

dpkg -x "$deb" "$T/root"
R="$T/root"
for f in usr/sbin/smimegate usr/sbin/smimectl etc/smimegate/smimegate.conf \
    lib/systemd/system/smimegate.service usr/share/man/man8/smimegate.8.gz \
    usr/share/man/man5/smimegate.conf.5.gz; do
	check "the package holds /$f" test -e "$R/$f"
done
if "$R/usr/sbin/smimegate" -n -c "$R/etc/smimegate/smimegate.conf" >"$T/n.log" 2>&1; then
	ok "the packaged smimegate -n accepts the packaged configuration"
else
	not_ok "the packaged smimegate -n accepts the packaged configuration"
	diag_file "$T/n.log" 10 "smimegate -n"
fi
check "the packaged configuration runs as UserID smimegate" \
    grep -q '^UserID  *smimegate' "$R/etc/smimegate/smimegate.conf"
check "the packaged smimectl runs" sh -c "'$R/usr/sbin/smimectl' config -d >/dev/null"

mkdir -p "$T/ctl"
dpkg-deb -e "$deb" "$T/ctl"
check "postinst is valid sh" sh -n "$T/ctl/postinst"
check "postinst makes the system user smimegate" grep -q 'adduser --system --group --home /var/lib/smimegate' "$T/ctl/postinst"
check "postinst makes /var/lib/smimegate 0700" grep -q 'install -d -m 0700 -o smimegate' "$T/ctl/postinst"
check "Depends: adduser" sh -c "dpkg-deb -f '$deb' Depends | grep -q adduser"
check "the unit is hardened (ProtectSystem=strict, NoNewPrivileges)" \
    sh -c "grep -q '^ProtectSystem=strict' '$R/lib/systemd/system/smimegate.service' && grep -q '^NoNewPrivileges=yes' '$R/lib/systemd/system/smimegate.service'"

done_testing
