#!/bin/sh
# Two companies running smimegate find each other's certificates without
# a directory: gateway A (a.example) issues anna an encryption
# certificate from its embedded CA and serves it on its lookup service
# (LookupService, GET /certs on CAHTTPListen); gateway B (b.example) has
# no directory, nothing harvested and nothing cached for anna, only
# "PartnerLookup a.example http://A/certs" and A's root among its trust
# anchors.  Each gateway has its own private Postfix; one smtp-sink
# behind both.  Mail from bert@b.example to anna leaves B encrypted, and
# openssl cms decrypts it with anna's key (exported from A's escrow).
#
# Attacks first: partner endpoints (busybox httpd) that answer a trusted
# certificate of another address, a certificate from a CA B does not
# trust, an answer over the size limit, or an answer slower than
# PartnerLookupTimeout.  None may make B encrypt to a key that is not the
# recipient's, nor hang the milter: the first two go out unencrypted
# (encrypt=if-possible, no usable certificate), the last two are
# tempfailed (the partner unavailable), and mail to anna still works
# after them.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/httpd.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/twogw.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks busybox curl

PORT_A=$(free_port) || bail "a free port for A's CAHTTPListen"
A_URL="http://127.0.0.1:$PORT_A/certs"

# ---- A: the CA, anna's escrowed key, the lookup service --------------------
inst A
A_OPTS="-o LocalDomains=a.example -o CertificateAuthority=yes
    -o CAHTTPListen=127.0.0.1:$PORT_A -o CASubject=O=A_Corp,C=DE -o LookupService=yes"
GATE_OPTS=$A_OPTS
gate_ctl ca init >"$T/init.log" 2>&1 || { diag_file "$T/init.log"; bail "A: smimectl ca init"; }
gate_ctl ca issue --profile encrypt anna@a.example >"$T/anna.pem" 2>"$T/anna.err" ||
    { diag_file "$T/anna.err"; bail "A: an encryption certificate for anna"; }
openssl rand -hex 12 >"$T/p12.pass"
gate_ctl keystore export anna@a.example --out "$T/anna.p12" --password-file "$T/p12.pass" \
    >"$T/export.log" 2>&1 && openssl pkcs12 -in "$T/anna.p12" -passin "file:$T/p12.pass" \
    -nodes -nocerts -out "$T/anna.key" 2>>"$T/export.log" ||
    { diag_file "$T/export.log"; bail "anna's key exported from A's escrow"; }
cp "$T/state-A/ca/root.crt" "$T/a-root.pem"

