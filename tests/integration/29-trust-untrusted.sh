#!/bin/sh
# Mail that leaves from a client the gateway does not trust to
# sign for (no login, not in InternalHosts; a sendmail(1) submission
# without LocalSubmissionInternal) is outbound: encrypted as the policy
# says, never signed, and under encrypt=always without a certificate
# refused or held, never delivered in clear.  The same client's mail for
# local recipients only stays inbound.
#
# A private Postfix with the gateway in smtpd_milters and
# non_smtpd_milters; InternalHosts 192.0.2.1 (so that neither the SMTP
# client 127.0.0.1 nor sendmail(1) is trusted); dave@example.net has a
# certificate in slapd.
#  1. sendmail(1) to dave (encrypt=always, a certificate): encrypted,
#     unsigned inside; the log says direction=outbound and why unsigned.
#  2. sendmail(1) to rex (encrypt=always fallback=reject, no certificate):
#     nothing reaches rex; to hal (fallback=hold): held in the spool.
#  3. SMTP from 127.0.0.1 (not in InternalHosts) to dave: encrypted,
#     unsigned; to rex: refused 550.
#  4. sendmail(1) to bob@example.com (local): direction=inbound.
#  5. UnauthorizedSender reject does not refuse the untrusted client's
#     mail (it claims no right to sign): encrypted, unsigned.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl postfix postqueue smtp-sink swaks perl slapd slapadd sendmail

P="$T/pki"
dirpki_setup "$P"
gate_import "$P" alice
mkdir -p "$T/m"

{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
URL=$(slapd_url)
cat >"$T/policy" <<EOF
default encrypt=if-possible
to dave@example.net encrypt=always fallback=reject
to rex@example.net encrypt=always fallback=reject
to hal@example.net encrypt=always fallback=hold
EOF
printf '#!/bin/sh\nf=$(mktemp "%s/captured.XXXXXX")\ncat >"$f"\n' "$T" >"$T/capture"
chmod 0755 "$T/capture"
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o CRLCheck=no
    -o PolicyFile=$T/policy -o QueueRunInterval=1 -o ReinjectCommand=$T/capture
    -o InternalHosts=192.0.2.1"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"

msg() { # ID TO
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: untrusted %s\n' "$2" "$1"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nSecret text marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
}
by_sendmail() { # ID TO
	/usr/sbin/sendmail -C "$PF_DIR/conf" -i -f alice@example.com "$2" <"$T/m/$1.eml"
}
delivered() { sink_wait "<$1@example.com>" "$T/m/$1.got" "${2:-100}"; }
# nothing_for ID RCPT: after a bounded wait (3 s), nothing at the sink
# for RCPT holds the message (its Message-ID or marker-ID in clear).
_at_sink() {
	{ sink_files "<$1@example.com>" "$2"; sink_files "marker-$1" "$2"; } | grep -q .
}
nothing_for() { ! wait_for 30 _at_sink "$1" "$2"; }
# encrypted_unsigned ID: enveloped-data for dave, no marker in clear, and
# inside a plain entity (not multipart/signed) with the marker.
encrypted_unsigned() {
	if ! grep -qi '^Content-Type: application/pkcs7-mime' "$T/m/$1.got"; then
		not_ok "$1: arrives encrypted (not pkcs7-mime)"
		keep "$T/m/$1.got" "$1.got"
		return
	fi
	check "$1: no marker in clear" sh -c "! grep -q 'marker-$1' '$T/m/$1.got'"
	if openssl cms -decrypt -in "$T/m/$1.got" -recip "$P/dave.pem" -inkey "$P/dave.key" \
	    -out "$T/m/$1.plain" 2>"$T/$1.dec.err"; then
		check "$1: encrypted to dave, and unsigned inside" \
		    sh -c "grep -q 'marker-$1' '$T/m/$1.plain' && ! grep -qi 'multipart/signed\|pkcs7-signature\|signed-data' '$T/m/$1.plain'"
	else
		not_ok "$1: dave decrypts it"
		diag_file "$T/$1.dec.err" 5 openssl
	fi
}
logged() { # TO WORDS...: the gateway's last line for that recipient has them all
	_l=$(grep "from=<alice@example.com>, to=<$1>," "$GATE_LOG" | tail -1)
	shift
	for _w in "$@"; do
		case "$_l" in *"$_w"*) ;; *) diag "log: $_l"; return 1 ;; esac
	done
}

