#!/bin/sh
# Renewal over CMP: alice's and carol's certificates were enrolled over
# CMP (smimectl ca cmp, an ir under the shared secret) from a CMP CA
# (tests/tools/cmpserver: issues to the requested key) for 10 days, within
# RenewBefore (30); no embedded CA.  The entry records where it came from
# (its origin, sealed with the key: an origin taken out breaks the entry).
#
# Attacks first (smimectl keystore renew, the same code as the gateway's):
# a CMP answer whose certificate names another address, or is for another
# key (cmpserver's kur, and `openssl cmp`'s mock server, which answers one
# fixed certificate, with CMPRenewal ir), is refused and not installed.
# Then the gateway: with the CMP server down it logs, keeps running, and
# alice's mail is still signed with the old certificate; once the server
# is back, the next run renews both over CMP (a kur signed with the old
# key), audited; the new certificate signs; mail encrypted to the old
# certificate still opens.  `openssl cmp`'s mock server listens on all
# interfaces: the script runs in a private network namespace (unshare -rn).
if [ -z "${SMIMEGATE_NETNS:-}" ]; then
	if unshare -rn true 2>/dev/null; then
		SMIMEGATE_NETNS=1 exec unshare -rn sh -c 'ip link set lo up 2>/dev/null ||
		    ifconfig lo up 2>/dev/null; exec sh "$0"' "$0"
	fi
	echo "ok - renewal over CMP # SKIP no private network namespace (unshare -rn)"
	exit 0
fi
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl
CMPSRV="$top/tests/tools/cmpserver"
[ -x "$CMPSRV" ] || bail "tests/tools/cmpserver (make tools)"

C="$T/cmp"
mkdir -p "$C"
(
	cd "$C" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt \
	    -subj "/O=Test CMP CA/CN=Test CMP CA" -days 60 \
	    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature
) >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "the CMP CA made"; }
echo "s3cret-shared" >"$C/secret"
chmod 0600 "$C/secret"

PORT=$(free_port) || bail "a free port"
SRV_PID=""
srv_start() { # [MODE]: the CMP CA on $PORT (ir: 10 days, kur: 400 days)
	"$CMPSRV" "$PORT" "$C/ca.crt" "$C/ca.key" s3cret-shared 10 400 "${1:-ok}" \
	    >>"$T/cmpserver.log" 2>&1 &
	SRV_PID=$!
	at_exit "stop_pid $SRV_PID 20"
	wait_port "$PORT" "$SRV_PID" 50
}
srv_stop() { stop_pid "$SRV_PID" 20; SRV_PID=""; }

GATE_OPTS="-o CMPServer=127.0.0.1:$PORT -o CMPReference=ref1 -o CMPSecretFile=$C/secret
    -o CMPTimeout=3 -o RenewBefore=30 -o UnprotectedContent=decrypt"
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# entries ADDRESS: how many the keystore holds for it
entries() { gate_ctl keystore list 2>/dev/null | grep -c "^$1	"; }

srv_start || bail "cmpserver on 127.0.0.1:$PORT"
for who in alice carol; do
	gate_ctl ca cmp "$who@example.com" >"$T/$who-old.pem" 2>"$T/$who-old.err" ||
	    { diag_file "$T/$who-old.err"; bail "smimectl ca cmp $who@example.com"; }
done
ok "alice and carol enrolled over CMP (10 days)"
ALICE_OLD=$(serial "$T/alice-old.pem")
CAROL_OLD=$(serial "$T/carol-old.pem")
check "the CA's certificate came with the answer (caPubs) and is escrowed as the chain" \
    sh -c "grep -c 'BEGIN CERTIFICATE' \"\$(grep -l 'Origin: cmp' '$GATE_STATE'/keystore/*.pem | head -1)\" | grep -q '^2$'"
check "each entry records its origin (cmp 127.0.0.1:$PORT pkix/ ref1)" \
    test "$(grep -l "Origin: cmp 127.0.0.1:$PORT pkix/ ref1" "$GATE_STATE"/keystore/*.pem | wc -l)" -eq 2

