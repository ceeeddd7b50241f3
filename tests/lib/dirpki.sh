# tests/lib/dirpki.sh: recipients' certificates for the directory tests,
# issued with `openssl ca` by the test root of pki.sh (run pki_make DIR
# first), each naming CRL_URL as its CRL distribution point.
#
# dirpki_make DIR CRL_URL creates in DIR, for @example.net recipients:
#   dave     RSA, good;  dave-old: an expired older certificate for dave
#   erin     ECDSA P-256, good
#   frank    RSA, good
#   hank     RSA, good
#   victor   RSA, expired (2020 to 2021)
#   rita     RSA, revoked (in DIR/www/ca.crl)
#   ursula   RSA, issued by another root (untrusted.pem, not trusted)
#   nora     RSA, extendedKeyUsage serverAuth only
#   walt     RSA, names someone-else@example.net
#   NAME.pem NAME.key; for the good ones NAME.p12 and NAME.legacy.p12
#   (password p12.pass), NAME.p7c (PKCS#7 certs-only, DER, with the root)
#   and NAME.der; www/ca.crl (DER), the CRL to serve at CRL_URL.
#
# dirpki_make DIR CRL_URL OCSP_URL: the same, every certificate of the
#   test root also naming OCSP_URL as its OCSP responder (authorityInfoAccess);
#   DIR/index.txt is then the index `openssl ocsp -index` answers from.
#
# dirpki_setup DIR [CRL_URL [OCSP_URL]]  pki_make DIR and dirpki_make DIR
#   CRL_URL (default a URL nobody answers) [OCSP_URL], logs in $T; bails
#   when either fails.

dirpki_setup() {
	pki_make "$1" >"$T/pki.log" 2>&1 || { diag_file "$T/pki.log"; bail "test PKI made"; }
	dirpki_make "$1" "${2:-http://127.0.0.1:9/ca.crl}" ${3:+"$3"} >"$T/dirpki.log" 2>&1 ||
	    { diag_file "$T/dirpki.log"; bail "directory PKI made"; }
}

