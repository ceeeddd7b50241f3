#!/bin/sh
# S/MIME and DKIM in one Postfix.  smimegate must run before
# the DKIM signer: smimegate replaces the body (and Content-Type) when it
# signs, which would break a DKIM signature made earlier.  OpenDKIM, started
# here on a loopback port with a key made by opendkim-genkey and a
# KeyTable/SigningTable (no DNS), follows smimegate in smtpd_milters, in
# the order contrib/postfix/main.cf.example shows (read from it).  At the sink the S/MIME signature
# verifies (openssl, gpgsm, NSS) and so does the DKIM signature (opendkim
# in test mode, reading the public key from TestPublicKeys).  Then the
# order is turned round (DKIM first): the DKIM signature no longer holds,
# which is why the order matters.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl \
    opendkim opendkim-genkey

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
gate_import "$P" alice
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"

# ---- OpenDKIM: a key, its tables, the signer on a loopback port -----------
D="$T/dkim"
mkdir -p "$D/keys" && chmod 0700 "$D" "$D/keys"
opendkim-genkey -b 2048 -D "$D/keys" -d example.com -s smgtest >"$T/genkey.log" 2>&1 ||
    { diag_file "$T/genkey.log"; bail "opendkim-genkey made a key"; }
printf 'smgtest._domainkey.example.com example.com:smgtest:%s/keys/smgtest.private\n' "$D" \
    >"$D/KeyTable"
printf '*@example.com smgtest._domainkey.example.com\n' >"$D/SigningTable"
# The public key as DNS would serve it, for the verifier (no DNS here).
printf 'smgtest._domainkey.example.com %s\n' "$(tr -d '\n' <"$D/keys/smgtest.txt" |
    sed 's/"[[:space:]]*"//g; s/^[^"]*"//; s/".*$//')" >"$D/keys.pub"
DKIM_PORT=$(free_port) || bail "a free port for opendkim"
cat >"$D/sign.conf" <<EOF
Mode                s
Syslog              no
Background          no
Socket              inet:$DKIM_PORT@127.0.0.1
PidFile             $D/opendkim.pid
KeyTable            file:$D/KeyTable
SigningTable        refile:$D/SigningTable
InternalHosts       127.0.0.1
Canonicalization    relaxed/relaxed
SignatureAlgorithm  rsa-sha256
OversignHeaders     From
UserID              root
# The key lies below /tmp (world-writable): OpenDKIM calls that unsafe and
# tempfails.  A real installation keeps RequireSafeKeys at its default.
RequireSafeKeys     no
EOF
cat >"$D/verify.conf" <<EOF
Mode                v
Syslog              no
TestPublicKeys      $D/keys.pub
EOF
opendkim -x "$D/sign.conf" -f >"$T/opendkim.log" 2>&1 &
DKIM_PID=$!
at_exit "stop_pid $DKIM_PID 50; keep '$T/opendkim.log'"
wait_port "$DKIM_PORT" "$DKIM_PID" 100 || { diag_file "$T/opendkim.log"; bail "opendkim started"; }
ok "opendkim signs on 127.0.0.1:$DKIM_PORT"

# The order as contrib/postfix/main.cf.example shows it, with this test's
# ports for its two milter variables.
EX="$top/contrib/postfix/main.cf.example"
order=$(sed -n 's/^#*smtpd_milters = \(.*\$dkim_milter.*\)$/\1/p' "$EX" | head -1)
if [ -n "$order" ]; then
	ok "contrib/postfix/main.cf.example shows the order with a DKIM signer: $order"
else
	not_ok "contrib/postfix/main.cf.example shows the order with a DKIM signer"
	order='$smimegate_milter, $dkim_milter'
