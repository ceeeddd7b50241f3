#!/bin/sh
# Who submitted a message travels with its spool copies, and a
# re-injection mark is honoured once, on its own body, end to
# end through a private Postfix with SMTP AUTH (Cyrus SASL, as 50-sasl)
# and slapd for the recipients' certificates (as 76-hold).
#
#  - bob@example.com logs in and writes From: alice@example.com (he may
#    not sign as alice) to frank (encrypt=always fallback=hold, no
#    certificate yet): held; when frank's certificate appears the spool
#    runner releases it encrypted but NOT signed with alice's key.  alice,
#    logged in as herself, is held the same way and released signed (the
#    control).  The same through `smimectl spool release` (erin,
#    action=hold).  The held entry records the login and the client class.
#  - A held entry that records no submitter (as written by an older
#    version) is released unsigned: never signed as if internal.
#  - With UnauthorizedSender reject, bob-as-alice is refused at once (550)
#    and nothing is held.
#  - Marks: a copy handed to ReinjectCommand is captured.  Replayed through
#    SMTP after it came back (the same body, and a changed body): not
#    honoured.  A copy the command swallowed (recorded as handed on, never
#    back): its mark on a changed body is refused, on its own body honoured
#    once, then refused.
#
# InternalHosts is 127.0.0.1/32 and clients bind 127.0.0.2, so only a login
# makes their mail outbound.
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
    slapadd ldapadd sendmail saslpasswd2 sasldblistusers2
postconf -a 2>/dev/null | grep -qx cyrus || bail "Postfix lists cyrus in postconf -a"

P="$T/pki"
dirpki_setup "$P"
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
	ldif_entry erin erin@example.net "userCertificate;binary" "$P/erin.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
URL=$(slapd_url)
cat >"$T/policy" <<EOF
default encrypt=if-possible
to frank@example.net encrypt=always fallback=hold
to hank@example.net encrypt=always fallback=hold
to erin@example.net action=hold
EOF

# ReinjectCommand: keeps what it is given (cap/copy.N, "FILE ARGS" in
# reinject.args), then hands it to the private Postfix, unless $T/swallow
# exists (then the copy is recorded as handed on and never comes back).
mkdir -p "$T/cap" "$T/m"
cat >"$T/reinject" <<EOF
#!/bin/sh
f="$T/cap/copy.\$(ls "$T/cap" | wc -l)"
cat >"\$f"
echo "\$f \$*" >>"$T/reinject.args"
[ -e "$T/swallow" ] && exit 0
exec /usr/sbin/sendmail -C "$PF_DIR/conf" -G -i "\$@" <"\$f"
EOF
chmod 0755 "$T/reinject"

cat >"$T/users" <<'EOF'
alice@example.com alice-pw
bob@example.com bob-pw
EOF
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o TrustSystemStore=no
    -o CRLCheck=no -o PolicyFile=$T/policy -o QueueRunInterval=1 -o CacheNegativeTTL=0
    -o ReinjectCommand=$T/reinject -o InternalHosts=127.0.0.1/32 -o HoldTime=3600"
gate_import "$P" alice
verifiers_setup "$P/ca.pem" || bail "verifiers set up"
sasl_start "$T/users" || bail "sasldb made with saslpasswd2"
gate_start || bail "smimegate started"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with SMTP AUTH and the milter on both lists"
ok "Postfix with SMTP AUTH on 127.0.0.1:$SMTP_PORT, the gateway on both milter lists"