dirpki_make() {
	_d=$1 _url=$2 _aia=
	[ -z "${3:-}" ] || _aia="authorityInfoAccess = OCSP;URI:$3"
	mkdir -p "$_d/newcerts" "$_d/www"
	: >"$_d/index.txt"
	echo 1000 >"$_d/serial"
	echo 1000 >"$_d/crlnumber"
	cat >"$_d/ca.cnf" <<EOF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $_d/index.txt
new_certs_dir = $_d/newcerts
certificate = $_d/ca.pem
private_key = $_d/ca.key
serial = $_d/serial
crlnumber = $_d/crlnumber
default_md = sha256
default_days = 30
default_crl_days = 7
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ any ]
commonName = supplied
emailAddress = optional
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ee_rsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:\$ENV::PKI_EMAIL
crlDistributionPoints = URI:$_url
$_aia
[ ee_ec ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = emailProtection
subjectAltName = email:\$ENV::PKI_EMAIL
crlDistributionPoints = URI:$_url
$_aia
[ ee_noeku ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = email:\$ENV::PKI_EMAIL
crlDistributionPoints = URI:$_url
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
EOF
	_dirpki_ee "$_d" dave dave@example.net ee_rsa rsa &&
	_dirpki_ee "$_d" dave-old dave@example.net ee_rsa rsa \
	    -startdate 20200101000000Z -enddate 20210101000000Z &&
	_dirpki_ee "$_d" erin erin@example.net ee_ec ec &&
	_dirpki_ee "$_d" frank frank@example.net ee_rsa rsa &&
	_dirpki_ee "$_d" hank hank@example.net ee_rsa rsa &&
	_dirpki_ee "$_d" victor victor@example.net ee_rsa rsa \
	    -startdate 20200101000000Z -enddate 20210101000000Z &&
	_dirpki_ee "$_d" rita rita@example.net ee_rsa rsa &&
	_dirpki_ee "$_d" nora nora@example.net ee_noeku rsa &&
	_dirpki_ee "$_d" walt someone-else@example.net ee_rsa rsa || return 1
	PKI_EMAIL=unused openssl ca -config "$_d/ca.cnf" -batch -revoke "$_d/rita.pem" \
	    >>"$_d/openssl.log" 2>&1 &&
	PKI_EMAIL=unused openssl ca -config "$_d/ca.cnf" -batch -gencrl -out "$_d/ca.crl.pem" \
	    >>"$_d/openssl.log" 2>&1 &&
	openssl crl -in "$_d/ca.crl.pem" -outform DER -out "$_d/www/ca.crl" || return 1
	# ursula: a root nobody trusts.
	PKI_EMAIL=unused openssl req -x509 -config "$_d/ca.cnf" -extensions v3_ca \
	    -newkey rsa:2048 -nodes -keyout "$_d/untrusted.key" -out "$_d/untrusted.pem" \
	    -days 30 -subj "/CN=untrusted root $$" >>"$_d/openssl.log" 2>&1 &&
	PKI_EMAIL=ursula@example.net openssl req -new -config "$_d/ca.cnf" \
	    -newkey rsa:2048 -nodes -keyout "$_d/ursula.key" -out "$_d/ursula.csr" \
	    -subj "/CN=Ursula" >>"$_d/openssl.log" 2>&1 &&
	PKI_EMAIL=ursula@example.net openssl x509 -req -in "$_d/ursula.csr" \
	    -CA "$_d/untrusted.pem" -CAkey "$_d/untrusted.key" -set_serial 7 -days 30 \
	    -extfile "$_d/ca.cnf" -extensions ee_rsa -out "$_d/ursula.pem" \
	    >>"$_d/openssl.log" 2>&1 || { cat "$_d/openssl.log"; return 1; }
	for _n in dave dave-old erin frank hank victor rita nora walt ursula; do
		openssl x509 -in "$_d/$_n.pem" -outform DER -out "$_d/$_n.der" &&
		openssl crl2pkcs7 -nocrl -certfile "$_d/$_n.pem" -certfile "$_d/ca.pem" \
		    -outform DER -out "$_d/$_n.p7c" || return 1
	done
	for _n in dave erin frank hank; do
		openssl pkcs12 -export -inkey "$_d/$_n.key" -in "$_d/$_n.pem" \
		    -certfile "$_d/ca.pem" -passout "file:$_d/p12.pass" \
		    -out "$_d/$_n.p12" >>"$_d/openssl.log" 2>&1 &&
		openssl pkcs12 -export -inkey "$_d/$_n.key" -in "$_d/$_n.pem" \
		    -certfile "$_d/ca.pem" -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES \
		    -macalg sha1 -passout "file:$_d/p12.pass" -out "$_d/$_n.legacy.p12" \
		    >>"$_d/openssl.log" 2>&1 || return 1
	done
}

# _dirpki_ee DIR NAME EMAIL EXTENSIONS rsa|ec [openssl ca options...]
_dirpki_ee() {
	_d=$1 _n=$2 _e=$3 _x=$4 _kt=$5
	shift 5
	if [ "$_kt" = ec ]; then
		_k="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
	else
		_k="-newkey rsa:2048"
	fi
	# shellcheck disable=SC2086
	PKI_EMAIL=$_e openssl req -new -config "$_d/ca.cnf" $_k -nodes \
	    -keyout "$_d/$_n.key" -out "$_d/$_n.csr" -subj "/O=Example Net/CN=$_n" \
	    >>"$_d/openssl.log" 2>&1 &&
	PKI_EMAIL=$_e openssl ca -config "$_d/ca.cnf" -batch -notext \
	    -extensions "$_x" -in "$_d/$_n.csr" -out "$_d/$_n.pem" "$@" \
	    >>"$_d/openssl.log" 2>&1 || { tail -20 "$_d/openssl.log"; return 1; }
}
