#!/bin/sh
# 96-faults-directory: faults while a bounded batch of mail flows through
# Postfix (milter_default_action = tempfail) under a policy that REQUIRES
# encryption for some recipients (smimegate-policy(5): dave and frank
# encrypt=always, others if-possible), their certificates in slapd and
# cached in Redis (CachePositiveTTL 2 s: lookups go to both; no answer
# used past its time, CacheStaleTime 0, so the outage is felt).  One batch
# per fault, each fault made after a quarter of the batch was sent and
# undone after a half:
#  1. smimegate killed (SIGKILL) and restarted;
#  2. slapd stopped, then started again;
#  3. redis-server stopped, then started again (same port, empty).
# Counted at smtp-sink and in Postfix's queue: every message Postfix
# accepted (250) is delivered exactly once in the right form, or still
# queued; the form of each delivered copy is checked with openssl
# (encrypted to the recipient's key, which opens it, for dave and frank;
# signed and verifying for the others).  None lost, none duplicated, none
# required to be encrypted delivered in clear ("leaked").  The figures go
# to the log as "# figures:" lines.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
. "$top/tests/lib/redis.sh"
. "$top/tests/lib/httpd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl slapd slapadd redis-server redis-cli busybox

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	ldif_entry frank frank@example.net userSMIMECertificate "$P/frank.p7c"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
redis_start || bail "redis-server started"
printf 'default encrypt=if-possible\nto dave@example.net encrypt=always\nto frank@example.net encrypt=always\n' \
    >"$T/policy"
URL=$(slapd_url)
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem
    -o TrustSystemStore=no -o RedisServer=127.0.0.1:$REDIS_PORT -o RedisKeyFile=$REDIS_KEY
    -o RedisPrefix=t96: -o LDAPSearchTimeout=3 -o LDAPConnectTimeout=2
    -o CachePositiveTTL=2 -o CacheNegativeTTL=2 -o PolicyFile=$T/policy
    -o CacheStaleTime=0"
gate_import "$P" alice
gate_ctl lookup dave@example.net >"$T/warm.out" 2>&1
check "dave's certificate found in slapd and cached in Redis" \
    sh -c "grep -q '^result: found' '$T/warm.out' && [ \"\$(redis-cli -h 127.0.0.1 -p $REDIS_PORT exists t96:dave@example.net)\" = 1 ]"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# Message I of batch B goes to one of four recipient sets (K = I mod 4):
# 0 dave, 1 frank, 2 bob@elsewhere.test (no certificate: signed only),
# 3 dave and frank (one copy encrypted to both).
rcpts_of() {
	case $(($1 % 4)) in
	0) echo dave@example.net ;;
	1) echo frank@example.net ;;
	2) echo bob@elsewhere.test ;;
	3) echo dave@example.net,frank@example.net ;;
	esac
}
# key_of I: the key that must open an encrypted copy ("" : signed only).
key_of() {
	case $(($1 % 4)) in
	0|3) echo dave ;;
	1) echo frank ;;
	*) echo "" ;;
	esac
}
send_one() { # B I
	_r=$(rcpts_of "$2")
	printf 'From: alice@example.com\nTo: %s\nSubject: fault %s %s\nMessage-ID: <%s-%s@faults.test>\n\nsecret-%s-%s: for the recipients only\n' \
	    "$_r" "$1" "$2" "$1" "$2" "$1" "$2" | make_message "$T/m/$1-$2.eml"
	send_mail "$T/m/$1-$2.eml" alice@example.com "$_r"
}
# A delivered file as the message (CRLF), without the sink's headers.
sink_strip() { # FILE OUT
	awk 'BEGIN { s = 0 }
	    s == 0 && /^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): / { next }
	    s == 0 && /^Received: / { s = 1; next }
	    s == 1 && /^[ \t]/ { next }
	    { s = 2; printf "%s\r\n", $0 }' "$1" >"$2"
}
# form_ok B I FILE: 0 when FILE is message I in the form policy wants;
# 2 when its secret is in clear where it had to be encrypted.
form_ok() {
	_k=$(key_of "$2") _f="$T/m/form.eml"
	sink_strip "$3" "$_f"
	if [ -n "$_k" ]; then
		grep -q "secret-$1-$2" "$_f" && return 2
		openssl cms -decrypt -in "$_f" -recip "$P/$_k.pem" -inkey "$P/$_k.key" \
		    -out "$T/m/form.dec" >/dev/null 2>&1 || return 1
		grep -q "secret-$1-$2" "$T/m/form.dec" || return 1
		# inside: alice's signature (sign, then encrypt)
		openssl cms -verify -in "$T/m/form.dec" -CAfile "$P/ca.pem" -out /dev/null >/dev/null 2>&1
	else
		grep -qi '^Content-Type: multipart/signed' "$_f" &&
		    openssl cms -verify -in "$_f" -CAfile "$P/ca.pem" -out "$T/m/form.out" >/dev/null 2>&1 &&
		    grep -q "secret-$1-$2" "$T/m/form.out"
	fi
}

_sent_at_least() { [ "$(wc -l <"$T/sent-$BATCH")" -ge "$1" ]; }
_drained() { [ -z "$(postqueue -c "$PF_DIR/conf" -p 2>/dev/null | grep '^[0-9A-F]')" ]; }

