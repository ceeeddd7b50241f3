#!/bin/sh
# Calendar invitations anywhere in the MIME tree.  Outlook,
# Thunderbird and Gmail send invitations as multipart mail: Outlook a
# multipart/alternative of text/plain, text/html and text/calendar;
# method=REQUEST; Thunderbird and Gmail nest the text/calendar in
# multipart/mixed with an .ics attachment (application/ics).  Encrypted,
# the invited cannot act on them, so each shape, sent through Postfix to
# dave (an outsider whose certificate is in slapd), is left unencrypted
# (signed: openssl, gpgsm, NSS), with its calendar part byte for byte as
# sent.  A text/calendar attachment that is no invitation (no METHOD) is
# encrypted as any mail to dave.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/verify.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl gpgsm gpgconf certutil cmsutil postfix smtp-sink swaks perl slapd \
    slapadd base64

P="$T/pki"
dirpki_setup "$P"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
URL=$(slapd_url)
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no"
gate_import "$P" alice
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started"

mkdir -p "$T/m"
# The invitation (CRLF, as clients write iCalendar).
ics() { # UID [METHOD]
	{
		printf 'BEGIN:VCALENDAR\nPRODID:-//smimegate test//calendar//EN\nVERSION:2.0\n'
		[ -n "${2:-}" ] && printf 'METHOD:%s\n' "$2"
		printf 'BEGIN:VEVENT\nUID:%s@example.com\nDTSTAMP:20250301T120000Z\n' "$1"
		printf 'DTSTART:20250310T090000Z\nDTEND:20250310T100000Z\n'
		printf 'SUMMARY:Budget review %s\nORGANIZER;CN=Alice:mailto:alice@example.com\n' "$1"
		printf 'ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:dave@example.net\n'
		printf 'END:VEVENT\nEND:VCALENDAR\n'
	} | sed 's/$/\r/'
}
head_lines() { # ID CONTENT-TYPE
	printf 'From: Alice <alice@example.com>\nTo: dave@example.net\n'
	printf 'Subject: Invitation: Budget review %s\nMessage-ID: <%s@example.com>\n' "$1" "$1"
	printf 'MIME-Version: 1.0\nContent-Type: %s\n\n' "$2"
}

# Outlook: multipart/alternative, the calendar base64 with method=REQUEST.
outlook() {
	ics outlook REQUEST >"$T/m/outlook.ics"
	{
		head_lines outlook 'multipart/alternative; boundary="_000_outlook_"'
		printf -- '--_000_outlook_\nContent-Type: text/plain; charset="us-ascii"\n\n'
		printf 'When: 10 March 2025 09:00-10:00 (UTC)\nmarker-outlook\n\n'
		printf -- '--_000_outlook_\nContent-Type: text/html; charset="us-ascii"\n\n'
		printf '<html><body><p>When: 10 March 2025</p></body></html>\n\n'
		printf -- '--_000_outlook_\nContent-Type: text/calendar; charset="utf-8"; method=REQUEST\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$T/m/outlook.ics"
		printf '\n--_000_outlook_--\n'
	} | make_message "$T/m/outlook.eml"
}

# Thunderbird: multipart/mixed of a multipart/alternative (text/plain,
# text/calendar 7bit) and invite.ics as application/ics.
thunderbird() {
	ics thunderbird REQUEST >"$T/m/thunderbird.ics"
	{
		head_lines thunderbird 'multipart/mixed; boundary="------------tbmixed"'
		printf -- '--------------tbmixed\nContent-Type: multipart/alternative; boundary="------------tbalt"\n\n'
		printf -- '--------------tbalt\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 7bit\n\n'
		printf 'You have been invited to an event.\nmarker-thunderbird\n\n'
		printf -- '--------------tbalt\nContent-Type: text/calendar; charset=UTF-8; method=REQUEST\n'
		printf 'Content-Transfer-Encoding: 7bit\n\n'
		tr -d '\r' <"$T/m/thunderbird.ics"
		printf '\n--------------tbalt--\n\n'
		printf -- '--------------tbmixed\nContent-Type: application/ics; name="invite.ics"\n'
		printf 'Content-Disposition: attachment; filename="invite.ics"\nContent-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$T/m/thunderbird.ics"
		printf '\n--------------tbmixed--\n'
	} | make_message "$T/m/thunderbird.eml"
}

