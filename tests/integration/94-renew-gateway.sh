#!/bin/sh
# Renewal by the gateway: alice's signing and encryption certificates from
# the embedded CA expire in 10 days, within RenewBefore (30).  The running
# gateway renews both (new keys, escrowed; the old entries stay), audits
# it, and then: mail from alice is signed with the new signing
# certificate; mail encrypted (openssl cms -encrypt) to the OLD encryption
# certificate still opens inbound; new mail to the new one too.  A
# certificate revoked at the CA is not renewed.  A second check finds
# nothing more to renew (no renewal loop).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks

HTTP_PORT=$(free_port) || bail "a free port for the CA endpoint"
GATE_OPTS="-o CertificateAuthority=yes -o CAHTTPListen=127.0.0.1:$HTTP_PORT
    -o UnprotectedContent=decrypt -o RenewBefore=30"
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "smimectl ca init"; }

# issue NAME PROFILE ADDRESS: a 10-day certificate (key escrowed) in $T/NAME.pem
issue() {
	gate_ctl -o CAValidityDays=10 ca issue --profile "$2" "$3" >"$T/$1.pem" 2>"$T/$1.err" ||
	    { diag_file "$T/$1.err"; bail "smimectl ca issue --profile $2 $3"; }
}
issue oldsig sign alice@example.com
issue oldenc encrypt alice@example.com
issue bobsig sign bob@example.com
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
OLDSIG=$(serial "$T/oldsig.pem")
OLDENC=$(serial "$T/oldenc.pem")
BOBSIG=$(serial "$T/bobsig.pem")
gate_ctl ca revoke "$BOBSIG" >"$T/revoke.log" 2>&1 || { diag_file "$T/revoke.log"; bail "revoke bob"; }

# Old mail: encrypted now to alice's old encryption certificate.
mkdir -p "$T/m"
printf 'Content-Type: text/plain; charset=us-ascii\n\nOld secret: marker-old-4711.\n' |
    make_message "$T/inner-old.txt"
printf 'Content-Type: text/plain; charset=us-ascii\n\nNew secret: marker-new-0815.\n' |
    make_message "$T/inner-new.txt"
openssl cms -encrypt -aes256 -in "$T/inner-old.txt" -out "$T/old.cms" "$T/oldenc.pem" ||
    bail "openssl cms -encrypt to the old certificate"

gate_start -o RenewInterval=1 || bail "smimegate started"
ok "smimegate started with the CA, RenewInterval=1"
_renewed() { [ "$(grep -c 'renew <alice@example.com>: certificate .* renewed: new' "$GATE_LOG")" -ge 2 ]; }
if wait_for 300 _renewed; then
	ok "the gateway renewed alice's two certificates (log)"
else
	not_ok "the gateway renewed alice's two certificates (log)"
	diag_file "$GATE_LOG" 20 smimegate
fi
check "the log names the old serials" sh -c "grep -q 'certificate $OLDSIG (expires' '$GATE_LOG' \
    && grep -q 'certificate $OLDENC (expires' '$GATE_LOG'"
check "bob's certificate, revoked at the CA, is not renewed" \
    sh -c "! grep -q 'renew <bob@example.com>' '$GATE_LOG'"

gate_ctl keystore list >"$T/ks.out" 2>&1
keep "$T/ks.out"
check "alice has four entries (two old kept, two new)" \
    test "$(grep -c '^alice@example.com' "$T/ks.out")" -eq 4
check "the old entries are still there" sh -c "grep -q '	$OLDSIG	' '$T/ks.out' && grep -q '	$OLDENC	' '$T/ks.out'"
NEWSIG=$(awk -F'\t' -v o="$OLDSIG" '$1 == "alice@example.com" && $5 == "sign" && $3 != o { print $3 }' "$T/ks.out")
NEWENC=$(awk -F'\t' -v o="$OLDENC" '$1 == "alice@example.com" && $5 == "encrypt" && $3 != o { print $3 }' "$T/ks.out")
check "a new signing certificate ($NEWSIG)" test -n "$NEWSIG"
check "a new encryption certificate ($NEWENC)" test -n "$NEWENC"
exp=$(awk -F'\t' -v s="$NEWSIG" '$3 == s { print $4 }' "$T/ks.out")
days=$(( ($(date -d "$exp" +%s) - $(date +%s)) / 86400 ))
check "the new certificate is valid for CAValidityDays (got $days days)" test "$days" -ge 360
check "renewals audited (two cert-renewed records)" \
    test "$(grep -c '"action":"cert-renewed"' "$GATE_STATE/audit/audit.log")" -eq 2
sleep 2
check "the next checks renew nothing more" \
    test "$(grep -c 'renew <alice@example.com>: certificate .* renewed: new' "$GATE_LOG")" -eq 2

sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started"

# Outbound: signed with the new signing certificate.
{
	printf 'From: Alice <alice@example.com>\nTo: <carol@remote.test>\nSubject: after renewal\n'
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <out1@example.com>\n'
	printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nSigned with the new key.\n'
} | make_message "$T/m/out1.eml"
if send_mail "$T/m/out1.eml" alice@example.com carol@remote.test && wait_delivered "$QID" &&
    sink_fetch "<out1@example.com>" "$T/m/out1.got" && mime_split "$T/m/out1.got" "$T/m/out1.split"; then
	ok "outbound: delivered as multipart/signed"
	openssl cms -verify -binary -noverify -inform DER -in "$T/m/out1.split/sig.der" \
	    -content "$T/m/out1.split/content" -signer "$T/m/out1.signer.pem" -out /dev/null \
	    >"$T/m/out1.verify.log" 2>&1
	got=$(serial "$T/m/out1.signer.pem" 2>/dev/null)
	check "outbound: the signature verifies and its signer is the new certificate ($got)" \
	    test -n "$got" -a "$got" = "$NEWSIG"
else
	not_ok "outbound: delivered as multipart/signed"
fi

# Inbound: old mail to the old key, new mail to the new key.
# deliver ID CMS: wraps, sends from outside to alice; $RES the result header.
deliver() {
	{
		printf 'From: Dave <dave@remote.test>\nTo: Alice <alice@example.com>\nSubject: %s\n' "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@remote.test>\n' "$1"
		sed 's/\r$//' "$2"
	} | make_message "$T/m/$1.eml"
	RES=""
	send_mail "$T/m/$1.eml" dave@remote.test alice@example.com && wait_delivered "$QID" &&
	    sink_fetch "<$1@remote.test>" "$T/m/$1.got" || return 1
	RES=$(mime_header "$T/m/$1.got" X-Smimegate-Result)
}
if deliver old "$T/old.cms"; then
	check "inbound to the OLD certificate: decrypted (got '$RES')" sh -c \
	    "echo '$RES' | grep -q '^decrypted' && grep -q marker-old-4711 '$T/m/old.got'"
else
	not_ok "inbound to the OLD certificate: delivered"
fi
# The new encryption certificate, as a partner finds it: from the CA's record.
cp "$GATE_STATE/ca/issued/$NEWENC.pem" "$T/newenc.pem" 2>/dev/null
if openssl cms -encrypt -aes256 -in "$T/inner-new.txt" -out "$T/new.cms" "$T/newenc.pem" 2>/dev/null &&
    deliver new "$T/new.cms"; then
	check "inbound to the NEW certificate: decrypted (got '$RES')" sh -c \
	    "echo '$RES' | grep -q '^decrypted' && grep -q marker-new-0815 '$T/m/new.got'"
else
	not_ok "inbound to the NEW certificate: delivered"
fi
gate_stop
done_testing
