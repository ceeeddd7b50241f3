# tests/lib/postfix.sh: a private Postfix instance relaying to smtp-sink,
# and mail sent to it with swaks.  Needs common.sh.
#
# sink_start              smtp-sink on $SINK_PORT, one file per message
#                         under $SINK_DIR (-d); with SINK_DUMP=no, the
#                         sink keeps nothing (benchmarks)
# pf_start [MILTER_PORT]  Postfix in $T/pf: smtpd on 127.0.0.1:$SMTP_PORT,
#                         relaying everything to the sink; with a port,
#                         smtpd_milters=inet:127.0.0.1:PORT, milter
#                         protocol 6, default action tempfail; without,
#                         no milter settings.  Extra main.cf lines come
#                         from $PF_EXTRA, extra master.cf lines from
#                         $PF_MASTER_EXTRA.
# pf_stop
# sasl_start USERS_FILE   SMTP AUTH (PLAIN, LOGIN) for the next pf_start,
#                         through Cyrus SASL inside smtpd: a private sasldb
#                         made with saslpasswd2 from USERS_FILE ("login
#                         password" lines)
# send_mail FILE FROM RCPT[,RCPT...] [swaks options...]
#                         sends FILE (a whole message, CRLF) byte for byte;
#                         sets SMTP_REPLY (the answer to the end of data),
#                         SMTP_CODE and QID; 0 when the message was queued
# wait_delivered QID      waits (bounded) for Postfix to log status=sent
# sink_fetch MARKER OUT [RCPT]
#                         the delivered message that contains MARKER (and
#                         went to RCPT), as the sink saw it, CRLF, without
#                         the sink's own headers
# sink_files MARKER [RCPT] the sink's files that contain MARKER (and went to
#                         RCPT: the sink writes one X-Rcpt-Args line per
#                         recipient of a delivery), one a line
# sink_count MARKER RCPT  how many deliveries to RCPT contain MARKER
# sink_wait MARKER OUT [TENTHS]
#                         waits (bounded, default 30 s) for a delivered
#                         message that contains MARKER, then sink_fetch
# sink_wait_count MARKER RCPT N [TRIES]
#                         waits (TRIES x 0.2 s, default 150) for N of them
# sink_strip FILE OUT     a sink file as the message, CRLF, without the
#                         sink's own headers
# strip_received IN OUT   drops the first header (Postfix's Received:)
# pf_reinject FILE [ARGS] writes FILE, a ReinjectCommand that hands the
#                         message to this Postfix with its sendmail(1)
#                         (-G -i); with ARGS, each call's arguments are
#                         appended to that file first
#
# The instance: own config_directory, queue_directory and data_directory;
# every service unchrooted; no DNS (bracketed next hop); no local delivery;
# logs to $T/pf/maillog through postlogd (there is no syslogd).

PF_DIR="$T/pf"
SINK_DIR="$T/sink"
# Postfix's myhostname; Cyrus SASL also takes it as the realm of a login
# without "@" (see sasl_start).
PF_HOSTNAME=mta.smimegate.test

sink_start() {
	SINK_PORT=$(free_port) || bail "a free port for smtp-sink"
	mkdir -p "$SINK_DIR"
	chown postfix "$SINK_DIR"
	# -h: a name unlike Postfix's, or Postfix sees a mail loop.
	# -d: one file per message; -u: as root it must drop to a user that
	# can write the dump directory.
	set -- -d "$SINK_DIR/%H%M%S."
	[ "${SINK_DUMP:-yes}" = no ] && set --
	smtp-sink -u postfix -h sink.smimegate.test "$@" \
	    -t 30 "127.0.0.1:$SINK_PORT" 256 >"$T/sink.log" 2>&1 &
	SINK_PID=$!
	at_exit "stop_pid $SINK_PID 20"
	wait_port "$SINK_PORT" "$SINK_PID" || { diag_file "$T/sink.log"; return 1; }
}

