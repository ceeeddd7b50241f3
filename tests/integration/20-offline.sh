#!/bin/sh
# Offline mode: `smimegate -t IN --from --rcpt ...` runs one message through
# the milter's code path and writes the result to stdout.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
verifiers_setup "$T/pki/ca.pem" || bail "verifiers set up"
gate_import "$T/pki" alice

mkdir -p "$T/m"
# msg FROM ID: a small text message.
msg() {
	make_message "$T/m/$2.eml" <<EOF
From: $1
To: bob@elsewhere.test
Subject: offline $2
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <offline-$2@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Offline mode, message $2.
A second line.
EOF
}

# offline ID ARGS...: smimegate -t; stdout to ID.out, stderr to ID.err.
offline() {
	_id=$1
	shift
	gate_run -t "$T/m/$_id.eml" "$@" >"$T/m/$_id.out" 2>"$T/m/$_id.err"
}

msg alice@example.com internal
if offline internal --from alice@example.com --rcpt bob@elsewhere.test --client 127.0.0.1; then
	ok "smimegate -t, internal client, alice: exit 0"
	check_signed "offline, internal client" "$T/m/internal.out" "$T/m/internal.eml" alice@example.com
	l=$(grep 'from=<alice@example.com>' "$T/m/internal.err" | tail -1)
	check "offline log line: direction=outbound, action=signed, signer=<alice@example.com>" \
	    log_has "$l" "direction=outbound" "action=signed" "signer=<alice@example.com>"
else
	not_ok "smimegate -t, internal client, alice: exit 0"
	diag_file "$T/m/internal.err" 10 "smimegate -t"
fi

msg alice@example.com auth
if offline auth --from alice@example.com --rcpt bob@elsewhere.test --rcpt carol@elsewhere.test \
    --auth alice@example.com --client 192.0.2.10; then
	ok "smimegate -t, login alice@example.com from outside: exit 0"
	check_signed "offline, authenticated" "$T/m/auth.out" "$T/m/auth.eml" alice@example.com
else
	not_ok "smimegate -t, login alice@example.com from outside: exit 0"
	diag_file "$T/m/auth.err" 10 "smimegate -t"
fi

# not_signed ID WHAT: the output is the input, unsigned.
not_signed() {
	if grep -qi '^content-type: *multipart/signed' "$T/m/$1.out"; then
		not_ok "$2: not signed"
	elif cmp -s "$T/m/$1.eml" "$T/m/$1.out"; then
		ok "$2: not signed, output byte for byte the input"
	else
		not_ok "$2: not signed, output byte for byte the input"
		diag "$(cmp "$T/m/$1.eml" "$T/m/$1.out" 2>&1 | head -1)"
		keep "$T/m/$1.out" "$1.out"
	fi
}

msg alice@example.com inbound
if offline inbound --from alice@example.com --rcpt bob@example.com --inbound; then
	not_signed inbound "--inbound"
else
	not_ok "smimegate -t --inbound: exit 0"
	diag_file "$T/m/inbound.err" 10 "smimegate -t"
fi

msg mallory@outside.test outsider
if offline outsider --from mallory@outside.test --rcpt bob@example.com --client 127.0.0.1; then
	not_signed outsider "sender outside LocalDomains"
else
	not_ok "smimegate -t, outside sender: exit 0"
	diag_file "$T/m/outsider.err" 10 "smimegate -t"
fi

msg dave@example.com nokey
if offline nokey --from dave@example.com --rcpt bob@elsewhere.test --client 127.0.0.1; then
	not_signed nokey "local sender without a key"
	l=$(grep 'from=<dave@example.com>' "$T/m/nokey.err" | tail -1)
	check "offline log line: action=unsigned with a reason" \
	    log_has "$l" "direction=outbound" "action=unsigned" "reason="
else
	not_ok "smimegate -t, local sender without a key: exit 0"
	diag_file "$T/m/nokey.err" 10 "smimegate -t"
fi

msg alice@example.com oracle
if offline oracle --from alice@example.com --rcpt bob@elsewhere.test --auth bob@example.com \
    --client 192.0.2.10; then
	not_signed oracle "login bob@example.com sending as alice"
else
	not_ok "smimegate -t, login bob sending as alice: exit 0"
	diag_file "$T/m/oracle.err" 10 "smimegate -t"
fi

done_testing
