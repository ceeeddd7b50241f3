# tests/lib/pki.sh: a throw-away test PKI made with the openssl CLI at run
# time (nothing of it is committed).
#
# pki_make DIR creates in DIR:
#   ca.pem ca.key          the test root (RSA 2048, CA:TRUE, keyCertSign)
#   alice.{pem,key,p12}    RSA 2048, rfc822Name alice@example.com
#   bob.{pem,key,p12}      RSA 2048, rfc822Name bob@example.com
#   carol.{pem,key,p12}    ECDSA P-256, rfc822Name carol@example.com
#   p12.pass               the PKCS#12 password (random, one line)
# Employee certificates carry keyUsage digitalSignature plus
# keyEncipherment (RSA) or keyAgreement (EC), and EKU emailProtection.
# Each PKCS#12 holds the key, the certificate and the root, in OpenSSL 3's
# default (PBES2/AES-256) form.
#
# pki_legacy_p12 DIR NAME writes NAME.legacy.p12 (PBE-SHA1-3DES), the form
# gpgsm 2.2 and old keychains import.

pki_make() {
	_d=$1
	mkdir -p "$_d" && chmod 0700 "$_d"
	cat >"$_d/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_ee_rsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:$ENV::PKI_EMAIL
[ v3_ee_ec ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:$ENV::PKI_EMAIL
EOF
	openssl rand -hex 12 >"$_d/p12.pass" || return 1
	PKI_EMAIL=unused openssl req -x509 -config "$_d/openssl.cnf" \
	    -extensions v3_ca -newkey rsa:2048 -nodes \
	    -keyout "$_d/ca.key" -out "$_d/ca.pem" -days 30 \
	    -set_serial "0x$(openssl rand -hex 8)" \
	    -subj "/O=smimegate tests/CN=smimegate test root $$" \
	    >"$_d/openssl.log" 2>&1 || { cat "$_d/openssl.log"; return 1; }
	_pki_ee "$_d" alice Alice rsa || return 1
	_pki_ee "$_d" bob Bob rsa || return 1
	_pki_ee "$_d" carol Carol ec || return 1
}

# _pki_ee DIR NAME CN rsa|ec
_pki_ee() {
	_d=$1 _n=$2
	if [ "$4" = ec ]; then
		set -- "$@" -newkey ec -pkeyopt ec_paramgen_curve:P-256
	else
		set -- "$@" -newkey rsa:2048
	fi
	_cn=$3 _kt=$4
	shift 4
	PKI_EMAIL="$_n@example.com" openssl req -new -config "$_d/openssl.cnf" \
	    "$@" -nodes -keyout "$_d/$_n.key" -out "$_d/$_n.csr" \
	    -subj "/O=Example/CN=$_cn/emailAddress=$_n@example.com" \
	    >>"$_d/openssl.log" 2>&1 &&
	PKI_EMAIL="$_n@example.com" openssl x509 -req -in "$_d/$_n.csr" \
	    -CA "$_d/ca.pem" -CAkey "$_d/ca.key" \
	    -set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 \
	    -extfile "$_d/openssl.cnf" -extensions "v3_ee_$_kt" \
	    -out "$_d/$_n.pem" >>"$_d/openssl.log" 2>&1 &&
	openssl pkcs12 -export -inkey "$_d/$_n.key" -in "$_d/$_n.pem" \
	    -certfile "$_d/ca.pem" -name "$_cn <$_n@example.com>" \
	    -passout "file:$_d/p12.pass" -out "$_d/$_n.p12" \
	    >>"$_d/openssl.log" 2>&1 ||
	{ cat "$_d/openssl.log"; return 1; }
}

pki_legacy_p12() {
	openssl pkcs12 -export -inkey "$1/$2.key" -in "$1/$2.pem" \
	    -certfile "$1/ca.pem" -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES \
	    -macalg sha1 -passout "file:$1/p12.pass" -out "$1/$2.legacy.p12"
}

# pki_email CERT: the rfc822Name(s) of a certificate's subjectAltName.
pki_email() {
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
	    sed -n 's/.*email:\([^, ]*\).*/\1/p'
}

# pki_split DIR NAME CN DOMAIN rsa|ec: separate certificates by purpose
# for NAME@DOMAIN, as CAEnrollEmployees issues them (run pki_make DIR
# first): NAME-sign.{pem,key,p12} with keyUsage digitalSignature (and
# nonRepudiation) only, NAME-enc.{pem,key,p12} with keyEncipherment (RSA)
# or keyAgreement (EC) only; both EKU emailProtection, from the test root.
pki_split() {
	_d=$1 _n=$2 _cn=$3 _dom=$4 _kt=$5
	_ku=keyEncipherment
	[ "$_kt" = ec ] && _ku=keyAgreement
	for _p in sign enc; do
		_k=$_ku
		[ "$_p" = sign ] && _k="digitalSignature, nonRepudiation"
		printf '[ x ]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, %s\nextendedKeyUsage = emailProtection\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\nsubjectAltName = email:%s@%s\n' \
		    "$_k" "$_n" "$_dom" >"$_d/$_n-$_p.ext"
		if [ "$_kt" = ec ]; then
			set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256
		else
			set -- -newkey rsa:2048
		fi
		PKI_EMAIL=unused openssl req -new -config "$_d/openssl.cnf" "$@" -nodes \
		    -keyout "$_d/$_n-$_p.key" -out "$_d/$_n-$_p.csr" \
		    -subj "/O=Example/CN=$_cn ($_p)/emailAddress=$_n@$_dom" \
		    >>"$_d/openssl.log" 2>&1 &&
		openssl x509 -req -in "$_d/$_n-$_p.csr" -CA "$_d/ca.pem" -CAkey "$_d/ca.key" \
		    -set_serial "0x$(openssl rand -hex 8)" -days 30 -sha256 \
		    -extfile "$_d/$_n-$_p.ext" -extensions x -out "$_d/$_n-$_p.pem" \
		    >>"$_d/openssl.log" 2>&1 &&
		openssl pkcs12 -export -inkey "$_d/$_n-$_p.key" -in "$_d/$_n-$_p.pem" \
		    -certfile "$_d/ca.pem" -name "$_cn ($_p) <$_n@$_dom>" \
		    -passout "file:$_d/p12.pass" -out "$_d/$_n-$_p.p12" \
		    >>"$_d/openssl.log" 2>&1 || { tail -5 "$_d/openssl.log"; return 1; }
	done
}