pf_start() {
	_mp=${1:-}
	SMTP_PORT=$(free_port) || bail "a free port for smtpd"
	mkdir -p "$PF_DIR/conf" "$PF_DIR/queue" "$PF_DIR/data"
	chmod 0755 "$PF_DIR" "$PF_DIR/conf" "$PF_DIR/queue"
	chown postfix "$PF_DIR/data"
	: >"$PF_DIR/maillog"
	_sasl=""
	if [ -n "${SASL_DIR:-}" ]; then
		# smtpd_sasl_path names the application: Cyrus reads
		# smtpd.conf from cyrus_sasl_config_path (upstream Postfix) or
		# from config_directory/sasl (Debian's Postfix 3.7 ignores the
		# parameter): $SASL_DIR is both.  No smtpd_sasl_local_domain:
		# a login keeps the form the client gave (see sasl_start).
		_sasl="smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL_DIR
smtpd_sasl_local_domain =
smtpd_sasl_security_options = noanonymous"
	fi
	# Without a port, no milter settings at all (Postfix's defaults), so
	# that $PF_EXTRA can attach one without overriding earlier lines.
	_milters=""
	if [ -n "$_mp" ]; then
		_milters="smtpd_milters = inet:127.0.0.1:$_mp
milter_protocol = 6
milter_default_action = tempfail"
	fi
	cat >"$PF_DIR/conf/main.cf" <<EOF
# A private Postfix for smimegate's tests (written by tests/lib/postfix.sh).
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-smimegate-test
maillog_file = $PF_DIR/maillog
maillog_file_prefixes = $PF_DIR
myhostname = $PF_HOSTNAME
mydomain = smimegate.test
myorigin = \$myhostname
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
relayhost = [127.0.0.1]:$SINK_PORT
default_transport = smtp:[127.0.0.1]:$SINK_PORT
relay_transport = smtp:[127.0.0.1]:$SINK_PORT
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
# Leave headers alone: what arrives is what was sent plus Received:.
local_header_rewrite_clients =
smtputf8_enable = no
biff = no
append_dot_mydomain = no
smtpd_banner = \$myhostname ESMTP
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
$_milters
$_sasl
${PF_EXTRA:-}
EOF
	cat >"$PF_DIR/conf/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
${PF_MASTER_EXTRA:-}
EOF
	postfix -c "$PF_DIR/conf" check >"$T/postfix-check.log" 2>&1 ||
	    { diag_file "$T/postfix-check.log"; return 1; }
	at_exit "pf_stop"
	postfix -c "$PF_DIR/conf" start >"$T/postfix-start.log" 2>&1 ||
	    { diag_file "$T/postfix-start.log"; diag_file "$PF_DIR/maillog"; return 1; }
	wait_port "$SMTP_PORT" || { diag_file "$PF_DIR/maillog"; return 1; }
}

pf_stop() {
	[ -f "$PF_DIR/conf/main.cf" ] || return 0
	postfix -c "$PF_DIR/conf" stop >/dev/null 2>&1
	# postfix stop returns before the master has gone: wait for its pid.
	_i=0
	while [ $_i -lt 100 ] && [ -f "$PF_DIR/queue/pid/master.pid" ] &&
	    kill -0 "$(tr -d ' ' <"$PF_DIR/queue/pid/master.pid")" 2>/dev/null; do
		sleep 0.1
		_i=$((_i + 1))
	done
	keep "$PF_DIR/maillog"
}

# The data file swaks sends: the message dot-stuffed, then "." (swaks adds
# the final CRLF itself, and with --no-data-fixup nothing else).
_swaks_data() {
	sed 's/^\./../' "$1" >"$2"
	printf '.' >>"$2"
}

