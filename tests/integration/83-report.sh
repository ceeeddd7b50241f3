#!/bin/sh
# The compliance report on records the daemon wrote through Postfix
#, not hand-made ones.  Mail from alice: to dave (certificate
# in slapd: encrypted), twice to victor@partner.test and once to
# olga@partner.test (no certificate: signed only), to the colleague
# bob@example.com (internal, never encrypted); from outside, a message
# dave signed, to alice (verified: dave's certificate learned).  `smimectl
# audit report` in every format says: 3 deliveries to 2 people without a
# certificate, 1 certificate learned (dave), partner.test the domain most
# often sent mail unencrypted (colleagues left out), 1 internal delivery,
# and the trend of the encrypted and signed share for today; text, CSV,
# JSON and HTML (inline SVG chart, well-formed) carry the same figures.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl postfix smtp-sink swaks perl slapd slapadd jq xmllint

P="$T/pki"
dirpki_setup "$P"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
URL=$(slapd_url)
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no -o InternalHosts=127.0.0.1/32"
gate_import "$P" alice
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started"

mkdir -p "$T/m"
send() { # ID TO [swaks options]
	_id=$1 _to=$2
	shift 2
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: report %s\n' "$_to" "$_id"
		printf 'Message-ID: <%s@report.test>\nMIME-Version: 1.0\n' "$_id"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nFigures, marker-%s.\n' "$_id"
	} | make_message "$T/m/$_id.eml"
	if send_mail "$T/m/$_id.eml" alice@example.com "$_to" "$@" && wait_delivered "$QID"; then
		ok "$_id: delivered ($QID)"
	else
		not_ok "$_id: delivered ($SMTP_REPLY)"
	fi
}
send enc dave@example.net
send nocert1 victor@partner.test
send nocert2 victor@partner.test
send nocert3 olga@partner.test
send colleague bob@example.com

# From outside (127.0.0.2 is not an InternalHost): signed by dave.
printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\nA signed hello.\r\n' >"$T/m/entity"
{
	printf 'From: dave@example.net\r\nTo: alice@example.com\r\nSubject: signed in\r\n'
	printf 'Message-ID: <signedin@report.test>\r\n'
	openssl cms -sign -in "$T/m/entity" -signer "$P/dave.pem" -inkey "$P/dave.key" \
	    -md sha256 -crlfeol
} >"$T/m/signedin.eml" 2>"$T/m/signedin.err" || bail "openssl cms -sign as dave"
if send_mail "$T/m/signedin.eml" dave@example.net alice@example.com \
    --local-interface 127.0.0.2 && wait_delivered "$QID"; then
	ok "signed inbound mail from dave: delivered ($QID)"
else
	not_ok "signed inbound mail from dave: delivered ($SMTP_REPLY)"
fi

LOG="$GATE_STATE/audit/audit.log"
[ -f "$LOG" ] || bail "the audit log exists"
keep "$LOG"
# What the records themselves say, as jq reads them (the daemon's words).
check "the daemon recorded victor's deliveries as signed, no certificate in the reason" \
    test "$(jq -c 'select(.rcpt == "victor@partner.test" and .action == "signed")
    | select(.reason | contains("no certificate"))' "$LOG" | wc -l)" -eq 2
check "the daemon recorded dave's signature as verified" \
    test "$(jq -c 'select(.direction == "inbound" and .action == "verified")' "$LOG" | wc -l)" -eq 1

today=$(date -u +%Y-%m-%d)
report() { # FORMAT OUT
	gate_ctl audit report --since "$today" --until "$today" --format "$1" >"$2" 2>"$2.err"
	_rc=$?
	keep "$2"
	[ "$_rc" -eq 0 ] || diag_file "$2.err" 5 "smimectl audit report --format $1"
	return "$_rc"
}
# ---- JSON ------------------------------------------------------------------
check "audit report --format json" report json "$T/r.json"
jv() { jq -r "$1" "$T/r.json"; }
want() { # WHAT GOT WANT
	if [ "$2" = "$3" ]; then ok "$1: $3"; else not_ok "$1: got $2, want $3"; fi
}
want "json: deliveries to recipients without a certificate" "$(jv .totals.outbound_no_certificate)" 3
want "json: recipients without a certificate" "$(jv .totals.recipients_without_certificate)" 2
want "json: the no-certificate list names victor twice" \
    "$(jv '.no_certificate[] | select(.recipient == "victor@partner.test") | .count')" 2
