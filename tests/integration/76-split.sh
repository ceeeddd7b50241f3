#!/bin/sh
# Mixed recipients, re-injection and hold through the durable spool
#.
#
# One message from alice to dave (a certificate in slapd), victor (no
# usable certificate, encrypt=if-possible) and nobody (no certificate,
# encrypt=always fallback=hold): dave's copy stays in the SMTP transaction
# and is encrypted; victor's is made signed only, written to the spool and
# re-injected through Postfix's sendmail (the gateway is also Postfix's
# non_smtpd_milters and honours its mark); nobody's waits in the spool
# (smimectl spool list/show/drop).  At the sink each recipient has exactly
# one copy, checked with openssl and gpgsm.  A forged mark from an
# outside sender is not honoured.  smimegate is killed with SIGKILL at
# several points while mixed mail flows: after a restart every recipient
# has its copy and none has it twice (the client's retry makes no second copy).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl gpgsm gpgconf postfix smtp-sink swaks perl slapd slapadd sendmail

P="$T/pki"
dirpki_setup "$P"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	ldif_entry victor victor@example.net "userCertificate;binary" "$P/victor.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

URL=$(slapd_url)
printf 'default encrypt=if-possible\nto nobody@example.net encrypt=always fallback=hold\n' \
    >"$T/policy"
# Re-injection into the private Postfix: its sendmail, its config.
pf_reinject "$T/reinject" "$T/reinject.args"
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no -o PolicyFile=$T/policy -o QueueRunInterval=1
    -o ReinjectCommand=$T/reinject"
gate_import "$P" alice
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"
ok "Postfix on 127.0.0.1:$SMTP_PORT, the gateway on both milter lists"

mkdir -p "$T/m"
msg() { # ID TO...
	_id=$1
	shift
	_to=$(echo "$*" | sed 's/ /, /g')
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: split test %s\n' "$_to" "$_id"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$_id"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nFor %s: marker-%s.\n' "$_to" "$_id"
	} | make_message "$T/m/$_id.eml"
}

# copies MARKER RCPT: how many delivered messages for RCPT contain MARKER;
# delivered_to MARKER RCPT OUT: the first of them (tests/lib/postfix.sh).
copies() { sink_count "$1" "$2"; }
delivered_to() {
	_f=$(sink_files "$1" "$2" | head -1)
	[ -n "$_f" ] && sink_strip "$_f" "$3"
}
wait_copies() { sink_wait_count "$@"; } # MARKER RCPT N [TRIES]

# ---- one message, three recipients, three forms -------------------------
msg three dave@example.net victor@example.net nobody@example.net
if send_mail "$T/m/three.eml" alice@example.com \
    dave@example.net,victor@example.net,nobody@example.net; then
	ok "three recipients: accepted ($QID)"
else
	not_ok "three recipients: accepted ($SMTP_REPLY)"
fi
check "dave: one copy delivered" wait_copies "<three@example.com>" dave@example.net 1
check "victor: one copy delivered (re-injected)" wait_copies "<three@example.com>" victor@example.net 1
sleep 2
check "dave: exactly one copy" test "$(copies "<three@example.com>" dave@example.net)" -eq 1
check "victor: exactly one copy" test "$(copies "<three@example.com>" victor@example.net)" -eq 1
check "nobody: no copy (held)" test "$(copies "<three@example.com>" nobody@example.net)" -eq 0
check "the gateway logged the split" grep -q "split: to=<victor@example.net>, copy=.*to re-inject" "$GATE_LOG"
check "the re-injected copy was recognised by its mark" grep -q "action=reinjected" "$GATE_LOG"

if delivered_to "<three@example.com>" dave@example.net "$T/m/three.dave"; then
	keep "$T/m/three.dave"
	ct=$(mime_header "$T/m/three.dave" Content-Type)
	case $ct in
	*enveloped-data*) ok "dave: enveloped-data" ;;
	*) not_ok "dave: enveloped-data (Content-Type: $ct)" ;;
	esac
	check "dave decrypts with openssl cms" openssl cms -decrypt -in "$T/m/three.dave" \
	    -recip "$P/dave.pem" -inkey "$P/dave.key" -out "$T/m/three.dave.plain"
	check_signed "dave (inner)" "$T/m/three.dave.plain" "$T/m/three.eml" alice@example.com
	check "dave: no plaintext on the wire" sh -c "! grep -q marker-three '$T/m/three.dave'"