# batch NAME FAULT RECOVER: N messages; FAULT after N/4, RECOVER after N/2.
N=${FAULT_BATCH:-40}
batch() {
	BATCH=$1
	: >"$T/sent-$BATCH"
	(
		i=1
		while [ $i -le "$N" ]; do
			if send_one "$BATCH" $i; then echo "$i 250 $QID" >>"$T/sent-$BATCH"
			else
				echo "$i ${SMTP_CODE:-none} -" >>"$T/sent-$BATCH"
				sleep 0.5       # as a client would before its retry
			fi
			i=$((i + 1))
		done
	) &
	_sender=$!
	wait_for 1200 _sent_at_least $((N / 4)) || diag "$BATCH: the batch is slow"
	diag "$BATCH: fault after $(wc -l <"$T/sent-$BATCH") of $N messages"
	$2
	wait_for 1200 _sent_at_least $((N / 2)) || diag "$BATCH: the batch is slow"
	diag "$BATCH: recovery after $(wc -l <"$T/sent-$BATCH") of $N messages"
	$3
	wait "$_sender"
	postqueue -c "$PF_DIR/conf" -f >/dev/null 2>&1
	wait_for 300 _drained || diag "$BATCH: Postfix's queue not empty after 30 s"
	count "$BATCH"
}

# count NAME: the figures of a batch, and its checks.
count() {
	_b=$1
	postqueue -c "$PF_DIR/conf" -p 2>/dev/null >"$T/queue-$_b"
	acc=0 ref=0 del=0 que=0 lost=0 dup=0 leak=0 wrong=0 acc_req=0
	while read -r i code qid; do
		if [ "$code" != 250 ]; then
			ref=$((ref + 1))
			grep -q -F "<$_b-$i@faults.test>" "$SINK_DIR"/* 2>/dev/null &&
			    { diag "$_b-$i: refused ($code) but delivered"; dup=$((dup + 1)); }
			continue
		fi
		acc=$((acc + 1))
		[ -n "$(key_of "$i")" ] && acc_req=$((acc_req + 1))
		files=$(grep -l -F "Message-ID: <$_b-$i@faults.test>" "$SINK_DIR"/* 2>/dev/null)
		n=$(echo "$files" | grep -c .)
		if [ "$n" -eq 0 ]; then
			if grep -q "^$qid" "$T/queue-$_b"; then que=$((que + 1))
			else lost=$((lost + 1)); diag "$_b-$i (queue ID $qid): accepted, neither delivered nor queued"; fi
			continue
		fi
		del=$((del + 1))
		[ "$n" -gt 1 ] && { dup=$((dup + 1)); diag "$_b-$i: delivered $n times"; }
		for f in $files; do
			form_ok "$_b" "$i" "$f"
			case $? in
			0) ;;
			2) leak=$((leak + 1)); diag "$_b-$i: LEAKED in clear ($f)" ;;
			*) wrong=$((wrong + 1)); diag "$_b-$i: not in the form policy wants ($f)" ;;
			esac
		done
	done <"$T/sent-$_b"
	echo "# figures: $_b: sent $N, accepted $acc (encryption required: $acc_req), refused 4xx $ref, delivered $del, queued $que, lost $lost, duplicates $dup, leaked in clear $leak, wrong form $wrong"
	check "$_b: mail accepted during the batch ($acc of $N)" test "$acc" -gt 0
	check "$_b: messages required to be encrypted were accepted ($acc_req)" test "$acc_req" -gt 0
	check "$_b: no accepted message lost ($lost)" test "$lost" -eq 0
	check "$_b: none delivered twice ($dup)" test "$dup" -eq 0
	check "$_b: none required to be encrypted delivered in clear ($leak)" test "$leak" -eq 0
	check "$_b: every delivered copy in the form policy wants, checked by openssl ($wrong)" test "$wrong" -eq 0
	check "$_b: delivered + queued = accepted ($del + $que = $acc)" test $((del + que)) -eq "$acc"
	# Recovered: the last four (one of each recipient set) accepted.
	_last=$(tail -4 "$T/sent-$_b" | grep -c ' 250 ')
	check "$_b: recovered, the last 4 messages accepted ($_last)" test "$_last" -eq 4
	TOTAL_SENT=$((TOTAL_SENT + N)) TOTAL_LOST=$((TOTAL_LOST + lost))
	TOTAL_LEAK=$((TOTAL_LEAK + leak)) TOTAL_DUP=$((TOTAL_DUP + dup))
}
TOTAL_SENT=0 TOTAL_LOST=0 TOTAL_LEAK=0 TOTAL_DUP=0

# --- 1. SIGKILL and restart -------------------------------------------------
kill_gate() {
	kill -9 "$GATE_PID"
	wait "$GATE_PID" 2>/dev/null
	sleep 1
	gate_start || bail "smimegate restarted after SIGKILL"
}
nothing() { :; }
batch sigkill kill_gate nothing

# --- 2. slapd stopped and started again ---------------------------------------
# Down: frank's cached answer dropped, so that his next lookup must ask
# slapd (refused 4xx, never in clear); dave's still cached a while.  Down
# for 3 s at least: longer than the cache keeps an answer.
slapd_down() { slapd_stop; redis_cli del t96:frank@example.net >/dev/null; }
slapd_again() { sleep 3; slapd_start "" || bail "slapd started again"; }
batch slapd slapd_down slapd_again
check "slapd: the outage was felt (messages refused 4xx: the sender retries)" \
    grep -q ' 4[0-9][0-9] -$' "$T/sent-slapd"

# --- 3. redis-server stopped and started again -------------------------------
batch redis redis_stop redis_restart
check "redis: the outage was logged" grep -q "cache redis 127.0.0.1:$REDIS_PORT unavailable" "$GATE_LOG"

echo "# figures: all faults: sent $TOTAL_SENT, lost $TOTAL_LOST, leaked in clear $TOTAL_LEAK, duplicates $TOTAL_DUP"
done_testing