send_mail() {
	_f=$1 _from=$2 _to=$3
	shift 3
	_swaks_data "$_f" "$_f.swaks"
	swaks --server 127.0.0.1 --port "$SMTP_PORT" --timeout 60 \
	    --helo client.smimegate.test --from "$_from" --to "$_to" \
	    --data "@$_f.swaks" --no-data-fixup "$@" >"$_f.swaks.log" 2>&1
	# The reply to the end of data: the last reply before QUIT.
	SMTP_REPLY=$(awk '/^ *-> QUIT/ { exit } /^<[-*~]* +[0-9][0-9][0-9] / { r = $0 } END { print r }' "$_f.swaks.log" |
	    sed 's/^<[-*~]* *//')
	SMTP_CODE=$(echo "$SMTP_REPLY" | cut -c1-3)
	QID=$(echo "$SMTP_REPLY" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')
	[ "$SMTP_CODE" = 250 ] && [ -n "$QID" ]
}

_pf_sent() {
	grep -q " $1: to=<.*status=sent" "$PF_DIR/maillog"
}
_pf_failed() {
	grep -Eq " $1: to=<.*status=(deferred|bounced)" "$PF_DIR/maillog"
}

wait_delivered() {
	_i=0
	while [ $_i -lt 300 ]; do
		_pf_sent "$1" && return 0
		if _pf_failed "$1"; then
			grep " $1: " "$PF_DIR/maillog" | sed 's/^/#   /'
			return 1
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	diag "queue ID $1: no delivery logged within 30 s"
	return 1
}

sink_files() {
	if [ -n "${2:-}" ]; then
		grep -l -F -- "$1" "$SINK_DIR"/* 2>/dev/null | xargs -r grep -l -i "^X-Rcpt-Args: <$2>"
	else
		grep -l -F -- "$1" "$SINK_DIR"/* 2>/dev/null
	fi
}

sink_count() {
	sink_files "$1" "$2" | wc -l | tr -d ' '
}

_sink_has() { [ -n "$(sink_files "$1" | head -1)" ]; }

sink_wait() {
	wait_for "${3:-300}" _sink_has "$1" && sink_fetch "$1" "$2"
}

sink_wait_count() {
	_i=0
	while [ "$_i" -lt "${4:-150}" ]; do
		[ "$(sink_count "$1" "$2")" -ge "$3" ] && return 0
		sleep 0.2
		_i=$((_i + 1))
	done
	return 1
}

sink_strip() {
	# The sink writes LF lines: its own X-* headers and a three-line
	# Received:, the message, then one empty line.
	awk '
	    BEGIN { state = 0 }
	    state == 0 && /^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): / { next }
	    state == 0 && /^Received: / { state = 1; next }
	    state == 1 && /^[ \t]/ { next }
	    { state = 2; l[++n] = $0 }
	    END {
		if (n > 0 && l[n] == "") n--
		for (i = 1; i <= n; i++) printf "%s\r\n", l[i]
	    }' "$1" >"$2"
}

sink_fetch() {
	_f=$(sink_files "$1" "${3:-}" | head -1)
	[ -n "$_f" ] || { diag "no delivered message contains $1${3:+ for <$3>}"; return 1; }
	sink_strip "$_f" "$2"
}

strip_received() {
	awk 'NR == 1 && /^Received:/ { skip = 1; next }
	    skip && /^[ \t]/ { next }
	    { skip = 0; print }' "$1" >"$2"
}

# sasl_start USERS_FILE: SMTP AUTH through Cyrus SASL, the library inside
# Postfix's smtpd (smtpd_sasl_type = cyrus): auxprop over a private sasldb
# in $SASL_DIR ($PF_DIR/conf/sasl), one entry per "login password" line of
# USERS_FILE.  A later pf_start offers PLAIN and LOGIN.
#
# Cyrus looks a login up as user@realm: "alice@example.com" is user alice in
# realm example.com; a login without "@" ("boss") is looked up in the realm
# of the server's name (Postfix passes myhostname, and no user realm since
# smtpd_sasl_local_domain is empty).  The authenticated name Postfix hands
# the milter ({auth_authen}) is the login as the client gave it.
sasl_start() {
	SASL_DIR="$PF_DIR/conf/sasl"
	mkdir -p "$SASL_DIR"
	chmod 0755 "$PF_DIR" "$PF_DIR/conf" "$SASL_DIR"
	_db="$SASL_DIR/sasldb2"
	cat >"$SASL_DIR/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $_db
EOF
	: >"$T/sasl.log"
	while read -r _login _pw; do
		case $_login in ''|'#'*) continue ;; esac
		case $_login in
		*@*) _user=${_login%@*} _realm=${_login##*@} ;;
		*) _user=$_login _realm=$PF_HOSTNAME ;;
		esac
		printf '%s' "$_pw" | saslpasswd2 -p -c -f "$_db" -u "$_realm" "$_user" \
		    >>"$T/sasl.log" 2>&1 || { diag_file "$T/sasl.log"; return 1; }
	done <"$1"
	# smtpd runs as postfix and reads the database; nobody else may.
	chown postfix "$_db" && chmod 0600 "$_db" || return 1
	sasldblistusers2 -f "$_db" >"$SASL_DIR/users.list" 2>>"$T/sasl.log" ||
	    { diag_file "$T/sasl.log"; return 1; }
	keep "$SASL_DIR/users.list" sasldb-users.list
}

pf_reinject() {
	{
		echo '#!/bin/sh'
		[ -z "${2:-}" ] || printf 'echo "$*" >>"%s"\n' "$2"
		printf 'exec /usr/sbin/sendmail -C "%s/conf" -G -i "$@"\n' "$PF_DIR"
	} >"$1"
	chmod 0755 "$1"
}
