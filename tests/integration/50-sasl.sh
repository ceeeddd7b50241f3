#!/bin/sh
# Authenticated submission through a real Postfix (SMTP AUTH PLAIN, checked
# by Cyrus SASL inside smtpd against a private sasldb): the signing oracle.  A login signs only
# as itself or as the addresses SignerMap gives it; anything else passes
# unsigned, or is rejected with UnauthorizedSender reject.
#
# InternalHosts is 127.0.0.1/32 and clients bind 127.0.0.2, so only the
# login can make mail outbound; one case comes from 127.0.0.1 to show that
# a login is held to its addresses on an internal host too.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl \
    saslpasswd2 sasldblistusers2
postconf -a 2>/dev/null | grep -qx cyrus || bail "Postfix lists cyrus in postconf -a"

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
verifiers_setup "$T/pki/ca.pem" || bail "verifiers set up"
gate_import "$T/pki" alice bob carol

cat >"$T/users" <<'EOF'
alice@example.com alice-pw
bob@example.com bob-pw
boss boss-pw
EOF
cat >"$T/signers" <<'EOF'
# login   addresses it may sign as
boss      carol@example.com
EOF
GATE_OPTS="-o InternalHosts=127.0.0.1/32 -o SignerMap=$T/signers"

sasl_start "$T/users" || bail "sasldb made with saslpasswd2"
for u in alice@example.com bob@example.com "boss@$PF_HOSTNAME"; do
	check "sasldb holds $u" grep -q "^$u: userPassword" "$SASL_DIR/users.list"
done
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with SMTP AUTH and the milter"
swaks --server 127.0.0.1 --port "$SMTP_PORT" --timeout 30 --quit-after EHLO \
    --helo client.smimegate.test >"$T/ehlo.log" 2>&1
if grep -Eq '^<- +250[- ]AUTH .*PLAIN' "$T/ehlo.log"; then
	ok "Postfix offers SMTP AUTH through Cyrus SASL ($(sed -n 's/^<- *250[- ]AUTH //p' "$T/ehlo.log"))"
else
	not_ok "Postfix offers SMTP AUTH PLAIN through Cyrus SASL"
	diag_file "$T/ehlo.log" 15 swaks
	diag_file "$PF_DIR/maillog" 10 maillog
fi

mkdir -p "$T/m"
n=0
# submit LOGIN FROM [swaks options]: sends a new message; sets ID.
submit() {
	_login=$1 _from=$2
	shift 2
	n=$((n + 1))
	ID="sasl$n"
	make_message "$T/m/$ID.eml" <<EOF
From: ${HFROM:-$_from}
To: bob@elsewhere.test
Subject: submission $n by $_login
Date: Mon, 23 Nov 2026 10:00:00 +0000
Message-ID: <$ID@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

Submitted with SMTP AUTH as $_login, envelope sender $_from.
EOF
	_pw=$(awk -v u="$_login" '$1 == u { print $2 }' "$T/users")
	send_mail "$T/m/$ID.eml" "$_from" bob@elsewhere.test \
	    --auth PLAIN --auth-user "$_login" --auth-password "$_pw" "$@"
}

# delivered WHAT: waits for $QID and fetches it to $T/m/$ID.got.
delivered() {
	if wait_delivered "$QID" && sink_fetch "<$ID@example.com>" "$T/m/$ID.got"; then
		return 0
	fi
	not_ok "$1: delivered"
	return 1
}

# signed_as LOGIN FROM WHAT [swaks options]
signed_as() {
	_what=$3
	if ! submit "$1" "$2" --local-interface "${4:-127.0.0.2}"; then
		not_ok "$_what: accepted ($SMTP_REPLY)"
		diag_file "$T/m/$ID.eml.swaks.log" 10 swaks
		return
	fi
	delivered "$_what" || return
	_l=$(gate_logline "$QID")
	check "$_what: log says direction=outbound, action=signed, signer=<$2>" \
	    log_has "$_l" "$QID: from=<$2>" direction=outbound action=signed "signer=<$2>"
	check_signed "$_what" "$T/m/$ID.got" "$T/m/$ID.eml" "$2"
}

# unsigned_as LOGIN FROM WHAT [CLIENT]
unsigned_as() {
	_what=$3
	if ! submit "$1" "$2" --local-interface "${4:-127.0.0.2}"; then
		not_ok "$_what: accepted ($SMTP_REPLY)"
		return
	fi
	delivered "$_what" || return
	strip_received "$T/m/$ID.got" "$T/m/$ID.cmp"
	check "$_what: delivered unsigned, byte for byte" same_file "$T/m/$ID.eml" "$T/m/$ID.cmp"
	_l=$(gate_logline "$QID")
	check "$_what: log says action=unsigned with a reason" \
	    log_has "$_l" "$QID: from=<$2>" direction=outbound action=unsigned reason=
	diag "log: $_l"
}

signed_as alice@example.com alice@example.com "login alice@example.com as alice (no SignerMap entry: the login itself)"
signed_as boss carol@example.com "login boss as carol (SignerMap), ECDSA key"
unsigned_as bob@example.com alice@example.com "login bob@example.com as alice"
unsigned_as boss alice@example.com "login boss as alice (not in its SignerMap line)"
unsigned_as bob@example.com alice@example.com "login bob@example.com as alice from an internal host" 127.0.0.1

# The envelope is the login's own, the From: header is not: From: is what
# would be signed, so the oracle must look at it.
HFROM=bob@example.com
unsigned_as alice@example.com alice@example.com "login alice@example.com, envelope alice, From: bob@example.com"
HFROM=

# The backend checks passwords: a wrong one is refused (535), nothing queued.
make_message "$T/m/badpw.eml" <<'EOF'
From: alice@example.com
To: bob@elsewhere.test
Subject: wrong password
Message-ID: <badpw@example.com>

Never queued.
EOF
if send_mail "$T/m/badpw.eml" alice@example.com bob@elsewhere.test --auth PLAIN \
    --auth-user alice@example.com --auth-password not-alice-pw --local-interface 127.0.0.2; then
	not_ok "a wrong password is refused (got $SMTP_REPLY)"
else
	case $SMTP_REPLY in
	535*) ok "a wrong password is refused ($SMTP_REPLY)" ;;
	*) not_ok "a wrong password is refused with 535 (got $SMTP_REPLY)" ;;
	esac
fi

# With UnauthorizedSender reject, the same attempt is refused at the end of
# data, and a rightful login still signs.
gate_stop
gate_start -o UnauthorizedSender=reject || bail "smimegate restarted with UnauthorizedSender reject"
if submit bob@example.com alice@example.com --local-interface 127.0.0.2; then
	not_ok "UnauthorizedSender reject: login bob as alice is refused (got $SMTP_REPLY)"
else
	case $SMTP_CODE in
	5*) ok "UnauthorizedSender reject: login bob as alice is refused ($SMTP_REPLY)" ;;
	*) not_ok "UnauthorizedSender reject: login bob as alice is refused with 5xx (got $SMTP_REPLY)" ;;
	esac
	_l=$(grep "from=<alice@example.com>" "$GATE_LOG" | grep "action=rejected" | tail -1)
	check "UnauthorizedSender reject: log says action=rejected" \
	    log_has "$_l" direction=outbound action=rejected
fi
signed_as alice@example.com alice@example.com "UnauthorizedSender reject: login alice as alice still signed"

done_testing
