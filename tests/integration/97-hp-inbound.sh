#!/bin/sh
# Header protection (RFC 9788), inbound: what others sent, and attacks.
#
# Attacks first (made here with openssl cms):
#   - a signed hp="clear" message whose outer Subject was changed on the
#     way and an outer Reply-To added: the signature passes, so the
#     protected Subject wins, the added Reply-To goes, and the result
#     header names both;
#   - an encrypted, unsigned hp="cipher" message (AES-GCM) whose inner
#     From names the CEO (with an HP-Outer that lies about the outer
#     From): the Subject the sender obscured is restored, the From stays
#     the outer one and the result header says they differ.
# Then every S/MIME sample of the corpora with protected headers (the
# autocrypt protected-headers vectors, and notmuch's copy of them: the
# drafts before RFC 9788, protected-headers="v1"): delivered through
# Postfix to bob@smime.example, whose key the corpus holds, with the
# real Subject, the draft's legacy display part taken out where no
# signature covers it, and the result header saying headers-protected.
# The corpus' encrypted samples are AES-CBC (not integrity-protected),
# one of them unsigned: UnprotectedContent decrypt here, so that it is
# read at all.  Without the corpus folders those cases are skipped.
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

CORPORA="${SMIMEGATE_CORPORA:-$top/../shared/corpora}"
AC="$CORPORA/autocrypt-protected-headers"
NM="$CORPORA/notmuch/corpora/protected-headers"

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"
cat "$P/ca.pem" >"$T/anchors.pem"
[ -f "$AC/sample-ca.pem" ] && cat "$AC/sample-ca.pem" >>"$T/anchors.pem"

GATE_OPTS="-o TrustAnchorFile=$T/anchors.pem -o LocalDomains=example.com,smime.example
    -o UnprotectedContent=decrypt"
gate_import "$P" alice
if [ -f "$AC/bob.p12.der" ]; then
	printf 'bob\n' >"$T/bob.pass"
	gate_ctl keystore import "$AC/bob.p12.der" --password-file "$T/bob.pass" \
	    >"$T/import-bob.log" 2>&1 ||
	    { diag_file "$T/import-bob.log"; bail "the corpus' bob.p12 imported"; }
	ok "the corpus' key of bob@smime.example imported"
fi
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# deliver FILE FROM TO NEEDLE: through Postfix; the sink's copy in FILE.got.
deliver() {
	send_mail "$1" "$2" "$3" && wait_delivered "$QID" && sink_fetch "$4" "$1.got" &&
	    keep "$1.got"
}
result() { mime_header "$1" X-Smimegate-Result; }

# ---- attack 1: a forged outer Subject and an added Reply-To, signed inside --
{
	printf 'Content-Type: text/plain; charset=us-ascii; hp="clear"\n'
	printf 'From: Dave <dave@example.net>\nTo: Alice <alice@example.com>\n'
	printf 'Subject: Quarterly figures\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n'
	printf 'Message-ID: <a1@example.net>\n\nThe figures are attached.\n'
} >"$T/m/a1.inner"
{
	printf 'From: Dave <dave@example.net>\nTo: Alice <alice@example.com>\n'
	printf 'Subject: URGENT pay to account 666\nReply-To: <mallory@evil.example>\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <a1@example.net>\n'
	openssl cms -sign -md sha256 -signer "$P/dave.pem" -inkey "$P/dave.key" \
	    -in "$T/m/a1.inner" 2>>"$T/openssl.log" | sed 's/\r$//'
} | make_message "$T/m/a1.eml"
if deliver "$T/m/a1.eml" dave@example.net alice@example.com "<a1@example.net>"; then
	res=$(result "$T/m/a1.eml.got")
	check "forged outer Subject: the signed inner one is delivered" \
	    test "$(mime_header "$T/m/a1.eml.got" Subject)" = "Quarterly figures"
	check "the added outer Reply-To is gone" \
	    sh -c "! awk '/^\r?\$/ { exit } { print }' '$T/m/a1.eml.got' | grep -qi '^Reply-To:'"
	case $res in
	pass*headers-protected\ \(hp=clear*differs-inner-kept=Subject*unprotected-dropped=Reply-To*)
		ok "the result header reports the differing Subject and the dropped Reply-To ($res)" ;;
	*) not_ok "the result header reports the differing Subject and the dropped Reply-To (got '$res')" ;;
	esac
	check "the log warns of the differing field" grep -q "protected header fields differ.*Subject" "$GATE_LOG"
else
	not_ok "attack 1 delivered ($SMTP_REPLY)"
fi

