#!/bin/sh
# Inbound streaming: 25 MB messages through a real Postfix, decrypted or
# verified from and to the spool, not held in memory.  For each kind
# (encrypted with AES-GCM, signed and then encrypted, opaque signed-data,
# multipart/signed), made by `openssl cms`: the delivered content hashes
# the same as what was encrypted or signed, the result header is right,
# and the daemon's peak RSS growth (VmHWM, reset through clear_refs, as
# 76-hold measures it) stays under 32 MB.  Then 2 MB messages (on the
# spool's file path too) in BER with indefinite lengths and segments, and
# tampered inside: the streamed checks still catch it (a GCM tag, a
# signature over the detached and the opaque content).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl sha256sum

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
P="$T/pki"
# A small sanitizer quarantine: freed blocks held back would be counted
# as growth, whatever the code keeps alive at once.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
export ASAN_OPTIONS
GATE_OPTS="-o TrustAnchorFile=$P/ca.pem -o MaximumMessageSize=60M"
gate_import "$P" alice
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="message_size_limit = 60000000"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

LIMIT=32
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# entity FILE MB: a MIME entity (CRLF) with a text part and MB megabytes
# of random data as a base64 attachment.
entity() {
	{
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
		printf 'Content-Type: text/plain; charset=us-ascii\n\nDear Alice, the data.\n'
		printf '\n--b1\nContent-Type: application/octet-stream; name=data.bin\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		head -c "$(($2 * 1000 * 1000))" /dev/urandom | base64 -w 76
		printf '\n--b1--\n'
	} | make_message "$1"
}

# wrap ID CMS-OUTPUT: a whole message from bob around openssl's output.
wrap() {
	{
		printf 'From: Bob <bob@example.com>\nTo: Alice <alice@example.com>\n'
		printf 'Subject: stream %s\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n' "$1"
		printf 'Message-ID: <%s@remote.test>\n' "$1"
		sed 's/\r$//' "$2"
	} | make_message "$T/m/$1.eml"
}

# deliver ID: from outside to alice, the peak RSS growth measured; the
# delivered copy in $T/m/ID.got, the result header in $RES, the growth in
# MB in $GROWTH (empty without clear_refs).
deliver() {
	RES="" GROWTH=""
	if echo 5 >"/proc/$GATE_PID/clear_refs" 2>/dev/null; then
		_rss0=$(status_kb "$GATE_PID" VmRSS)
	else
		_rss0=""
	fi
	if ! send_mail "$T/m/$1.eml" bob@remote.test alice@example.com --timeout 600; then
		not_ok "$1: accepted by Postfix ($SMTP_REPLY)"
		return 1
	fi
	if ! wait_delivered "$QID" || ! sink_fetch "<$1@remote.test>" "$T/m/$1.got"; then
		not_ok "$1: delivered"
		return 1
	fi
	[ -n "$_rss0" ] && GROWTH=$(( ($(status_kb "$GATE_PID" VmHWM) - _rss0) / 1024 ))
	RES=$(mime_header "$T/m/$1.got" X-Smimegate-Result)
	diag "$1: $(wc -c <"$T/m/$1.eml") octets; result: $RES; daemon peak RSS growth ${GROWTH:-?} MB"
	return 0
}

result_is() {
	case $RES in
	"$2"*) ok "$1: X-Smimegate-Result: $2..." ;;
	*) not_ok "$1: X-Smimegate-Result: $2... (got '$RES')" ;;
	esac
}

growth_ok() {
	if [ -z "$GROWTH" ]; then
		skip "$1: peak RSS growth" "no /proc/PID/clear_refs"
	else
		check "$1: daemon peak RSS growth ${GROWTH} MB < ${LIMIT} MB" test "$GROWTH" -lt "$LIMIT"
	fi
}

# same_body ID WANT: the delivered body hashes as WANT's body.
same_body() {
	mime_body "$T/m/$1.got" "$T/m/$1.got.body"
	mime_body "$2" "$T/m/$1.want.body"
	check "$1: delivered content hashes as the original ($(hash_of "$T/m/$1.want.body" | cut -c1-16))" \
	    test "$(hash_of "$T/m/$1.got.body")" = "$(hash_of "$T/m/$1.want.body")"
}

# verified_content ID WANT: openssl verifies the delivered signature and
# gives back what was signed.
verified_content() {
	if openssl cms -verify -CAfile "$P/ca.pem" -in "$T/m/$1.got" -out "$T/m/$1.content" \
	    2>"$T/m/$1.verify.log"; then   # not -binary: it keeps the CR before the boundary
		check "$1: openssl verifies it; the signed content hashes as the original" \
		    test "$(hash_of "$T/m/$1.content")" = "$(hash_of "$2")"
	else
		not_ok "$1: openssl verifies the delivered signature"
		diag_file "$T/m/$1.verify.log" 5 "openssl cms -verify"
	fi
}

# ---- 25 MB, each kind ----------------------------------------------------
entity "$T/big13.txt" 13
entity "$T/big18.txt" 18

openssl cms -encrypt -aes-256-gcm -binary -in "$T/big13.txt" "$P/alice.pem" \
    >"$T/enc.p7" 2>>"$T/openssl.log"
wrap enc "$T/enc.p7"
if deliver enc; then
	result_is enc "decrypted (authEnveloped-data, integrity-protected)"
	same_body enc "$T/big13.txt"
	growth_ok enc
fi
rm -f "$T/enc.p7" "$T/m/enc.eml"*

