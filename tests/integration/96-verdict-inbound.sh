#!/bin/sh
# Kept verdicts of inbound signers' chain checks (VerdictCacheSize)
# through a real Postfix: bob's signed mail to alice passes, and again
# (its chain check then kept); a tampered copy signed by the same warm
# certificate still fails (the signature is checked on every message).
# Then a CRL revoking bob replaces the one in CRLFile and the gateway is
# reloaded (SIGHUP): the next message from bob is reported revoked.  A
# verdict outliving the trust store it was made for would still pass.
# Finally the old CRL again: pass.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl

P="$T/pki"
pki_make "$P" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }

# The CA's CRLs: none revoked, then bob revoked (openssl ca).
mkdir -p "$T/ca"
: >"$T/ca/index.txt"
echo 01 >"$T/ca/crlnumber"
cat >"$T/ca/ca.cnf" <<EOF
[ ca ]
default_ca = d
[ d ]
database = $T/ca/index.txt
crlnumber = $T/ca/crlnumber
certificate = $P/ca.pem
private_key = $P/ca.key
default_md = sha256
default_crl_days = 2
EOF
{
	openssl ca -batch -config "$T/ca/ca.cnf" -gencrl -out "$T/crl-none.pem" &&
	openssl ca -batch -config "$T/ca/ca.cnf" -revoke "$P/bob.pem" &&
	openssl ca -batch -config "$T/ca/ca.cnf" -gencrl -out "$T/crl-bob.pem"
} >>"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "CRLs made"; }
cp "$T/crl-none.pem" "$T/crl.pem"

cp "$top/tests/lib/test.conf" "$T/gate.conf"
GATE_CONF="$T/gate.conf"
GATE_OPTS="-o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no -o CRLFile=$T/crl.pem
    -o VerdictCacheSize=64"
gate_import "$P" alice
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"
mkdir -p "$T/m"

printf 'Content-Type: text/plain; charset=us-ascii\n\nDear Alice,\n\nthe numbers.\n-- \nBob\n' |
    make_message "$T/inner.txt"
openssl cms -sign -md sha256 -in "$T/inner.txt" -signer "$P/bob.pem" -inkey "$P/bob.key" \
    -out "$T/signed.p7" >>"$T/pki.log" 2>&1 || bail "bob's signature made"
# The same signature over other content (the first part changed).
sed 's/the numbers\./the other numbers./' "$T/signed.p7" >"$T/tampered.p7"
cmp -s "$T/signed.p7" "$T/tampered.p7" && bail "the tampered copy differs"

# msg ID CMS-MESSAGE: a whole message from bob around it.
msg() {
	{
		printf 'From: Bob <bob@example.com>\nTo: Alice <alice@example.com>\n'
		printf 'Subject: verdict %s\nMessage-ID: <%s@remote.test>\n' "$1" "$1"
		printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\n'
		sed 's/\r$//' "$2"
	} | make_message "$T/m/$1.eml"
}

# result ID WANT: sent from outside to alice; the result header begins
# with WANT.
result() {
	RES=""
	if ! send_mail "$T/m/$1.eml" bob@remote.test alice@example.com; then
		not_ok "$1: accepted by Postfix ($SMTP_REPLY)"
		return
	fi
	if ! wait_delivered "$QID" || ! sink_fetch "<$1@remote.test>" "$T/m/$1.got"; then
		not_ok "$1: delivered"
		return
	fi
	RES=$(mime_header "$T/m/$1.got" X-Smimegate-Result)
	case $RES in
	"$2"*) ok "$1: X-Smimegate-Result: $2..." ;;
	*) not_ok "$1: X-Smimegate-Result: $2... (got '$RES')"; keep "$T/m/$1.got" ;;
	esac
}

# reload CRL: CRLFile gets CRL, SIGHUP, the reload logged.
reloads=0
reload() {
	cp "$1" "$T/crl.pem"
	reloads=$((reloads + 1))
	kill -HUP "$GATE_PID"
	_n() { [ "$(grep -c "reloaded $T/gate.conf" "$GATE_LOG")" -ge "$reloads" ]; }
	check "reload $reloads ($(basename "$1")) logged" wait_for 50 _n
}

msg cold "$T/signed.p7"
result cold "pass (signer=<bob@example.com>)"
msg warm "$T/signed.p7"
result warm "pass (signer=<bob@example.com>)"
msg tampered "$T/tampered.p7"
result tampered "fail"

reload "$T/crl-bob.pem"
msg revoked "$T/signed.p7"
result revoked "revoked"
msg revoked2 "$T/signed.p7"
result revoked2 "revoked"

reload "$T/crl-none.pem"
msg again "$T/signed.p7"
result again "pass (signer=<bob@example.com>)"

done_testing