want "json: certificates learned (dave's, from his signature)" "$(jv .totals.enrolled)" 1
want "json: learned from" "$(jv '.enrolled[0].address')" dave@example.net
want "json: internal deliveries" "$(jv .totals.outbound_internal)" 1
want "json: the domain most often sent mail unencrypted" "$(jv '.unencrypted[0].domain')" partner.test
want "json: partner.test unencrypted, no certificate, total" \
    "$(jv '.unencrypted[0] | "\(.unencrypted) \(.no_certificate) \(.total)"')" "3 3 3"
want "json: colleagues are not in the unencrypted list" \
    "$(jv '[.unencrypted[] | select(.domain == "example.com")] | length')" 0
want "json: the trend, per day" "$(jv .trend.unit)" day
want "json: one point, today" "$(jv '.trend.points | length') $(jv '.trend.points[0].start')" "1 $today"
want "json: today's deliveries, encrypted, signed" \
    "$(jv '.trend.points[0] | "\(.total) \(.encrypted) \(.signed)"')" \
    "$(jv '.totals | "\(.outbound_delivered) \(.outbound_encrypted) \(.outbound_signed)"')"
want "json: today's deliveries" "$(jv '.trend.points[0].total')" 5

# ---- text, CSV, HTML: the same figures ------------------------------------
if check "audit report --format text" report text "$T/r.txt"; then
	check "text: the unencrypted section names partner.test with 3 and 3" \
	    sh -c "sed -n '/^Recipients most often sent mail unencrypted/,/^\$/p' '$T/r.txt' |
	    grep -Eq '^  partner\\.test +3 +3 +100\\.0%'"
	check "text: no recipient certificate, 2 people, 3 deliveries" \
	    grep -Eq "No recipient certificate \\(2 people\\) +3" "$T/r.txt"
	check "text: the trend has today" grep -Eq "^  $today +5 " "$T/r.txt"
	check "text: dave's certificate learned" sh -c \
	    "sed -n '/^Certificates learned/,/^\$/p' '$T/r.txt' | grep -q 'dave@example.net  *1'"
fi
if check "audit report --format csv" report csv "$T/r.csv"; then
	check "csv: unencrypted,partner.test,,3,3,3" grep -q '^unencrypted,"partner.test",,3,3,3' "$T/r.csv"
	check "csv: total outbound_no_certificate 3" grep -q '^total,"outbound_no_certificate",,3' "$T/r.csv"
	check "csv: total enrolled 1" grep -q '^total,"enrolled",,1' "$T/r.csv"
	check "csv: the trend row for today" grep -q "^trend,\"$today\",\"day\",5," "$T/r.csv"
fi
if check "audit report --format html" report html "$T/r.html"; then
	check "html: well-formed (xmllint)" xmllint --noout "$T/r.html"
	x() { xmllint --xpath "$1" "$T/r.html" 2>/dev/null; }
	want "html: recipients without certificates" "$(x "string(//*[@id='n-no-cert'])")" 3
	want "html: certificates learned" "$(x "string(//*[@id='n-enrolled'])")" 1
	want "html: the unencrypted table's first domain" \
	    "$(x "string(//*[@id='unencrypted']/tbody/tr[1]/td[1])")" partner.test
	want "html: the trend table's first day" "$(x "string(//*[@id='trend']/tbody/tr[1]/td[1])")" "$today"
	want "html: the trend chart is inline SVG with two columns for today" \
	    "$(x "count(//*[local-name()='svg' and @id='trend-chart']/*[local-name()='rect'])")" 2
fi

done_testing
