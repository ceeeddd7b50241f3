#!/bin/sh
# tests/bench/bench.sh: `make bench`, the gateway measured against its
# limits on this machine, in one run of a few minutes.  Prints a table and
# writes the same figures as JSON to tests/out/bench.json (the table also
# to tests/out/bench.txt).  How to read it: README.md, "Benchmark".
#
# Environment (defaults in brackets):
#   BENCH_MESSAGES  messages per end-to-end row [1000]
#   BENCH_SESSIONS  smtp-source sessions in parallel [10]
#   BENCH_REPEAT    runs per end-to-end row; the best is kept [3]
#   BENCH_SIZE      message size in bytes [10240]
#   BENCH_LARGE_MB  the large message, in MB [25]
#   BENCH_NAIVE     messages for the naive `openssl cms` row [100]
#   BENCH_LOOKUPS   lookups per lookup row [2000]
#   BENCH_WIDE      messages for the 100-recipient row [BENCH_MESSAGES / 10]
#   BENCH_ONLY      a space-separated subset of: e2e inbound wide cpu large
#                   naive lookup (inbound and wide measure the do-nothing
#                   milter too when e2e is not among them)
#   BENCH_PROFILE   1: where the milter's CPU goes, per row (t, b, c, d, h,
#                   e, f, g, unix socket, and the large message through the
#                   daemon): `perf record -p` of the milter process while
#                   the row's measured messages run, in tests/out/prof-ROW.data,
#                   summarised (inclusive and self shares, our own code)
#                   in tests/out/bench-profile.txt, and each row's top
#                   function of ours printed under the table
#                   (tests/bench/profile.sh).  Without a usable perf: one
#                   line, and the bench as usual.  A profiled run's CPU
#                   figures include some of the sampling's cost [0]
#   BENCH_PROFILE_FREQ  samples per second for BENCH_PROFILE [999]
#
# Rows that need a feature this build lacks (encryption, directory
# lookups) print "n/a (not built)".  Nothing here asserts a speed: the
# exit status is non-zero only when the harness itself failed (a message
# not delivered, a program that did not start).
#
# Uses the test harness (tests/lib): the PKI, the private Postfix relaying
# to smtp-sink, and the gateway's test configuration.

. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/bench/profile.sh"

N=${BENCH_MESSAGES:-1000}
N_ALL=$N
SESS=${BENCH_SESSIONS:-10}
SIZE=${BENCH_SIZE:-10240}
LARGE_MB=${BENCH_LARGE_MB:-25}
NAIVE=${BENCH_NAIVE:-100}
LOOKUPS=${BENCH_LOOKUPS:-2000}
WIDE=${BENCH_WIDE:-$((N / 10))}
ONLY=${BENCH_ONLY:-e2e inbound wide cpu large naive lookup}
WARM=20
REPEAT=${BENCH_REPEAT:-3}
JSON="$top/tests/out/bench.json"
TXT="$top/tests/out/bench.txt"
TICK=$(getconf CLK_TCK)
SINK_DUMP=no
FROM=alice@example.com
RCPT=bob@example.net

die() { echo "bench: $*" >&2; exit 1; }
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
now() { date +%s.%N; }
# fmt EXPR [DIGITS]: a number from awk, or "n/a" when EXPR cannot be had.
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }

# --- what this build can do ------------------------------------------

# Encryption (and the certificate lookup it needs) exists when the
# configuration knows the directory key (asked of the test configuration:
# /dev/null is writable by others, which smimegate refuses).
HAVE_ENCRYPT=no
"$top/smimegate" -c "$top/tests/lib/test.conf" -P LDAPDirectories >/dev/null 2>&1 &&
    HAVE_ENCRYPT=yes
pending() { echo "n/a (not built)"; }

# --- figures: NAME=value pairs, printed as the table and as JSON ------

FIG="$T/figures"
: >"$FIG"
put() { echo "$1=$2" >>"$FIG"; }     # put NAME VALUE (a number or a word)
get() { awk -F= -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "n/a" : v) }' "$FIG"; }

# --- processes -------------------------------------------------------

# cpu_ticks PID: utime + stime of PID, in clock ticks.
cpu_ticks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# status_kb PID FIELD: a /proc/PID/status field in kB (VmRSS, VmHWM).
status_kb() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# milter_start NAME SOCKET PROGRAM ARGS...: starts a milter in the
# background on SOCKET (libmilter spelling); sets MPID.  Waits until it
# accepts.  A unix socket is made writable by Postfix.
milter_start() {
	_name=$1 _sock=$2
	shift 2
	"$@" >>"$T/$_name.log" 2>&1 &
	MPID=$!
	at_exit "kill -KILL $MPID"
	case $_sock in
	unix:*)
		_path=${_sock#unix:}
		wait_for 100 test -S "$_path" || { diag_file "$T/$_name.log"; die "$_name did not start"; }
		chgrp postfix "$_path" && chmod 0660 "$_path"
		;;
	inet:*)
		_mport=${_sock#inet:}
		wait_port "${_mport%@*}" "$MPID" 100 || { diag_file "$T/$_name.log"; die "$_name did not start"; }
		;;
	esac
}

# gate_bench NAME SOCKET [-o K=V]...: smimegate in the foreground on
# SOCKET, with the test configuration (tests/lib/gate.sh); sets MPID.
gate_exec() { GATE_EXEC=exec; gate_run "$@"; }
gate_bench() {
	_n=$1 _s=$2
	shift 2
	milter_start "$_n" "$_s" gate_exec -f -o "Socket=$_s" "$@"
}

# --- end to end --------------------------------------------------------

