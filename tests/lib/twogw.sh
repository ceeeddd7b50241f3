# tests/lib/twogw.sh: two gateways (A and B) on one machine, each with its
# own state directory, log, milter port and private Postfix.  Needs
# common.sh, gate.sh and postfix.sh (and slapd.sh for twogw_gw_ldif,
# twogw_people and twogw_kurl; redis.sh for twogw_shared_dir; mime.sh for
# twogw_enroll).
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
# twogw_reader             RDDN (cn=reader under the suffix) and RDPW, a
#                          file with a random password for it (0600):
#                          another user of the directory
# twogw_people NAME...     $T/people.ldif: ldif_head, NAME@example.com for
#                          each NAME, the gateways' DN (after
#                          twogw_gw_secret) and, after twogw_reader, the
#                          reader
# twogw_shared_dir NAME... for gateways that share a CA: twogw_gw_secret,
#                          twogw_people NAME..., slapd with them, where the
#                          gateways' DN alone reads and writes ou=smimegate
#                          and userPKCS12, and redis-server; KURL
#                          (twogw_kurl), ROOTPW (the rootdn's password file)
#                          and ldap_admin ARGS...: ldapsearch as the rootdn
# twogw_ports              HTTP_A and HTTP_B (the portals), REINJECT_PORT
#                          (EnrollmentSMTP) and POLICY, a PolicyFile with
#                          encrypt=always to example.net
# twogw_master CTL...      inst A; `CTL... ca list` makes A's master key
#                          (its output in $T/list-A.txt), then
#                          twogw_share_master
# twogw_kurl               KURL: the KeystoreLDAP URL of the running slapd,
#                          bound as GWDN with GWPW
# twogw_share_master       A's master key copied to B's state directory
#                          (as an administrator would)
# twogw_start I [-o K=V]...  smimegate I and its Postfix started (extra
#                          master.cf lines in PF_MASTER_EXTRA), stopped at
#                          exit
# twogw_start_portals [-o K=V]...  twogw_start A and B, each with its portal
#                          (CAHTTPListen on HTTP_A, HTTP_B) listening; A's
#                          Postfix also takes reinjected mail without the
#                          milter on REINJECT_PORT
# twogw_msg ID FROM TO     a plain-text message $T/m/ID.eml (marker-ID)
# twogw_enroll ID RCPT     alice's mail to RCPT through the current instance
#                          (ok lines: delivered, encrypted); TOKEN and
#                          PASSWORD from the invitation and the notice,
#                          which then go to $T/sink-old
# twogw_pickup TOKEN PASSWORD OUT  POSTs to the current instance's portal,
#                          the answer in OUT; prints the HTTP code
# twogw_pickup_decrypt NAME ID TOKEN PASSWORD  NAME's link made on A picked
#                          up on B ($T/NAME.p12; the key and certificate in
#                          $T/NAME.pem) decrypts the message twogw_enroll ID
#                          delivered (ok lines)
# twogw_pend_a             A restarted with EnrollmentSMTP refusing: alice's
#                          mail to zed@example.net ($T/m/pend.eml) through A
#                          is tempfailed (ok line)
# twogw_pend_b             the retry through B is delivered, with the
#                          certificate A kept pending (ok lines)

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

twogw_reader() {
	RDDN="cn=reader,$SLAPD_SUFFIX"
	RDPW="$T/reader.pw"
	openssl rand -hex 12 | tr -d "\n" >"$RDPW" && chmod 0600 "$RDPW"
}

twogw_people() {
	{
		ldif_head
		for _twogw_n in "$@"; do ldif_entry "$_twogw_n" "$_twogw_n@example.com"; done
		twogw_gw_ldif smimegate "$GWPW"
		if [ -n "${RDPW:-}" ]; then twogw_gw_ldif reader "$RDPW"; fi
	} >"$T/people.ldif"
}

twogw_gw_ldif() {
	printf 'dn: cn=%s,%s\nobjectClass: applicationProcess\n' "$1" "$SLAPD_SUFFIX"
	printf 'objectClass: simpleSecurityObject\ncn: %s\nuserPassword: %s\n\n' "$1" "$(cat "$2")"
}

twogw_kurl() {
	_gwdn=$(echo "$GWDN" | sed 's/,/%2c/g')
	KURL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_BASE????bindname=$_gwdn,x-bindpwfile=$GWPW"
}

twogw_shared_dir() {
	twogw_gw_secret
	twogw_people "$@"
	# The gateways' DN alone reads and writes their subtree (the CA, the
	# records, outsiders' entries) and userPKCS12; it may make the subtree.
	SLAPD_ACL="access to dn.subtree=\"ou=smimegate,$SLAPD_BASE\" by dn.exact=\"$GWDN\" write by * none
access to dn.base=\"$SLAPD_BASE\" attrs=children by dn.exact=\"$GWDN\" write by * none
access to attrs=userPassword by anonymous auth by * none
access to attrs=userPKCS12 by dn.exact=\"$GWDN\" write by * none
access to * by dn.exact=\"$GWDN\" read by users read by * none"
	slapd_start "$T/people.ldif" || bail "slapd started"
	redis_start || bail "redis-server started"
	twogw_kurl
	ROOTPW="$T/root.pw"
	tr -d '\n' <"$SLAPD_PWFILE" >"$ROOTPW"
}

ldap_admin() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "ldap://127.0.0.1:$SLAPD_PORT" \
	    -D "$SLAPD_ROOTDN" -y "$ROOTPW" "$@"
}

