#!/bin/sh
# What must NOT be signed, through a real Postfix: mail from outside senders
# or outside clients passes byte for byte; a local sender without a key
# passes unsigned with a reason in the log; mail already signed or
# encrypted is not signed again.
#
# This gateway runs with InternalHosts 127.0.0.1/32, so that a client
# bound to 127.0.0.2 is an outside client.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
VER_CA="$T/pki/ca.pem"
gate_import "$T/pki" alice
gate_start -o InternalHosts=127.0.0.1/32 || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

mkdir -p "$T/m"
hdrs() { # FROM ID
	printf 'From: %s\nTo: Bob <bob@example.com>\nSubject: passthrough %s\n' "$1" "$2"
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@pass.test>\n' "$2"
}
text_msg() { # FROM ID
	{
		hdrs "$1" "$2"
		cat <<'EOF'
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Grüße — 8bit text that must arrive exactly as sent.
.a line that begins with a dot
trailing spaces   
EOF
	} | make_message "$T/m/$2.eml"
}

# pass_case ID FROM RCPT DIRECTION ACTION WHAT [swaks options]
#   delivered byte for byte (after Postfix's Received:), and the log line
#   for the queue ID says DIRECTION and ACTION.
pass_case() {
	_id=$1 _from=$2 _rcpt=$3 _dir=$4 _act=$5 _what=$6
	shift 6
	if ! send_mail "$T/m/$_id.eml" "$_from" "$_rcpt" "$@"; then
		not_ok "$_what: accepted by Postfix ($SMTP_REPLY)"
		diag_file "$T/m/$_id.eml.swaks.log" 10 swaks
		return 1
	fi
	if ! wait_delivered "$QID" || ! sink_fetch "<$_id@pass.test>" "$T/m/$_id.got"; then
		not_ok "$_what: delivered"
		return 1
	fi
	strip_received "$T/m/$_id.got" "$T/m/$_id.cmp"
	if same_file "$T/m/$_id.eml" "$T/m/$_id.cmp"; then
		ok "$_what: delivered byte for byte"
	else
		not_ok "$_what: delivered byte for byte"
		keep "$T/m/$_id.got"
	fi
	_l=$(gate_logline "$QID")
	LAST_LOG=$_l
	case $_act in
	!*)
		if log_has "$_l" "$QID: from=<$_from>" "direction=$_dir" "action=" &&
		    ! log_has "$_l," "action=${_act#!}," 2>/dev/null >/dev/null; then
			ok "$_what: log line says direction=$_dir, action is not ${_act#!} ($(echo "$_l" | sed 's/.*action=//'))"
		else
			not_ok "$_what: log line says direction=$_dir, action is not ${_act#!}"
			diag "$_l"
		fi ;;
	*)
		check "$_what: log line says direction=$_dir, action=$_act" \
		    log_has "$_l" "$QID: from=<$_from>" "direction=$_dir" "action=$_act" ;;
	esac
}

text_msg mallory@outside.test outsider
pass_case outsider mallory@outside.test bob@example.com inbound pass \
    "sender outside LocalDomains, internal client"

text_msg alice@example.com spoofed
pass_case spoofed alice@example.com bob@example.com inbound pass \
    "local sender from an outside client (127.0.0.2), no login" \
    --local-interface 127.0.0.2

text_msg dave@example.com nokey
if pass_case nokey dave@example.com bob@elsewhere.test outbound unsigned \
    "local sender without a key"; then
	case $LAST_LOG in
	*"reason="?*) ok "local sender without a key: the log says why ($(echo "$LAST_LOG" | sed 's/.*reason=//'))" ;;
	*) not_ok "local sender without a key: the log says why (no reason=)" ;;
	esac
fi

# Already signed by alice (detached, made by openssl): not signed again.
make_message "$T/m/entity" <<'EOF'
Content-Type: text/plain; charset=us-ascii

Signed by the client already.
EOF
signed_msg() { # ID then openssl cms options
	_id=$1
	shift
	openssl cms -in "$T/m/entity" "$@" >"$T/m/$_id.smime" 2>"$T/m/$_id.err" ||
	    bail "openssl cms $*"
	# openssl writes CRLF headers (-crlfeol) but LF base64: all CRLF here.
	{ hdrs alice@example.com "$_id"; cat "$T/m/$_id.smime"; } | make_message "$T/m/$_id.eml"
}
signed_msg signed -sign -signer "$T/pki/alice.pem" -inkey "$T/pki/alice.key" -md sha256
if pass_case signed alice@example.com bob@elsewhere.test outbound !signed \
    "already signed (multipart/signed)"; then
	check "already signed: the client's signature still verifies" \
	    verify_openssl "$T/m/signed.got"
	n=$(grep -ci '^content-type: *multipart/signed' "$T/m/signed.got")
	check "already signed: one multipart/signed, not two" test "$n" -eq 1
fi
signed_msg opaque -sign -nodetach -signer "$T/pki/alice.pem" -inkey "$T/pki/alice.key" -md sha256
pass_case opaque alice@example.com bob@elsewhere.test outbound !signed \
    "already signed (opaque application/pkcs7-mime)"
signed_msg encrypted -encrypt -aes-256-cbc "$T/pki/bob.pem"
pass_case encrypted alice@example.com bob@elsewhere.test outbound !signed \
    "encrypted (application/pkcs7-mime enveloped-data)"

# With the gateway down, Postfix must not let mail out unsigned
# (milter_default_action = tempfail).
gate_stop
text_msg alice@example.com down
if send_mail "$T/m/down.eml" alice@example.com bob@elsewhere.test; then
	not_ok "gateway down: Postfix tempfails (got $SMTP_REPLY)"
else
	case $SMTP_CODE in
	4*) ok "gateway down: Postfix tempfails ($SMTP_REPLY)" ;;
	*) not_ok "gateway down: Postfix tempfails (got $SMTP_REPLY)" ;;
	esac
fi

done_testing
