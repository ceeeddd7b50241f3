#!/bin/sh
# EC recipients next to RSA ones (SplitKeyAgreement).
#
# NSS (Thunderbird) refuses a whole message that holds an ECDH
# KeyAgreeRecipientInfo, so an RSA recipient could not read a message
# that also went to an EC recipient.  alice writes to dave (RSA) and erin
# (EC, P-256), both in slapd: dave's copy stays in the SMTP transaction
# with key transport RecipientInfos only and NSS cmsutil decrypts it with
# dave's key; erin's copy is made apart, re-injected through Postfix's
# sendmail, and openssl and Bouncy Castle decrypt it with erin's key.
# carol, an employee with an EC key, writing to dave: her own (ECDH)
# RecipientInfo is left out, so NSS reads dave's copy.  With
# SplitKeyAgreement no, one message goes to both.  AES-256-GCM to erin:
# Bouncy Castle decrypts it.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil pk12util postfix smtp-sink swaks perl \
    slapd slapadd sendmail

P="$T/pki"
dirpki_setup "$P"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	ldif_entry erin erin@example.net "userCertificate;binary" "$P/erin.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

URL=$(slapd_url)
pf_reinject "$T/reinject"
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no -o QueueRunInterval=1 -o ReinjectCommand=$T/reinject"
gate_import "$P" alice carol
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
if bc_setup; then
	ok "Bouncy Castle verifier compiled"
elif [ -n "$BC_SKIP" ]; then
	skip "Bouncy Castle reads erin's copy" "$BC_SKIP"
else
	bail "Bouncy Castle verifier compiled (tests/tools/SmimeBc.java)"
fi
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"

# dave's NSS database (Thunderbird's library) with only his key.
DNSS="$T/dave-nss"
mkdir -p "$DNSS"
certutil -N -d "sql:$DNSS" --empty-password >"$T/dnss.log" 2>&1 &&
    pk12util -i "$P/dave.p12" -d "sql:$DNSS" -W "$(cat "$P/p12.pass")" >>"$T/dnss.log" 2>&1 ||
    { diag_file "$T/dnss.log"; bail "dave's key in an NSS database"; }

mkdir -p "$T/m"
msg() { # ID TO...
	_id=$1
	shift
	_to=$(echo "$*" | sed 's/ /, /g')
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: ecdh test %s\n' "$_to" "$_id"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$_id"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nFor %s: marker-%s.\n' "$_to" "$_id"
	} | make_message "$T/m/$_id.eml"
}
delivered_to() { # MARKER RCPT OUT
	_f=$(sink_files "$1" "$2" | head -1)
	[ -n "$_f" ] && sink_strip "$_f" "$3"
}
der_of() { # MSG OUT: the pkcs7-mime body, decoded
	mime_body "$1" "$2.b64" && tr -d '\r' <"$2.b64" | base64 -d >"$2" 2>/dev/null
}

# ---- split: dave (RSA) and erin (EC) each get their own copy -------------
msg mix dave@example.net erin@example.net
if send_mail "$T/m/mix.eml" alice@example.com dave@example.net,erin@example.net; then
	ok "dave and erin: accepted ($QID)"
else
	not_ok "dave and erin: accepted ($SMTP_REPLY)"
fi
check "dave: one copy delivered" sink_wait_count "<mix@example.com>" dave@example.net 1
check "erin: one copy delivered" sink_wait_count "<mix@example.com>" erin@example.net 1
sleep 1
check "dave and erin got different copies (no message for both)" test \
    "$(sink_files "<mix@example.com>" dave@example.net | head -1)" != \
    "$(sink_files "<mix@example.com>" erin@example.net | head -1)"
check "the gateway logged erin's copy apart" grep -q "split: to=<erin@example.net>, copy=" "$GATE_LOG"

if delivered_to "<mix@example.com>" dave@example.net "$T/m/mix.dave"; then
	keep "$T/m/mix.dave"
	der_of "$T/m/mix.dave" "$T/m/mix.dave.der"
	if cmsutil -D -i "$T/m/mix.dave.der" -d "sql:$DNSS" -o "$T/m/mix.dave.nss" \
	    >"$T/m/mix.dave.nss.log" 2>&1 && grep -q marker-mix "$T/m/mix.dave.nss"; then
		ok "dave decrypts his copy with NSS cmsutil (Thunderbird's library)"
	else
		not_ok "dave decrypts his copy with NSS cmsutil (Thunderbird's library)"
		diag_file "$T/m/mix.dave.nss.log" 5
	fi
	if openssl cms -cmsout -print -inform DER -in "$T/m/mix.dave.der" 2>/dev/null |
	    grep -q 'd.kari'; then
		not_ok "dave's copy holds no ECDH (kari) RecipientInfo"
	else
		ok "dave's copy holds no ECDH (kari) RecipientInfo"
	fi
	check "dave decrypts with openssl cms" openssl cms -decrypt -in "$T/m/mix.dave" \
	    -recip "$P/dave.pem" -inkey "$P/dave.key" -out "$T/m/mix.dave.plain"
	check "the sender's copy in dave's: alice's key decrypts it" openssl cms -decrypt \
	    -in "$T/m/mix.dave" -recip "$P/alice.pem" -inkey "$P/alice.key" -out /dev/null
	check_signed "dave (inner)" "$T/m/mix.dave.plain" "$T/m/mix.eml" alice@example.com
else
	not_ok "dave's copy found"
fi