# Postfix with MILTER (main.cf spelling: unix:/path, inet:127.0.0.1:port)
# or none; a restart per row.
pf_milter() {
	pf_stop
	if [ -n "$1" ]; then
		PF_EXTRA="smtpd_milters = $1
milter_protocol = 6
milter_default_action = tempfail
message_size_limit = 0
$PF_TUNE"
	else
		PF_EXTRA="message_size_limit = 0
$PF_TUNE"
	fi
	pf_start || die "Postfix did not start"
}

sent_count() { grep -c ' status=sent ' "$PF_DIR/maillog"; }

# source_mail COUNT [RCPTS]: smtp-source, COUNT messages of $SIZE octets
# from $FROM to $RCPT; or, when SRC_FILE is set, that file (LF line ends)
# from $SRC_FROM to $SRC_TO.
SRC_FILE=""
source_mail() {
	if [ -n "$SRC_FILE" ]; then
		set -- "$1" "${2:-1}" -F "$SRC_FILE" -f "$SRC_FROM" -t "$SRC_TO"
	else
		set -- "$1" "${2:-1}" -l "$SIZE" -f "$FROM" -t "$RCPT"
	fi
	_m=$1 _nr=$2
	shift 2
	timeout 600 smtp-source -s "$SESS" -m "$_m" -r "$_nr" "$@" \
	    -M client.smimegate.test "127.0.0.1:$SMTP_PORT" >>"$T/source.log" 2>&1
}

# wait_sent TOTAL: until Postfix has logged TOTAL deliveries (bounded:
# no progress for 60 s gives up).
wait_sent() {
	_last=-1 _still=0
	while :; do
		_c=$(sent_count)
		[ "$_c" -ge "$1" ] && return 0
		if [ "$_c" = "$_last" ]; then
			_still=$((_still + 1))
			[ $_still -gt 1200 ] && return 1
		else
			_still=0
		fi
		_last=$_c
		sleep 0.05
	done
}

# e2e ROW PID RCPTS [COUNT]: a warm-up, then $REPEAT runs of COUNT ($N)
# messages; the fastest run gives ROW.rate (msg/s delivered) and
# ROW.cpu_ms (the milter's CPU per message in that run, when PID is set).
# Other work on the machine only ever slows a run down, so the best run
# is the figure.
e2e() {
	_row=$1 _pid=$2 _r=${3:-1}
	N=${4:-$N_ALL}
	_base=$(sent_count)
	source_mail "$WARM" "$_r" || die "$_row: smtp-source failed (warm-up)"
	wait_sent $((_base + WARM * _r)) || die "$_row: warm-up not delivered"
	_best=0 _bestcpu=n/a _i=0 _all=""
	prof_start "$_row" "$_pid"
	while [ $_i -lt "$REPEAT" ]; do
		_i=$((_i + 1))
		_base=$(sent_count)
		[ -n "$_pid" ] && _c0=$(cpu_ticks "$_pid")
		_t0=$(now)
		source_mail "$N" "$_r" || die "$_row: smtp-source failed"
		wait_sent $((_base + N * _r)) ||
		    die "$_row: $N messages not delivered ($(($(sent_count) - _base)))"
		_rate=$(calc "$N / ($(now) - $_t0)" 0)
		_all="$_all $_rate"
		[ "$_rate" -gt "$_best" ] || continue
		_best=$_rate
		[ -n "$_pid" ] &&
		    _bestcpu=$(calc "($(cpu_ticks "$_pid") - $_c0) * 1000 / $TICK / $N" 3)
	done
	prof_stop $((N * REPEAT))
	put "$_row.rate" "$_best"
	[ -n "$_pid" ] && put "$_row.cpu_ms" "$_bestcpu"
	printf '  %-28s %6s msg/s (runs:%s)\n' "$_row" "$_best" "$_all" >&2
	N=$N_ALL
}

# --- the rows ------------------------------------------------------------

# The gateway's test configuration, with the bench's state, and Postfix
# tuned only so that a queue run never waits.
PF_TUNE="in_flow_delay = 0"
bench_setup() {
	need_tools postfix smtp-source smtp-sink openssl
	for _p in smimegate smimectl tests/bench/nullmilter tests/bench/floor tests/bench/lookup; do
		[ -x "$top/$_p" ] || die "./$_p is not built (make bench builds it)"
	done
	pki_make "$T/pki" >"$T/pki.log" 2>&1 || { cat "$T/pki.log" >&2; die "test PKI"; }
	gate_import "$T/pki" alice >"$T/import.log" 2>&1
	grep -q '^not ok' "$T/import.log" && { cat "$T/import.log" >&2; die "keystore import"; }
	# The large message and the naive rows need a bigger limit than the
	# tests' 10M.
	GATE_OPTS="-o MaximumMessageSize=$((LARGE_MB * 2))M"
	sink_start || die "smtp-sink did not start"
	[ "$HAVE_ENCRYPT" = yes ] && enc_setup
}