openssl cms -sign -md sha256 -binary -in "$T/big13.txt" -signer "$P/bob.pem" \
    -inkey "$P/bob.key" >"$T/signed13.p7" 2>>"$T/openssl.log"
openssl cms -encrypt -aes-256-gcm -binary -in "$T/signed13.p7" "$P/alice.pem" \
    >"$T/signenc.p7" 2>>"$T/openssl.log"
wrap signenc "$T/signenc.p7"
if deliver signenc; then
	result_is signenc "decrypted (authEnveloped-data, integrity-protected); pass (signer=<bob@example.com>)"
	verified_content signenc "$T/big13.txt"
	growth_ok signenc
fi
rm -f "$T/signenc.p7" "$T/signed13.p7" "$T/m/signenc.eml"*

openssl cms -sign -nodetach -md sha256 -binary -in "$T/big13.txt" -signer "$P/bob.pem" \
    -inkey "$P/bob.key" >"$T/opaque.p7" 2>>"$T/openssl.log"
wrap opaque "$T/opaque.p7"
if deliver opaque; then
	result_is opaque "pass (signer=<bob@example.com>)"
	case $(mime_header "$T/m/opaque.got" Content-Type) in
	multipart/signed*) ok "opaque: delivered as multipart/signed" ;;
	*) not_ok "opaque: delivered as multipart/signed" ;;
	esac
	verified_content opaque "$T/big13.txt"
	growth_ok opaque
fi
rm -f "$T/opaque.p7" "$T/m/opaque.eml"*

openssl cms -sign -md sha256 -in "$T/big18.txt" -signer "$P/bob.pem" \
    -inkey "$P/bob.key" >"$T/clear.p7" 2>>"$T/openssl.log"
wrap clear "$T/clear.p7"
if deliver clear; then
	result_is clear "pass (signer=<bob@example.com>)"
	same_body clear "$T/m/clear.eml"
	growth_ok clear
fi
rm -f "$T/clear.p7" "$T/m/clear.eml"* "$T/big13.txt" "$T/big18.txt"

# ---- 2 MB, BER as streaming encoders write it ------------------------------
# Indefinite lengths, the content in OCTET STRING segments (openssl -stream,
# as Outlook and Thunderbird write it): the segments are joined.
entity "$T/small.txt" 1
openssl cms -encrypt -stream -aes-256-gcm -binary -in "$T/small.txt" "$P/alice.pem" \
    >"$T/encber.p7" 2>>"$T/openssl.log"
wrap encber "$T/encber.p7"
if deliver encber; then
	result_is encber "decrypted (authEnveloped-data, integrity-protected)"
	same_body encber "$T/small.txt"
fi
openssl cms -sign -stream -nodetach -md sha256 -binary -in "$T/small.txt" \
    -signer "$P/bob.pem" -inkey "$P/bob.key" >"$T/opaqueber.p7" 2>>"$T/openssl.log"
wrap opaqueber "$T/opaqueber.p7"
if deliver opaqueber; then
	result_is opaqueber "pass (signer=<bob@example.com>)"
	verified_content opaqueber "$T/small.txt"
fi

# ---- 2 MB, tampered inside -----------------------------------------------
# flip OFFSET FILE: one octet of FILE changed at OFFSET.
flip() {
	perl -e 'open(my $f, "+<", $ARGV[1]) or die; seek($f, $ARGV[0], 0); read($f, my $c, 1);
	    seek($f, $ARGV[0], 0); print $f chr(ord($c) ^ 1); close($f)' "$1" "$2"
}
openssl cms -encrypt -aes-256-gcm -binary -outform DER -in "$T/small.txt" "$P/alice.pem" \
    >"$T/gcm.der" 2>>"$T/openssl.log"
flip $(( $(wc -c <"$T/gcm.der") / 2 )) "$T/gcm.der"
{
	printf 'MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=authEnveloped-data; name=smime.p7m\n'
	printf 'Content-Transfer-Encoding: base64\n\n'
	base64 -w 76 "$T/gcm.der"
} >"$T/gcm.p7"
wrap gcmbad "$T/gcm.p7"
if deliver gcmbad; then
	result_is gcmbad "undecryptable"
	same_body gcmbad "$T/m/gcmbad.eml"
fi

openssl cms -sign -md sha256 -in "$T/small.txt" -signer "$P/bob.pem" \
    -inkey "$P/bob.key" >"$T/clearbad.p7" 2>>"$T/openssl.log"
# a letter of the attachment's base64 in the signed first part
perl -0pi -e 's/(data\.bin.*?\n\r?\n.{5000})(.)/$1 . ($2 eq "A" ? "B" : "A")/se' "$T/clearbad.p7"
wrap clearbad "$T/clearbad.p7"
deliver clearbad && result_is clearbad "fail"

openssl cms -sign -nodetach -md sha256 -binary -outform DER -in "$T/small.txt" \
    -signer "$P/bob.pem" -inkey "$P/bob.key" >"$T/opaque.der" 2>>"$T/openssl.log"
flip $(( $(wc -c <"$T/opaque.der") / 2 )) "$T/opaque.der"
{
	printf 'MIME-Version: 1.0\nContent-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n'
	printf 'Content-Transfer-Encoding: base64\n\n'
	base64 -w 76 "$T/opaque.der"
} >"$T/opaquebad.p7"
wrap opaquebad "$T/opaquebad.p7"
if deliver opaquebad; then
	result_is opaquebad "fail"
	same_body opaquebad "$T/m/opaquebad.eml"
fi

done_testing
