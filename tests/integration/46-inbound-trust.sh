#!/bin/sh
# Inbound decryption decides per envelope recipient, through a
# real Postfix.  A key decrypts a message for a recipient only when its
# certificate names that recipient:
#   - mail encrypted to the CEO only, sent to alice, reaches alice still
#     encrypted (no-key), and the CEO's key still opens what she got;
#   - mail an employee encrypted to an outside partner and to herself
#     (the sender's own RecipientInfo), sent back in to a colleague,
#     reaches the colleague still encrypted;
#   - one message to alice and bob encrypted to alice only: alice gets it
#     decrypted, bob still encrypted, exactly one copy each (bob's made
#     through the spool and re-injected);
#   - a role address (helpdesk@) decrypts with its own key, and a
#     colleague on the same message does not get it in clear.
# And what UnprotectedContent does with enveloped-data (CBC, no integrity
# protection): signed (the default) decrypts only when the plaintext is
# signed by the From address, decrypt always decrypts, keep never does;
# authEnveloped-data (GCM) is decrypted in every mode.  What was delivered
# is opened with `openssl cms -decrypt` with the right key at the sink.
# Thunderbird's (NSS) enveloped mails (../shared/corpora, where present)
# under the default: encrypted only stays encrypted, signed and encrypted
# is decrypted.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl sendmail

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
_pki_ee "$P" ceo CEO rsa >>"$T/pki.log" 2>&1 || bail "the CEO's certificate made"
_pki_ee "$P" helpdesk Helpdesk rsa >>"$T/pki.log" 2>&1 || bail "helpdesk's certificate made"
# An outside partner (no key here, nobody trusts it: only encrypted to).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/partner.key" -days 30 \
    -subj "/CN=Partner" -addext subjectAltName=email:partner@remote.test \
    -out "$T/partner.pem" >>"$T/pki.log" 2>&1 || bail "the partner's certificate made"

CORPUS="${SMIMEGATE_CORPORA:-$top/../shared/corpora}/thunderbird-smime/smime"
cat "$P/ca.pem" >"$T/trust.pem"
[ -d "$CORPUS" ] && cat "$CORPUS/TestCA.pem" >>"$T/trust.pem"

pf_reinject "$T/reinject"
GATE_OPTS="-o TrustAnchorFile=$T/trust.pem -o QueueRunInterval=1 -o ReinjectCommand=$T/reinject"
gate_import "$P" alice bob ceo helpdesk
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"
mkdir -p "$T/m"

printf 'Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\nDear colleague,\n\nthe secret numbers are 4, 8, 15, 16, 23 and 42.\n-- \nSomeone\n' |
    make_message "$T/inner.txt"
to_lf "$T/inner.txt" "$T/inner.lf"

# enc OUT CIPHER IN CERT...: openssl cms -encrypt IN to the CERTs.
enc() {
	_o=$1 _c=$2 _i=$3
	shift 3
	openssl cms -encrypt "-$_c" -binary -in "$_i" "$@" >"$_o" 2>>"$T/openssl.log"
}

# wrap ID FROM TO CMS: a whole message around openssl's S/MIME output.
wrap() {
	{
		printf 'From: %s\nTo: %s\nSubject: trust %s\n' "$2" "$3" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@remote.test>\n' "$1"
		sed 's/\r$//' "$4"
	} | make_message "$T/m/$1.eml"
}

# got ID RCPT: the copy RCPT got (exactly one wanted) in $T/m/ID.RCPT;
# its result header in $RES.
got() {
	RES=""
	if ! sink_wait_count "<$1@remote.test>" "$2" 1; then
		not_ok "$1: delivered to $2"
		return 1
	fi
	sink_fetch "<$1@remote.test>" "$T/m/$1.$2" "$2" || return 1
	keep "$T/m/$1.$2"
	RES=$(mime_header "$T/m/$1.$2" X-Smimegate-Result)
	return 0
}

# result_is WHAT WANT: $RES starts with WANT.
result_is() {
	case $RES in
	"$2"*) ok "$1: X-Smimegate-Result: $2..." ;;
	*) not_ok "$1: X-Smimegate-Result: $2... (got '$RES')" ;;
	esac
}

# encrypted_for ID RCPT KEYNAME: what RCPT got is still enveloped CMS,
# without the plaintext, and KEYNAME's key opens it to the inner entity.
encrypted_for() {
	_f="$T/m/$1.$2"
	case $(mime_header "$_f" Content-Type) in
	*pkcs7-mime*) ok "$1: $2 got it still encrypted" ;;
	*) not_ok "$1: $2 got it still encrypted (Content-Type: $(mime_header "$_f" Content-Type))" ;;
	esac
	check "$1: no plaintext in $2's copy" sh -c "! grep -q 'secret numbers' '$_f'"
	if openssl cms -decrypt -in "$_f" -recip "$P/$3.pem" -inkey "$P/$3.key" \
	    -out "$_f.opened" 2>>"$T/openssl.log"; then
		to_lf "$_f.opened" "$_f.opened.lf"
		check "$1: $3's key opens $2's copy to the original entity (openssl cms)" \
		    same_file "$T/${4:-inner}.lf" "$_f.opened.lf"
	else
		not_ok "$1: $3's key opens $2's copy (openssl cms)"
	fi
}

