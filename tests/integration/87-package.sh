#!/bin/sh
# The Debian package: `dpkg-buildpackage -us -uc -b` on a copy of the tree
# (the build cleans and writes next to its source), then the package
# unpacked into a throwaway root with dpkg -x: the programs run from there
# and `smimegate -n` accepts the packaged configuration; the package holds
# the unit, the man pages and a postinst that makes the service user.
# Then the package is installed for real with `dpkg --root` into a
# throwaway system root (a copy of /etc, an empty dpkg database, /usr as
# an overlay over the host's, in a private mount namespace), so that its
# postinst runs chrooted there: the service user and directories are
# made in that root, never on the host, and `smimegate -n` runs chrooted
# from it.  Without root, unshare or overlayfs that part is skipped, with
# the reason.  SMIMEGATE_SKIP_PACKAGE=yes skips it all (about 15 s).
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
    usr/share/man/man5/smimegate.conf.5.gz etc/smimegate/templates/en/invite.txt \
    etc/smimegate/templates/de/pickup.html etc/smimegate/templates/style.css; do
	check "the package holds /$f" test -e "$R/$f"
done
# Run from the unpacked tree, not its root: the templates are under $R
# (the chrooted run below finds them at their default, /etc/smimegate).
TPL="TemplateDirectory=$R/etc/smimegate/templates"
if "$R/usr/sbin/smimegate" -n -c "$R/etc/smimegate/smimegate.conf" -o "$TPL" >"$T/n.log" 2>&1; then
	ok "the packaged smimegate -n accepts the packaged configuration"
else
	not_ok "the packaged smimegate -n accepts the packaged configuration"
	diag_file "$T/n.log" 10 "smimegate -n"
fi
check "the packaged configuration runs as UserID smimegate" \
    grep -q '^UserID  *smimegate' "$R/etc/smimegate/smimegate.conf"
check "the packaged smimectl runs" sh -c "'$R/usr/sbin/smimectl' -o '$TPL' config -d >/dev/null"
check "the packaged binaries' TemplateDirectory is the packaged one" sh -c \
    "'$R/usr/sbin/smimegate' -P TemplateDirectory | grep -qx /etc/smimegate/templates"

mkdir -p "$T/ctl"
dpkg-deb -e "$deb" "$T/ctl"
check "postinst is valid sh" sh -n "$T/ctl/postinst"
check "postinst makes the system user smimegate" grep -q 'adduser --system --group --home /var/lib/smimegate' "$T/ctl/postinst"
check "postinst makes /var/lib/smimegate 0700" grep -q 'install -d -m 0700 -o smimegate' "$T/ctl/postinst"
check "Depends: adduser" sh -c "dpkg-deb -f '$deb' Depends | grep -q adduser"
check "the unit lets ReinjectCommand write Postfix's maildrop under ProtectSystem=strict" \
    grep -q '^ReadWritePaths=-/var/spool/postfix/maildrop' "$R/lib/systemd/system/smimegate.service"
check "the unit is hardened (ProtectSystem=strict, NoNewPrivileges)" \
    sh -c "grep -q '^ProtectSystem=strict' '$R/lib/systemd/system/smimegate.service' && grep -q '^NoNewPrivileges=yes' '$R/lib/systemd/system/smimegate.service'"

# ---- dpkg --root into a throwaway system root: postinst runs there ------
# why_no_root: empty when a throwaway root can be made here, else why not.
why_no_root() {
	[ "$(id -u)" = 0 ] || { echo "not root: dpkg --root chroots to run maintainer scripts"; return; }
	for _t in unshare mount chroot dpkg; do
		command -v "$_t" >/dev/null 2>&1 || { echo "no $_t"; return; }
	done
	mkdir -p "$T/probe/u" "$T/probe/w" "$T/probe/m"
	unshare -m sh -c "mount -t overlay overlay -o lowerdir=/usr,upperdir=$T/probe/u,workdir=$T/probe/w $T/probe/m" \
	    >"$T/probe.log" 2>&1 || echo "no private mount namespace with overlayfs here ($(head -1 "$T/probe.log"))"
}
why=$(why_no_root)
if [ -n "$why" ]; then
	skip "dpkg --root install, postinst and smimegate -n in a throwaway root" "$why"
	done_testing
	exit
fi
S="$T/sysroot"
mkdir -p "$S/usr" "$S/var/lib/dpkg/info" "$S/var/lib/dpkg/updates" "$S/var/log" \
    "$S/tmp" "$S/dev" "$S/proc" "$S/run" "$T/ov/upper" "$T/ov/work"
for l in bin sbin lib lib64; do
	[ -L "/$l" ] && ln -s "$(readlink "/$l")" "$S/$l"
done
cp -a /etc/. "$S/etc/"
# The copy must not know the user yet (the host has none either).
for f in passwd group shadow gshadow; do
	[ -f "$S/etc/$f" ] && sed -i '/^smimegate:/d' "$S/etc/$f"
