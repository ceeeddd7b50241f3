#!/bin/sh
# Header protection (RFC 9788), outbound, and back through our inbound.
#
# dave@example.net's signed message is harvested first (as in
# 76-harvest-reply), so that alice's mail to him is signed and encrypted.
# Through Postfix:
#   - signed+encrypted: the sink sees Subject "[...]", no Keywords, none
#     of the secret subject's words; openssl cms -decrypt with dave's key
#     shows the signed payload with hp="cipher", the real Subject, HP-Outer
#     records and the Legacy Display Element (hp-legacy-display="1") whose
#     lines name the real Subject; openssl cms -verify takes the signature;
#   - that very message sent back in as inbound mail for alice (her own
#     certificate is one of its recipients): delivered with the real
#     Subject and Keywords restored and the result header saying so;
#   - encrypted but not signed (carol has no key): hp="cipher" on the
#     decrypted entity itself;
#   - PolicyFile "to dave@example.net header-protection=off": the Subject
#     stays visible outside and nothing inside says hp;
#   - signed only (frank has no certificate): hp="clear" in the signed
#     part, the outer Subject as written, openssl cms -verify passes.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/httpd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl busybox

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"

GATE_OPTS="-o TrustAnchorFile=$P/ca.pem"
gate_import "$P" alice
gate_start || bail "smimegate started (built-in policy: header-protection=on)"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# ---- dave's signed message: his certificate harvested ----------------------
{
	printf 'From: Dave <dave@example.net>\nTo: Alice <alice@example.com>\nSubject: hello\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <hello@example.net>\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\nHello Alice, this is Dave.\n' |
	    openssl cms -sign -md sha256 -signer "$P/dave.pem" -inkey "$P/dave.key" 2>>"$T/openssl.log" |
	    sed 's/\r$//'
} | make_message "$T/m/hello.eml"
if send_mail "$T/m/hello.eml" dave@example.net alice@example.com &&
    wait_delivered "$QID"; then
	ok "dave's signed message delivered: his certificate harvested"
else
	bail "dave's signed message delivered ($SMTP_REPLY)"
fi

# mail ID FROM TO: FROM writes to TO; the sink's copy in $T/m/ID.got.
mail() {
	{
		printf 'From: <%s>\nTo: <%s>\n' "$2" "$3"
		printf 'Subject: Secret merger plans %s\nKeywords: takeover\n' "$1"
		printf 'Date: Mon, 23 Nov 2026 11:00:00 +0000\n'
		printf 'Message-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'Hello, body-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" "$2" "$3" &&
	    wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got" &&
	    LINE=$(gate_logline "$QID") && keep "$T/m/$1.got"
}

decrypt_dave() { # ID: $T/m/ID.dec
	openssl cms -decrypt -in "$T/m/$1.got" -recip "$P/dave.pem" -inkey "$P/dave.key" \
	    -out "$T/m/$1.dec" 2>"$T/m/$1.dec.log" && tr -d '\r' <"$T/m/$1.dec" >"$T/m/$1.declf" &&
	    keep "$T/m/$1.declf"
}

# ---- signed and encrypted ----------------------------------------------------
if ! mail se alice@example.com dave@example.net; then
	bail "alice's mail to dave delivered ($SMTP_REPLY)"
fi
check "signed+encrypted, the log says the header fields are protected" \
    log_has "$LINE" "action=signed+encrypted" "hp=cipher"
check "outside, the Subject is [...]" \
    test "$(mime_header "$T/m/se.got" Subject)" = "[...]"
check "outside, no Keywords" sh -c "! grep -qi '^Keywords:' '$T/m/se.got'"
check "outside, From, To, Date and Message-ID as written" sh -c "
    grep -q '^From: <alice@example.com>' '$T/m/se.got' &&
    grep -q '^To: <dave@example.net>' '$T/m/se.got' &&
    grep -q '^Date: Mon, 23 Nov 2026 11:00:00 +0000' '$T/m/se.got' &&
    grep -q '^Message-ID: <se@example.com>' '$T/m/se.got'"
check "the secret subject's words are nowhere in the sink's copy" \
    sh -c "! grep -q 'merger' '$T/m/se.got'"
if decrypt_dave se; then
	ok "dave decrypts it with openssl cms"
	D="$T/m/se.declf"
	check "inside: multipart/signed" grep -qi '^Content-Type: multipart/signed' "$D"
	check "the signed payload's Content-Type says hp=\"cipher\"" \
	    grep -Eqi '^Content-Type: text/plain.*hp="?cipher' "$D"
	check "the payload carries the real Subject, Keywords, From and To" sh -c "
	    grep -q '^Subject: Secret merger plans se' '$D' && grep -q '^Keywords: takeover' '$D' &&
	    grep -q '^From: <alice@example.com>' '$D' && grep -q '^To: <dave@example.net>' '$D'"
	check "HP-Outer records the outer Subject and From as sent; none for Keywords" sh -c "
	    grep -q '^HP-Outer: Subject: \[\.\.\.\]' '$D' &&
	    grep -q '^HP-Outer: From: <alice@example.com>' '$D' &&
	    ! grep -q '^HP-Outer: Keywords' '$D'"
	check "the Legacy Display Element: hp-legacy-display=\"1\" and the real Subject first in the text" sh -c "
	    grep -Eqi 'hp-legacy-display=\"?1' '$D' &&
	    awk '/^\$/ && !b { b = 1; next } b' '$D' | grep -q '^Subject: Secret merger plans se'"
	if openssl cms -verify -in "$T/m/se.dec" -CAfile "$P/ca.pem" -purpose any \
	    -out "$T/m/se.content" >"$T/m/se.verify.log" 2>&1; then
		ok "openssl cms -verify: the signature over the protected payload holds"
	else
		not_ok "openssl cms -verify: the signature over the protected payload holds"
		diag_file "$T/m/se.verify.log" 5
	fi
else
	not_ok "dave decrypts it with openssl cms"
	diag_file "$T/m/se.dec.log" 5
fi

# ---- the same, inbound for alice: the Subject restored ------------------------
sed 's/\r$//' "$T/m/se.got" | make_message "$T/m/back.eml"
if send_mail "$T/m/back.eml" dave@example.net alice@example.com &&
    wait_delivered "$QID" && sink_fetch "Secret merger plans se" "$T/m/back.got"; then
	keep "$T/m/back.got"
	ok "back in for alice: delivered, and the real subject is in it"
	res=$(mime_header "$T/m/back.got" X-Smimegate-Result)
	check "the Subject is restored" \
	    test "$(mime_header "$T/m/back.got" Subject)" = "Secret merger plans se"
	check "Keywords restored" test "$(mime_header "$T/m/back.got" Keywords)" = "takeover"
	check "one Subject in the message's header" \
	    test "$(awk '/^\r?$/ { exit } /^[Ss]ubject:/' "$T/m/back.got" | wc -l)" -eq 1
	case $res in
	*decrypted*pass*headers-protected\ \(hp=cipher\ restored=*Subject*) \
	    ok "the result header says decrypted, pass, headers protected, Subject restored ($res)" ;;
	*) not_ok "the result header says decrypted, pass, headers protected (got '$res')" ;;
	esac
