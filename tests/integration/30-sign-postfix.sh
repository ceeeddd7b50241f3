#!/bin/sh
# Outbound signing through a real Postfix: mail from an InternalHosts client
# (127.0.0.1, InternalHosts 127.0.0.0/8) with a local sender that has a key
# is delivered to smtp-sink as multipart/signed, and openssl, gpgsm, NSS
# and Bouncy Castle all verify it against the test root, and reject a
# tampered copy.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
verifiers_setup "$T/pki/ca.pem" || bail "verifiers set up"
# Bouncy Castle checks every signature too (check_signed), when java is there.
if bc_setup; then
	ok "Bouncy Castle verifier compiled"
elif [ -n "$BC_SKIP" ]; then
	skip "Bouncy Castle verifies each signature" "$BC_SKIP"
else
	bail "Bouncy Castle verifier compiled (tests/tools/SmimeBc.java)"
fi
gate_import "$T/pki" alice
gate_start || bail "smimegate started"
ok "smimegate listening on 127.0.0.1:$MILTER_PORT"
# carol's key arrives while the daemon runs (smimectl(8): no restart needed).
gate_import "$T/pki" carol
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
ok "Postfix on 127.0.0.1:$SMTP_PORT with the milter"

mkdir -p "$T/m"
hdrs() { # FROM ID [extra header lines]
	printf 'From: %s\nTo: Bob <bob@elsewhere.test>\nSubject: signing test %s\n' "$1" "$2"
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$2"
}

# 1. Plain ASCII, with the lines transports like to break.
{
	hdrs alice@example.com plain
	cat <<'EOF'
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

Hello Bob,

.a line that begins with a dot
From the beginning of a line, as mbox would mangle it.
trailing spaces   
	a tab at the start, and a tab at the end	
-- 
Alice
EOF
} | make_message "$T/m/plain.eml"

# 2. UTF-8 text sent as 8bit, two recipients.
{
	hdrs alice@example.com utf8
	cat <<'EOF'
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße aus Köln — naïve café, ½ €, 日本語, ✓.
Zweite Zeile: äöü ÄÖÜ ß.
EOF
} | make_message "$T/m/utf8.eml"

# 3. HTML with an attachment: multipart/mixed around multipart/alternative.
head -c 3000 /dev/urandom | base64 -w 76 >"$T/m/attachment.b64"
{
	hdrs alice@example.com html
	cat <<'EOF'
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=-outer-boundary-1"

This is a multi-part message in MIME format.

--=-outer-boundary-1
Content-Type: multipart/alternative; boundary="=-inner-boundary-2"

--=-inner-boundary-2
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

The report is attached. Gr=C3=BC=C3=9Fe.

--=-inner-boundary-2
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<html><body><p>The report is <b>attached</b>. Grüße.</p>
<p style="color: #336">Second paragraph.</p></body></html>

--=-inner-boundary-2--

--=-outer-boundary-1
Content-Type: application/octet-stream; name="report.bin"
Content-Disposition: attachment; filename="report.bin"
Content-Transfer-Encoding: base64

EOF
	cat "$T/m/attachment.b64"
	cat <<'EOF'

--=-outer-boundary-1--
EOF
} | make_message "$T/m/html.eml"

# 4. Lines longer than 998 octets (1500 and 3000: above smtpd's 2048
# line_length_limit too).  Postfix's SMTP client folds such lines on the
# way out unless they are encoded; the signed first part must survive that.
long=$(head -c 1500 /dev/zero | tr '\0' 'x')
longer=$(head -c 3000 /dev/zero | tr '\0' 'y')
{
	hdrs alice@example.com long
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
	printf 'Long lines follow.\n%s\n%s\nThe end.\n' "$long" "$longer"
} | make_message "$T/m/long.eml"

# 5. No MIME headers at all, from the ECDSA (P-256) key holder.
{
	hdrs carol@example.com ecdsa
	printf '\nA message without MIME headers, signed with ECDSA P-256.\n'
} | make_message "$T/m/ecdsa.eml"

# sign_case ID SENDER RCPTS WHAT
sign_case() {
	_id=$1 _from=$2 _rcpts=$3 _what=$4
	if ! send_mail "$T/m/$_id.eml" "$_from" "$_rcpts"; then
		not_ok "$_what: accepted by Postfix ($SMTP_REPLY)"
		diag_file "$T/m/$_id.eml.swaks.log" 10 swaks
		return
	fi
	ok "$_what: accepted by Postfix, queue ID $QID"
	if ! wait_delivered "$QID" || ! sink_fetch "<$_id@example.com>" "$T/m/$_id.got"; then
		not_ok "$_what: delivered to the sink"
		return
	fi
	ok "$_what: delivered to the sink"
	_l=$(gate_logline "$QID")
	_want_to=$(echo "$_rcpts" | sed 's/\([^,]*\)/<\1>/g')
	check "$_what: log line '$QID: from=<$_from>, to=$_want_to, direction=outbound, action=signed, signer=<$_from>'" \
	    log_has "$_l" "$QID: from=<$_from>, to=$_want_to" "direction=outbound" "action=signed" "signer=<$_from>"
	check_signed "$_what" "$T/m/$_id.got" "$T/m/$_id.eml" "$_from"

	# The message headers stay; the top level is 7-bit MIME.
	_subj=$(mime_header "$T/m/$_id.got" Subject)
	check "$_what: Subject and Message-ID kept" \
	    test "$_subj" = "signing test $_id" -a \
	    "$(mime_header "$T/m/$_id.got" Message-ID)" = "<$_id@example.com>"
	_cte=$(mime_header "$T/m/$_id.got" Content-Transfer-Encoding | tr 'A-Z' 'a-z')
	if [ -z "$_cte" ] || [ "$_cte" = 7bit ]; then
		ok "$_what: no 8bit/binary Content-Transfer-Encoding left at the top"
	else
		not_ok "$_what: no 8bit/binary Content-Transfer-Encoding left at the top (got $_cte)"
	fi
	if LC_ALL=C grep -q "$(printf '[\200-\377]')" "$T/m/$_id.got.split/content"; then
		not_ok "$_what: the signed part is 7-bit"
	else
		ok "$_what: the signed part is 7-bit"
	fi
	if awk '{ sub(/\r$/, "") } length($0) > 998 { bad = 1 } END { exit !bad }' "$T/m/$_id.got"; then
		not_ok "$_what: no line over 998 octets"
	else
		ok "$_what: no line over 998 octets"
	fi
}

sign_case plain alice@example.com bob@elsewhere.test "plain ASCII"
sign_case utf8 alice@example.com bob@elsewhere.test,carol@elsewhere.test "UTF-8 in 8bit, two recipients"
sign_case html alice@example.com bob@elsewhere.test "HTML with an attachment"
sign_case long alice@example.com bob@elsewhere.test "lines of 1500 and 3000 octets"
sign_case ecdsa carol@example.com bob@elsewhere.test "no MIME headers, ECDSA P-256 signer imported while running"

check "the Postfix queue is empty" sh -c "postqueue -c '$PF_DIR/conf' -p 2>&1 | grep -q 'Mail queue is empty'"

done_testing