# The recipients' certificates in slapd (CRL served over HTTP, as in
# tests/integration/75-encrypt.sh), the cache in redis-server: $RCPT for
# (c) and 1bob..5bob@example.net, the names smtp-source -r 5 makes, for
# (d).  ENC_OPTS: the gateway's options for them.
enc_setup() {
	HTTPD_PORT=$(free_port) || die "a free port for httpd"
	dirpki_make "$T/pki" "http://127.0.0.1:$HTTPD_PORT/ca.crl" >"$T/dirpki.log" 2>&1 ||
	    { cat "$T/dirpki.log" >&2; die "directory PKI"; }
	{
		ldif_head
		for _bi in "" 1 2 3 4 5; do    # (_dirpki_ee sets _n, _k)
			_dirpki_ee "$T/pki" "rcpt$_bi" "${_bi}${RCPT}" ee_rsa rsa >>"$T/dirpki.log" 2>&1 &&
			openssl x509 -in "$T/pki/rcpt$_bi.pem" -outform DER -out "$T/pki/rcpt$_bi.der" ||
			    die "certificate for ${_bi}${RCPT}"
			ldif_entry "rcpt$_bi" "${_bi}${RCPT}" "userCertificate;binary" "$T/pki/rcpt$_bi.der"
		done
		want wide &&
		for _bi in $(seq 6 100); do
			wide_ee "$_bi" >>"$T/dirpki.log" 2>&1 ||
			    die "certificate for ${_bi}${RCPT}"
			ldif_entry "rcpt$_bi" "${_bi}${RCPT}" "userCertificate;binary" "$T/pki/rcpt$_bi.der"
		done
	} >"$T/people.ldif"
	httpd_start "$T/pki/www" || die "busybox httpd did not start"
	slapd_start "$T/people.ldif" >"$T/slapd.out" 2>&1 || die "slapd did not start"
	redis_start >"$T/redis.out" 2>&1 || die "redis-server did not start"
	_bdn=$(echo "$SLAPD_ROOTDN" | sed 's/,/%2c/g')
	LDAP_URL="ldap://127.0.0.1:$SLAPD_PORT/$SLAPD_BASE????bindname=$_bdn,x-bindpwfile=$SLAPD_PWFILE"
	ENC_OPTS="-o LDAPDirectories=$LDAP_URL -o TrustAnchorFile=$T/pki/ca.pem
	    -o TrustSystemStore=no -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisPrefix=bench:
	    -o RedisKeyFile=$REDIS_KEY"
}

# wide_ee I: the certificate of I$RCPT (for the 100-recipient row), on
# rcpt1's key (a key each would only make the set-up slow: the gateway
# encrypts to each certificate all the same).
wide_ee() {
	PKI_EMAIL="$1$RCPT" openssl req -new -config "$T/pki/ca.cnf" -key "$T/pki/rcpt1.key" \
	    -out "$T/pki/rcpt$1.csr" -subj "/O=Example Net/CN=rcpt$1" &&
	PKI_EMAIL="$1$RCPT" openssl ca -config "$T/pki/ca.cnf" -batch -notext \
	    -extensions ee_rsa -in "$T/pki/rcpt$1.csr" -out "$T/pki/rcpt$1.pem" &&
	openssl x509 -in "$T/pki/rcpt$1.pem" -outform DER -out "$T/pki/rcpt$1.der"
}

# enc_logged LOG CERTS: the gateway's log says it signed and encrypted,
# to CERTS certificates (the recipients' and the sender's).
enc_logged() {
	grep -q "action=signed+encrypted.*to $2 certificates" "$1" ||
	    { tail -3 "$1" >&2; die "not encrypted to $2 certificates: $1"; }
}

# (t) over a unix socket: what every row's "our work" is counted from.
run_t_unix() {
	[ "$(get t.unix.cpu_ms)" = n/a ] || return 0
	milter_start null-unix "unix:$T/null.sock" "$top/tests/bench/nullmilter" "unix:$T/null.sock"
	NULL_UNIX_PID=$MPID
	pf_milter "unix:$T/null.sock"
	e2e t.unix "$MPID"
}

# (t100): the do-nothing milter with (h)'s envelope, 100 recipients: each
# RCPT is a milter round trip, which is protocol, not our work.
run_t_wide() {
	run_t_unix
	pf_milter "unix:$T/null.sock"
	_w=$WARM
	WARM=2
	e2e t100.unix "$NULL_UNIX_PID" 100 "$WIDE"
	WARM=$_w
}

# e2e rows: (a) Postfix alone; (t) the do-nothing milter; (b) signing;
# (c), (d) signing and encrypting to one and five recipients; each over a
# unix socket and TCP.  (e), (f), (g): run_inbound; (h): run_wide.  tcp_stock is libmilter's defaults (the
# delayed-acknowledgement stall), for comparison with the fixed tcp rows.
run_e2e() {
	echo "end to end, $N messages of $SIZE octets, $SESS sessions:" >&2
	pf_milter ""
	e2e a ""

	run_t_unix
	_mp=$(free_port)
	milter_start null-tcp-stock "inet:$_mp@127.0.0.1" "$top/tests/bench/nullmilter" "inet:$_mp@127.0.0.1" stock
	pf_milter "inet:127.0.0.1:$_mp"
	e2e t.tcp_stock "$MPID"
	_mp=$(free_port)
	milter_start null-tcp "inet:$_mp@127.0.0.1" "$top/tests/bench/nullmilter" "inet:$_mp@127.0.0.1"
	pf_milter "inet:127.0.0.1:$_mp"
	e2e t.tcp "$MPID"

	gate_bench gate-unix "unix:$T/gate.sock" -o "AuditDirectory=$T/audit-unix"
	GATE_UNIX_PID=$MPID
	pf_milter "unix:$T/gate.sock"
	e2e b.unix "$MPID"
	_mp=$(free_port)
	gate_bench gate-tcp "inet:$_mp@127.0.0.1" -o "AuditDirectory=$T/audit-tcp"
	GATE_TCP_PID=$MPID
	pf_milter "inet:127.0.0.1:$_mp"
	e2e b.tcp "$MPID"
	if [ "$HAVE_ENCRYPT" != yes ]; then
		for _r in c.unix c.tcp d.unix d.tcp; do put "$_r.rate" "$(pending)"; done
		return 0
	fi
	# (c), (d): the warm-up fills the cache, so the runs are warm.
	# shellcheck disable=SC2086
	gate_bench enc-unix "unix:$T/enc.sock" -o "AuditDirectory=$T/audit-enc-unix" $ENC_OPTS
	GATE_ENC_PID=$MPID
	pf_milter "unix:$T/enc.sock"
	e2e c.unix "$MPID" 1
	enc_logged "$T/enc-unix.log" 2
	e2e d.unix "$MPID" 5
	enc_logged "$T/enc-unix.log" 6
	_mp=$(free_port)
	# shellcheck disable=SC2086
	gate_bench enc-tcp "inet:$_mp@127.0.0.1" -o "AuditDirectory=$T/audit-enc-tcp" $ENC_OPTS
	pf_milter "inet:127.0.0.1:$_mp"
	e2e c.tcp "$MPID" 1
	enc_logged "$T/enc-tcp.log" 2
	e2e d.tcp "$MPID" 5
	enc_logged "$T/enc-tcp.log" 6
}