twogw_ports() {
	HTTP_A=$(free_port) || bail "a free port"
	HTTP_B=$(free_port) || bail "a free port"
	REINJECT_PORT=$(free_port) || bail "a free port"
	POLICY="$T/policy"
	printf 'default encrypt=if-possible\nto example.net encrypt=always fallback=reject\n' >"$POLICY"
}

twogw_master() {
	inst A
	"$@" ca list >"$T/list-A.txt" 2>&1
	test -s "$T/state-A/keystore/master.key" || { diag_file "$T/list-A.txt"; bail "A's master key"; }
	twogw_share_master
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

twogw_start_portals() {
	for _twogw_i in A B; do
		eval "_twogw_http=\$HTTP_$_twogw_i"
		if [ "$_twogw_i" = A ]; then
			PF_MASTER_EXTRA="127.0.0.1:$REINJECT_PORT inet n - n - - smtpd -o smtpd_milters="
		else
			PF_MASTER_EXTRA=""
		fi
		twogw_start "$_twogw_i" -o "CAHTTPListen=127.0.0.1:$_twogw_http" "$@"
		wait_port "$HTTP_PORT" "$GATE_PID" 100 || bail "the portal of $CUR listens"
	done
}

twogw_msg() {
	mkdir -p "$T/m"
	{
		printf 'From: <%s>\nTo: %s\nSubject: shared %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n'
		printf 'Secret for %s: marker-%s.\n' "$3" "$1"
	} | make_message "$T/m/$1.eml"
}

twogw_enroll() {
	TOKEN="" PASSWORD=""
	twogw_msg "$1" alice@example.com "$2"
	if send_mail "$T/m/$1.eml" alice@example.com "$2" && wait_delivered "$QID" &&
	    sink_fetch "<$1@example.com>" "$T/m/$1.got"; then
		ok "$1: alice's mail to $2 through $CUR delivered"
	else
		not_ok "$1: alice's mail to $2 through $CUR delivered ($SMTP_REPLY)"
		diag_file "$GATE_LOG" 10
		return 1
	fi
	case $(mime_header "$T/m/$1.got" Content-Type) in
	*application/pkcs7-mime*) ok "$1: delivered encrypted" ;;
	*) not_ok "$1: delivered encrypted" ;;
	esac
	sink_wait "Subject: Certificate issued for $2" "$T/m/$1.note"
	# the invitation is multipart/alternative, quoted-printable: decoded
	sink_wait_count "Subject: Encrypted mail from alice@example.com" "$2" 1 &&
	    sink_fetch "Subject: Encrypted mail from alice@example.com" "$T/m/$1.inv" "$2" &&
	    mime_part_text "$T/m/$1.inv" text/plain "$T/m/$1.inv.txt"
	TOKEN=$(sed -n 's/.*pickup?t=\([0-9a-f]*\).*/\1/p' "$T/m/$1.inv.txt" 2>/dev/null | head -1)
	PASSWORD=$(tr -d '\r' <"$T/m/$1.note" | sed -n 's/^    \([A-Za-z0-9]\{20\}\)$/\1/p' | head -1)
	check "$1: an invitation with a link, a notice with a password" \
	    test -n "$TOKEN" -a -n "$PASSWORD"
	mkdir -p "$T/sink-old"
	grep -l -e "$2" "$SINK_DIR"/* 2>/dev/null | xargs -r mv -t "$T/sink-old"
}

twogw_pickup() {
	curl -s -o "$3" -w '%{http_code}' --data-urlencode "t=$1" \
	    --data-urlencode "password=$2" "$URL/pickup"
}

twogw_pickup_decrypt() {
	inst B
	code=$(twogw_pickup "$3" "$4" "$T/$1.p12")
	check "the link made on A works on B: the PKCS#12 downloads (HTTP $code)" test "$code" = 200
	if openssl pkcs12 -in "$T/$1.p12" -passin "pass:$4" -nodes -out "$T/$1.pem" \
	    2>"$T/p12.log" && openssl cms -decrypt -in "$T/m/$2.got" -recip "$T/$1.pem" \
	    -inkey "$T/$1.pem" -out "$T/$2.txt" 2>>"$T/p12.log" && grep -q "marker-$2" "$T/$2.txt"; then
		ok "$1 decrypts the message A encrypted with the key picked up on B"
	else
		not_ok "$1 decrypts the message A encrypted with the key picked up on B"
		diag_file "$T/p12.log" 5
	fi
}

twogw_pend_a() {
	inst A
	DEAD_PORT=$(free_port) || bail "a free port"
	gate_stop
	gate_start -o "CAHTTPListen=127.0.0.1:$HTTP_PORT" -o "EnrollmentSMTP=127.0.0.1:$DEAD_PORT" ||
	    bail "smimegate A restarted without a way to send invitations"
	twogw_msg pend alice@example.com zed@example.net
	send_mail "$T/m/pend.eml" alice@example.com zed@example.net
	case $SMTP_CODE in
	4*) ok "A tempfails alice's mail to zed: the invitation cannot go out ($SMTP_CODE)" ;;
	*) not_ok "A tempfails alice's mail to zed (got '$SMTP_REPLY')" ;;
	esac
}

twogw_pend_b() {
	inst B
	if send_mail "$T/m/pend.eml" alice@example.com zed@example.net && wait_delivered "$QID"; then
		ok "the retry through B is delivered"
	else
		not_ok "the retry through B is delivered ($SMTP_REPLY)"
	fi
	check "B used the certificate A kept pending" \
	    grep -q 'enroll <zed@example.net>: certificate of the earlier try used' "$GATE_LOG"
}