done
: >"$S/var/lib/dpkg/status"
: >"$S/var/lib/dpkg/available"
host_passwd=$(cksum </etc/passwd)
cat >"$T/inroot.sh" <<INROOT
set -u
mount -t overlay overlay -o lowerdir=/usr,upperdir=$T/ov/upper,workdir=$T/ov/work "$S/usr" || exit 90
mount --bind /dev "$S/dev" || exit 91
mount -t proc proc "$S/proc" 2>/dev/null
# Dependencies (libraries, adduser) are the host's, under the overlay;
# the empty database does not know them.
dpkg --root="$S" --force-depends -i "$deb" >"$T/dpkg-i.log" 2>&1
echo \$? >"$T/dpkg-i.rc"
dpkg --root="$S" -s smimegate >"$T/dpkg-s.log" 2>&1
chroot "$S" /usr/sbin/smimegate -n -c /etc/smimegate/smimegate.conf >"$T/chroot-n.log" 2>&1
echo \$? >"$T/chroot-n.rc"
chroot "$S" /usr/sbin/smimectl -c /etc/smimegate/smimegate.conf config -d >"$T/chroot-ctl.log" 2>&1
echo \$? >"$T/chroot-ctl.rc"
chroot "$S" stat -c '%a %U %G' /var/lib/smimegate /etc/smimegate /etc/smimegate/smimegate.conf >"$T/chroot-stat.log" 2>&1
test -x "$S/usr/sbin/smimegate" && echo yes >"$T/in-root.ok"
chroot "$S" getent passwd smimegate >"$T/user.log" 2>&1
chroot "$S" getent group smimegate >"$T/group.log" 2>&1
chroot "$S" id -nG smimegate >"$T/groups.log" 2>&1
dpkg --root="$S" --purge smimegate >"$T/dpkg-purge.log" 2>&1
echo \$? >"$T/dpkg-purge.rc"
umount "$S/proc" 2>/dev/null
umount "$S/dev"
umount "$S/usr"
INROOT
unshare -m sh "$T/inroot.sh"
rc=$?
check "the throwaway root is set up (overlay /usr, /dev): rc $rc" test "$rc" = 0
if [ "$(cat "$T/dpkg-i.rc" 2>/dev/null)" = 0 ]; then
	ok "dpkg --root installs the package into the throwaway root (postinst ran)"
else
	not_ok "dpkg --root installs the package into the throwaway root (postinst ran)"
	diag_file "$T/dpkg-i.log" 20 "dpkg -i"
fi
check "dpkg's database there says installed" grep -q '^Status: install ok installed' "$T/dpkg-s.log"
check "the programs are in the root" test -f "$T/in-root.ok"
check "the host's /usr has no smimegate" test ! -e /usr/sbin/smimegate
if awk -F: '$1 == "smimegate" && $3 < 1000 { f = 1 } END { exit !f }' "$T/user.log"; then
	ok "postinst made the system user smimegate in the root ($(cat "$T/user.log"))"
else
	not_ok "postinst made the system user smimegate in the root (got '$(cat "$T/user.log")')"
fi
check "postinst made the group smimegate in the root" grep -q '^smimegate:' "$T/group.log"
# ReinjectCommand under NoNewPrivileges: postdrop's setgid bit is ignored,
# so the user needs the group itself (Postfix is installed here).
if getent group postdrop >/dev/null; then
	check "postinst put smimegate in group postdrop (got '$(cat "$T/groups.log")')" \
	    grep -qw postdrop "$T/groups.log"
else
	skip "postinst put smimegate in group postdrop" "no group postdrop on this machine"
fi
{ read -r st_var; read -r st_etc; read -r st_conf; } <"$T/chroot-stat.log"
check "postinst made /var/lib/smimegate 0700 for the user smimegate (got '$st_var')" \
    test "$st_var" = "700 smimegate smimegate"
check "postinst made /etc/smimegate 0750, group smimegate (got '$st_etc')" \
    test "$st_etc" = "750 root smimegate"
check "postinst made smimegate.conf 0640, group smimegate (got '$st_conf')" \
    test "$st_conf" = "640 root smimegate"
check "the host's /etc/passwd is untouched" test "$(cksum </etc/passwd)" = "$host_passwd"
check "the host has no user smimegate" sh -c "! getent passwd smimegate >/dev/null"
if [ "$(cat "$T/chroot-n.rc" 2>/dev/null)" = 0 ]; then
	ok "smimegate -n runs chrooted in the throwaway root with the installed configuration"
else
	not_ok "smimegate -n runs chrooted in the throwaway root with the installed configuration"
	diag_file "$T/chroot-n.log" 10 "smimegate -n"
fi
check "smimectl config -d runs chrooted there" test "$(cat "$T/chroot-ctl.rc" 2>/dev/null)" = 0
check "dpkg --root --purge runs postrm (rc $(cat "$T/dpkg-purge.rc" 2>/dev/null))" \
    test "$(cat "$T/dpkg-purge.rc" 2>/dev/null)" = 0
check "purge removed /var/lib/smimegate from the root" test ! -e "$S/var/lib/smimegate"
check "purge removed the user from the root" sh -c "! grep -q '^smimegate:' '$S/etc/passwd'"

done_testing