# ---- the bad partners -------------------------------------------------------
# A rogue CA (B does not trust it) with a certificate for victim@rogue.example.
pki_make "$T/rogue" || bail "a rogue PKI"
cat >"$T/rogue/victim.cnf" <<'EOF'
[ ee ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = emailProtection
subjectAltName = email:victim@rogue.example
EOF
openssl req -new -newkey rsa:2048 -nodes -keyout "$T/rogue/victim.key" -subj "/CN=victim" \
    -out "$T/rogue/victim.csr" >/dev/null 2>&1 &&
    openssl x509 -req -in "$T/rogue/victim.csr" -CA "$T/rogue/ca.pem" -CAkey "$T/rogue/ca.key" \
    -set_serial 7 -days 30 -extfile "$T/rogue/victim.cnf" -extensions ee \
    -out "$T/rogue/victim.pem" >/dev/null 2>&1 || bail "the rogue certificate"
W="$T/www"
mkdir -p "$W/cgi-bin"
# wrong: anna's genuine certificate (trusted by B) with its chain, served
# for any address; rogue: the rogue certificate for victim@rogue.example.
cat "$T/anna.pem" "$T/state-A/ca/issuing.crt" "$T/a-root.pem" >"$T/anna-chain.pem"
openssl crl2pkcs7 -nocrl -certfile "$T/anna-chain.pem" -outform DER -out "$W/wrong" 2>/dev/null
openssl crl2pkcs7 -nocrl -certfile "$T/rogue/victim.pem" -certfile "$T/rogue/ca.pem" \
    -outform DER -out "$W/rogue" 2>/dev/null
# huge: a certs-only PKCS#7 of 600 certificates (about 700 KB), anna's among them.
i=0
while [ $i -lt 600 ]; do cat "$T/rogue/victim.pem"; i=$((i + 1)); done >"$T/many.pem"
cat "$T/anna-chain.pem" >>"$T/many.pem"
openssl crl2pkcs7 -nocrl -certfile "$T/many.pem" -outform DER -out "$W/huge" 2>/dev/null
hsize=$(wc -c <"$W/huge")
check "the huge answer is over 256 KB ($hsize octets)" test "$hsize" -gt 262144
# slow: a CGI that answers anna's certificate after 15 s (PartnerLookupTimeout is 3).
cp "$W/wrong" "$W/wrong.der"
cat >"$W/cgi-bin/slow" <<EOF
#!/bin/sh
sleep 15
printf 'Content-Type: application/pkcs7-mime\r\n\r\n'
cat '$W/wrong.der'
EOF
chmod 0755 "$W/cgi-bin/slow"
# redirect: a 302 to another URL (the wrong answer under another name);
# the partner's URL is the one asked, a redirection is not followed.
cp "$W/wrong" "$W/elsewhere"
cat >"$W/cgi-bin/redirect" <<'EOF'
#!/bin/sh
printf 'Status: 302 Found\r\nLocation: /elsewhere\r\nContent-Type: text/plain\r\n\r\nmoved\r\n'
EOF
chmod 0755 "$W/cgi-bin/redirect"
httpd_start "$W" || bail "busybox httpd serves the bad partners"
H="http://127.0.0.1:$HTTPD_PORT"

# ---- B: no directory, no CA; only the partners ------------------------------
inst B
# DOMAIN URL pairs; commas serve as separators too (GATE_OPTS: no spaces).
PARTNERS="a.example,$A_URL,wrong.example,$H/wrong,rogue.example,$H/rogue"
PARTNERS="$PARTNERS,huge.example,$H/huge,slow.example,$H/cgi-bin/slow"
PARTNERS="$PARTNERS,redirect.example,$H/cgi-bin/redirect"
B_OPTS="-o LocalDomains=b.example -o TrustAnchorFile=$T/a-root.pem -o PartnerLookupTimeout=3
    -o PartnerLookup=$PARTNERS"
GATE_OPTS=$B_OPTS

# The policy: encrypt when a certificate can be had (the built-in rules'
# default for outbound mail, written out so that the test says it).
sink_start || bail "smtp-sink started"
GATE_OPTS=$A_OPTS
twogw_start A
GATE_OPTS=$B_OPTS
twogw_start B
ok "gateway A (lookup service on $A_URL) and B, each behind its own Postfix"
gate_ctl keystore list >"$T/list-B.txt" 2>&1
check "B holds no key or certificate of anna" sh -c "! grep -q anna '$T/list-B.txt'"
nh=$(find "$T/state-B" -path '*harvest*' -type f 2>/dev/null | wc -l)
check "B has harvested nothing ($nh files)" test "$nh" -eq 0

mkdir -p "$T/m"
# send ID TO: a message from bert@b.example through B; $SMTP_CODE, $QID, and
# when delivered the copy in $T/m/ID.got and B's log line in $LINE.
send() {
	{
		printf 'From: <bert@b.example>\nTo: <%s>\nSubject: %s\n' "$2" "$1"
		printf 'Date: Mon, 23 Nov 2026 11:00:00 +0000\nMessage-ID: <%s@test>\n' "$1"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'marker-%s\n' "$1"
	} | make_message "$T/m/$1.eml"
	LINE=""
	send_mail "$T/m/$1.eml" bert@b.example "$2" && wait_delivered "$QID" &&
	    sink_fetch "<$1@test>" "$T/m/$1.got" && LINE=$(gate_logline "$QID") &&
	    keep "$T/m/$1.got"
}
encrypted() { grep -qi 'application/pkcs7-mime' "$T/m/$1.got"; }
decrypts_with_anna() {
	openssl cms -decrypt -in "$T/m/$1.got" -recip "$T/anna.pem" -inkey "$T/anna.key" \
	    -out "$T/m/$1.dec" >/dev/null 2>&1
}

# ---- attacks ----------------------------------------------------------------------
# A trusted certificate of another address: never used for this one.
if send wrong victim@wrong.example; then
	check "wrong address: the mail goes out unencrypted" sh -c "! grep -qi 'application/pkcs7-mime' '$T/m/wrong.got'"
	check "... anna's key does not open it" sh -c "! openssl cms -decrypt -in '$T/m/wrong.got' \
	    -recip '$T/anna.pem' -inkey '$T/anna.key' -out /dev/null 2>/dev/null"
	check "... B logs why anna's certificate was refused" \
	    grep -q "victim@wrong.example.*from partner $H/wrong not used" "$T/gate-B.log"
else
	not_ok "wrong address: the mail is delivered ($SMTP_REPLY)"
fi
gate_ctl lookup victim@wrong.example >"$T/lookup-wrong.txt" 2>&1
check "smimectl lookup: no usable certificate for victim@wrong.example" \
    grep -q '^result: no usable certificate' "$T/lookup-wrong.txt"

# A certificate for the right address from a CA B does not trust.
if send rogue victim@rogue.example; then
	check "untrusted CA: the mail goes out unencrypted" sh -c "! grep -qi 'application/pkcs7-mime' '$T/m/rogue.got'"
	check "... B logs why the rogue certificate was refused" \
	    grep -q "victim@rogue.example.*from partner $H/rogue not used" "$T/gate-B.log"
else
	not_ok "untrusted CA: the mail is delivered ($SMTP_REPLY)"
fi

# An answer over the size limit: the partner is unavailable, the mail tempfailed.
send huge victim@huge.example
case $SMTP_CODE in
4*) ok "huge answer: B's Postfix answers a tempfail ($SMTP_REPLY)" ;;
*) not_ok "huge answer: B's Postfix answers a tempfail (got '$SMTP_REPLY')" ;;
esac
check "... B says the partner is unavailable" \
    grep -q "recipient <victim@huge.example>: certificate lookup: partner huge.example" "$T/gate-B.log"