# msg ID FROM TO...: a message From: FROM.
msg() {
	_id=$1 _from=$2
	shift 2
	_to=$(echo "$*" | sed 's/ /, /g')
	{
		printf 'From: %s\nTo: %s\nSubject: trust test %s\n' "$_from" "$_to" "$_id"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$_id"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nFor %s: marker-%s.\n' "$_to" "$_id"
	} | make_message "$T/m/$_id.eml"
}
# as LOGIN FILE ENVFROM RCPTS: sends FILE with SMTP AUTH as LOGIN from 127.0.0.2.
as() {
	_pw=$(awk -v u="$1" '$1 == u { print $2 }' "$T/users")
	send_mail "$2" "$3" "$4" --auth PLAIN --auth-user "$1" --auth-password "$_pw" \
	    --local-interface 127.0.0.2
}
held_for() { # RCPT MARKER: the ID of the held copy for RCPT holding MARKER
	for _i in $(gate_ctl spool list 2>/dev/null |
	    awk -v r="<$1>" '$2 == "hold" && index($0, r) { print $1 }'); do
		gate_ctl spool show "$_i" 2>/dev/null | grep -q -F "$2" && echo "$_i"
	done | head -1
}
# decrypts WHO FILE: FILE is enveloped-data that WHO's key opens (FILE.plain).
decrypts() {
	case $(mime_header "$2" Content-Type) in
	*enveloped-data*) ;;
	*) diag "not enveloped-data: $(mime_header "$2" Content-Type)"; return 1 ;;
	esac
	openssl cms -decrypt -in "$2" -recip "$P/$1.pem" -inkey "$P/$1.key" -out "$2.plain"
}
# fetch ID RCPT: the delivered copy of message ID for RCPT, to $T/m/ID.RCPT.
fetch() {
	sink_wait_count "<$1@example.com>" "$2@example.net" 1 &&
	    sink_strip "$(sink_files "<$1@example.com>" "$2@example.net" | head -1)" "$T/m/$1.$2"
}
# unsigned_inside ID RCPT: RCPT's copy is encrypted, and inside is the
# message as sent, not signed.
unsigned_inside() {
	if ! fetch "$1" "$2"; then
		not_ok "$1: $2 receives it"
		return
	fi
	keep "$T/m/$1.$2"
	check "$1: $2's copy is encrypted to $2" decrypts "$2" "$T/m/$1.$2"
	case $(mime_header "$T/m/$1.$2.plain" Content-Type) in
	*multipart/signed*|*pkcs7-mime*) not_ok "$1: inside, NOT signed (got $(mime_header "$T/m/$1.$2.plain" Content-Type))" ;;
	*) ok "$1: inside, not signed" ;;
	esac
	check "$1: inside, no signature anywhere" sh -c "! grep -qi 'pkcs7-signature' '$T/m/$1.$2.plain'"
	check "$1: inside, the message as sent" grep -q "marker-$1" "$T/m/$1.$2.plain"
}
signed_inside() {
	if ! fetch "$1" "$2"; then
		not_ok "$1: $2 receives it"
		return
	fi
	check "$1: $2's copy is encrypted to $2" decrypts "$2" "$T/m/$1.$2"
	check_signed "$1 (inner)" "$T/m/$1.$2.plain" "$T/m/$1.eml" alice@example.com
}

# ---- held, then released by the runner ---------------------------------
msg f1 alice@example.com frank@example.net
if as bob@example.com "$T/m/f1.eml" bob@example.com frank@example.net; then
	ok "bob, From: alice, to frank (always, no certificate): 250 ($QID)"
else
	not_ok "bob, From: alice, to frank: 250 ($SMTP_REPLY)"
fi
msg f2 alice@example.com frank@example.net
as alice@example.com "$T/m/f2.eml" alice@example.com frank@example.net ||
    not_ok "alice as herself to frank: 250 ($SMTP_REPLY)"
f1=$(held_for frank@example.net marker-f1)
f2=$(held_for frank@example.net marker-f2)
check "bob's message is held" test -n "$f1"
check "alice's message is held" test -n "$f2"
gate_ctl spool show "$f1" >"$T/f1.show" 2>&1
keep "$T/f1.show"
check "the held copy records bob's login" grep -q "^Login: bob@example.com$" "$T/f1.show"
check "the held copy records the client class" grep -q "^Client: authenticated$" "$T/f1.show"
check "the held file holds them" grep -q "^Login: bob@example.com$" "$GATE_STATE/queue/hold/$f1"
check "frank's certificate appears in the directory" slapd_add_cert frank
unsigned_inside f1 frank
signed_inside f2 frank
check "the log says why bob's copy is unsigned" \
    grep -q "login bob@example.com may not sign as <alice@example.com>" "$GATE_LOG"

