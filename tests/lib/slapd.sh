# tests/lib/slapd.sh: a private slapd on loopback for certificate lookups.
# Needs common.sh.
#
# slapd_start LDIF        slapd in $T/slapd: its own slapd.conf and mdb
#                         database (suffix dc=example,dc=net; rootdn
#                         cn=admin,dc=example,dc=net, the only reader, with a
#                         random password in $SLAPD_PWFILE), LDIF loaded
#                         with slapadd, then slapd -d stats on
#                         127.0.0.1:$SLAPD_PORT, its log in $SLAPD_LOG
#                         ($SLAPD_ACL, when set: access lines put before
#                         the final "access to * by * none"; $SLAPD_GLOBAL,
#                         when set: lines of the global section, e.g.
#                         TLSCertificateFile for StartTLS)
# slapd_stop
# slapd_searches          how many SRCH operations slapd has logged
# ldif_head               the suffix and ou=people entries
# ldif_entry NAME MAIL [ATTR FILE]...
#                         an inetOrgPerson entry uid=NAME under ou=people;
#                         each ATTR gets FILE's bytes (base64 in the LDIF)
# slapd_add_cert NAME     adds NAME's entry (NAME@example.net, with
#                         $P/NAME.der as its userCertificate) to the
#                         running slapd with ldapadd
# slapd_url               the LDAPDirectories URL of this slapd: base
#                         ou=people, bound as the rootdn with its password
#                         file

SLAPD_DIR="$T/slapd"
SLAPD_LOG="$T/slapd/slapd.log"
SLAPD_SUFFIX="dc=example,dc=net"
SLAPD_BASE="ou=people,$SLAPD_SUFFIX"
SLAPD_ROOTDN="cn=admin,$SLAPD_SUFFIX"
SLAPD_PWFILE="$T/slapd/bind.pw"

ldif_head() {
	printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n' \
	    "$SLAPD_SUFFIX"
	printf 'dn: %s\nobjectClass: organizationalUnit\nou: people\n\n' "$SLAPD_BASE"
}

ldif_entry() {
	_n=$1 _m=$2
	shift 2
	printf 'dn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s\n' \
	    "$_n" "$SLAPD_BASE" "$_n" "$_n" "$_n" "$_m"
	while [ $# -ge 2 ]; do
		printf '%s:: %s\n' "$1" "$(base64 -w 0 "$2")"
		shift 2
	done
	echo
}

slapd_start() {
	SLAPD_PORT=${SLAPD_PORT:-$(free_port)} || bail "a free port for slapd"
	mkdir -p "$SLAPD_DIR/db"
	chmod 0700 "$SLAPD_DIR"
	[ -s "$SLAPD_PWFILE" ] || openssl rand -hex 12 >"$SLAPD_PWFILE"
	chmod 0600 "$SLAPD_PWFILE"      # a bind password file: 0600 or refused
	{
		echo "include /etc/ldap/schema/core.schema"
		echo "include /etc/ldap/schema/cosine.schema"
		echo "include /etc/ldap/schema/inetorgperson.schema"
		echo "pidfile $SLAPD_DIR/slapd.pid"
		echo "modulepath /usr/lib/ldap"
		echo "moduleload back_mdb"
		[ -z "${SLAPD_GLOBAL:-}" ] || printf '%s\n' "$SLAPD_GLOBAL"
		echo "database mdb"
		echo "maxsize 10485760"
		echo "suffix \"$SLAPD_SUFFIX\""
		echo "rootdn \"$SLAPD_ROOTDN\""
		echo "rootpw $(cat "$SLAPD_PWFILE")"
		echo "directory $SLAPD_DIR/db"
		echo "index mail eq"
		[ -z "${SLAPD_ACL:-}" ] || printf '%s\n' "$SLAPD_ACL"
		echo "access to * by * none"
	} >"$SLAPD_DIR/slapd.conf"
	if [ -n "${1:-}" ]; then
		slapadd -f "$SLAPD_DIR/slapd.conf" -l "$1" >"$SLAPD_DIR/slapadd.log" 2>&1 ||
		    { diag_file "$SLAPD_DIR/slapadd.log"; return 1; }
	fi
	slapd -f "$SLAPD_DIR/slapd.conf" -h "ldap://127.0.0.1:$SLAPD_PORT/" \
	    -d stats >>"$SLAPD_LOG" 2>&1 &
	SLAPD_PID=$!
	at_exit "stop_pid $SLAPD_PID 50; keep '$SLAPD_LOG'"
	wait_port "$SLAPD_PORT" "$SLAPD_PID" || { diag_file "$SLAPD_LOG"; return 1; }
}

slapd_stop() {
	stop_pid "${SLAPD_PID:-}" 50
	SLAPD_PID=""
}

slapd_searches() {
	grep -c ' SRCH base=' "$SLAPD_LOG" 2>/dev/null || true
}

slapd_url() {
	_binddn=$(echo "$SLAPD_ROOTDN" | sed 's/,/%2c/g')
	echo "ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_BASE????bindname=$_binddn,x-bindpwfile=$SLAPD_PWFILE"
}

slapd_add_cert() {
	ldif_entry "$1" "$1@example.net" "userCertificate;binary" "$P/$1.der" >"$T/$1.ldif"
	# -y takes the whole file as the password: no newline.
	printf '%s' "$(cat "$SLAPD_PWFILE")" >"$T/ldap.pw"
	ldapadd -x -H "ldap://127.0.0.1:$SLAPD_PORT/" -D "$SLAPD_ROOTDN" -y "$T/ldap.pw" \
	    -f "$T/$1.ldif" >"$T/$1.ldapadd.log" 2>&1 || { diag_file "$T/$1.ldapadd.log"; return 1; }
}