# decrypted_for ID RCPT: RCPT got the inner entity in clear.
decrypted_for() {
	_f="$T/m/$1.$2"
	mime_body "$_f" "$_f.body"
	mime_body "$T/inner.txt" "$T/inner.body"
	if [ "$(mime_header "$_f" Content-Type)" = "text/plain; charset=us-ascii" ] &&
	    same_file "$T/inner.body" "$_f.body"; then
		ok "$1: $2 got the entity decrypted, byte for byte"
	else
		not_ok "$1: $2 got the entity decrypted, byte for byte"
	fi
}

# send ID FROM RCPTS: from outside (envelope sender FROM) to RCPTS.
send() {
	if send_mail "$T/m/$1.eml" "$2" "$3"; then
		ok "$1: accepted ($QID)"
	else
		not_ok "$1: accepted ($SMTP_REPLY)"
	fi
}

# one_copy ID RCPT: exactly one delivery of ID to RCPT.
one_copy() {
	check "$1: exactly one copy for $2" test "$(sink_count "<$1@remote.test>" "$2")" -eq 1
}

# ---- addressee-only decryption (GCM, so UnprotectedContent plays no part)

enc "$T/toceo.p7" aes-256-gcm "$T/inner.txt" "$P/ceo.pem"
wrap toceo mallory@remote.test alice@example.com "$T/toceo.p7"
send toceo mallory@remote.test alice@example.com
if got toceo alice@example.com; then
	result_is "toceo: alice" "no-key"
	encrypted_for toceo alice@example.com ceo
fi

# alice wrote to the partner, encrypted to him and to herself; the
# partner sends that message in again, to bob.
enc "$T/ownkey.p7" aes-256-gcm "$T/inner.txt" "$T/partner.pem" "$P/alice.pem"
wrap ownkey partner@remote.test bob@example.com "$T/ownkey.p7"
send ownkey partner@remote.test bob@example.com
if got ownkey bob@example.com; then
	result_is "ownkey: bob" "no-key"
	encrypted_for ownkey bob@example.com alice
fi

# One message, two local recipients, encrypted to alice only.
enc "$T/two.p7" aes-256-gcm "$T/inner.txt" "$P/alice.pem"
wrap two someone@remote.test "alice@example.com, bob@example.com" "$T/two.p7"
send two someone@remote.test alice@example.com,bob@example.com
if got two alice@example.com; then
	result_is "two: alice" "decrypted"
	decrypted_for two alice@example.com
fi
if got two bob@example.com; then
	result_is "two: bob" "no-key"
	encrypted_for two bob@example.com alice
fi
sleep 2
one_copy two alice@example.com
one_copy two bob@example.com

# A role address with its own key; alice on the same message gets no
# clear text from helpdesk's key.
enc "$T/role.p7" aes-256-gcm "$T/inner.txt" "$P/helpdesk.pem"
wrap role customer@remote.test "helpdesk@example.com, alice@example.com" "$T/role.p7"
send role customer@remote.test helpdesk@example.com,alice@example.com
if got role helpdesk@example.com; then
	result_is "role: helpdesk" "decrypted (authEnveloped-data"
	decrypted_for role helpdesk@example.com
fi
if got role alice@example.com; then
	result_is "role: alice" "no-key"
	encrypted_for role alice@example.com helpdesk
fi
sleep 2
one_copy role helpdesk@example.com
one_copy role alice@example.com

# ---- UnprotectedContent ------------------------------------------------

# Plain CBC, CBC around a message signed by the From address, and GCM.
enc "$T/cbc.p7" aes-256-cbc "$T/inner.txt" "$P/alice.pem"
openssl cms -sign -in "$T/inner.txt" -signer "$P/bob.pem" -inkey "$P/bob.key" \
    -certfile "$P/ca.pem" >"$T/signed.txt" 2>>"$T/openssl.log"
to_lf "$T/signed.txt" "$T/signed.lf"
enc "$T/cbcsig.p7" aes-256-cbc "$T/signed.txt" "$P/alice.pem"
enc "$T/gcm.p7" aes-256-gcm "$T/inner.txt" "$P/alice.pem"

