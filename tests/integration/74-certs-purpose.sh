#!/bin/sh
# Certificates by purpose, through Postfix, checked at the sink.
#
# ann@example.com has separate signing and encryption certificates in the
# keystore (as CAEnrollEmployees issues them); paul@example.net, a partner,
# has them too.
#   1. paul's message, signed by Bouncy Castle with his signing key and
#      carrying his encryption certificate and SMIMEEncryptionKeyPreference,
#      arrives: both certificates are harvested with their purpose, and
#      smimectl lookup chooses the encryption one (the key preference).
#   2. ann writes to paul: encrypted to paul's encryption certificate; the
#      sender's copy to ann's encryption certificate (her encryption key
#      decrypts it, her signing key does not); the signature inside holds
#      for openssl, gpgsm, NSS and Bouncy Castle, carries ann's encryption
#      certificate, SMIMEEncryptionKeyPreference naming it and
#      SMIMECapabilities (AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-128-CBC).
#   3. paul's client replies: it takes the certificate our signature's key
#      preference names (Bouncy Castle) and signs and encrypts to it; the
#      gateway decrypts the reply inbound with ann's escrowed encryption
#      key.
#   4. EncryptionCipher aes-256-gcm and SigningMode opaque: Bouncy Castle decrypts
#      the AES-256-GCM authEnveloped-data and verifies the opaque signature.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl

P="$T/pki"
{ pki_make "$P" && pki_split "$P" ann Ann example.com rsa &&
    pki_split "$P" paul Paul example.net rsa; } >"$T/pki.log" 2>&1 ||
    { diag_file "$T/pki.log"; bail "test PKI made (split certificates)"; }
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
if bc_setup; then
	ok "Bouncy Castle verifier compiled"
else
	[ -n "$BC_SKIP" ] || bail "Bouncy Castle verifier compiled (tests/tools/SmimeBc.java)"
	skip "certificates by purpose, as a partner's client sees them" "$BC_SKIP"
	done_testing
fi

GATE_OPTS="-o TrustAnchorFile=$P/ca.pem"
gate_import "$P" ann-sign ann-enc
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'; }

# deliver ID FROM TO FILE: through Postfix; the delivered copy in $T/m/ID.got,
# the gateway's line in $LINE.
deliver() {
	LINE=""
	send_mail "$4" "$2" "$3" && wait_delivered "$QID" &&
	    sink_fetch "<$1@" "$T/m/$1.got" && LINE=$(gate_logline "$QID") &&
	    keep "$T/m/$1.got"
}

# ---- 1. paul's signed message: both certificates harvested ---------------
{
	printf 'From: Paul <paul@example.net>\nTo: Ann <ann@example.com>\nSubject: hello\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <hello@example.net>\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello Ann.\n'
} | make_message "$T/m/hello.in"
bc sign "$P/paul-sign.key" "$P/paul-sign.pem" "$T/m/hello.in" "$T/m/hello.raw" \
    --enc-cert "$P/paul-enc.pem" >"$T/bc-sign.log" 2>&1 || diag_file "$T/bc-sign.log"
make_message "$T/m/hello.eml" <"$T/m/hello.raw"
if deliver hello paul@example.net ann@example.com "$T/m/hello.eml"; then
	res=$(mime_header "$T/m/hello.got" X-Smimegate-Result)
	case $res in
	pass*) ok "paul's message (Bouncy Castle, split keys): pass ($res)" ;;
	*) not_ok "paul's message (Bouncy Castle, split keys): pass (got '$res')" ;;
	esac
else
	not_ok "paul's message delivered ($SMTP_REPLY)"
fi
nh=$(find "$GATE_STATE/harvest" -type f -name '*.pem' 2>/dev/null | wc -l)
check "both of paul's certificates harvested ($nh files)" test "$nh" -eq 2
pref=$(grep -l 'BEGIN SMIMEGATE KEY PREFERENCE' "$GATE_STATE"/harvest/*/*.pem 2>/dev/null)
if [ "$(echo "$pref" | grep -c .)" -eq 1 ] &&
    openssl x509 -in "$pref" -noout -subject 2>/dev/null | grep -q 'Paul (enc)'; then
	ok "the record of paul's encryption certificate says the key preference named it"
else
	not_ok "the record of paul's encryption certificate says the key preference named it"
fi
np=$(grep -l 'BEGIN SMIMEGATE PURPOSE' "$GATE_STATE"/harvest/*/*.pem 2>/dev/null | wc -l)
check "both harvest records carry their purpose ($np)" test "$np" -eq 2
gate_ctl lookup paul@example.net >"$T/lookup.out" 2>&1
keep "$T/lookup.out"
if grep -q '^result: found' "$T/lookup.out" &&
    grep -q "CN=Paul (enc).*: chosen" "$T/lookup.out" &&
    grep -q "key preference" "$T/lookup.out"; then
	ok "smimectl lookup paul: his encryption certificate chosen (the key preference)"