# ---- held, then released by smimectl spool release ----------------------
msg e1 alice@example.com erin@example.net
as bob@example.com "$T/m/e1.eml" bob@example.com erin@example.net ||
    not_ok "bob, From: alice, to erin (action=hold): 250 ($SMTP_REPLY)"
msg e2 alice@example.com erin@example.net
as alice@example.com "$T/m/e2.eml" alice@example.com erin@example.net ||
    not_ok "alice to erin (action=hold): 250 ($SMTP_REPLY)"
e1=$(held_for erin@example.net marker-e1)
e2=$(held_for erin@example.net marker-e2)
check "bob's message to erin is held" test -n "$e1"
gate_ctl spool release "$e1" >"$T/e1.release" 2>&1
keep "$T/e1.release"
check "spool release of bob's copy: encrypted, not signed" grep -q "$e1: released: encrypted " "$T/e1.release"
check "spool release says why" grep -q "login bob@example.com may not sign" "$T/e1.release"
gate_ctl spool release "$e2" >"$T/e2.release" 2>&1
check "spool release of alice's copy: signed+encrypted" grep -q "$e2: released: signed+encrypted" "$T/e2.release"
unsigned_inside e1 erin
signed_inside e2 erin

# A held entry without the recorded submitter (an older version's): the
# submitter is unknown, so it is never signed.
msg e3 alice@example.com erin@example.net
as alice@example.com "$T/m/e3.eml" alice@example.com erin@example.net ||
    not_ok "alice to erin (action=hold): 250 ($SMTP_REPLY)"
e3=$(held_for erin@example.net marker-e3)
check "alice's e3 is held" test -n "$e3"
sed -i '1,/^$/{/^Login: /d;/^Client: /d}' "$GATE_STATE/queue/hold/$e3"
check "e3's entry no longer records its submitter" sh -c \
    "! grep -q '^Client: ' '$GATE_STATE/queue/hold/$e3'"
gate_ctl spool release "$e3" >"$T/e3.release" 2>&1
keep "$T/e3.release"
check "an entry without a submitter: released unsigned" grep -q "$e3: released: encrypted " "$T/e3.release"
unsigned_inside e3 erin

# ---- UnauthorizedSender reject: refused before the hold ------------------
gate_stop
gate_start -o UnauthorizedSender=reject || bail "smimegate restarted with UnauthorizedSender reject"
msg h1 alice@example.com hank@example.net
if as bob@example.com "$T/m/h1.eml" bob@example.com hank@example.net; then
	not_ok "reject: bob, From: alice, to hank (would be held): refused (got $SMTP_REPLY)"
else
	case $SMTP_REPLY in
	550*5.7.1*) ok "reject: bob, From: alice, to hank (would be held): 550 5.7.1 ($SMTP_REPLY)" ;;
	*) not_ok "reject: bob, From: alice, to hank: 550 5.7.1 (got $SMTP_REPLY)" ;;
	esac
fi
check "reject: nothing of bob's is held" test -z "$(held_for hank@example.net marker-h1)"
msg h2 alice@example.com hank@example.net
as alice@example.com "$T/m/h2.eml" alice@example.com hank@example.net ||
    not_ok "reject: alice as herself to hank: 250 ($SMTP_REPLY)"
h2=$(held_for hank@example.net marker-h2)
check "reject: alice's own message is held" test -n "$h2"
# Nothing left held when the gateway stops (its runner would be deciding
# it while the daemon shuts down).
check "reject: alice's held message dropped" gate_ctl spool drop "$h2"