# Inbound rows, mail from outside (bob@remote.test) to an employee
# (alice, whose key the gateway holds), $SIZE octets, made once by openssl
# cms and sent as a file by smtp-source: (e) multipart/signed by
# bob@example.com, verified; (f) AES-256-GCM authEnveloped-data to alice,
# decrypted; (g) the signed message encrypted to alice: decrypted, then
# verified.  The log must say each was.
inbound_mail() {    # inbound_mail NAME CMS: $T/in-NAME.eml around CMS (LF)
	{
		printf 'From: Bob <bob@example.com>\nTo: Alice <alice@example.com>\n'
		printf 'Subject: bench inbound\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n'
		printf 'Message-ID: <bench.%s@remote.test>\n' "$1"
		sed 's/\r$//' "$2"
	} >"$T/in-$1.eml"
}
inbound_setup() {
	_p=$T/pki
	entity "$SIZE" | make_message "$T/in-entity.txt"
	{
		openssl cms -sign -md sha256 -in "$T/in-entity.txt" -signer "$_p/bob.pem" \
		    -inkey "$_p/bob.key" -certfile "$_p/ca.pem" -out "$T/in-signed.p7" &&
		openssl cms -encrypt -aes-256-gcm -binary -in "$T/in-entity.txt" \
		    -out "$T/in-enc.p7" "$_p/alice.pem" &&
		openssl cms -encrypt -aes-256-gcm -binary -in "$T/in-signed.p7" \
		    -out "$T/in-signenc.p7" "$_p/alice.pem"
	} >>"$T/openssl.log" 2>&1 || { cat "$T/openssl.log" >&2; die "inbound messages"; }
	inbound_mail verify "$T/in-signed.p7"
	inbound_mail decrypt "$T/in-enc.p7"
	inbound_mail both "$T/in-signenc.p7"
}

# in_logged ACTION WHAT: the inbound gateway's log has a line with
# action=ACTION and WHAT in it.
in_logged() {
	grep "action=$1," "$T/in-unix.log" | grep -q "$2" ||
	    { tail -3 "$T/in-unix.log" >&2; die "inbound: no line with action=$1 and $2"; }
}

run_inbound() {
	run_t_unix
	echo "inbound, $N messages of about $SIZE octets to alice, $SESS sessions:" >&2
	inbound_setup
	gate_bench in-unix "unix:$T/in.sock" -o "AuditDirectory=$T/audit-in" \
	    -o "TrustAnchorFile=$T/pki/ca.pem"
	pf_milter "unix:$T/in.sock"
	SRC_FROM=bob@remote.test SRC_TO=alice@example.com
	for _r in e:verify f:decrypt g:both; do
		SRC_FILE="$T/in-${_r#*:}.eml"
		e2e "${_r%%:*}.unix" "$MPID" 1
	done
	SRC_FILE=""
	in_logged verified "pass (signer=<bob@example.com>)"
	in_logged decrypted "authEnveloped-data"
	in_logged "decrypted+verified" "pass (signer=<bob@example.com>)"
}

# (h): signing and encrypting to 100 recipients (1bob..100bob@example.net,
# smtp-source -r 100), $WIDE messages, the cache warm.
run_wide() {
	if [ "$HAVE_ENCRYPT" != yes ]; then
		put h.unix.rate "$(pending)"
		return 0
	fi
	echo "100 recipients, $WIDE messages of $SIZE octets:" >&2
	run_t_wide
	if [ -z "${GATE_ENC_PID:-}" ]; then
		# shellcheck disable=SC2086
		gate_bench enc-unix "unix:$T/enc.sock" -o "AuditDirectory=$T/audit-enc-unix" $ENC_OPTS
		GATE_ENC_PID=$MPID
	fi
	pf_milter "unix:$T/enc.sock"
	_w=$WARM
	WARM=2
	e2e h.unix "$GATE_ENC_PID" 100 "$WIDE"
	WARM=$_w
	enc_logged "$T/enc-unix.log" 101
}