else
	not_ok "smimectl lookup paul: his encryption certificate chosen (the key preference)"
	diag_file "$T/lookup.out" 20 "smimectl lookup"
fi

# ---- 2. ann writes to paul -----------------------------------------------
{
	printf 'From: Ann <ann@example.com>\nTo: Paul <paul@example.net>\nSubject: Re: hello\n'
	printf 'Date: Mon, 23 Nov 2026 11:00:00 +0000\nMessage-ID: <annreply@example.com>\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nHello Paul, marker-annreply.\n'
} | make_message "$T/m/annreply.eml"
if ! deliver annreply ann@example.com paul@example.net "$T/m/annreply.eml"; then
	not_ok "ann's message to paul delivered ($SMTP_REPLY)"
	done_testing
fi
check "ann to paul: signed and encrypted, the sender's copy included" \
    log_has "$LINE" "action=signed+encrypted" "to 2 certificates (the sender's included)"
G="$T/m/annreply.got"
if openssl cms -decrypt -in "$G" -recip "$P/paul-enc.pem" -inkey "$P/paul-enc.key" \
    -out "$G.paul" 2>"$G.paul.log" && grep -q marker-annreply "$G.paul"; then
	ok "paul decrypts with his encryption key (openssl cms)"
else
	not_ok "paul decrypts with his encryption key (openssl cms)"
	diag_file "$G.paul.log" 5
fi
if bc_decrypt "$G" "$P/paul-enc.key" "$P/paul-enc.pem" - "$G.paul.bc" &&
    cmp -s "$G.paul.bc" "$G.paul"; then
	ok "paul decrypts with his encryption key (Bouncy Castle): the same entity"
else
	not_ok "paul decrypts with his encryption key (Bouncy Castle): the same entity"
	diag_file "$G.paul.bc.bc.log" 5
fi
if openssl cms -decrypt -in "$G" -recip "$P/ann-enc.pem" -inkey "$P/ann-enc.key" \
    -out "$G.ann" 2>"$G.ann.log" && cmp -s "$G.ann" "$G.paul"; then
	ok "the sender's copy decrypts with ann's encryption key"
else
	not_ok "the sender's copy decrypts with ann's encryption key"
	diag_file "$G.ann.log" 5
fi
if openssl cms -decrypt -in "$G" -recip "$P/ann-sign.pem" -inkey "$P/ann-sign.key" \
    -out "$G.annsign" >/dev/null 2>&1; then
	not_ok "no RecipientInfo for ann's signing-only certificate"
else
	ok "no RecipientInfo for ann's signing-only certificate"
fi
if bc_decrypt "$G" "$P/ann-enc.p12" - "$P/p12.pass" "$G.ann.bc" && cmp -s "$G.ann.bc" "$G.paul"; then
	ok "the sender's copy decrypts with ann's encryption PKCS#12 (Bouncy Castle)"
else
	not_ok "the sender's copy decrypts with ann's encryption PKCS#12 (Bouncy Castle)"
	diag_file "$G.ann.bc.bc.log" 5
fi
check_signed "ann to paul (inner)" "$G.paul" "$T/m/annreply.eml" ann@example.com
if bc_verify "$G.paul" && grep -q "^keypref: .*CN=Ann (enc)" "$G.paul.bc.log"; then
	ok "our signature's SMIMEEncryptionKeyPreference names ann's encryption certificate"
else
	not_ok "our signature's SMIMEEncryptionKeyPreference names ann's encryption certificate"
	diag_file "$G.paul.bc.log" 10
fi
if grep -qx "caps: aes256-gcm,aes128-gcm,aes256-cbc,aes128-cbc" "$G.paul.bc.log"; then
	ok "our SMIMECapabilities: AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-128-CBC, in that order"
else
	not_ok "our SMIMECapabilities: AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-128-CBC, in that order"
	diag_file "$G.paul.bc.log" 10
fi
# openssl sees the encryption certificate in the SignedData too.
openssl cms -verify -in "$G.paul" -CAfile "$P/ca.pem" -out /dev/null \
    -certsout "$T/certs.pem" >/dev/null 2>&1
if openssl storeutl -noout -text -certs "$T/certs.pem" 2>/dev/null | grep -q 'CN *= *Ann (enc)' &&
    openssl cms -cmsout -print -in "$G.paul" 2>/dev/null | grep -q 'id-smime-aa-encrypKeyPref'; then
	ok "openssl: the signature carries ann's encryption certificate and id-smime-aa-encrypKeyPref"
else
	not_ok "openssl: the signature carries ann's encryption certificate and id-smime-aa-encrypKeyPref"
