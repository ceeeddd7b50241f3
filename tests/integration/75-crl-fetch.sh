#!/bin/sh
# CRLs are fetched for certificates that chain to a trust
# anchor, and only for them; a distribution point that is dead is handled
# as CRLUnavailable says, within CRLTimeout.
#
# In slapd: mallory@example.net holds a certificate of a root nobody
# trusts, naming a CRL distribution point on a local port where busybox
# httpd logs every request: the lookup refuses it as untrusted and that
# server sees no request (mail to mallory goes out signed only, as
# encrypt=if-possible says for someone without a usable certificate).
# dave's certificate (the test root's) names the real CRL: it is fetched,
# and mail to him is encrypted.  olga's certificate (the test root's)
# names a distribution point where nothing listens, and pat's one that
# accepts connections and never answers: under CRLUnavailable tempfail
# (the default) mail to them tempfails (never in clear); refuse: signed
# only, as for a recipient without a certificate; accept: encrypted
# without the revocation check.  Every message goes through smimegate -t.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/offline.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl slapd slapadd busybox python3

P="$T/pki"
HTTPD_PORT=$(free_port) || bail "a free port for httpd"
dirpki_setup "$P" "http://127.0.0.1:$HTTPD_PORT/ca.crl"
httpd_start "$P/www" || bail "busybox httpd serves the CRL"

PLANT_PORT=$(free_port) || bail "a free port for the planted distribution point"
DEAD_PORT=$(free_port) || bail "a free port nobody listens on"
HANG_PORT=$(free_port) || bail "a free port for a server that never answers"

# ee NAME EMAIL CA CAKEY CRL-URL: a recipient certificate (RSA).
ee() {
	cat >"$P/$1.ext" <<EOT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:$2
crlDistributionPoints = URI:$5
EOT
	openssl req -new -newkey rsa:2048 -nodes -keyout "$P/$1.key" -subj "/CN=$1" \
	    -out "$P/$1.csr" >>"$T/ee.log" 2>&1 &&
	openssl x509 -req -in "$P/$1.csr" -CA "$3" -CAkey "$4" -set_serial "0x$(openssl rand -hex 8)" \
	    -days 30 -extfile "$P/$1.ext" -out "$P/$1.pem" >>"$T/ee.log" 2>&1 &&
	openssl x509 -in "$P/$1.pem" -outform DER -out "$P/$1.der"
}
ee mallory mallory@example.net "$P/untrusted.pem" "$P/untrusted.key" \
    "http://127.0.0.1:$PLANT_PORT/planted.crl" &&
ee olga olga@example.net "$P/ca.pem" "$P/ca.key" "http://127.0.0.1:$DEAD_PORT/dead.crl" &&
ee pat pat@example.net "$P/ca.pem" "$P/ca.key" "http://127.0.0.1:$HANG_PORT/hang.crl" ||
    { diag_file "$T/ee.log"; bail "recipient certificates made"; }
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	ldif_entry mallory mallory@example.net "userCertificate;binary" "$P/mallory.der"
	ldif_entry olga olga@example.net "userCertificate;binary" "$P/olga.der"
	ldif_entry pat pat@example.net "userCertificate;binary" "$P/pat.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"

# The planted distribution point: busybox httpd logging every request.
mkdir -p "$T/plant"
echo "not a CRL" >"$T/plant/planted.crl"
busybox httpd -f -vv -p "127.0.0.1:$PLANT_PORT" -h "$T/plant" >"$T/plant.log" 2>&1 &
PLANT_PID=$!
at_exit "stop_pid $PLANT_PID 20"
wait_port "$PLANT_PORT" "$PLANT_PID" || bail "the planted distribution point listens"
# A server that accepts connections and never answers.
python3 -c "
import socket, time
s = socket.socket()
s.bind(('127.0.0.1', $HANG_PORT))
s.listen(16)
time.sleep(600)
" &
HANG_PID=$!
at_exit "stop_pid $HANG_PID 20"
wait_port "$HANG_PORT" "$HANG_PID" || bail "the silent server listens"

URL=$(slapd_url)
BASE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLTimeout=2"
GATE_OPTS="$BASE_OPTS"
gate_import "$P" alice
mkdir -p "$T/m"

# ---- a planted, untrusted certificate --------------------------------------
for policy in tempfail refuse accept; do
	GATE_OPTS="$BASE_OPTS -o CRLUnavailable=$policy"
	offline_send "mallory-$policy" mallory@example.net
	offline_is "mallory-$policy" signed "CRLUnavailable $policy, mallory's untrusted certificate"
done
gate_ctl lookup mallory@example.net >"$T/lookup-mallory.out" 2>&1
check "smimectl lookup calls mallory's certificate untrusted" grep -q untrusted "$T/lookup-mallory.out"
n=$(grep -c 'url:' "$T/plant.log")
check "the planted distribution point saw no request ($n)" test "$n" -eq 0

# ---- a trusted certificate: its CRL is fetched ------------------------------
GATE_OPTS="$BASE_OPTS"
offline_send dave dave@example.net
offline_is dave encrypted "dave (the test root's, CRL served)"
check "dave's CRL was fetched" grep -q 'url:/ca.crl' "$T/httpd.log"

# ---- dead distribution points ----------------------------------------------
for who in olga pat; do
	GATE_OPTS="$BASE_OPTS"
	offline_send "$who-tempfail" "$who@example.net"
	offline_is "$who-tempfail" tempfail "$who's CRL cannot be had, CRLUnavailable tempfail (default)"
	check "the log says why ($who)" grep -q "$who.*CRL\|CRL.*$who\|cannot fetch the CRL" "$T/m/$who-tempfail.err"
	GATE_OPTS="$BASE_OPTS -o CRLUnavailable=refuse"
	offline_send "$who-refuse" "$who@example.net"
	offline_is "$who-refuse" signed "$who's CRL cannot be had, CRLUnavailable refuse"
	GATE_OPTS="$BASE_OPTS -o CRLUnavailable=accept"
	offline_send "$who-accept" "$who@example.net"
	offline_is "$who-accept" encrypted "$who's CRL cannot be had, CRLUnavailable accept"
done

done_testing