# The cryptographic floor of one message (tests/bench/floor.c), in ms:
# (b) one RSA signature and SHA-256 over the message; (c) that plus
# AES-256-CBC over the message and one RSA encryption per certificate:
# the recipient's and the sender's (smimegate encrypts to the sender too,
# so that sent mail stays readable); (d) six encryptions, (h) 101.
# Inbound: (e) two RSA verifications (the signature and the signer's
# certificate, whose issuer is the root) and SHA-256 over the message; (f)
# one RSA decryption and AES-256-GCM over the message; (g) both.
run_floor() {
	[ "$(get floor.b_ms)" = n/a ] || return 0
	"$top/tests/bench/floor" "$SIZE" >"$T/floor.out" || die "floor failed"
	. "$T/floor.out"
	put floor.rsa_verify_ms "$(calc "$rsa_verify * 1000" 3)"
	put floor.rsa_decrypt_ms "$(calc "$rsa_decrypt * 1000" 3)"
	put floor.aes_gcm_ms "$(calc "$aes_gcm * 1000" 3)"
	put floor.h_ms "$(calc "($rsa_sign + $sha256 + 101 * $rsa_encrypt + $aes_cbc) * 1000" 3)"
	put floor.e_ms "$(calc "(2 * $rsa_verify + $sha256) * 1000" 3)"
	put floor.f_ms "$(calc "($rsa_decrypt + $aes_gcm) * 1000" 3)"
	put floor.g_ms "$(calc "($rsa_decrypt + $aes_gcm + 2 * $rsa_verify + $sha256) * 1000" 3)"
	put floor.rsa_sign_ms "$(calc "$rsa_sign * 1000" 3)"
	put floor.rsa_encrypt_ms "$(calc "$rsa_encrypt * 1000" 3)"
	put floor.sha256_ms "$(calc "$sha256 * 1000" 3)"
	put floor.aes_cbc_ms "$(calc "$aes_cbc * 1000" 3)"
	put floor.b_ms "$(calc "($rsa_sign + $sha256) * 1000" 3)"
	put floor.c_ms "$(calc "($rsa_sign + $sha256 + 2 * $rsa_encrypt + $aes_cbc) * 1000" 3)"
	put floor.d_ms "$(calc "($rsa_sign + $sha256 + 6 * $rsa_encrypt + $aes_cbc) * 1000" 3)"
}

# entity BYTES: a MIME entity of about BYTES octets, a text and an
# attachment (LF line ends).
entity() {
	printf 'Content-Type: multipart/mixed; boundary="b1"\n\n'
	printf -- '--b1\nContent-Type: text/plain; charset=us-ascii\n\nThe attachment.\n\n'
	printf -- '--b1\nContent-Type: application/octet-stream; name=data.bin\n'
	printf 'Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=data.bin\n\n'
	head -c $(($1 * 3 / 4)) /dev/urandom | base64 -w 76
	printf -- '--b1--\n'
}

# A message of about SIZE octets ($1) with an attachment, CRLF, from alice.
make_mail() {
	_f=$1 _bytes=$2
	{
		printf 'From: Alice <%s>\nTo: <%s>\nSubject: bench\n' "$FROM" "$RCPT"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <bench.%s@example.com>\n' "$_bytes"
		printf 'MIME-Version: 1.0\n'
		entity "$_bytes"
	} | make_message "$_f"
}

# timed COMMAND...: runs COMMAND, which runs under $T/timeit, and reads
# /usr/bin/time's figures: TIME_S (elapsed), TIME_CPU (user +
# system), TIME_RSS (maximum resident set, kB).
timed() {
	_t0=$(now)
	"$@" || return 1
	TIME_S=$(calc "$(now) - $_t0" 3)
	read -r _e _u _s TIME_RSS <"$T/time.out"
	TIME_CPU=$(calc "$_u + $_s" 2)
}

# The large message: smimegate -t (the daemon's code path, offline) and
# the daemon through Postfix, against openssl cms on the same file.
run_large() {
	_mb=$LARGE_MB
	echo "large message, $_mb MB:" >&2
	make_mail "$T/large.eml" $((_mb * 1024 * 1024))
	make_mail "$T/small.eml" "$SIZE"
	put large.octets "$(wc -c <"$T/large.eml")"
	_off="--from $FROM --rcpt $RCPT --client 127.0.0.1"
	printf '#!/bin/sh\nexec /usr/bin/time -f "%%e %%U %%S %%M" -o "%s" "$@"\n' \
	    "$T/time.out" >"$T/timeit"
	chmod +x "$T/timeit"
	# shellcheck disable=SC2086
	GATE_EXEC="$T/timeit" timed gate_run -t "$T/small.eml" $_off >"$T/small.out" 2>>"$T/offline.log" ||
	    die "smimegate -t failed on the small message"
	_small_rss=$TIME_RSS
	# shellcheck disable=SC2086
	GATE_EXEC="$T/timeit" timed gate_run -t "$T/large.eml" $_off >"$T/large.out" 2>>"$T/offline.log" ||
	    die "smimegate -t failed on the large message"
	grep -q '^Content-Type: multipart/signed' "$T/large.out" || die "the large message was not signed"
	put large.sign.gate_s "$TIME_S"
	put large.sign.gate_cpu_s "$TIME_CPU"
	put large.sign.gate_rss_growth_mb "$(calc "($TIME_RSS - $_small_rss) / 1024" 1)"
	timed "$T/timeit" openssl cms -sign -md sha256 -in "$T/large.eml" -signer "$T/pki/alice.pem" \
	    -inkey "$T/pki/alice.key" -out "$T/large.cms" || die "openssl cms -sign failed"
	put large.sign.openssl_s "$TIME_S"
	put large.sign.openssl_rss_mb "$(calc "$TIME_RSS / 1024" 1)"
	put large.sign.ratio "$(calc "$(get large.sign.gate_s) / ($TIME_S > 0.01 ? $TIME_S : 0.01)" 2)"
	run_large_encrypt
	# The daemon: peak RSS growth while it signs the message that
	# arrives through Postfix (VmHWM reset through clear_refs).
	[ -n "${GATE_UNIX_PID:-}" ] || return 0
	pf_milter "unix:$T/gate.sock"
	echo 5 >"/proc/$GATE_UNIX_PID/clear_refs" 2>/dev/null
	_rss0=$(status_kb "$GATE_UNIX_PID" VmRSS)
	_c0=$(cpu_ticks "$GATE_UNIX_PID")
	prof_start large "$GATE_UNIX_PID"
	_t0=$(now)
	send_mail "$T/large.eml" "$FROM" "$RCPT" || die "the large message was refused: $SMTP_REPLY"
	wait_delivered "$QID" || die "the large message was not delivered"
	_t1=$(now)
	prof_stop 1
	put large.daemon.e2e_s "$(calc "$_t1 - $_t0" 2)"
	put large.daemon.cpu_s "$(calc "($(cpu_ticks "$GATE_UNIX_PID") - $_c0) / $TICK" 2)"
	put large.daemon.rss_growth_mb "$(calc "($(status_kb "$GATE_UNIX_PID" VmHWM) - $_rss0) / 1024" 1)"
}

