# tests/lib/twogw.sh: two gateways (A and B) on one machine, each with its
# own state directory, log, milter port and private Postfix.  Needs
# common.sh, gate.sh and postfix.sh (and slapd.sh for twogw_gw_ldif and
# twogw_kurl).
#
# inst A|B                 the helpers' globals now name that instance:
#                          GATE_STATE, GATE_LOG, PF_DIR, MILTER_PORT,
#                          SMTP_PORT, GATE_PID (kept per instance), CUR;
#                          when HTTP_A/HTTP_B are set, HTTP_PORT and URL
#                          (http://127.0.0.1:HTTP_PORT) too
# twogw_gw_secret          GWDN (cn=smimegate under the suffix) and GWPW,
#                          a file with a random password for it (0600)
# twogw_gw_ldif NAME PWFILE  the LDIF of a bind DN cn=NAME (a simple
#                          security object with that password)
# twogw_kurl               KURL: the KeystoreLDAP URL of the running slapd,
#                          bound as GWDN with GWPW
# twogw_share_master       A's master key copied to B's state directory
#                          (as an administrator would)
# twogw_start I [-o K=V]...  smimegate I and its Postfix started (extra
#                          master.cf lines in PF_MASTER_EXTRA), stopped at
#                          exit

inst() {
	if [ -n "${CUR:-}" ]; then
		eval "MP_$CUR=\${MILTER_PORT:-}; SP_$CUR=\${SMTP_PORT:-}; GP_$CUR=\${GATE_PID:-}"
	fi
	CUR=$1
	GATE_STATE="$T/state-$1"
	GATE_LOG="$T/gate-$1.log"
	PF_DIR="$T/pf-$1"
	eval "MILTER_PORT=\${MP_$1:-}; SMTP_PORT=\${SP_$1:-}; GATE_PID=\${GP_$1:-}"
	eval "_twogw_http=\${HTTP_$1:-}"
	if [ -n "$_twogw_http" ]; then
		HTTP_PORT=$_twogw_http
		URL="http://127.0.0.1:$HTTP_PORT"
	fi
}

twogw_gw_secret() {
	GWDN="cn=smimegate,$SLAPD_SUFFIX"
	GWPW="$T/gw.pw"
	openssl rand -hex 12 | tr -d "\n" >"$GWPW" && chmod 0600 "$GWPW"
}

twogw_gw_ldif() {
	printf 'dn: cn=%s,%s\nobjectClass: applicationProcess\n' "$1" "$SLAPD_SUFFIX"
	printf 'objectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s\n\n' "$1" "$(cat "$2")"
}

twogw_kurl() {
	_gwdn=$(echo "$GWDN" | sed 's/,/%2c/g')
	KURL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_BASE????bindname=$_gwdn,x-bindpwfile=$GWPW"
}

twogw_share_master() {
	mkdir -p "$T/state-B/keystore" && chmod 0700 "$T/state-B" "$T/state-B/keystore"
	cp "$T/state-A/keystore/master.key" "$T/state-B/keystore/master.key" &&
	    chmod 0600 "$T/state-B/keystore/master.key"
}

twogw_start() {
	inst "$1"
	shift
	gate_start "$@" || bail "smimegate $CUR started"
	pf_start "$MILTER_PORT" || bail "Postfix $CUR started with smtpd_milters"
	at_exit "PF_DIR='$PF_DIR'; pf_stop"
}