# mode NAME: CBC, signed CBC, the same from someone else, and GCM, to alice.
mode() {
	wrap "$1-cbc" bob@example.com alice@example.com "$T/cbc.p7"
	wrap "$1-cbcsig" bob@example.com alice@example.com "$T/cbcsig.p7"
	wrap "$1-cbcother" eve@example.com alice@example.com "$T/cbcsig.p7"
	wrap "$1-gcm" bob@example.com alice@example.com "$T/gcm.p7"
	for _k in cbc cbcsig cbcother gcm; do
		send "$1-$_k" bob@remote.test alice@example.com
	done
}

# signed, the default.
mode signed
if got signed-cbc alice@example.com; then
	result_is "UnprotectedContent signed, unsigned CBC" "unprotected"
	encrypted_for signed-cbc alice@example.com alice
fi
if got signed-cbcsig alice@example.com; then
	result_is "UnprotectedContent signed, CBC signed by From" \
	    "decrypted (enveloped-data, not integrity-protected); pass (signer=<bob@example.com>)"
	check "UnprotectedContent signed: delivered multipart/signed, verifies (openssl cms)" \
	    sh -c "openssl cms -verify -in '$T/m/signed-cbcsig.alice@example.com' -CAfile '$P/ca.pem' -out /dev/null 2>/dev/null"
fi
if got signed-cbcother alice@example.com; then
	result_is "UnprotectedContent signed, CBC signed by another than From" "unprotected"
	encrypted_for signed-cbcother alice@example.com alice signed
fi
if got signed-gcm alice@example.com; then
	result_is "UnprotectedContent signed, GCM" "decrypted (authEnveloped-data"
	decrypted_for signed-gcm alice@example.com
fi

# Thunderbird's mails to Bob, with Bob's key (the default still).
if [ -d "$CORPUS" ]; then
	echo nss >"$T/nss.pass"
	if gate_ctl keystore import "$CORPUS/Bob.p12" --password-file "$T/nss.pass" \
	    >"$T/import-nss.log" 2>&1; then
		ok "Thunderbird's Bob.p12 imported"
	else
		not_ok "Thunderbird's Bob.p12 imported"
	fi
	# tb FILE ID: FILE resent from outside to Bob as ID.
	tb() {
		sed "s/^Message-I[Dd]:.*//; 1i Message-ID: <$2@remote.test>" "$CORPUS/$1" |
		    make_message "$T/m/$2.eml"
		send "$2" alice@remote.test Bob@example.com
		got "$2" Bob@example.com
	}
	if tb alice.env.eml tb-env; then
		result_is "Thunderbird alice.env.eml (encrypted only)" "unprotected"
		case $(mime_header "$T/m/tb-env.Bob@example.com" Content-Type) in
		*pkcs7-mime*) ok "Thunderbird alice.env.eml: delivered still encrypted" ;;
		*) not_ok "Thunderbird alice.env.eml: delivered still encrypted" ;;
		esac
	fi
	tb alice.dsig.SHA256.multipart.env.eml tb-dsig-env &&
	    result_is "Thunderbird alice.dsig.SHA256.multipart.env.eml (signed, then encrypted)" \
	    "decrypted (enveloped-data, not integrity-protected); pass (signer=<Alice@example.com>)"
else
	skip "Thunderbird samples" "$CORPUS is absent"
fi

gate_stop
gate_start -o UnprotectedContent=decrypt || bail "smimegate restarted with UnprotectedContent=decrypt"
mode decrypt
if got decrypt-cbc alice@example.com; then
	result_is "UnprotectedContent decrypt, unsigned CBC" \
	    "decrypted (enveloped-data, not integrity-protected)"
	decrypted_for decrypt-cbc alice@example.com
fi
if got decrypt-cbcother alice@example.com; then
	result_is "UnprotectedContent decrypt, CBC signed by another than From" \
	    "decrypted (enveloped-data, not integrity-protected); mismatch"
fi

gate_stop
gate_start -o UnprotectedContent=keep || bail "smimegate restarted with UnprotectedContent=keep"
mode keep
if got keep-cbc alice@example.com; then
	result_is "UnprotectedContent keep, unsigned CBC" "unprotected"
	encrypted_for keep-cbc alice@example.com alice
fi
if got keep-cbcsig alice@example.com; then
	result_is "UnprotectedContent keep, CBC signed by From" "unprotected"
	encrypted_for keep-cbcsig alice@example.com alice signed
fi
if got keep-gcm alice@example.com; then
	result_is "UnprotectedContent keep, GCM" "decrypted (authEnveloped-data"
	decrypted_for keep-gcm alice@example.com
fi

check "the Postfix queue is empty" sh -c "postqueue -c '$PF_DIR/conf' -p 2>&1 | grep -q 'Mail queue is empty'"
check "smimegate is still running" kill -0 "$GATE_PID"

done_testing