# Gmail: multipart/mixed of a multipart/alternative (text/plain, text/html,
# text/calendar base64) and invite.ics as application/ics.
gmail() {
	ics gmail REQUEST >"$T/m/gmail.ics"
	{
		head_lines gmail 'multipart/mixed; boundary="000000000000gmix"'
		printf -- '--000000000000gmix\nContent-Type: multipart/alternative; boundary="000000000000galt"\n\n'
		printf -- '--000000000000galt\nContent-Type: text/plain; charset="UTF-8"\n\n'
		printf 'Invitation from Google Calendar\nmarker-gmail\n\n'
		printf -- '--000000000000galt\nContent-Type: text/html; charset="UTF-8"\n\n'
		printf '<div>Invitation from Google Calendar</div>\n\n'
		printf -- '--000000000000galt\nContent-Type: text/calendar; charset="UTF-8"; method=REQUEST\n'
		printf 'Content-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$T/m/gmail.ics"
		printf '\n--000000000000galt--\n\n'
		printf -- '--000000000000gmix\nContent-Type: application/ics; name="invite.ics"\n'
		printf 'Content-Disposition: attachment; filename="invite.ics"\nContent-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$T/m/gmail.ics"
		printf '\n--000000000000gmix--\n'
	} | make_message "$T/m/gmail.eml"
}

# A calendar file attached to ordinary mail: no METHOD, no invitation.
plainics() {
	ics plainics >"$T/m/plainics.ics"
	{
		head_lines plainics 'multipart/mixed; boundary="plainmix"'
		printf -- '--plainmix\nContent-Type: text/plain; charset=us-ascii\n\n'
		printf 'The holidays, as a calendar file.\nmarker-plainics\n\n'
		printf -- '--plainmix\nContent-Type: text/calendar; charset=utf-8; name="holidays.ics"\n'
		printf 'Content-Disposition: attachment; filename="holidays.ics"\nContent-Transfer-Encoding: base64\n\n'
		base64 -w 76 "$T/m/plainics.ics"
		printf '\n--plainmix--\n'
	} | make_message "$T/m/plainics.eml"
}

# calendar_leaf DIR: the number of the first text/calendar leaf in DIR
calendar_leaf() {
	for _t in "$1"/*.type; do
		[ "$(cat "$_t")" = text/calendar ] && { basename "$_t" .type; return 0; }
	done
	return 1
}

# check_signed (verify.sh) and mime.sh use _n: the name is in inv.
invitation() { # NAME
	inv=$1
	"$inv"
	if ! send_mail "$T/m/$inv.eml" alice@example.com dave@example.net || ! wait_delivered "$QID"; then
		not_ok "$inv: accepted and delivered ($SMTP_REPLY)"
		return
	fi
	ok "$inv: accepted and delivered ($QID)"
	if ! sink_fetch "<$inv@example.com>" "$T/m/$inv.got" dave@example.net; then
		not_ok "$inv: dave's copy found"
		return
	fi
	keep "$T/m/$inv.got"
	l=$(gate_logline "$QID")
	check "$inv: the calendar rule decided" grep -q "policy: to=<dave@example.net>, form=deliver,sign, .*calendar" "$GATE_LOG"
	ct=$(mime_header "$T/m/$inv.got" Content-Type)
	case $ct in
	*multipart/signed*) ok "$inv: left unencrypted (signed)" ;;
	*) not_ok "$inv: left unencrypted (Content-Type: $ct)"; diag "log: $l"; return ;;
	esac
	check_signed "$inv" "$T/m/$inv.got" "$T/m/$inv.eml" alice@example.com
	if mime_leaves "$T/m/$inv.eml" "$T/m/$inv.want.l" && mime_leaves "$T/m/$inv.got.split/content" "$T/m/$inv.got.l" &&
	    a=$(calendar_leaf "$T/m/$inv.want.l") && b=$(calendar_leaf "$T/m/$inv.got.l"); then
		check "$inv: the calendar part is intact, byte for byte" \
		    cmp "$T/m/$inv.want.l/$a.body" "$T/m/$inv.got.l/$b.body"
		check "$inv: the calendar part says METHOD:REQUEST" grep -q "^METHOD:REQUEST" "$T/m/$inv.got.l/$b.body"
		check "$inv: the calendar part's media type and method as sent" \
		    grep -qi "method=REQUEST" "$T/m/$inv.got.l/$b.hdr"
	else
		not_ok "$inv: the calendar part found in what was sent and what was delivered"
	fi
}

invitation outlook
invitation thunderbird
invitation gmail
check "the Thunderbird and Gmail .ics attachments are delivered too" sh -c \
    "grep -q 'application/ics' '$T/m/thunderbird.got' && grep -q 'application/ics' '$T/m/gmail.got'"

# ---- no invitation: encrypted ----------------------------------------------
plainics
if send_mail "$T/m/plainics.eml" alice@example.com dave@example.net && wait_delivered "$QID" &&
    sink_fetch "<plainics@example.com>" "$T/m/plainics.got" dave@example.net; then
	ct=$(mime_header "$T/m/plainics.got" Content-Type)
	case $ct in
	*enveloped-data*) ok "a calendar file without METHOD: encrypted as other mail to dave" ;;
	*) not_ok "a calendar file without METHOD: encrypted (Content-Type: $ct)" ;;
	esac
	check "dave decrypts it" openssl cms -decrypt -in "$T/m/plainics.got" -recip "$P/dave.pem" \
	    -inkey "$P/dave.key" -out /dev/null
else
	not_ok "plainics: delivered ($SMTP_REPLY)"
fi

done_testing