fi

# ---- 3. paul's client replies to the certificate our signature names -----
if bc keypref "$G.paul" "$T/annpref.pem" >"$T/keypref.log" 2>&1 &&
    [ "$(fp "$T/annpref.pem")" = "$(fp "$P/ann-enc.pem")" ]; then
	ok "paul's client takes ann's encryption certificate from the key preference"
else
	not_ok "paul's client takes ann's encryption certificate from the key preference"
	diag_file "$T/keypref.log" 5
	cp "$P/ann-sign.pem" "$T/annpref.pem"   # what a client falls back to
fi
{
	printf 'From: Paul <paul@example.net>\nTo: Ann <ann@example.com>\nSubject: Re: Re: hello\n'
	printf 'Date: Mon, 23 Nov 2026 12:00:00 +0000\nMessage-ID: <paulreply@example.net>\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nThanks Ann, marker-paulreply.\n'
} | make_message "$T/m/paulreply.in"
# Signed, then encrypted (AES-256-CBC), as his client sends it.
bc sign "$P/paul-sign.key" "$P/paul-sign.pem" "$T/m/paulreply.in" "$T/m/paulreply.signed" \
    --enc-cert "$P/paul-enc.pem" >"$T/bc-enc.log" 2>&1 &&
    bc encrypt "$T/m/paulreply.signed" "$T/m/paulreply.raw" "$T/annpref.pem" "$P/paul-enc.pem" \
    >>"$T/bc-enc.log" 2>&1 || diag_file "$T/bc-enc.log"
make_message "$T/m/paulreply.eml" <"$T/m/paulreply.raw"
if deliver paulreply paul@example.net ann@example.com "$T/m/paulreply.eml"; then
	res=$(mime_header "$T/m/paulreply.got" X-Smimegate-Result)
	case $res in
	decrypted*pass*) ok "paul's signed and encrypted reply: decrypted by the gateway ($res)" ;;
	*) not_ok "paul's signed and encrypted reply: decrypted by the gateway (got '$res')" ;;
	esac
	check "paul's reply: the plaintext delivered to ann" grep -q marker-paulreply "$T/m/paulreply.got"
else
	not_ok "paul's encrypted reply delivered ($SMTP_REPLY)"
fi

# ---- 4. GCM and opaque signatures, as Bouncy Castle reads them -----------
gate_stop
gate_start -o EncryptionCipher=aes-256-gcm -o SigningMode=opaque || bail "smimegate restarted (gcm, opaque)"
sed 's/annreply/anngcm/g' "$T/m/annreply.eml" >"$T/m/anngcm.eml"
if deliver anngcm ann@example.com paul@example.net "$T/m/anngcm.eml"; then
	G="$T/m/anngcm.got"
	check "gcm: logged aes-256-gcm" log_has "$LINE" "action=signed+encrypted" "aes-256-gcm"
	if bc_decrypt "$G" "$P/paul-enc.key" "$P/paul-enc.pem" - "$G.paul" &&
	    grep -qx "content-type: authEnveloped-data" "$G.paul.bc.log" &&
	    grep -qx "cipher: aes256-gcm" "$G.paul.bc.log"; then
		ok "gcm: Bouncy Castle decrypts the AES-256-GCM authEnveloped-data"
	else
		not_ok "gcm: Bouncy Castle decrypts the AES-256-GCM authEnveloped-data"
		diag_file "$G.paul.bc.log" 5
	fi
	if bc_decrypt "$G" "$P/ann-enc.key" "$P/ann-enc.pem" - "$G.ann" && cmp -s "$G.ann" "$G.paul"; then
		ok "gcm: the sender's copy, ann's encryption key (Bouncy Castle)"
	else
		not_ok "gcm: the sender's copy, ann's encryption key (Bouncy Castle)"
	fi
	{ printf 'From: Ann <ann@example.com>\n'; cat "$G.paul"; } >"$G.inner"
	if bc_verify "$G.inner" && grep -qx "signer: ann@example.com" "$G.inner.bc.log" &&
	    grep -q "^keypref: .*CN=Ann (enc)" "$G.inner.bc.log"; then
		ok "opaque: Bouncy Castle verifies the opaque signed-data, key preference included"
	else
		not_ok "opaque: Bouncy Castle verifies the opaque signed-data, key preference included"
		diag_file "$G.inner.bc.log" 10
	fi
	if openssl cms -verify -in "$G.paul" -CAfile "$P/ca.pem" -out "$G.content" 2>/dev/null &&
	    grep -q marker-anngcm "$G.content"; then
		ok "opaque: openssl verifies it too"
	else
		not_ok "opaque: openssl verifies it too"
	fi
else
	not_ok "gcm/opaque: ann's message delivered ($SMTP_REPLY)"
fi

done_testing