# The large message signed and encrypted to $RCPT (and the sender), by
# smimegate -t against openssl cms -sign | openssl cms -encrypt.
run_large_encrypt() {
	if [ "$HAVE_ENCRYPT" != yes ]; then
		put large.encrypt.gate_s "$(pending)"
		return 0
	fi
	_off="--from $FROM --rcpt $RCPT --client 127.0.0.1"
	# shellcheck disable=SC2086
	GATE_EXEC="$T/timeit" timed gate_run $ENC_OPTS -t "$T/small.eml" $_off 	    >"$T/small-enc.out" 2>>"$T/offline.log" || die "smimegate -t failed (small, encrypt)"
	_small_rss=$TIME_RSS
	# shellcheck disable=SC2086
	GATE_EXEC="$T/timeit" timed gate_run $ENC_OPTS -t "$T/large.eml" $_off 	    >"$T/large-enc.out" 2>>"$T/offline.log" || die "smimegate -t failed (large, encrypt)"
	grep -q '^Content-Type: application/pkcs7-mime.*enveloped-data' "$T/large-enc.out" ||
	    die "the large message was not encrypted"
	put large.encrypt.gate_s "$TIME_S"
	put large.encrypt.gate_cpu_s "$TIME_CPU"
	put large.encrypt.gate_rss_growth_mb "$(calc "($TIME_RSS - $_small_rss) / 1024" 1)"
	timed "$T/timeit" sh -c 'openssl cms -sign -md sha256 -in "$1" -signer "$2.pem" 	    -inkey "$2.key" | openssl cms -encrypt -aes256 -out "$3" "$4" "$2.pem"' sh 	    "$T/large.eml" "$T/pki/alice" "$T/large-enc.cms" "$T/pki/rcpt.pem" ||
	    die "openssl cms -sign | -encrypt failed"
	put large.encrypt.openssl_s "$TIME_S"
	put large.encrypt.openssl_rss_mb "$(calc "$TIME_RSS / 1024" 1)"
	put large.encrypt.ratio "$(calc "$(get large.encrypt.gate_s) / ($TIME_S > 0.01 ? $TIME_S : 0.01)" 2)"
}

# The naive way: one `openssl cms -sign` process per message, as many at
# once as there are cores.
run_naive() {
	echo "naive: openssl cms per message, $NAIVE messages:" >&2
	make_mail "$T/naive.eml" "$SIZE"
	_cores=$(nproc)
	_t0=$(now)
	seq "$NAIVE" | xargs -P "$_cores" -I{} openssl cms -sign -md sha256 \
	    -in "$T/naive.eml" -signer "$T/pki/alice.pem" -inkey "$T/pki/alice.key" \
	    -out /dev/null || die "openssl cms -sign failed"
	_t1=$(now)
	put naive.sign.rate "$(calc "$NAIVE / ($_t1 - $_t0)" 0)"
	# Sign, then encrypt to bob and the sender: what (c) does, two
	# processes a message.
	_t0=$(now)
	seq "$NAIVE" | xargs -P "$_cores" -I{} sh -c 'openssl cms -sign -md sha256 \
	    -in "$1" -signer "$2.pem" -inkey "$2.key" |
	    openssl cms -encrypt -aes256 -out /dev/null "$3" "$2.pem"' sh \
	    "$T/naive.eml" "$T/pki/alice" "$T/pki/bob.pem" || die "openssl cms -encrypt failed"
	_t1=$(now)
	put naive.encrypt.rate "$(calc "$NAIVE / ($_t1 - $_t0)" 0)"
}

# Lookups through the directory library (tests/bench/lookup.c): cold, each
# answered by slapd (the cache entry dropped first); warm, from Redis.
run_lookup() {
	if [ "$HAVE_ENCRYPT" != yes ]; then
		for _r in cold warm; do put "lookup.$_r.rate" "$(pending)"; done
		return 0
	fi
	echo "lookups, $LOOKUPS a row:" >&2
	for _r in cold warm; do
		_redis=""
		[ $_r = warm ] && _redis="127.0.0.1:$REDIS_PORT"
		LOOKUP_REDIS_KEY=$REDIS_KEY "$top/tests/bench/lookup" "$_r" "$LDAP_URL" "$T/pki/ca.pem" "$_redis" \
		    "bench-lookup:" "$LOOKUPS" "$RCPT" 1$RCPT 2$RCPT 3$RCPT 4$RCPT 5$RCPT \
		    >"$T/lookup-$_r.out" 2>&1 || { cat "$T/lookup-$_r.out" >&2; die "lookup $_r failed"; }
		for _k in rate p50_ms p99_ms; do
			put "lookup.$_r.$_k" "$(sed -n "s/^$_k=//p" "$T/lookup-$_r.out")"
		done
		echo "  $_r: $(tr '\n' ' ' <"$T/lookup-$_r.out")" >&2
	done
}

# --- the table and the JSON ----------------------------------------------