# An answer slower than PartnerLookupTimeout: the same, and the milter answers.
send slow victim@slow.example
case $SMTP_CODE in
4*) ok "slow answer: B's Postfix answers a tempfail, the milter did not hang ($SMTP_REPLY)" ;;
*) not_ok "slow answer: B's Postfix answers a tempfail (got '$SMTP_REPLY')" ;;
esac
check "... B says the partner is unavailable" \
    grep -q "recipient <victim@slow.example>: certificate lookup: partner slow.example" "$T/gate-B.log"
check "... gateway B still runs" kill -0 "$GATE_PID"

# A redirection: not followed (the partner counts as unavailable).
send redirect victim@redirect.example
case $SMTP_CODE in
4*) ok "redirection: B's Postfix answers a tempfail ($SMTP_REPLY)" ;;
*) not_ok "redirection: B's Postfix answers a tempfail (got '$SMTP_REPLY')" ;;
esac
check "... the partner's CGI was asked" grep -q 'url:/cgi-bin/redirect' "$T/httpd.log"
check "... and the place it points to never was" sh -c "! grep -q 'url:/elsewhere' '$T/httpd.log'"

# ---- the partner's genuine answer ---------------------------------------------------
if send hello anna@a.example; then
	check "mail from bert to anna leaves B encrypted" encrypted hello
	check "... no plaintext in the delivered copy" sh -c "! grep -q marker-hello '$T/m/hello.got'"
	if decrypts_with_anna hello && grep -q marker-hello "$T/m/hello.dec"; then
		ok "openssl cms -decrypt with anna's key (from A's escrow) opens it"
	else
		not_ok "openssl cms -decrypt with anna's key (from A's escrow) opens it"
	fi
else
	not_ok "mail from bert to anna delivered ($SMTP_REPLY)"
fi
# A 404 (no certificate at the partner) is an answer, not an outage.
if send nobody nobody@a.example; then
	check "a colleague of anna without a certificate (404): delivered unencrypted" \
	    sh -c "! grep -qi 'application/pkcs7-mime' '$T/m/nobody.got'"
