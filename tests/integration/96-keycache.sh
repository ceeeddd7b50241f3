#!/bin/sh
# Decrypted private keys kept in memory (KeyCacheTime, KeyCacheSize),
# through a private Postfix: mail signed as alice, as bob, as alice and as
# bob again is each signed by that person's own certificate (openssl cms
# -verify, the signer's fingerprint), and the second of each came from
# memory (/metrics: smimegate_keycache_hits); an address spelt with the
# domain in capitals is the same person, one with the local part in
# capitals is nobody (unsigned).  Then: alice retired with smimectl (another
# process) while her key is kept: her next mail goes out unsigned and her
# key is dropped (smimegate_keycache_keys); bob still signs.  SIGHUP drops
# every kept key (the log line says how many, the gauge is 0) and bob
# signs again from his decrypted key.  With KeyCacheTime 0 mail is signed,
# nothing is kept and nothing comes from memory.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl curl

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$P" alice bob
HTTP_PORT=$(free_port) || bail "a free port for HTTP"
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" -o KeyCacheTime=300 ||
    bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with the milter"
mkdir -p "$T/m"
check "start: the log says keys are kept in locked memory" \
    grep -q "keystore: decrypted keys kept 300s, at most 256, in locked memory" "$GATE_LOG"

# metric NAME: its value now (-1 when /metrics does not answer).
metric() {
	curl -s --max-time 5 -o "$T/metrics" "http://127.0.0.1:$HTTP_PORT/metrics" ||
	    { echo -1; return; }
	awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }' "$T/metrics"
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null; }

n=0
# sign ID FROM: sends a message from FROM; the delivered copy in $T/m/ID.got.
sign() {
	{
		printf 'From: %s\nTo: partner@remote.test\nSubject: keycache %s\n' "$2" "$1"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nmarker-%s\n' "$1"
	} | make_message "$T/m/$1.eml"
	if ! send_mail "$T/m/$1.eml" "$2" partner@remote.test; then
		not_ok "$1: accepted by Postfix ($SMTP_REPLY)"
		return 1
	fi
	wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got" ||
	    { not_ok "$1: delivered"; return 1; }
}
# signed_by ID FROM NAME: ID, sent from FROM, is signed by NAME's certificate.
signed_by() {
	sign "$1" "$2" || return
	if openssl cms -verify -in "$T/m/$1.got" -CAfile "$P/ca.pem" -purpose smimesign \
	    -signer "$T/m/$1.signer" -out /dev/null >"$T/m/$1.openssl.log" 2>&1 &&
	    [ "$(fp "$T/m/$1.signer")" = "$(fp "$P/$3.pem")" ]; then
		ok "$1: from $2, signed by $3's certificate"
	else
		not_ok "$1: from $2, signed by $3's certificate"
		diag_file "$T/m/$1.openssl.log" 5 openssl
		keep "$T/m/$1.got"
	fi
}
# unsigned ID FROM WHY: ID, sent from FROM, goes out unsigned.
unsigned() {
	sign "$1" "$2" || return
	case $(mime_header "$T/m/$1.got" Content-Type) in
	*multipart/signed*|*pkcs7*) not_ok "$1: from $2, unsigned ($3)"; keep "$T/m/$1.got" ;;
	*) ok "$1: from $2, unsigned ($3)" ;;
	esac
}

# ---- two employees, each with their own key, the second time from memory
signed_by a1 alice@example.com alice
signed_by b1 bob@example.com bob
h0=$(metric smimegate_keycache_hits)
signed_by a2 alice@example.com alice
signed_by b2 bob@example.com bob
h1=$(metric smimegate_keycache_hits)
check "a2, b2: both keys came from memory (hits $h0 -> $h1)" test "$h1" -eq $((h0 + 2))
check "two keys kept (got $(metric smimegate_keycache_keys))" \
    test "$(metric smimegate_keycache_keys)" -eq 2
signed_by a3 alice@EXAMPLE.COM alice
unsigned a4 Alice@example.com "the local part is case-sensitive: nobody's key"
check "the daemon's own metrics: misses counted" test "$(metric smimegate_keycache_misses)" -ge 2

# ---- alice retired by smimectl while her key is kept
gate_ctl keystore retire alice@example.com >"$T/retire.log" 2>&1 ||
    { not_ok "smimectl keystore retire alice"; diag_file "$T/retire.log"; }
unsigned r1 alice@example.com "retired, although her key was kept"
l=$(gate_logline "$QID")
check "r1: the log line says why: retired" log_has "$l" "retired"
check "alice's key dropped: one key kept (got $(metric smimegate_keycache_keys))" \
    test "$(metric smimegate_keycache_keys)" -eq 1
h0=$(metric smimegate_keycache_hits)
signed_by r2 bob@example.com bob
check "r2: bob's key from memory still" test "$(metric smimegate_keycache_hits)" -eq $((h0 + 1))

# ---- SIGHUP drops every kept key
kill -HUP "$GATE_PID"
wait_for 50 grep -q "key cache dropped on reload" "$GATE_LOG"
check "SIGHUP: the log says one key dropped" \
    grep -q "keystore: key cache dropped on reload: 1 key$" "$GATE_LOG"
check "SIGHUP: no key kept (got $(metric smimegate_keycache_keys))" \
    test "$(metric smimegate_keycache_keys)" -eq 0
h0=$(metric smimegate_keycache_hits)
signed_by s1 bob@example.com bob
check "s1: bob's key decrypted again, not from memory" \
    test "$(metric smimegate_keycache_hits)" -eq "$h0"

# ---- KeyCacheTime 0: nothing kept
gate_stop
: >"$GATE_LOG"
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" -o KeyCacheTime=0 ||
    bail "smimegate restarted with KeyCacheTime 0"
check "KeyCacheTime 0: the log says keys are not kept" \
    grep -q "keystore: decrypted keys not kept" "$GATE_LOG"
signed_by z1 bob@example.com bob
signed_by z2 bob@example.com bob
check "KeyCacheTime 0: nothing from memory (hits $(metric smimegate_keycache_hits))" \
    test "$(metric smimegate_keycache_hits)" -eq 0
check "KeyCacheTime 0: no key kept" test "$(metric smimegate_keycache_keys)" -eq 0

check "the Postfix queue is empty" sh -c "postqueue -c '$PF_DIR/conf' -p 2>&1 | grep -q 'Mail queue is empty'"
done_testing