# ---- attack 2: unsigned, encrypted, the inner From tries to override ---------
{
	printf 'Content-Type: text/plain; charset=us-ascii; hp="cipher"\n'
	printf 'From: The CEO <ceo@example.com>\nTo: Alice <alice@example.com>\n'
	printf 'Subject: Pay invoice 4711 today\n'
	printf 'HP-Outer: From: Mallory <mallory@example.net>\nHP-Outer: Subject: [...]\n'
	printf '\nPlease pay it today.\n'
} >"$T/m/a2.inner"
{
	printf 'From: Mallory <mallory@example.net>\nTo: Alice <alice@example.com>\n'
	printf 'Subject: [...]\nDate: Mon, 23 Nov 2026 10:05:00 +0000\nMessage-ID: <a2@example.net>\n'
	openssl cms -encrypt -aes-256-gcm -in "$T/m/a2.inner" "$P/alice.pem" 2>>"$T/openssl.log" |
	    sed 's/\r$//'
} | make_message "$T/m/a2.eml"
if deliver "$T/m/a2.eml" mallory@example.net alice@example.com "<a2@example.net>"; then
	res=$(result "$T/m/a2.eml.got")
	check "unsigned: the outer From stays (not the CEO)" \
	    test "$(mime_header "$T/m/a2.eml.got" From)" = "Mallory <mallory@example.net>"
	check "unsigned: the obscured Subject is restored" \
	    test "$(mime_header "$T/m/a2.eml.got" Subject)" = "Pay invoice 4711 today"
	case $res in
	decrypted*headers-protected\ \(hp=cipher*restored=Subject*differs-outer-kept=From*unsigned-or-unverified*)
		ok "the result header: Subject restored, From differs and the outer one kept ($res)" ;;
	*) not_ok "the result header: Subject restored, From differs, outer kept (got '$res')" ;;
	esac
	ct=$(mime_header "$T/m/a2.eml.got" Content-Type)
	case $ct in
	*hp=*) not_ok "the delivered Content-Type has no hp parameter left ($ct)" ;;
	*) ok "the delivered Content-Type has no hp parameter left ($ct)" ;;
	esac
else
	not_ok "attack 2 delivered ($SMTP_REPLY)"
fi

# ---- the corpora -----------------------------------------------------------------
# sample DIR NAME SUBJECT LEGACY: LEGACY "removed", "kept" or "none".
sample() {
	_f="$1/$2.eml"
	_id=$(sed -n 's/^Message-ID: *//Ip' "$_f" | head -1 | tr -d '\r')
	sed 's/\r$//' "$_f" | make_message "$T/m/$2.eml"
	if ! deliver "$T/m/$2.eml" list@example.net bob@smime.example "$_id"; then
		not_ok "$2 delivered ($SMTP_REPLY)"
		return
	fi
	_got="$T/m/$2.eml.got"
	_res=$(result "$_got")
	_subj=$(mime_header "$_got" Subject)
	if [ "$_subj" = "$3" ]; then
		ok "$2: Subject '$3'"
	else
		not_ok "$2: Subject '$3' (got '$_subj')"
	fi
	case $_res in
	*headers-protected\ \(hp=v1*) ok "$2: result header says headers-protected ($_res)" ;;
	*) not_ok "$2: result header says headers-protected (got '$_res')" ;;
	esac
	case $4 in
	removed) check "$2: the legacy display part is taken out" sh -c "
	    echo '$_res' | grep -q legacy-display-removed &&
	    ! grep -qi 'protected-headers=\"\\?v1' '$_got'" ;;
	kept) check "$2: the legacy display part stays under the signature" sh -c "
	    echo '$_res' | grep -q 'pass.*legacy-display-kept-under-signature'" ;;
	esac
}

if [ ! -d "$AC" ]; then
	skip "the autocrypt protected-headers samples" "corpus folder absent ($AC)"
else
	sample "$AC" smime-multipart-signed "The FooCorp contract" none
	sample "$AC" smime-onepart-signed "The FooCorp contract" none
	sample "$AC" smime-sign+enc "BarCorp contract signed, let's go!" none
	sample "$AC" smime-enc+legacy-disp "BarCorp contract signed, let's go!" removed
	sample "$AC" smime-sign+enc+legacy-disp "BarCorp contract signed, let's go!" kept
fi
if [ ! -d "$NM" ]; then
	skip "notmuch's protected-headers S/MIME samples" "corpus folder absent ($NM)"
else
	for f in "$NM"/smime-*.eml; do
		n=$(basename "$f" .eml)
		if [ -f "$AC/$n.eml" ] && cmp -s "$f" "$AC/$n.eml"; then
			ok "notmuch's $n is the autocrypt sample byte for byte (read above)"
		else
			not_ok "notmuch's $n differs from the autocrypt sample: not read here"
		fi
	done
fi

done_testing