else
	not_ok "dave's copy found"
fi
if delivered_to "<three@example.com>" victor@example.net "$T/m/three.victor"; then
	keep "$T/m/three.victor"
	ct=$(mime_header "$T/m/three.victor" Content-Type)
	case $ct in
	*multipart/signed*) ok "victor: signed only (multipart/signed)" ;;
	*) not_ok "victor: signed only (Content-Type: $ct)" ;;
	esac
	check_signed "victor" "$T/m/three.victor" "$T/m/three.eml" alice@example.com
	check "victor: the mark header is gone" sh -c "! grep -qi '^X-Smimegate-Reinject' '$T/m/three.victor'"
else
	not_ok "victor's copy found"
fi

gate_ctl spool list >"$T/spool.list" 2>&1
keep "$T/spool.list"
check "smimectl spool list: nobody's copy is held" grep -q " hold .*to=<nobody@example.net>" "$T/spool.list"
check "smimectl spool list: nothing left active" sh -c "! grep -q ' active ' '$T/spool.list'"
hid=$(awk '/ hold .*nobody@example.net/ { print $1; exit }' "$T/spool.list")
gate_ctl spool show "$hid" >"$T/spool.show" 2>&1
check "smimectl spool show: envelope and message" sh -c \
    "grep -q '^Rcpt: nobody@example.net' '$T/spool.show' && grep -q 'marker-three' '$T/spool.show'"
gate_ctl spool drop "$hid" >/dev/null 2>&1
gate_ctl spool list >"$T/spool.list2" 2>&1
check "smimectl spool drop: gone" sh -c "! grep -q '$hid' '$T/spool.list2'"

# ---- a forged mark ---------------------------------------------------------
msg forged victor@example.net
fake="0000000000.00000000.000000000000 $(printf '%064d' 0)"
sed "1i X-Smimegate-Reinject: $fake" "$T/m/forged.eml" | make_message "$T/m/forged2.eml"
if send_mail "$T/m/forged2.eml" alice@example.com victor@example.net && wait_delivered "$QID"; then
	l=$(gate_logline "$QID")
	check "a forged mark is not honoured: the message is processed (signed)" \
	    log_has "$l" "action=signed"
	check "the forged mark is logged" grep -q "a mark that does not verify" "$GATE_LOG"
	delivered_to "<forged@example.com>" victor@example.net "$T/m/forged.got"
	check "the forged mark header is stripped" sh -c "! grep -qi '^X-Smimegate-Reinject' '$T/m/forged.got'"
else
	not_ok "forged mark: accepted and delivered ($SMTP_REPLY)"
fi
# A real mark (from the log of the re-injection) on other mail: refused too.
msg replay victor@example.net
sed "1i X-Smimegate-Reinject: $(grep -o 'spool copy [0-9a-f.]*' "$GATE_LOG" | head -1 | cut -d' ' -f3) $(printf '%064d' 1)" \
    "$T/m/replay.eml" | make_message "$T/m/replay2.eml"
if send_mail "$T/m/replay2.eml" alice@example.com victor@example.net && wait_delivered "$QID"; then
	check "a real copy's ID with a wrong MAC is not honoured" log_has "$(gate_logline "$QID")" "action=signed"
else
	not_ok "replayed mark: accepted and delivered ($SMTP_REPLY)"
fi

# ---- the MTA refuses after the copies were written (window 1) ------------
# Postfix's message_size_limit between the signed copy (victor, re-injected)
# and the encrypted body of the kept group (dave): the client sees 552
# after victor's copy is in the spool.  The client sends the same message
# again: victor's copy is the first attempt's (its ID comes from the
# message), none is made twice.  With the limit lifted, a third sending
# reaches dave; victor, who has it, gets no second copy (QueueDedupTime).
msg big dave@example.net victor@example.net
awk 'BEGIN { for (i = 0; i < 400; i++) printf "line %04d of a long enough body, to make the encrypted copy too big\n", i }' \
    | make_message "$T/m/big.body"