else
	not_ok "back in for alice: delivered with the real subject ($SMTP_REPLY)"
fi

# ---- encrypted, not signed ------------------------------------------------------
if mail eo carol@example.com dave@example.net && decrypt_dave eo; then
	check "carol (no key): encrypted, not signed, header fields protected" \
	    log_has "$LINE" "action=encrypted" "hp=cipher"
	check "outside, the Subject is [...]" test "$(mime_header "$T/m/eo.got" Subject)" = "[...]"
	check "the decrypted entity itself says hp=\"cipher\" and has the real Subject" sh -c "
	    grep -Eqi '^Content-Type: text/plain.*hp=\"?cipher' '$T/m/eo.declf' &&
	    grep -q '^Subject: Secret merger plans eo' '$T/m/eo.declf'"
else
	not_ok "carol's mail to dave delivered and decrypted ($SMTP_REPLY)"
fi

# ---- signed only: hp="clear" ----------------------------------------------------
if mail so alice@example.com frank@example.net; then
	check "frank (no certificate): signed only, hp=clear" log_has "$LINE" "action=signed," "hp=clear,"
	check "the outer Subject is as written" \
	    test "$(mime_header "$T/m/so.got" Subject)" = "Secret merger plans so"
	to_lf "$T/m/so.got" "$T/m/so.lf"
	check "the signed part says hp=\"clear\" and carries the Subject, no HP-Outer, no legacy display" sh -c "
	    grep -Eqi '^Content-Type: text/plain.*hp=\"?clear' '$T/m/so.lf' &&
	    grep -c '^Subject: Secret merger plans so' '$T/m/so.lf' | grep -qx 2 &&
	    ! grep -q '^HP-Outer:' '$T/m/so.lf' && ! grep -qi 'hp-legacy-display' '$T/m/so.lf'"
	if openssl cms -verify -in "$T/m/so.got" -CAfile "$P/ca.pem" -purpose any \
	    -out "$T/m/so.content" >"$T/m/so.verify.log" 2>&1; then
		ok "openssl cms -verify passes on the hp=\"clear\" message"
	else
		not_ok "openssl cms -verify passes on the hp=\"clear\" message"
		diag_file "$T/m/so.verify.log" 5
	fi
else
	not_ok "alice's mail to frank delivered ($SMTP_REPLY)"
fi

# ---- header-protection=off for dave ---------------------------------------------
printf 'to dave@example.net header-protection=off\n' >"$T/policy"
gate_stop
gate_start -o PolicyFile="$T/policy" || bail "smimegate restarted with the PolicyFile"
if mail off alice@example.com dave@example.net && decrypt_dave off; then
	case $LINE in
	*action=signed+encrypted*hp=*) not_ok "policy off: signed+encrypted, no hp in the log ($LINE)" ;;
	*action=signed+encrypted*) ok "policy off: signed+encrypted, no hp in the log" ;;
	*) not_ok "policy off: signed+encrypted ($LINE)" ;;
	esac
	check "policy off: the Subject stays visible outside, Keywords too" sh -c "
	    test \"\$(grep -i '^Subject:' '$T/m/off.got')\" = \"\$(printf 'Subject: Secret merger plans off\r')\" &&
	    grep -qi '^Keywords: takeover' '$T/m/off.got'"
	check "policy off: nothing inside says hp or HP-Outer, no legacy display" sh -c "
	    ! grep -qi 'hp=' '$T/m/off.declf' && ! grep -q '^HP-Outer' '$T/m/off.declf'"
else
	not_ok "policy off: delivered and decrypted ($SMTP_REPLY)"
fi

done_testing
