#!/bin/sh
# A 25 MB message signed through a real Postfix: the signing path streams
# the body from the spool through canonicalisation into the CMS digest and
# the output, so the daemon's peak RSS (VmHWM, reset through clear_refs,
# as 76-hold measures it) grows by less than 32 MB; the delivered message
# is multipart/signed, the first part the message's entity, and openssl
# verifies it.  In opaque mode too.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks

MB=25
# Under AddressSanitizer, freed memory waits in a quarantine (256 MB by
# default: libmilter's 64 KB body chunks alone fill 25 MB of it), which is
# no memory the gateway holds: keep it small for the daemon measured here.
[ -n "${ASAN_OPTIONS:-}" ] && export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4"
pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
GATE_OPTS="-o MaximumMessageSize=$((MB * 2))M"
gate_import "$T/pki" alice
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="message_size_limit = $((MB * 2 * 1024 * 1024))"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

# big ID: a message of $MB MB with a base64 attachment, from alice.
big() {
	{
		printf 'From: Alice <alice@example.com>\nTo: Bob <bob@elsewhere.test>\n'
		printf 'Subject: large %s\nMessage-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1" "$1"
		printf 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
		printf 'Content-Type: text/plain; charset=us-ascii\n\nmarker-%s\n\n--b1\n' "$1"
		printf 'Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
		head -c $((MB * 1024 * 1024 * 3 / 4)) /dev/urandom | base64 -w 76
		printf -- '--b1--\n'
	} | make_message "$T/m/$1.eml"
}

status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# sign_big ID: sends it; checks delivery, the growth and the signature.
sign_big() {
	big "$1"
	if ! echo 5 >"/proc/$GATE_PID/clear_refs" 2>/dev/null; then
		skip "$1: $MB MB signed: RSS growth" "no /proc/PID/clear_refs"
		return 0
	fi
	rss0=$(status_kb "$GATE_PID" VmRSS)
	if ! send_mail "$T/m/$1.eml" alice@example.com bob@elsewhere.test --timeout 600; then
		not_ok "$1: $MB MB message accepted ($SMTP_REPLY)"
		return 1
	fi
	growth=$(( ($(status_kb "$GATE_PID" VmHWM) - rss0) / 1024 ))
	diag "$1: $MB MB signed: daemon peak RSS growth ${growth} MB"
	check "$1: $MB MB signed: peak RSS growth ${growth} MB < 32 MB" test "$growth" -lt 32
	if ! wait_delivered "$QID" || ! sink_fetch "<$1@example.com>" "$T/m/$1.got"; then
		not_ok "$1: delivered"
		return 1
	fi
	check "$1: the gateway signed it" sh -c "grep ' $QID: ' '$GATE_LOG' | grep -q 'action=signed'"
	check "$1: openssl verifies it, the entity intact" sh -c \
	    "openssl cms -verify -in '$T/m/$1.got' -CAfile '$T/pki/ca.pem' -out '$T/m/$1.inner' 2>'$T/m/$1.verify' &&
	     grep -q 'marker-$1' '$T/m/$1.inner'"
}

sign_big detached
check "detached: multipart/signed" grep -q '^Content-Type: multipart/signed' "$T/m/detached.got"

gate_stop
GATE_OPTS="$GATE_OPTS -o SigningMode=opaque"
gate_start || bail "smimegate restarted (opaque)"
sign_big opaque
check "opaque: application/pkcs7-mime" grep -q '^Content-Type: application/pkcs7-mime' "$T/m/opaque.got"

done_testing