# ---- 1. sendmail(1) to an outsider with a certificate ---------------------
msg sm1 dave@example.net
if by_sendmail sm1 dave@example.net && delivered sm1; then
	encrypted_unsigned sm1
	check "sm1: logged direction=outbound, action=encrypted, why unsigned" \
	    logged dave@example.net direction=outbound action=encrypted "not trusted to sign"
	check "sm1: no signer in the log line" \
	    sh -c "! grep 'to=<dave@example.net>, direction=outbound' '$GATE_LOG' | grep -q 'signer='"
else
	not_ok "sm1: the sendmail(1) submission to dave is delivered"
	diag_file "$PF_DIR/maillog" 10 maillog
fi

# ---- 2. sendmail(1) under encrypt=always without a certificate -----------
msg sm2 rex@example.net
by_sendmail sm2 rex@example.net || diag "sendmail(1) exit $?"
check "sm2: nothing delivered to rex (encrypt=always, no certificate, reject)" \
    nothing_for sm2 rex@example.net
check "sm2: logged direction=outbound, refused" \
    logged rex@example.net direction=outbound action=rejected
msg sm3 hal@example.net
by_sendmail sm3 hal@example.net || diag "sendmail(1) exit $?"
_held() { gate_ctl spool list 2>/dev/null | grep -q "hold.*hal@example.net"; }
check "sm3: held in the spool (encrypt=always, no certificate, hold)" wait_for 50 _held
check "sm3: nothing delivered to hal" nothing_for sm3 hal@example.net

# ---- 3. an SMTP client not in InternalHosts -------------------------------
msg smtp1 dave@example.net
if send_mail "$T/m/smtp1.eml" alice@example.com dave@example.net && delivered smtp1; then
	encrypted_unsigned smtp1
else
	not_ok "smtp1: delivered ($SMTP_REPLY)"
fi
msg smtp2 rex@example.net
if send_mail "$T/m/smtp2.eml" alice@example.com rex@example.net; then
	not_ok "smtp2: encrypt=always without a certificate: refused (accepted: $SMTP_REPLY)"
else
	check "smtp2: encrypt=always without a certificate: refused ($SMTP_CODE)" \
	    test "$SMTP_CODE" = 550
fi
check "smtp2: nothing delivered to rex" nothing_for smtp2 rex@example.net

# ---- 4. local recipients only: inbound --------------------------------------
msg loc1 bob@example.com
if by_sendmail loc1 bob@example.com && delivered loc1; then
	check "loc1: a sendmail(1) submission to a local recipient stays inbound" \
	    logged bob@example.com direction=inbound
	check "loc1: delivered as it came (not encrypted, not signed)" \
	    sh -c "grep -q 'marker-loc1' '$T/m/loc1.got' && ! grep -qi 'pkcs7' '$T/m/loc1.got'"
else
	not_ok "loc1: delivered"
fi

# ---- 5. UnauthorizedSender reject: the untrusted client is not refused ----
gate_stop
gate_start -o UnauthorizedSender=reject || bail "smimegate restarted with UnauthorizedSender reject"
msg ur1 dave@example.net
if send_mail "$T/m/ur1.eml" alice@example.com dave@example.net && delivered ur1; then
	encrypted_unsigned ur1
else
	not_ok "ur1: UnauthorizedSender reject: the untrusted client's mail is accepted ($SMTP_REPLY)"
fi

done_testing
