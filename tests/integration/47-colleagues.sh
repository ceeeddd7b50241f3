#!/bin/sh
# Mail to colleagues: a LocalDomains recipient is never
# encrypted by the gateway (nothing decrypts it on the way to the
# colleague's mailbox), whatever certificate the directory has for them;
# it is signed as the policy says.  One message from alice to bob
# (a colleague with a certificate in slapd) in To and dave (an outsider,
# certificate in slapd) in Cc goes through the split of mixed recipients:
# bob's copy is signed only (openssl, gpgsm, NSS), dave's is encrypted
# (openssl decrypts it with dave's key, not with bob's).  "[encrypt]" in
# the Subject and Sensitivity: Company-Confidential to a colleague without
# any certificate are delivered signed, never refused nor enrolled.  The
# log and the audit records say "internal delivery".
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl slapd \
    slapadd sendmail jq

P="$T/pki"
dirpki_setup "$P"
openssl x509 -in "$P/bob.pem" -outform DER -out "$P/bob.der" || bail "bob's certificate as DER"
{
	ldif_head
	ldif_entry bob bob@example.com "userCertificate;binary" "$P/bob.der"
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

URL=$(slapd_url)
pf_reinject "$T/reinject"
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no -o QueueRunInterval=1 -o ReinjectCommand=$T/reinject"
gate_import "$P" alice
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
gate_ctl lookup bob@example.com >"$T/lookup-bob.out" 2>&1
check "the directory has a certificate for the colleague bob" grep -q "^result: found" "$T/lookup-bob.out"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"

mkdir -p "$T/m"
msg() { # ID TO CC SUBJECT [HEADER]
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\n' "$2"
		[ -n "$3" ] && printf 'Cc: %s\n' "$3"
		printf 'Subject: %s\nMessage-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$4" "$1"
		[ -n "${5:-}" ] && printf '%s\n' "$5"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nHello, marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
}
delivered_to() { # MARKER RCPT OUT
	_f=$(sink_files "$1" "$2" | head -1)
	[ -n "$_f" ] && sink_strip "$_f" "$3"
}
LOG="$GATE_STATE/audit/audit.log"
# audit_rule QID RCPT: the rule of that record
audit_rule() {
	jq -r --arg q "$1" --arg r "$2" 'select(.qid == $q and .rcpt == $r) | .rule' "$LOG"
}

# ---- a colleague in To, an outsider in Cc ----------------------------------
msg mixed bob@example.com dave@example.net "quarterly figures"
if send_mail "$T/m/mixed.eml" alice@example.com bob@example.com,dave@example.net; then
	ok "colleague + outsider: accepted ($SMTP_REPLY)"
	QID_MIXED=$QID
else
	not_ok "colleague + outsider: accepted ($SMTP_REPLY)"
	QID_MIXED=none
fi
check "bob: one copy delivered" sink_wait_count "<mixed@example.com>" bob@example.com 1
check "dave: one copy delivered" sink_wait_count "<mixed@example.com>" dave@example.net 1
sleep 1
check "bob: exactly one copy" test "$(sink_count "<mixed@example.com>" bob@example.com)" -eq 1
check "dave: exactly one copy" test "$(sink_count "<mixed@example.com>" dave@example.net)" -eq 1
if delivered_to "<mixed@example.com>" bob@example.com "$T/m/mixed.bob"; then
	keep "$T/m/mixed.bob"
	ct=$(mime_header "$T/m/mixed.bob" Content-Type)
	case $ct in
	*multipart/signed*) ok "bob (colleague): signed, not encrypted" ;;
	*) not_ok "bob (colleague): signed, not encrypted (Content-Type: $ct)" ;;
	esac
	check "bob: the text is readable as sent" grep -q "marker-mixed" "$T/m/mixed.bob"
	check_signed "bob" "$T/m/mixed.bob" "$T/m/mixed.eml" alice@example.com
else
	not_ok "bob's copy found"