# ---- marks: captured from ReinjectCommand and replayed --------------------
# captured RCPT: the last copy for RCPT that ReinjectCommand was given.
captured() { awk -v r="$1" 'index($0, " " r) { f = $1 } END { print f }' "$T/reinject.args"; }
# replay NAME FILE RCPT: FILE through SMTP as alice, envelope alice -> RCPT;
# prints the gateway's log line for it.
replay() {
	cp "$2" "$T/m/$1.eml"
	if as alice@example.com "$T/m/$1.eml" alice@example.com "$3"; then
		gate_logline "$QID"
	else
		echo "not accepted: $SMTP_REPLY"
	fi
}

msg k1 alice@example.com dave@example.net victor@example.net
as alice@example.com "$T/m/k1.eml" alice@example.com dave@example.net,victor@example.net ||
    not_ok "k1 to dave and victor: 250 ($SMTP_REPLY)"
check "k1: victor's copy is delivered through the spool" \
    sink_wait_count "<k1@example.com>" victor@example.net 1
c1=$(captured victor@example.net)
check "k1: ReinjectCommand was given victor's copy, marked" grep -q "^X-Smimegate-Reinject: " "$c1"
check "k1: its mark was honoured when it came back" grep -q "action=reinjected" "$GATE_LOG"
l=$(replay k1-again "$c1" victor@example.net)
case $l in
*action=reinjected*) not_ok "a real mark replayed on the same body: not honoured ($l)" ;;
*" from=<"*) ok "a real mark replayed on the same body: not honoured" ;;
*) not_ok "a real mark replayed on the same body: processed ($l)" ;;
esac
check "the replay is logged" grep -q "came back already (a replay)" "$GATE_LOG"
sed 's/marker-k1/forged-k1/' "$c1" >"$T/m/k1.changed"
l=$(replay k1-changed "$T/m/k1.changed" victor@example.net)
case $l in
*action=reinjected*) not_ok "a real mark on a changed body: not honoured ($l)" ;;
*" from=<"*) ok "a real mark on a changed body: not honoured" ;;
*) not_ok "a real mark on a changed body: processed ($l)" ;;
esac
check "the changed body's mark is logged as not verifying" grep -q "a mark that does not verify" "$GATE_LOG"

# A copy recorded as handed on that never came back: its mark is valid once,
# and only on its own body.
touch "$T/swallow"
msg k2 alice@example.com dave@example.net yves@example.net
as alice@example.com "$T/m/k2.eml" alice@example.com dave@example.net,yves@example.net ||
    not_ok "k2 to dave and yves: 250 ($SMTP_REPLY)"
check "k2: ReinjectCommand is given yves's copy" wait_for 100 sh -c \
    "grep -q ' .*yves@example.net' '$T/reinject.args'"
rm -f "$T/swallow"
c2=$(captured yves@example.net)
id2=$(sed -n 's/^X-Smimegate-Reinject: \([0-9a-f.]*\) .*/\1/p' "$c2" | tr -d '\r')
check "k2: the copy is recorded as handed on" wait_for 50 test -e "$GATE_STATE/queue/sent/$id2"
check "k2: and not as back" test ! -e "$GATE_STATE/queue/back/$id2"
sed 's/marker-k2/forged-k2/' "$c2" >"$T/m/k2.changed"
l=$(replay k2-changed "$T/m/k2.changed" yves@example.net)
case $l in
*action=reinjected*) not_ok "a copy out: its mark on a changed body is not honoured ($l)" ;;
*" from=<"*) ok "a copy out: its mark on a changed body is not honoured" ;;
*) not_ok "a copy out: its mark on a changed body: processed ($l)" ;;
esac
l=$(replay k2-first "$c2" yves@example.net)
check "a copy out: its mark on its own body is honoured (once)" log_has "$l" "action=reinjected"
l=$(replay k2-second "$c2" yves@example.net)
case $l in
*action=reinjected*) not_ok "the same mark a second time: not honoured ($l)" ;;
*" from=<"*) ok "the same mark a second time: not honoured" ;;
*) not_ok "the same mark a second time: processed ($l)" ;;
esac
check "no delivered message carries a mark" sh -c \
    "! grep -l '^X-Smimegate-Reinject' '$SINK_DIR'/* 2>/dev/null | grep -q ."

done_testing
