#!/bin/sh
# The milter protocol against the real binary, without Postfix.
#
# 1. miltertest (60-miltertest.lua): an outsider's message, a spoofed one, a
#    login sending as someone else and a local sender without a key are left
#    alone (no header or body change); a key holder's has its body replaced
#    (MT_BODYCHANGE) and its Content-Type changed.  Each key-holder case runs
#    in its own miltertest process: miltertest 1.6.0 overflows a 1024-octet
#    stack buffer on any end-of-message reply packet larger than that (mt_eom
#    -> mt_milter_read has no length check), and a signed body is one such
#    packet, so those cases are reported as SKIP when miltertest dies that
#    way, and the same checks are made by (2).
# 2. tests/lib/milter-client.pl, a small MTA side of the protocol in Perl:
#    the same transactions, the modifications the filter asks for applied,
#    and the resulting message checked by openssl, gpgsm and NSS.
# 3. The gateway's log line for each queue ID passed in the "i" macro.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools miltertest openssl perl gpgsm certutil cmsutil

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
verifiers_setup "$T/pki/ca.pem" || bail "verifiers set up"
gate_import "$T/pki" alice carol
gate_start -o InternalHosts=127.0.0.0/8 || bail "smimegate started"

# --- 1. miltertest ----------------------------------------------------

# mt OUTNAME -D...: one miltertest run; its TAP lines become ours.
mt() {
	_o=$1
	shift
	timeout 120 miltertest -D "socket=inet:$MILTER_PORT@127.0.0.1" "$@" \
	    -s "$top/tests/integration/60-miltertest.lua" >"$T/$_o.out" 2>"$T/$_o.err"
	_rc=$?
	keep "$T/$_o.out"
	keep "$T/$_o.err"
	grep -E '^(not )?ok ' "$T/$_o.out"
	n_ok=$((n_ok + $(grep -c '^ok ' "$T/$_o.out")))
	n_fail=$((n_fail + $(grep -c '^not ok ' "$T/$_o.out")))
	if grep -q 'stack smashing detected' "$T/$_o.err"; then
		skip "miltertest $* runs to the end" \
		    "miltertest 1.6.0 overflows its 1024-octet EOM buffer on a replacement body packet (stack smashing); see 2."
		return
	fi
	if [ "$_rc" -ne 0 ] && ! grep -q '^not ok ' "$T/$_o.out"; then
		not_ok "miltertest $* exited with status $_rc"
		diag_file "$T/$_o.err" 15 "miltertest stderr"
	fi
}
mt mt-untouched -D set=untouched
for q in MT0001 MT0003 MT0006; do
	mt "mt-$q" -D "only=$q"
done

# --- 2. the Perl milter client ------------------------------------------

mkdir -p "$T/m"
# mc ID FROM [milter-client options]: message ID from FROM through the
# milter; report in ID.report, result in ID.got.
mc() {
	_id=$1 _from=$2
	shift 2
	make_message "$T/m/$_id.eml" <<EOF
From: $_from
To: Bob <bob@elsewhere.test>
Subject: milter client $_id
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <$_id@milter-client.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße via the milter protocol, case $_id.
.a line that begins with a dot
EOF
	perl "$top/tests/lib/milter-client.pl" --socket "inet:$MILTER_PORT@127.0.0.1" \
	    --message "$T/m/$_id.eml" --from "$_from" --rcpt bob@elsewhere.test \
	    --qid "$_id" --out "$T/m/$_id.got" "$@" >"$T/m/$_id.report" 2>&1
}

# mc_signed ID FROM WHAT [options]
mc_signed() {
	_id=$1 _from=$2 _what=$3
	shift 3
	if ! mc "$_id" "$_from" "$@"; then
		not_ok "$_what: milter transaction completed"
		diag_file "$T/m/$_id.report" 10 "milter-client"
		return
	fi
	if grep -q '^mod REPLBODY' "$T/m/$_id.report" &&
	    grep -Eq '^mod (ADDHEADER|INSHEADER|CHGHEADER) Content-Type(\[[0-9]+\])? = multipart/signed' "$T/m/$_id.report" &&
	    grep -Eq '^final (continue|accept)' "$T/m/$_id.report"; then
		ok "$_what: body replaced, Content-Type set to multipart/signed, accepted"
	else
		not_ok "$_what: body replaced, Content-Type set to multipart/signed, accepted"
		diag_file "$T/m/$_id.report" 12 "milter-client"
	fi
	check_signed "$_what (milter protocol)" "$T/m/$_id.got" "$T/m/$_id.eml" "$_from"
}

# mc_untouched ID FROM WHAT [options]
mc_untouched() {
	_id=$1 _from=$2 _what=$3
	shift 3
	if ! mc "$_id" "$_from" "$@"; then
		not_ok "$_what: milter transaction completed"
		diag_file "$T/m/$_id.report" 10 "milter-client"
		return
	fi
	if ! grep -q '^mod ' "$T/m/$_id.report" &&
	    grep -Eq '^final (continue|accept)' "$T/m/$_id.report" &&
	    cmp -s "$T/m/$_id.eml" "$T/m/$_id.got"; then
		ok "$_what: no modification requested, accepted"
	else
		not_ok "$_what: no modification requested, accepted"
		diag_file "$T/m/$_id.report" 12 "milter-client"
	fi
}

mc_signed MC0001 alice@example.com "milter client: key holder, internal client" --ip 127.0.0.1
mc_signed MC0003 alice@example.com "milter client: login alice@example.com from outside" \
    --ip 192.0.2.7 --auth alice@example.com
mc_signed MC0006 alice@example.com "milter client: body split mid-line and mid-CRLF" \
    --ip 127.0.0.1 --chunks 5,9,240,241,242,300
mc_signed MC0008 carol@example.com "milter client: ECDSA key holder" --ip 127.0.0.1
mc_untouched MC0002 mallory@outside.test "milter client: outside sender, outside client" --ip 192.0.2.7
mc_untouched MC0004 alice@example.com "milter client: login bob@example.com sending as alice" \
    --ip 192.0.2.7 --auth bob@example.com
mc_untouched MC0005 dave@example.com "milter client: local sender without a key" --ip 127.0.0.1
mc_untouched MC0007 alice@example.com "milter client: local sender, outside client, no login" --ip 192.0.2.7

# --- 3. log lines ------------------------------------------------------

# line QID FIELD...: the gateway's log line for QID has every FIELD.
line() {
	_q=$1
	shift
	_l=$(gate_logline "$_q")
	check "log $_q: $*" log_has "$_l" "$@"
}
for p in MT MC; do
	line ${p}0001 "${p}0001: from=<alice@example.com>, to=<bob@elsewhere.test>" direction=outbound action=signed "signer=<alice@example.com>"
	line ${p}0002 "${p}0002: from=<mallory@outside.test>" direction=inbound action=pass
	line ${p}0003 "${p}0003: from=<alice@example.com>" direction=outbound action=signed "signer=<alice@example.com>"
	line ${p}0004 "${p}0004: from=<alice@example.com>" direction=outbound action=unsigned reason=
	line ${p}0005 "${p}0005: from=<dave@example.com>" direction=outbound action=unsigned reason=
	line ${p}0006 "${p}0006: from=<alice@example.com>" direction=outbound action=signed
	line ${p}0007 "${p}0007: from=<alice@example.com>" direction=outbound action=unsigned "not trusted to sign"
done
line MC0008 "MC0008: from=<carol@example.com>" direction=outbound action=signed "signer=<carol@example.com>"

done_testing