else
	not_ok "a colleague of anna without a certificate (404): delivered ($SMTP_REPLY)"
fi
gate_ctl lookup anna@a.example >"$T/lookup-anna.txt" 2>&1
check "smimectl lookup on B (its own cache) finds anna's certificate at the partner" \
    sh -c "grep -q '^result: found' '$T/lookup-anna.txt' && grep -q 'partner $A_URL' '$T/lookup-anna.txt'"

# ---- https:// partners: the server's certificate is verified ---------------
# openssl s_server -WWW serves A's answer for anna over TLS, with a
# certificate for 127.0.0.1 (good) or for 127.0.0.2 only (wrong host).
mkdir -p "$T/tls/www"
curl -s --max-time 20 -o "$T/tls/www/certs?mail=anna%40a.example&format=p7c" \
    "$A_URL?mail=anna%40a.example&format=p7c"
for n in good:127.0.0.1 wrong:127.0.0.2; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/tls/${n%%:*}.key" \
	    -out "$T/tls/${n%%:*}.pem" -days 2 -subj "/CN=partner tls ${n%%:*}" \
	    -addext "subjectAltName=IP:${n#*:}" >/dev/null 2>&1 || bail "a TLS certificate"
done
cat "$T/a-root.pem" "$T/tls/good.pem" "$T/tls/wrong.pem" >"$T/tls/trust.pem"
tls_server() { # NAME: s_server -WWW with that certificate on $TLS_PORT
	TLS_PORT=$(free_port) || bail "a free port for s_server"
	(cd "$T/tls/www" && exec openssl s_server -quiet -WWW -accept "127.0.0.1:$TLS_PORT" \
	    -cert "$T/tls/$1.pem" -key "$T/tls/$1.key") >"$T/tls/$1.log" 2>&1 &
	TLS_PID=$!
	at_exit "stop_pid $TLS_PID 20"
	wait_port "$TLS_PORT" "$TLS_PID" || bail "openssl s_server ($1)"
}
# tls_lookup TRUSTFILE: smimectl lookup anna@a.example on B's state with
# only the https:// partner; the output in $T/tls/out.
tls_lookup() {
	"$top/smimectl" -c "$GATE_CONF" -o "StateDirectory=$T/state-B" -o LocalDomains=b.example \
	    -o "TrustAnchorFile=$1" -o PartnerLookupTimeout=3 \
	    -o "PartnerLookup=a.example,https://127.0.0.1:$TLS_PORT/certs" \
	    lookup anna@a.example >"$T/tls/out" 2>&1
}
tls_server good
tls_lookup "$T/tls/trust.pem"
check "https:// partner with a trusted certificate for its address: anna's certificate found" \
    sh -c "grep -q '^result: found' '$T/tls/out' && grep -q 'partner https://127.0.0.1:$TLS_PORT/certs' '$T/tls/out'"
[ -s "$T/tls/out" ] && ! grep -q '^result: found' "$T/tls/out" && diag_file "$T/tls/out" 8
tls_lookup "$T/a-root.pem"
check "https:// partner whose certificate is not trusted: unavailable" \
    grep -q '^result: unavailable' "$T/tls/out"
stop_pid "$TLS_PID" 20
tls_server wrong
tls_lookup "$T/tls/trust.pem"
check "https:// partner whose trusted certificate names another host: unavailable" \
    grep -q '^result: unavailable' "$T/tls/out"
stop_pid "$TLS_PID" 20

# Cached like any lookup: with A stopped, anna's next mail is still encrypted.
inst A
gate_stop
inst B
if send again anna@a.example; then
	check "with A stopped, the cached answer still encrypts to anna" sh -c \
	    "grep -qi 'application/pkcs7-mime' '$T/m/again.got' && openssl cms -decrypt \
	    -in '$T/m/again.got' -recip '$T/anna.pem' -inkey '$T/anna.key' -out /dev/null 2>/dev/null"
else
	not_ok "with A stopped, mail to anna delivered ($SMTP_REPLY)"
fi
done_testing