# ratio A B: A / B from two figures, "n/a" unless both are numbers.
ratio() {
	_x=$(get "$1") _y=$(get "$2")
	case "$_x$_y" in *[!0-9.]*|'') echo "n/a"; return ;; esac
	calc "$_x / $_y" 2
}
put_ratios() {
	put ratio.b_a.unix "$(ratio b.unix.rate a.rate)"
	put ratio.b_a.tcp "$(ratio b.tcp.rate a.rate)"
	put ratio.c_a.unix "$(ratio c.unix.rate a.rate)"
	put ratio.c_a.tcp "$(ratio c.tcp.rate a.rate)"
	put ratio.d_a.unix "$(ratio d.unix.rate a.rate)"
	put ratio.d_a.tcp "$(ratio d.tcp.rate a.rate)"
	put ratio.b_t.unix "$(ratio b.unix.rate t.unix.rate)"
	put ratio.c_t.unix "$(ratio c.unix.rate t.unix.rate)"
	put ratio.c_t.tcp "$(ratio c.tcp.rate t.tcp.rate)"
	put ratio.t.tcp_unix "$(ratio t.tcp.rate t.unix.rate)"
	put ratio.t.tcp_stock_unix "$(ratio t.tcp_stock.rate t.unix.rate)"
	put ratio.b.tcp_unix "$(ratio b.tcp.rate b.unix.rate)"
	put ratio.c.tcp_unix "$(ratio c.tcp.rate c.unix.rate)"
	put ratio.cpu_b_floor "$(ratio b.unix.cpu_ms floor.b_ms)"
	put ratio.cpu_c_floor "$(ratio c.unix.cpu_ms floor.c_ms)"
	put ratio.cpu_d_floor "$(ratio d.unix.cpu_ms floor.d_ms)"
	put ratio.naive_b "$(ratio b.unix.rate naive.sign.rate)"
	put ratio.naive_c "$(ratio c.unix.rate naive.encrypt.rate)"
	for _r in b c d h e f g; do put_ours "$_r"; done
	put ratio.cpu_b_ours_floor "$(get ratio.ours_b_floor)"
}

# put_ours ROW: ours.ROW_ms, our work: ROW's CPU per message in the milter
# minus the do-nothing milter's with the same envelope ((t), for (h)
# (t100)); and ratio.ours_ROW_floor, that against ROW's floor.
put_ours() {
	_c=$(get "$1.unix.cpu_ms") _t=$(get t.unix.cpu_ms)
	[ "$1" = h ] && _t=$(get t100.unix.cpu_ms)
	case "$_c$_t" in
	*[!0-9.]*|'') put "ours.$1_ms" n/a ;;
	*) put "ours.$1_ms" "$(calc "$_c - $_t" 3)" ;;
	esac
	put "ratio.ours_$1_floor" "$(ratio "ours.$1_ms" "floor.$1_ms")"
}

# row LABEL VALUE... : one table line, the label left, values right.
row() {
	_l=$1
	shift
	printf '%-34s' "$_l"
	for _v in "$@"; do printf ' %14s' "$_v"; done
	printf '\n'
}

# cpu_row LABEL VALUE...: a line of the CPU table (narrower columns).
cpu_row() {
	_l=$1
	shift
	printf '%-30s' "$_l"
	for _v in "$@"; do printf ' %10s' "$_v"; done
	printf '\n'
}