fi
order=$(echo "$order" | sed "s/\$smimegate_milter/inet:127.0.0.1:$MILTER_PORT/; s/\$dkim_milter/inet:127.0.0.1:$DKIM_PORT/")
PF_EXTRA=$(printf 'smtpd_milters = %s\nmilter_protocol = 6\nmilter_default_action = tempfail\n' "$order")
pf_start || bail "Postfix started with smtpd_milters = $order"
ok "Postfix: smtpd_milters = $order"

mkdir -p "$T/m"
msg() { # ID
	{
		printf 'From: Alice <alice@example.com>\nTo: dave@example.net\nSubject: dkim %s\n' "$1"
		printf 'Date: Sun, 06 Dec 2026 05:00:00 +0000\nMessage-ID: <%s@example.com>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'Both signatures must hold, marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
}
# dkim_verdict MSG: opendkim's verdict on MSG: pass, fail or none (no
# signature found)
dkim_verdict() {
	opendkim -x "$D/verify.conf" -t "$1" >"$1.dkim.log" 2>&1
	if grep -q 'verification (.*) succeeded' "$1.dkim.log"; then
		echo pass
	elif grep -q 'verification (.*) failed' "$1.dkim.log"; then
		echo fail
	else
		echo none
	fi
}

msg good
if send_mail "$T/m/good.eml" alice@example.com dave@example.net && wait_delivered "$QID" &&
    sink_fetch "<good@example.com>" "$T/m/good.got"; then
	ok "smimegate then opendkim: delivered ($QID)"
	keep "$T/m/good.got"
	ndk=$(grep -c '^DKIM-Signature:' "$T/m/good.got")
	dk=$(mime_header "$T/m/good.got" DKIM-Signature | tr -d ' \t\r\n')
	case "$ndk $dk" in
	"1 "*"d=example.com;s=smgtest;"*) ok "one DKIM-Signature, d=example.com s=smgtest" ;;
	*) not_ok "one DKIM-Signature, d=example.com s=smgtest (got $ndk: $dk)" ;;
	esac
	check_signed "smimegate then opendkim" "$T/m/good.got" "$T/m/good.eml" alice@example.com
	v=$(dkim_verdict "$T/m/good.got")
	if [ "$v" = pass ]; then
		ok "the DKIM signature holds at the sink (opendkim: dkim=pass)"
	else
		not_ok "the DKIM signature holds at the sink (opendkim: dkim=$v)"
		diag_file "$T/m/good.got.dkim.log" 10 "opendkim -t"
	fi
	# The verifier can fail: one byte of the signed body changed.
	mime_tamper "$T/m/good.got" "$T/m/good.bad"
	v=$(dkim_verdict "$T/m/good.bad")
	check "opendkim rejects a copy with one byte changed (dkim=$v)" test "$v" = fail
else
	not_ok "smimegate then opendkim: delivered ($SMTP_REPLY)"
fi

# ---- the wrong order: opendkim before smimegate ---------------------------
postconf -c "$PF_DIR/conf" -e "smtpd_milters = inet:127.0.0.1:$DKIM_PORT, inet:127.0.0.1:$MILTER_PORT" &&
    postfix -c "$PF_DIR/conf" reload >/dev/null 2>&1 || bail "Postfix reloaded with the order turned round"
sleep 1
msg wrong
if send_mail "$T/m/wrong.eml" alice@example.com dave@example.net && wait_delivered "$QID" &&
    sink_fetch "<wrong@example.com>" "$T/m/wrong.got"; then
	keep "$T/m/wrong.got"
	check "wrong order: still S/MIME signed" verify_openssl "$T/m/wrong.got"
	v=$(dkim_verdict "$T/m/wrong.got")
	if [ "$v" = fail ]; then
		ok "wrong order (opendkim, then smimegate): the DKIM signature breaks (dkim=fail)"
	else
		not_ok "wrong order (opendkim, then smimegate): the DKIM signature breaks (dkim=$v)"
		diag_file "$T/m/wrong.got.dkim.log" 10 "opendkim -t"
	fi
else
	not_ok "wrong order: delivered ($SMTP_REPLY)"
fi

done_testing
