#!/bin/sh
# The harness itself, without smimegate: the test PKI, the three verifiers
# on signatures made by `openssl cms -sign` (they must accept good ones and
# reject tampered ones, or every later test proves nothing), and a private
# Postfix relaying to smtp-sink byte for byte.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"

need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
ok "test PKI made with the openssl CLI"
for n in alice bob carol; do
	if openssl verify -CAfile "$T/pki/ca.pem" -purpose smimesign "$T/pki/$n.pem" >/dev/null 2>&1; then
		ok "$n's certificate chains to the test root for S/MIME signing"
	else
		not_ok "$n's certificate chains to the test root for S/MIME signing"
	fi
	check "$n's certificate names $n@example.com" \
	    test "$(pki_email "$T/pki/$n.pem")" = "$n@example.com"
done
verifiers_setup "$T/pki/ca.pem" || bail "gpgsm home and NSS database set up"
ok "gpgsm home and NSS database trust only the test root"

# A MIME entity signed by OpenSSL, wrapped in a message as a gateway would.
mkdir -p "$T/m"
make_message "$T/m/entity" <<'EOF'
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Harness check: a detached signature made by openssl cms -sign.
Second line, then an empty line.

Last line.
EOF
for n in alice carol; do
	{
		printf 'From: %s@example.com\r\nTo: someone@elsewhere.test\r\n' "$n"
		printf 'Subject: harness %s\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n' "$n"
		printf 'Message-ID: <harness-%s@example.com>\r\n' "$n"
		openssl cms -sign -in "$T/m/entity" -signer "$T/pki/$n.pem" \
		    -inkey "$T/pki/$n.key" -md sha256 -crlfeol
	} >"$T/m/$n.eml" 2>"$T/m/$n.err" || bail "openssl cms -sign as $n"
	check_signed "openssl-made signature ($n)" "$T/m/$n.eml" "$T/m/entity" "$n@example.com"
done

# Signed by a key the test root never certified: all three must refuse.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/m/rogue.key" \
    -out "$T/m/rogue.pem" -days 2 -subj "/CN=rogue" \
    -addext "subjectAltName=email:alice@example.com" \
    -addext "extendedKeyUsage=emailProtection" >/dev/null 2>&1
{
	printf 'From: alice@example.com\r\nSubject: rogue\r\n'
	openssl cms -sign -in "$T/m/entity" -signer "$T/m/rogue.pem" \
	    -inkey "$T/m/rogue.key" -md sha256 -crlfeol
} >"$T/m/rogue.eml" 2>/dev/null
mime_split "$T/m/rogue.eml" "$T/m/rogue.split" || not_ok "rogue message splits"
if verify_openssl "$T/m/rogue.eml"; then not_ok "openssl refuses an untrusted signer"; else ok "openssl refuses an untrusted signer"; fi
if verify_gpgsm "$T/m/rogue.split"; then not_ok "gpgsm refuses an untrusted signer"; else ok "gpgsm refuses an untrusted signer"; fi
if verify_nss "$T/m/rogue.split"; then not_ok "NSS refuses an untrusted signer"; else ok "NSS refuses an untrusted signer"; fi

# Postfix without a milter, relaying to smtp-sink.
sink_start || bail "smtp-sink started"
ok "smtp-sink listening on 127.0.0.1:$SINK_PORT"
pf_start || bail "private Postfix started"
ok "private Postfix listening on 127.0.0.1:$SMTP_PORT"

make_message "$T/m/plain.eml" <<'EOF'
From: Someone <someone@outside.test>
To: Bob <bob@elsewhere.test>
Subject: harness passthrough
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <harness-plain@outside.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

A line.
.A line starting with a dot (dot-stuffing must be undone).
From the start of a line.
Trailing spaces   
EOF
if send_mail "$T/m/plain.eml" someone@outside.test bob@elsewhere.test &&
    wait_delivered "$QID" && sink_fetch "harness-plain@outside.test" "$T/m/plain.got"; then
	ok "Postfix relays to smtp-sink (queue ID $QID)"
	strip_received "$T/m/plain.got" "$T/m/plain.cmp"
	check "without a milter the sink gets the message byte for byte" \
	    same_file "$T/m/plain.eml" "$T/m/plain.cmp"
else
	not_ok "Postfix relays to smtp-sink ($SMTP_REPLY)"
	diag_file "$T/m/plain.eml.swaks.log" 15 swaks
fi

# An S/MIME message through Postfix alone still verifies: Postfix does not
# touch a 7-bit multipart/signed message.
if send_mail "$T/m/alice.eml" alice@example.com bob@elsewhere.test &&
    wait_delivered "$QID" && sink_fetch "harness-alice@example.com" "$T/m/alice.got"; then
	check "a signed message relayed by Postfix still verifies (openssl)" \
	    verify_openssl "$T/m/alice.got"
else
	not_ok "a signed message relayed by Postfix ($SMTP_REPLY)"
fi

# What Postfix does with lines longer than 998 octets (smtpd's
# line_length_limit is 2048; the SMTP client folds at 998 with a space
# unless the line is in an encoded part).
long=$(head -c 1500 /dev/zero | tr '\0' 'x')
longer=$(head -c 3000 /dev/zero | tr '\0' 'y')
{
	printf 'From: someone@outside.test\nTo: bob@elsewhere.test\nSubject: long lines\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <harness-long@outside.test>\n\n'
	printf 'short\n%s\n%s\nend\n' "$long" "$longer"
} | make_message "$T/m/long.eml"
if send_mail "$T/m/long.eml" someone@outside.test bob@elsewhere.test &&
    wait_delivered "$QID" && sink_fetch "harness-long@outside.test" "$T/m/long.got"; then
	ok "Postfix accepts lines of 1500 and 3000 octets"
	strip_received "$T/m/long.got" "$T/m/long.cmp"
	if cmp -s "$T/m/long.eml" "$T/m/long.cmp"; then
		diag "Postfix delivered the long lines unchanged"
	else
		diag "Postfix changed the long lines; delivered line lengths:"
		mime_body "$T/m/long.cmp" "$T/m/long.body"
		awk '{ sub(/\r$/, ""); printf "#   %d: %d octets%s\n", NR, length($0), (substr($0,1,1) == " " ? " (starts with a space)" : "") }' \
		    "$T/m/long.body"
	fi
else
	not_ok "Postfix accepts lines of 1500 and 3000 octets ($SMTP_REPLY)"
fi

done_testing