fi
if delivered_to "<mixed@example.com>" dave@example.net "$T/m/mixed.dave"; then
	keep "$T/m/mixed.dave"
	ct=$(mime_header "$T/m/mixed.dave" Content-Type)
	case $ct in
	*enveloped-data*) ok "dave (outsider): enveloped-data" ;;
	*) not_ok "dave (outsider): enveloped-data (Content-Type: $ct)" ;;
	esac
	check "dave: no plaintext on the wire" sh -c "! grep -q marker-mixed '$T/m/mixed.dave'"
	check "dave decrypts his copy with openssl cms" openssl cms -decrypt \
	    -in "$T/m/mixed.dave" -recip "$P/dave.pem" -inkey "$P/dave.key" \
	    -out "$T/m/mixed.dave.plain"
	check_signed "dave (inner)" "$T/m/mixed.dave.plain" "$T/m/mixed.eml" alice@example.com
	check "bob's key does not open dave's copy (not encrypted to the colleague)" \
	    sh -c "! openssl cms -decrypt -in '$T/m/mixed.dave' -recip '$P/bob.pem' \
	    -inkey '$P/bob.key' -out /dev/null 2>/dev/null"
else
	not_ok "dave's copy found"
fi
check "the log names the internal delivery for bob" \
    grep -q "policy: to=<bob@example.com>, form=deliver,sign, .*internal delivery" "$GATE_LOG"
check "the audit record of bob's copy: signed, rule internal delivery" sh -c \
    "jq -r --arg q '$QID_MIXED' 'select(.qid == \$q and .rcpt == \"bob@example.com\") | .action + \" \" + .rule' '$LOG' | grep -q '^signed .*internal delivery'"

check "the audit record of dave's copy (split off): signed+encrypted, as it left" sh -c \
    "jq -r --arg q '$QID_MIXED' 'select(.qid == \$q and .rcpt == \"dave@example.net\") | .action' '$LOG' | grep -qx 'signed+encrypted'"

# ---- [encrypt] and Sensitivity to a colleague without a certificate ---------
trig() { # ID WHAT [HEADER]
	msg "$1" carol@example.com "" "$2" "${3:-}"
	if send_mail "$T/m/$1.eml" alice@example.com carol@example.com && wait_delivered "$QID"; then
		ok "$1: delivered to the colleague, not refused ($QID)"
		l=$(gate_logline "$QID")
		check "$1: the gateway signed it (no refusal, no enrollment)" log_has "$l" "action=signed"
		check "$1: audited as internal" sh -c "audit_rule() { jq -r --arg q '$QID' \
		    'select(.qid == \$q) | .rule' '$LOG'; }; audit_rule | grep -q 'internal delivery'"
		if delivered_to "marker-$1" carol@example.com "$T/m/$1.got"; then
			keep "$T/m/$1.got"
			check_signed "$1" "$T/m/$1.got" "$T/m/$1.eml" alice@example.com
		else
			not_ok "$1: carol's copy found"
		fi
	else
		not_ok "$1: delivered to the colleague, not refused ($SMTP_REPLY)"
	fi
}
trig tag "[encrypt] salaries"
trig sens "salaries" "Sensitivity: Company-Confidential"
check "no enrollment was tried for the colleague" sh -c "! grep -q 'enroll <carol' '$GATE_LOG'"

# ---- [encrypt] to the colleague with a certificate: not encrypted either ----
msg tagbob bob@example.com "" "[encrypt] bonus"
if send_mail "$T/m/tagbob.eml" alice@example.com bob@example.com && wait_delivered "$QID"; then
	delivered_to "marker-tagbob" bob@example.com "$T/m/tagbob.got"
	ct=$(mime_header "$T/m/tagbob.got" Content-Type)
	case $ct in
	*multipart/signed*) ok "[encrypt] to bob (certificate known): signed, not encrypted" ;;
	*) not_ok "[encrypt] to bob (certificate known): signed, not encrypted (Content-Type: $ct)" ;;
	esac
	subj=$(mime_header "$T/m/tagbob.got" Subject)
	check "[encrypt] to bob: the tag is stripped as for anyone ($subj)" test "$subj" = "bonus"
else
	not_ok "[encrypt] to bob: delivered ($SMTP_REPLY)"
fi

done_testing