print_table() {
	echo "smimegate bench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
	    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "load average at the start: $LOAD0 (other work on the machine makes figures noisy)"
	echo
	echo "End to end: msg/s delivered, smtp-source -> Postfix -> smtp-sink;"
	echo "$N messages of $SIZE octets, $SESS sessions, best of $REPEAT runs"
	row "" "unix socket" "TCP" "TCP/unix"
	row "(a) Postfix alone" "$(get a.rate)" "" ""
	row "(t) do-nothing milter" "$(get t.unix.rate)" "$(get t.tcp.rate)" "$(get ratio.t.tcp_unix)"
	row "    libmilter defaults (stall)" "" "$(get t.tcp_stock.rate)" "$(get ratio.t.tcp_stock_unix)"
	row "(b) smimegate: sign" "$(get b.unix.rate)" "$(get b.tcp.rate)" "$(get ratio.b.tcp_unix)"
	row "(c) sign + encrypt, 1 rcpt" "$(get c.unix.rate)" "$(get c.tcp.rate)" "$(get ratio.c.tcp_unix)"
	row "(d) sign + encrypt, 5 rcpts" "$(get d.unix.rate)" "$(get d.tcp.rate)" ""
	row "(h) sign + encrypt, 100 rcpts" "$(get h.unix.rate)" "" ""
	row "(e) inbound: verify" "$(get e.unix.rate)" "" ""
	row "(f) inbound: decrypt" "$(get f.unix.rate)" "" ""
	row "(g) inbound: decrypt + verify" "$(get g.unix.rate)" "" ""
	row "b/a" "$(get ratio.b_a.unix)" "$(get ratio.b_a.tcp)" ""
	row "c/a" "$(get ratio.c_a.unix)" "$(get ratio.c_a.tcp)" ""
	row "d/a" "$(get ratio.d_a.unix)" "$(get ratio.d_a.tcp)" ""
	row "b/t" "$(get ratio.b_t.unix)" "" ""
	row "c/t              (target >= 0.90)" "$(get ratio.c_t.unix)" "$(get ratio.c_t.tcp)" ""
	row "c TCP/unix       (target >= 0.90)" "" "" "$(get ratio.c.tcp_unix)"
	echo
	echo "CPU per message in the milter process, ms (utime+stime, unix rows);"
	echo "our work = the row's milter CPU minus (t)'s ((h): (t100)'s), against the crypto floor"
	cpu_row "" milter "our work" floor "ours/floor" target
	cpu_row "(t) milter protocol only" "$(get t.unix.cpu_ms)" "" "" "" ""
	cpu_row "(t100) the same, 100 rcpts" "$(get t100.unix.cpu_ms)" "" "" "" ""
	cpu_row "(b) sign" "$(get b.unix.cpu_ms)" "$(get ours.b_ms)" "$(get floor.b_ms)" "$(get ratio.ours_b_floor)" "<= 1.5"
	cpu_row "(c) sign + encrypt, 1" "$(get c.unix.cpu_ms)" "$(get ours.c_ms)" "$(get floor.c_ms)" "$(get ratio.ours_c_floor)" "<= 1.5"
	cpu_row "(d) sign + encrypt, 5" "$(get d.unix.cpu_ms)" "$(get ours.d_ms)" "$(get floor.d_ms)" "$(get ratio.ours_d_floor)" "<= 2"
	cpu_row "(h) sign + encrypt, 100" "$(get h.unix.cpu_ms)" "$(get ours.h_ms)" "$(get floor.h_ms)" "$(get ratio.ours_h_floor)" "<= 2"
	cpu_row "(e) inbound: verify" "$(get e.unix.cpu_ms)" "$(get ours.e_ms)" "$(get floor.e_ms)" "$(get ratio.ours_e_floor)" "<= 3"
	cpu_row "(f) inbound: decrypt" "$(get f.unix.cpu_ms)" "$(get ours.f_ms)" "$(get floor.f_ms)" "$(get ratio.ours_f_floor)" "<= 1.5"
	cpu_row "(g) inbound: decrypt + verify" "$(get g.unix.cpu_ms)" "$(get ours.g_ms)" "$(get floor.g_ms)" "$(get ratio.ours_g_floor)" "<= 1.5"
	echo "floor: (b) 1 RSA sign, SHA-256; (c), (d), (h) AES-CBC and 2, 6, 101 RSA"
	echo "encryptions (the sender's too); (e) 2 RSA verifications (signature, certificate),"
	echo "SHA-256; (f) 1 RSA decryption, AES-GCM; (g) (e) + (f).  (e)'s target is 3x: its"
	echo "floor (public-key operations only) is a fifth of (b)'s, less than reading the MIME costs"
	echo "floor (OpenSSL alone, per op): RSA-2048 sign $(get floor.rsa_sign_ms)," \
	    "RSA encrypt $(get floor.rsa_encrypt_ms), verify $(get floor.rsa_verify_ms)," \
	    "decrypt $(get floor.rsa_decrypt_ms), SHA-256 $(get floor.sha256_ms)," \
	    "AES-256-CBC $(get floor.aes_cbc_ms), AES-256-GCM $(get floor.aes_gcm_ms) (of $SIZE octets)"
	echo
	echo "Large message: $(get large.octets) octets with an attachment"
	row "" "smimegate" "openssl cms" "ratio"
	row "sign: time s (-t)  (target <= 2)" "$(get large.sign.gate_s)" "$(get large.sign.openssl_s)" "$(get large.sign.ratio)"
	row "sign: peak RSS MB  (growth < 32)" "$(get large.sign.gate_rss_growth_mb)" "$(get large.sign.openssl_rss_mb)" ""
	row "sign via Postfix: s, CPU s" "$(get large.daemon.e2e_s)" "$(get large.daemon.cpu_s)" ""
	row "    daemon peak RSS growth MB" "$(get large.daemon.rss_growth_mb)" "" ""
	row "sign + encrypt: time s" "$(get large.encrypt.gate_s)" "$(get large.encrypt.openssl_s)" "$(get large.encrypt.ratio)"
	row "sign + encrypt: peak RSS MB" "$(get large.encrypt.gate_rss_growth_mb)" "$(get large.encrypt.openssl_rss_mb)" ""
	echo
	echo "The naive way: one openssl cms process per message, $(nproc) at a time"
	row "" "naive msg/s" "smimegate" "gain"
	row "sign" "$(get naive.sign.rate)" "$(get b.unix.rate)" "$(get ratio.naive_b)"
	row "sign + encrypt, 1 rcpt" "$(get naive.encrypt.rate)" "$(get c.unix.rate)" "$(get ratio.naive_c)"
	echo
	echo "Certificate lookups"
	row "" "lookups/s" "p50 ms" "p99 ms"
	row "cold (slapd)" "$(get lookup.cold.rate)" "$(get lookup.cold.p50_ms)" "$(get lookup.cold.p99_ms)"
	row "warm (Redis)  (p99 target < 1)" "$(get lookup.warm.rate)" "$(get lookup.warm.p50_ms)" "$(get lookup.warm.p99_ms)"
}

write_json() {
	jq -Rn --arg when "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$LOAD0" \
	    --argjson n "$N" --argjson size "$SIZE" --argjson sessions "$SESS" '
	    reduce (inputs | capture("^(?<k>[^=]+)=(?<v>.*)$")) as $e
	        ({ when: $when, load_average: $load, messages: $n, size: $size,
	           sessions: $sessions };
	         setpath($e.k | split("."); ($e.v | tonumber? // $e.v)))' \
	    <"$FIG" >"$JSON.tmp" && mv "$JSON.tmp" "$JSON"
}

# --- main ------------------------------------------------------------------

# BENCH_LIB=1: only the functions (for a one-off profiling script).
[ -n "${BENCH_LIB:-}" ] && return 0

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
prof_init
bench_setup
want e2e && run_e2e
want inbound && run_inbound
want wide && run_wide
for _w in e2e inbound wide cpu; do want $_w && run_floor; done
want large && run_large
want naive && run_naive
want lookup && run_lookup
put_ratios
prof_report
{ print_table; prof_table; } | tee "$TXT"
write_json || die "cannot write $JSON"
echo "figures: $JSON"
