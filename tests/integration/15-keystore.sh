#!/bin/sh
# The keystore through smimectl: PKCS#12 import (password file or
# SMIMEGATE_P12_PASSWORD), list, export in OpenSSL 3's form and in the
# legacy form gpgsm imports; a wrong password imports nothing; key files are
# private to their owner.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools openssl gpgsm gpgconf

pki_make "$T/pki" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
P="$T/pki"

# A wrong password first: nothing may be stored.
echo "not-the-password" >"$T/wrong.pass"
if gate_ctl keystore import "$P/alice.p12" --password-file "$T/wrong.pass" \
    >"$T/wrong.log" 2>&1; then
	not_ok "import with a wrong password fails"
else
	ok "import with a wrong password fails ($(head -1 "$T/wrong.log"))"
fi
gate_ctl keystore list >"$T/list0.out" 2>&1
if grep -q 'alice@example.com' "$T/list0.out"; then
	not_ok "a failed import stores nothing"
else
	ok "a failed import stores nothing"
fi

gate_import "$P" alice carol
if SMIMEGATE_P12_PASSWORD=$(cat "$P/p12.pass") gate_ctl keystore import "$P/bob.p12" \
    >"$T/import-bob.log" 2>&1; then
	ok "import with the password in SMIMEGATE_P12_PASSWORD"
else
	not_ok "import with the password in SMIMEGATE_P12_PASSWORD"
	diag_file "$T/import-bob.log" 10 "smimectl"
fi

if gate_ctl keystore list >"$T/list.out" 2>"$T/list.err"; then
	ok "smimectl keystore list"
	for n in alice bob carol; do
		check "keystore list shows $n@example.com" grep -q "$n@example.com" "$T/list.out"
	done
	keep "$T/list.out"
else
	not_ok "smimectl keystore list"
	diag_file "$T/list.err" 10 "smimectl"
fi

# Nothing under the state directory is readable by group or others.
loose=$(find "$GATE_STATE" -type f -perm /077 2>/dev/null)
if [ -z "$loose" ]; then
	ok "no key or keystore file is group/other accessible"
else
	not_ok "no key or keystore file is group/other accessible"
	for f in $loose; do diag "$(ls -l "$f")"; done
fi
if grep -rqF -- "$(sed -n 2p "$P/alice.key")" "$GATE_STATE" 2>/dev/null; then
	not_ok "the keystore does not hold alice's PEM key in clear"
else
	ok "the keystore does not hold alice's PEM key in clear"
fi

# pubkey_of CERT_OR_P12...: the SubjectPublicKeyInfo digest.
spki() { openssl x509 -in "$1" -noout -pubkey | openssl sha256 | sed 's/^.*= //'; }

echo "export-password-$$" >"$T/export.pass"
if gate_ctl keystore export alice@example.com --out "$T/alice.out.p12" \
    --password-file "$T/export.pass" >"$T/export.log" 2>&1 &&
    openssl pkcs12 -in "$T/alice.out.p12" -passin "file:$T/export.pass" \
    -nodes -out "$T/alice.out.pem" >/dev/null 2>&1; then
	ok "keystore export alice@example.com (openssl pkcs12 reads it)"
	openssl x509 -in "$T/alice.out.pem" -out "$T/alice.out.crt" 2>/dev/null
	check "the exported certificate is alice's" \
	    test "$(spki "$T/alice.out.crt")" = "$(spki "$P/alice.pem")"
	# The exported key signs something alice's certificate verifies.
	echo "probe" >"$T/probe"
	if openssl cms -sign -in "$T/probe" -signer "$P/alice.pem" \
	    -inkey "$T/alice.out.pem" -nodetach -out "$T/probe.p7" -outform DER >/dev/null 2>&1 &&
	    openssl cms -verify -in "$T/probe.p7" -inform DER -CAfile "$P/ca.pem" \
	    -purpose smimesign -out /dev/null >/dev/null 2>&1; then
		ok "the exported key is alice's private key"
	else
		not_ok "the exported key is alice's private key"
	fi
else
	not_ok "keystore export alice@example.com (openssl pkcs12 reads it)"
	diag_file "$T/export.log" 10 "smimectl"
fi

if gate_ctl keystore export alice@example.com --out "$T/alice.legacy.p12" --legacy \
    --password-file "$T/export.pass" >"$T/export-legacy.log" 2>&1; then
	ok "keystore export --legacy"
	if openssl pkcs12 -in "$T/alice.legacy.p12" -passin "file:$T/export.pass" \
	    -info -noout 2>&1 | grep -qi '3-KeyTripleDES\|des-ede3'; then
		ok "the legacy export uses PBE-SHA1-3DES"
	else
		not_ok "the legacy export uses PBE-SHA1-3DES"
		openssl pkcs12 -in "$T/alice.legacy.p12" -passin "file:$T/export.pass" \
		    -info -noout 2>&1 | head -5 | sed 's/^/#   /'
	fi
	GNUPGHOME="$T/gnupg"
	export GNUPGHOME
	mkdir -p "$GNUPGHOME" && chmod 0700 "$GNUPGHOME"
	echo "allow-loopback-pinentry" >"$GNUPGHOME/gpg-agent.conf"
	at_exit "GNUPGHOME='$GNUPGHOME' gpgconf --kill all"
	# gpgsm 2.2.40 misreads about one legacy PKCS#12 in 150 (see
	# gpgsm_import_p12): a fresh export is tried then.
	if gpgsm_import_p12 "$GNUPGHOME" "$T/alice.legacy.p12" "$T/export.pass" \
	    alice@example.com gate_ctl keystore export alice@example.com \
	    --out "$T/alice.legacy.p12" --legacy --password-file "$T/export.pass"; then
		ok "gpgsm imports the legacy export with its secret key"
	else
		not_ok "gpgsm imports the legacy export with its secret key"
		diag_file "$T/alice.legacy.p12.gpgsm.log" 10 "gpgsm --import"
	fi
else
	not_ok "keystore export --legacy"
	diag_file "$T/export-legacy.log" 10 "smimectl"
fi

if gate_ctl keystore export nobody@example.com --out "$T/nobody.p12" \
    --password-file "$T/export.pass" >"$T/nobody.log" 2>&1; then
	not_ok "export of an address without a key fails"
else
	ok "export of an address without a key fails"
fi

done_testing
