#!/bin/sh
# Harvest and reply: after a signed message from an outsider arrives,
# a reply to them goes out encrypted.
#
# dave@example.net is in no directory (no LDAP configured at all).  A
# reply to him before he wrote goes out signed only.  Then his message,
# signed by `openssl cms -sign` with a certificate of the test root
# (trusted through TrustAnchorFile), arrives through Postfix for
# alice@example.com: the result header says pass and the gateway stores
# his certificate in StateDirectory/harvest.  Alice's next reply to him
# goes out encrypted to that certificate (and hers) and decrypts with
# dave's key in openssl cms and in gpgsm.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/httpd.sh"
need_gateway
need_tools openssl gpgsm gpgconf postfix smtp-sink swaks perl busybox

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"

GATE_OPTS="-o TrustAnchorFile=$P/ca.pem"
gate_import "$P" alice
gate_start || bail "smimegate started (no directory; built-in policy encrypt=if-possible)"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# reply ID: alice writes to dave; the delivered copy in $T/m/ID.got and
# the gateway's log line in $LINE.
reply() {
	{
		printf 'From: Alice <alice@example.com>\nTo: Dave <dave@example.net>\n'
		printf 'Subject: Re: hello\nDate: Mon, 23 Nov 2026 11:00:00 +0000\n'
		printf 'Message-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'Hello Dave, marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" alice@example.com dave@example.net &&
	    wait_delivered "$QID" && sink_fetch "<$1@example.com>" "$T/m/$1.got" &&
	    LINE=$(gate_logline "$QID") && keep "$T/m/$1.got"
}

# ---- before: nothing known of dave ---------------------------------------
if reply before; then
	check "before dave wrote: the reply is signed, not encrypted" \
	    log_has "$LINE" "action=signed," "not encrypted: no certificate for recipient <dave@example.net>"
else
	not_ok "before dave wrote: the reply is delivered ($SMTP_REPLY)"
fi

# ---- dave's signed message arrives ---------------------------------------
{
	printf 'From: Dave <dave@example.net>\nTo: Alice <alice@example.com>\nSubject: hello\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <hello@example.net>\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\nHello Alice, this is Dave.\n' |
	    openssl cms -sign -md sha256 -signer "$P/dave.pem" -inkey "$P/dave.key" 2>>"$T/openssl.log" |
	    sed 's/\r$//'
} | make_message "$T/m/hello.eml"
if send_mail "$T/m/hello.eml" dave@example.net alice@example.com &&
    wait_delivered "$QID" && sink_fetch "<hello@example.net>" "$T/m/hello.got"; then
	keep "$T/m/hello.got"
	res=$(mime_header "$T/m/hello.got" X-Smimegate-Result)
	case $res in
	pass*) ok "dave's signed message: X-Smimegate-Result: pass ($res)" ;;
	*) not_ok "dave's signed message: X-Smimegate-Result: pass (got '$res')" ;;
	esac
else
	not_ok "dave's signed message delivered ($SMTP_REPLY)"
fi
nh=$(find "$GATE_STATE/harvest" -type f 2>/dev/null | wc -l)
check "his certificate is in StateDirectory/harvest ($nh file)" test "$nh" -eq 1

# ---- the reply goes out encrypted to the harvested certificate -----------
if ! reply after; then
	not_ok "after dave wrote: the reply is delivered ($SMTP_REPLY)"
	done_testing
	exit
fi
check "after dave wrote: the reply is signed and encrypted to dave and alice" \
    log_has "$LINE" "action=signed+encrypted" "to 2 certificates (the sender's included)"
case $(mime_header "$T/m/after.got" Content-Type) in
*application/pkcs7-mime*enveloped-data*) ok "the reply is enveloped-data" ;;
*) not_ok "the reply is enveloped-data" ;;
esac
if grep -q marker-after "$T/m/after.got"; then
	not_ok "no plaintext in the delivered reply"
else
	ok "no plaintext in the delivered reply"
fi
if openssl cms -decrypt -in "$T/m/after.got" -recip "$P/dave.pem" -inkey "$P/dave.key" \
    -out "$T/after.openssl" 2>"$T/after.openssl.log" && grep -q marker-after "$T/after.openssl"; then
	ok "dave decrypts the reply with openssl cms"
else
	not_ok "dave decrypts the reply with openssl cms"
	diag_file "$T/after.openssl.log" 5
fi

# gpgsm with only dave's key (gpgsm 2.2.40 misreads about one legacy
# PKCS#12 in 150: a fresh export is tried then, see gpgsm_import_p12).
G="$T/gnupg"
mkdir -p "$G" && chmod 0700 "$G"
echo allow-loopback-pinentry >"$G/gpg-agent.conf"
at_exit "GNUPGHOME='$G' gpgconf --kill all"
gpgsm_import_p12 "$G" "$P/dave.legacy.p12" "$P/p12.pass" dave@example.net \
    pki_legacy_p12 "$P" dave ||
    { diag_file "$P/dave.legacy.p12.gpgsm.log"; bail "dave's key imported into gpgsm"; }
mime_body "$T/m/after.got" "$T/after.b64"
tr -d '\r' <"$T/after.b64" | base64 -d >"$T/after.der" 2>/dev/null
# gpgsm exits 2 when it met RecipientInfos for keys it lacks, even after
# decrypting: DECRYPTION_OKAY on the status fd is the verdict.
GNUPGHOME="$G" gpgsm --batch --disable-dirmngr --disable-crl-checks --pinentry-mode loopback \
    --passphrase-fd 0 --status-fd 3 --decrypt -o "$T/after.gpgsm" "$T/after.der" \
    <"$P/p12.pass" 3>"$T/after.gpgsm.status" >"$T/after.gpgsm.log" 2>&1
if grep -q '^\[GNUPG:\] DECRYPTION_OKAY' "$T/after.gpgsm.status" &&
    cmp -s "$T/after.gpgsm" "$T/after.openssl"; then
	ok "dave decrypts the reply with gpgsm: the same plaintext as openssl"
else
	not_ok "dave decrypts the reply with gpgsm: the same plaintext as openssl"
	diag_file "$T/after.gpgsm.log" 5
fi

done_testing
