#!/bin/sh
# Kept verdicts of the certificate check (VerdictCacheSize) through a real
# Postfix: mail to one partner, dave (his certificate in slapd, its CRL
# served by busybox httpd, CRLCacheTime 10), is encrypted every time,
# and /metrics shows checks answered from a kept verdict.  Then dave's
# certificate is revoked at the CA and a new CRL published: once the CRL
# the gateway holds has run out (its verdicts with it), the next message
# is not encrypted to him (encrypt=if-possible: signed only, logged so,
# his certificate refused as revoked).  A verdict outliving its CRL would
# still encrypt.  Every message is checked at the sink.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl slapd slapadd busybox curl

CRL_TIME=10
P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
HTTP_PORT=$(free_port) || bail "a free port for /metrics"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

GATE_OPTS="-o LDAPDirectories=$(slapd_url) -o TrustAnchorFile=$P/ca.pem
    -o TrustSystemStore=no -o CRLCacheTime=$CRL_TIME -o VerdictCacheSize=64"
gate_import "$P" alice
gate_start -o "HTTPListen=127.0.0.1:$HTTP_PORT" || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

# metric NAME: its value on /metrics (0 when absent).
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics" 2>/dev/null
	awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }' "$T/metrics"
}

mkdir -p "$T/m"
# send ID: alice writes to dave through Postfix; the delivered copy in
# ID.got, the gateway's line in $LINE.  1 when it did not get through.
send() {
	make_message "$T/m/$1.eml" <<EOT
From: Alice <alice@example.com>
To: <dave@example.net>
Subject: verdict $1
Date: Mon, 23 Nov 2026 11:00:00 +0000
Message-ID: <$1@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

secret-$1: for dave only.
EOT
	LINE=
	send_mail "$T/m/$1.eml" alice@example.com dave@example.net &&
	    wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got" &&
	    LINE=$(gate_logline "$QID")
}

# is ID encrypted|signed: the delivered copy and the log line agree.
is() {
	case $2 in
	encrypted) log_has "$LINE" "action=signed+encrypted" &&
	    grep -qi 'enveloped-data' "$T/m/$1.got" && ! grep -q "secret-$1" "$T/m/$1.got" ;;
	signed) log_has "$LINE" "action=signed," &&
	    grep -qi 'multipart/signed' "$T/m/$1.got" && grep -q "secret-$1" "$T/m/$1.got" ;;
	esac
}

# ---- a warm partner: encrypted every time, from kept verdicts -----------
h0=$(metric smimegate_verdict_cache_hits_total)
for i in 1 2 3 4; do
	if send "warm$i" && is "warm$i" encrypted; then
		ok "message $i to dave: encrypted"
	else
		not_ok "message $i to dave: encrypted ($SMTP_REPLY)"
		diag "line: $LINE"
	fi
done
h1=$(metric smimegate_verdict_cache_hits_total)
m1=$(metric smimegate_verdict_cache_misses_total)
check "/metrics: checks answered from kept verdicts ($h0 -> $h1 hits, $m1 misses)" \
    test "$h1" -ge $((h0 + 2))
check "/metrics: verdicts kept now ($(metric smimegate_verdict_cache_entries))" \
    test "$(metric smimegate_verdict_cache_entries)" -ge 1

# ---- revoked at the CA, a new CRL published -----------------------------
t_rev=$(date +%s)
if PKI_EMAIL=unused openssl ca -config "$P/ca.cnf" -batch -revoke "$P/dave.pem" \
    >"$T/revoke.log" 2>&1 &&
    PKI_EMAIL=unused openssl ca -config "$P/ca.cnf" -batch -gencrl -out "$P/ca2.crl.pem" \
    >>"$T/revoke.log" 2>&1 &&
    openssl crl -in "$P/ca2.crl.pem" -outform DER -out "$P/www/ca.crl.new" &&
    mv "$P/www/ca.crl.new" "$P/www/ca.crl"; then
	ok "dave's certificate revoked at the CA, the new CRL published"
else
	not_ok "dave's certificate revoked at the CA, the new CRL published"
	diag_file "$T/revoke.log"
fi
# The CRL the gateway holds runs out at most CRLCacheTime after it was
# fetched (before the first message).
while [ $(($(date +%s) - t_rev)) -le $((CRL_TIME + 1)) ]; do sleep 1; done
if send revoked && is revoked signed; then
	ok "after the new CRL: the next message is not encrypted to dave (signed only)"
else
	not_ok "after the new CRL: the next message is not encrypted to dave ($SMTP_REPLY)"
	diag "line: $LINE"
fi
check "the gateway says why: dave's certificate is revoked" \
    grep -q "dave.*certificate revoked\|certificate revoked.*dave" "$GATE_LOG"
# And stays so (the refusal is not kept as good).
if send revoked2 && is revoked2 signed; then
	ok "the message after: not encrypted either"
else
	not_ok "the message after: not encrypted either"
	diag "line: $LINE"
fi
done_testing