cat "$T/m/big.body" >>"$T/m/big.eml"
sz=$(wc -c <"$T/m/big.eml")
postconf -c "$PF_DIR/conf" -e "message_size_limit = $((sz * 5 / 4))"
postfix -c "$PF_DIR/conf" reload >/dev/null 2>&1
sleep 2
send_mail "$T/m/big.eml" alice@example.com dave@example.net,victor@example.net
check "window 1: the MTA refuses the kept group after the split ($SMTP_REPLY)" \
    test "$SMTP_CODE" = 552
check "window 1: victor's copy is delivered" wait_copies "<big@example.com>" victor@example.net 1
send_mail "$T/m/big.eml" alice@example.com dave@example.net,victor@example.net
check "window 1: sent again, refused again ($SMTP_REPLY)" test "$SMTP_CODE" = 552
check "window 1: the second attempt makes no copy" \
    grep -q "split: to=<victor@example.net>, copy=.*made by an earlier attempt" "$GATE_LOG"
postconf -c "$PF_DIR/conf" -e "message_size_limit = 10240000"
postfix -c "$PF_DIR/conf" reload >/dev/null 2>&1
sleep 2
if send_mail "$T/m/big.eml" alice@example.com dave@example.net,victor@example.net; then
	ok "window 1: accepted once the limit is lifted"
else
	not_ok "window 1: accepted once the limit is lifted ($SMTP_REPLY)"
fi
check "window 1: dave has his copy" wait_copies "<big@example.com>" dave@example.net 1
sleep 2
check "window 1: victor has exactly one copy of three attempts" \
    test "$(copies "<big@example.com>" victor@example.net)" -eq 1
check "window 1: dave has exactly one copy" test "$(copies "<big@example.com>" dave@example.net)" -eq 1

# ---- SIGKILL while mixed mail flows -----------------------------------------
# Each round sends one message to dave and victor in the background and
# kills the gateway after a different delay, then restarts it (the spool
# is replayed); a message the client saw refused is sent again, as a
# client would.  Bounded: 6 rounds.
printf 'default encrypt=if-possible\n' >"$T/policy"
for r in 1 2 3 4 5 6; do
	msg "k$r" dave@example.net victor@example.net
	( send_mail "$T/m/k$r.eml" alice@example.com dave@example.net,victor@example.net
	  echo "$SMTP_CODE" >"$T/m/k$r.code" ) &
	sp=$!
	case $r in
	1) d=0 ;; 2) d=0.05 ;; 3) d=0.1 ;; 4) d=0.2 ;; 5) d=0.4 ;; 6) d=0.8 ;;
	esac
	sleep "$d"
	kill -9 "$GATE_PID" 2>/dev/null
	wait "$sp"
	gate_start >/dev/null || bail "smimegate restarted after SIGKILL (round $r)"
	if [ "$(cat "$T/m/k$r.code")" != 250 ]; then
		send_mail "$T/m/k$r.eml" alice@example.com dave@example.net,victor@example.net ||
		    not_ok "round $r: resent after the kill ($SMTP_REPLY)"
	fi
done
lost=0 dup=0
for r in 1 2 3 4 5 6; do
	for who in dave victor; do
		wait_copies "<k$r@example.com>" "$who@example.net" 1
		n=$(copies "<k$r@example.com>" "$who@example.net")
		if [ "$n" -eq 0 ]; then
			lost=$((lost + 1))
			diag "round $r: $who has no copy"
		elif [ "$n" -gt 1 ]; then
			dup=$((dup + $n - 1))
			diag "round $r: $who has $n copies"
		fi
	done
done
check "SIGKILL at 6 points: every recipient has its copy (lost: $lost)" test "$lost" -eq 0
# A kill after a copy is on disk but before the client hears 250 makes the
# client send again: the copy's ID comes from the message, so the second
# attempt finds the first's copy (in the spool, or recorded as handed on)
# and makes none (smimegate(8), CRASHES AND DUPLICATES).
check "SIGKILL at 6 points: no copy twice (duplicates: $dup)" test "$dup" -eq 0
gate_ctl spool list >"$T/spool.list3" 2>&1
check "the spool is empty at the end" test ! -s "$T/spool.list3"

done_testing