if delivered_to "<mix@example.com>" erin@example.net "$T/m/mix.erin"; then
	keep "$T/m/mix.erin"
	check "erin: no plaintext on the wire" sh -c "! grep -q marker-mix '$T/m/mix.erin'"
	check "erin decrypts her copy with openssl cms" openssl cms -decrypt -in "$T/m/mix.erin" \
	    -recip "$P/erin.pem" -inkey "$P/erin.key" -out "$T/m/mix.erin.plain"
	if [ -n "${BC_CP:-}" ]; then
		if bc_decrypt "$T/m/mix.erin" "$P/erin.key" "$P/erin.pem" - "$T/m/mix.erin.bc" &&
		    cmp -s "$T/m/mix.erin.bc" "$T/m/mix.erin.plain" &&
		    grep -q '^recipient-infos: .*kari' "$T/m/mix.erin.bc.bc.log"; then
			ok "erin decrypts her copy with Bouncy Castle (ECDH): the same entity"
		else
			not_ok "erin decrypts her copy with Bouncy Castle (ECDH): the same entity"
			diag_file "$T/m/mix.erin.bc.bc.log" 5
		fi
	fi
	check_signed "erin (inner)" "$T/m/mix.erin.plain" "$T/m/mix.eml" alice@example.com
else
	not_ok "erin's copy found"
fi

# ---- an employee with an EC key writes to an RSA recipient ----------------
# carol's own RecipientInfo would be ECDH: left out of dave's copy.
{
	printf 'From: Carol <carol@example.com>\nTo: dave@example.net\nSubject: ecdh test carol\n'
	printf 'Message-ID: <carol@example.com>\nMIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\nFor dave: marker-carol.\n'
} | make_message "$T/m/carol.eml"
if send_mail "$T/m/carol.eml" carol@example.com dave@example.net && wait_delivered "$QID" &&
    delivered_to "<carol@example.com>" dave@example.net "$T/m/carol.dave"; then
	keep "$T/m/carol.dave"
	check "carol (EC) to dave (RSA): the sender's EC certificate left out, logged" log_has \
	    "$(gate_logline "$QID")" "action=signed+encrypted" "to 1 certificates" \
	    "the sender's EC certificate left out"
	der_of "$T/m/carol.dave" "$T/m/carol.dave.der"
	if cmsutil -D -i "$T/m/carol.dave.der" -d "sql:$DNSS" -o "$T/m/carol.dave.nss" \
	    >"$T/m/carol.dave.nss.log" 2>&1 && grep -q marker-carol "$T/m/carol.dave.nss"; then
		ok "carol (EC) to dave (RSA): dave decrypts with NSS cmsutil"
	else
		not_ok "carol (EC) to dave (RSA): dave decrypts with NSS cmsutil"
		diag_file "$T/m/carol.dave.nss.log" 5
	fi
else
	not_ok "carol (EC) to dave (RSA): delivered ($SMTP_REPLY)"
fi

# ---- SplitKeyAgreement no: one message for both ----------------------------
gate_stop
gate_start -o SplitKeyAgreement=no || bail "smimegate restarted with SplitKeyAgreement no"
msg one dave@example.net erin@example.net
if send_mail "$T/m/one.eml" alice@example.com dave@example.net,erin@example.net &&
    wait_delivered "$QID"; then
	check "SplitKeyAgreement no: one message for dave and erin" log_has \
	    "$(gate_logline "$QID")" "to=<dave@example.net>,<erin@example.net>" \
	    "action=signed+encrypted" "to 3 certificates"
	if delivered_to "<one@example.com>" dave@example.net "$T/m/one.got"; then
		der_of "$T/m/one.got" "$T/m/one.der"
		cmsutil -D -i "$T/m/one.der" -d "sql:$DNSS" -o "$T/m/one.nss" >"$T/m/one.nss.log" 2>&1 ||
		    diag "as expected without the split, NSS refuses the mixed message: $(head -1 "$T/m/one.nss.log")"
	fi
else
	not_ok "SplitKeyAgreement no: accepted and delivered ($SMTP_REPLY)"
fi

# ---- AES-256-GCM to an EC recipient, as Bouncy Castle reads it -------------
if [ -n "${BC_CP:-}" ]; then
	gate_stop
	gate_start -o EncryptionCipher=aes-256-gcm || bail "smimegate restarted with aes-256-gcm"
	msg gcm erin@example.net
	if send_mail "$T/m/gcm.eml" alice@example.com erin@example.net && wait_delivered "$QID" &&
	    delivered_to "<gcm@example.com>" erin@example.net "$T/m/gcm.erin"; then
		keep "$T/m/gcm.erin"
		if bc_decrypt "$T/m/gcm.erin" "$P/erin.key" "$P/erin.pem" - "$T/m/gcm.erin.bc" &&
		    grep -qx 'content-type: authEnveloped-data' "$T/m/gcm.erin.bc.bc.log" &&
		    grep -q '^recipient-infos: .*kari' "$T/m/gcm.erin.bc.bc.log" &&
		    grep -q marker-gcm "$T/m/gcm.erin.bc"; then
			ok "GCM to erin (ECDH): Bouncy Castle decrypts the authEnveloped-data"
		else
			not_ok "GCM to erin (ECDH): Bouncy Castle decrypts the authEnveloped-data"
			diag_file "$T/m/gcm.erin.bc.bc.log" 5
		fi
		check_signed "GCM to erin (inner)" "$T/m/gcm.erin.bc" "$T/m/gcm.eml" alice@example.com
	else
		not_ok "GCM to erin: delivered ($SMTP_REPLY)"
	fi
fi

done_testing
