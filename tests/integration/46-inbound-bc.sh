#!/bin/sh
# Inbound mail made by Bouncy Castle, the library Java mail
# gateways and clients are built on, read by the gateway through Postfix.
#
# From partners at example.net to employees whose keys are escrowed
# (alice RSA, carol EC P-256): signatures (detached by dave, RSA; opaque
# by erin, ECDSA) verify and pass; messages encrypted with AES-256-CBC
# (enveloped-data) and AES-256-GCM (authEnveloped-data), to RSA (key
# transport) and to EC (ECDH, stdDH-sha256kdf, AES-256 wrap) keys, are
# decrypted; signed then encrypted, both.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl

if ! bc_setup; then
	[ -n "$BC_SKIP" ] || bail "Bouncy Castle verifier compiled (tests/tools/SmimeBc.java)"
	skip "mail made by Bouncy Castle, read inbound" "$BC_SKIP"
	done_testing
fi
ok "Bouncy Castle compiled"
P="$T/pki"
dirpki_setup "$P"

# Its subject is decryption itself: CBC without a signature is decrypted
# too (UnprotectedContent decrypt; the default keeps it unless signed).
GATE_OPTS="-o TrustAnchorFile=$P/ca.pem -o UnprotectedContent=decrypt"
gate_import "$P" alice carol
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# plain ID FROM TO: a plain message in $T/m/ID.in
plain() {
	{
		printf 'From: %s\nTo: %s\nSubject: from Bouncy Castle %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.net>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'Made by Bouncy Castle, marker-%s.\nA second line.\n' "$1"
	} | make_message "$T/m/$1.in"
}

# inbound_case ID FROM TO RESULT... : sends $T/m/ID.raw; the result header
# starts with each RESULT item in turn; the marker is readable.
inbound_case() {
	_id=$1 _from=$2 _to=$3
	shift 3
	make_message "$T/m/$_id.eml" <"$T/m/$_id.raw"
	if ! send_mail "$T/m/$_id.eml" "$_from" "$_to" || ! wait_delivered "$QID" ||
	    ! sink_fetch "<$_id@example.net>" "$T/m/$_id.got"; then
		not_ok "$_id: delivered ($SMTP_REPLY)"
		return
	fi
	keep "$T/m/$_id.got"
	_res=$(mime_header "$T/m/$_id.got" X-Smimegate-Result)
	_all=1
	for _want in "$@"; do
		case $_res in
		*"$_want"*) ;;
		*) _all=0 ;;
		esac
	done
	if [ "$_all" = 1 ]; then
		ok "$_id: X-Smimegate-Result: $_res"
	else
		not_ok "$_id: X-Smimegate-Result has '$*' (got '$_res')"
	fi
	check "$_id: the text is readable" grep -q "marker-$_id" "$T/m/$_id.got"
}

# ---- signatures -----------------------------------------------------------
plain sigdet dave@example.net alice@example.com
bc sign "$P/dave.key" "$P/dave.pem" "$T/m/sigdet.in" "$T/m/sigdet.raw" >"$T/bc.log" 2>&1
inbound_case sigdet dave@example.net alice@example.com "pass (signer=<dave@example.net>)"
plain sigopq erin@example.net alice@example.com
bc sign "$P/erin.key" "$P/erin.pem" "$T/m/sigopq.in" "$T/m/sigopq.raw" --opaque >>"$T/bc.log" 2>&1
inbound_case sigopq erin@example.net alice@example.com "pass (signer=<erin@example.net>)"
case $(mime_header "$T/m/sigopq.got" Content-Type) in
multipart/signed*) ok "sigopq: the opaque ECDSA signature delivered as multipart/signed" ;;
*) not_ok "sigopq: the opaque ECDSA signature delivered as multipart/signed" ;;
esac

# ---- encryption: CBC and GCM, RSA and ECDH ---------------------------------
for c in cbc gcm; do
	g=""
	[ "$c" = gcm ] && g=--gcm
	want="decrypted (enveloped-data"
	[ "$c" = gcm ] && want="decrypted (authEnveloped-data"
	plain "rsa$c" dave@example.net alice@example.com
	bc encrypt "$T/m/rsa$c.in" "$T/m/rsa$c.raw" $g "$P/alice.pem" >>"$T/bc.log" 2>&1
	inbound_case "rsa$c" dave@example.net alice@example.com "$want"
	plain "ec$c" erin@example.net carol@example.com
	bc encrypt "$T/m/ec$c.in" "$T/m/ec$c.raw" $g "$P/carol.pem" >>"$T/bc.log" 2>&1
	inbound_case "ec$c" erin@example.net carol@example.com "$want"
done

# ---- signed, then encrypted (GCM, to RSA and EC recipients at once) ------
plain both dave@example.net alice@example.com
bc sign "$P/dave.key" "$P/dave.pem" "$T/m/both.in" "$T/m/both.signed" >>"$T/bc.log" 2>&1
bc encrypt "$T/m/both.signed" "$T/m/both.raw" --gcm "$P/carol.pem" "$P/alice.pem" >>"$T/bc.log" 2>&1
inbound_case both dave@example.net alice@example.com "decrypted (authEnveloped-data" \
    "pass (signer=<dave@example.net>)"
keep "$T/bc.log"

done_testing