# An origin taken out of an entry (whoever can write the keystore): the
# entry no longer opens, so it is neither used nor renewed another way.
f=$(grep -l "Origin: cmp" "$GATE_STATE"/keystore/*.pem | head -1)
cp -p "$f" "$T/entry.bak"
grep -v '^Origin: ' "$T/entry.bak" | sed '/BEGIN SMIMEGATE ENCRYPTED PRIVATE KEY/{n;/^$/d}' >"$f"
gate_ctl keystore export --password pw --out "$T/x.p12" \
    "$(openssl x509 -in "$f" -noout -ext subjectAltName | sed -n 's/.*email:\([^,]*\).*/\1/p')" \
    >"$T/strip.log" 2>&1
check "an entry whose origin was taken out does not open" sh -c "! test -s '$T/x.p12'"
cp -p "$T/entry.bak" "$f"

# Old mail: encrypted now to alice's old certificate.
printf 'Content-Type: text/plain; charset=us-ascii\n\nOld secret: marker-old-4711.\n' |
    make_message "$T/inner-old.txt"
openssl cms -encrypt -aes256 -in "$T/inner-old.txt" -out "$T/old.cms" "$T/alice-old.pem" ||
    bail "openssl cms -encrypt to alice's old certificate"

# ---- attacks: the answer is for another address, another key -----------
srv_stop
srv_start wrong-address || bail "cmpserver answering for another address"
gate_ctl keystore renew alice@example.com >"$T/wa.out" 2>"$T/wa.err"
check "an answer naming another address is refused ($(head -c 160 "$T/wa.err"))" \
    grep -q 'another address' "$T/wa.err"
check "the CMP CA did answer (it issued for evil@example.org's name)" grep -q 'issued kur' "$T/cmpserver.log"
check "nothing installed: alice still has one entry" test "$(entries alice@example.com)" -eq 1
check "and no entry for the other address" test "$(entries evil@example.org)" -eq 0
srv_stop
srv_start wrong-key || bail "cmpserver answering for another key"
gate_ctl keystore renew alice@example.com >"$T/wk.out" 2>"$T/wk.err"
check "a kur answer for another key is refused ($(head -c 160 "$T/wk.err"))" \
    sh -c "grep -q 'not renewed' '$T/wk.err' && ! grep -q '^renewed' '$T/wk.out'"
check "nothing installed: alice still has one entry" test "$(entries alice@example.com)" -eq 1
srv_stop
# `openssl cmp`'s mock server answers one fixed certificate: alice's
# address, the right CA, but a key of its own (CMPRenewal ir: the mock
# speaks PBM).
(
	cd "$C" && openssl req -new -newkey rsa:2048 -nodes -keyout other.key -subj /CN=alice@example.com \
	    -out other.csr &&
	printf 'subjectAltName=email:alice@example.com\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n' >ext.cnf &&
	openssl x509 -req -in other.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
	    -extfile ext.cnf -out other.crt
) >>"$T/pki.log" 2>&1 || bail "the mock's fixed certificate"
openssl cmp -port "$PORT" -srv_ref ref1 -srv_secret pass:s3cret-shared -srv_cert "$C/ca.crt" \
    -srv_key "$C/ca.key" -rsp_cert "$C/other.crt" >>"$T/mock.log" 2>&1 &
MOCK_PID=$!
at_exit "stop_pid $MOCK_PID 20"
wait_port "$PORT" "$MOCK_PID" 50 || bail "openssl cmp mock server"
gate_ctl -o CMPRenewal=ir keystore renew alice@example.com >"$T/mk.out" 2>"$T/mk.err"
check "the mock's fixed certificate (another key) is refused ($(head -c 160 "$T/mk.err"))" \
    sh -c "grep -q 'not renewed' '$T/mk.err' && ! grep -q '^renewed' '$T/mk.out'"
check "nothing installed: alice still has one entry" test "$(entries alice@example.com)" -eq 1
stop_pid "$MOCK_PID" 20

# ---- the gateway: server down, then back --------------------------------
gate_start -o RenewInterval=1 || bail "smimegate started (CMPServer, no embedded CA)"
_failed() { grep -q "renew <alice@example.com>: certificate $ALICE_OLD .* not renewed: .*CMP" "$GATE_LOG"; }
if wait_for 300 _failed; then
	ok "CMP server down: the gateway logs that alice's certificate was not renewed"
else
	not_ok "CMP server down: the gateway logs that alice's certificate was not renewed"
	diag_file "$GATE_LOG" 10 smimegate
fi
# A run tries every due certificate (each until CMPTimeout), then again
# the next RenewInterval.
_again() { [ "$(grep -c 'renew <alice@example.com>: .* not renewed' "$GATE_LOG")" -ge 2 ]; }
wait_for 300 _again
check "and keeps running, trying again (more than one attempt logged)" sh -c \
    "kill -0 $GATE_PID && [ \$(grep -c 'renew <alice@example.com>: .* not renewed' '$GATE_LOG') -ge 2 ]"
# sign ID: alice's mail through the gateway's code (offline mode)
sign() {
	printf 'From: Alice <alice@example.com>\nTo: <dave@remote.test>\nSubject: %s\n\nSigned %s.\n' "$1" "$1" |
	    make_message "$T/$1.eml"
	gate_run -t "$T/$1.eml" --from alice@example.com --rcpt dave@remote.test \
	    --client 127.0.0.1 >"$T/$1.out" 2>"$T/$1.err" &&
	    mime_split "$T/$1.out" "$T/$1.split" &&
	    openssl cms -verify -binary -CAfile "$C/ca.crt" -purpose any -inform DER \
	    -in "$T/$1.split/sig.der" -content "$T/$1.split/content" -signer "$T/$1.signer" \
	    -out /dev/null >"$T/$1.verify" 2>&1 && serial "$T/$1.signer"
}
got=$(sign down)
check "meanwhile alice's mail is signed, with the old certificate ($got)" test "$got" = "$ALICE_OLD"

srv_start || bail "cmpserver back"
_renewed() {
	grep -q "renew <alice@example.com>: certificate $ALICE_OLD .* renewed: new" "$GATE_LOG" &&
	    grep -q "renew <carol@example.com>: certificate $CAROL_OLD .* renewed: new" "$GATE_LOG"
}
if wait_for 300 _renewed; then
	ok "the server back: the next run renews alice and carol over CMP"
else
	not_ok "the server back: the next run renews alice and carol over CMP"
	diag_file "$GATE_LOG" 10 smimegate
fi
check "with key update requests (kur)" test "$(grep -c '^issued kur' "$T/cmpserver.log")" -ge 3
check "renewals audited (cert-renewed, over CMP)" \
    test "$(grep '"action":"cert-renewed"' "$GATE_STATE/audit/audit.log" | grep -c 'over CMP')" -eq 2
gate_ctl keystore list >"$T/ks.out" 2>&1
check "alice has two entries (the old one kept)" test "$(entries alice@example.com)" -eq 2
ALICE_NEW=$(awk -F'\t' -v o="$ALICE_OLD" '$1 == "alice@example.com" && $3 != o { print $3 }' "$T/ks.out")
check "the new entry records its origin too" \
    test "$(grep -l 'Origin: cmp' "$GATE_STATE"/keystore/*.pem | wc -l)" -eq 4
sleep 2
check "the next runs renew nothing more (the new one is for 400 days)" \
    test "$(grep -c 'renew <alice@example.com>: certificate .* renewed: new' "$GATE_LOG")" -eq 1
got=$(sign after)
check "alice's mail is now signed with the new certificate ($got)" \
    test -n "$got" -a "$got" = "$ALICE_NEW"

# Old mail, encrypted to the old certificate, still opens inbound.
{
	printf 'From: Dave <dave@remote.test>\nTo: Alice <alice@example.com>\nSubject: old\n'
	sed 's/\r$//' "$T/old.cms"
} | make_message "$T/old.eml"
gate_run -t "$T/old.eml" --from dave@remote.test --rcpt alice@example.com \
    --client 192.0.2.7 >"$T/old.out" 2>"$T/old.err"
check "mail encrypted to the old certificate still opens (the old key kept)" \
    grep -q marker-old-4711 "$T/old.out"
gate_stop
done_testing
