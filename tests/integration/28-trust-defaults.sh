#!/bin/sh
# Safe defaults and fail-closed corners, tried as an attacker
# would.
#
#  1. The defaults: the milter socket is a unix socket
#     (/run/smimegate/smimegate.sock), InternalHosts is empty, local
#     submissions are not internal.  A daemon on a unix socket (in $T):
#     the socket is 0660 and group SocketGroup, so a raw milter client run
#     as an unprivileged user (nobody) is refused by the file permissions,
#     and the same user in SocketGroup gets through (the test can fail).
#  2. Through a private Postfix with the gateway in smtpd_milters and
#     non_smtpd_milters (InternalHosts 127.0.0.0/8, as test.conf says): a
#     sendmail(1) submission From alice is not signed (outbound, the
#     client not trusted to sign: 29-trust-untrusted); a message from the
#     internal SMTP client still is; with LocalSubmissionInternal yes the
#     sendmail(1) submission is signed.
#  3. A body merely labelled encrypted (application/pkcs7-mime with junk,
#     multipart/encrypted with plain text) for a recipient under
#     encrypt=always (no certificate: fallback reject) is refused, never
#     delivered in clear; a real EnvelopedData passes as it is.
#  4. OnInternalError accept with an internal error (the keystore moved
#     away) for a recipient under encrypt=always (a certificate in slapd):
#     tempfailed, nothing delivered in clear; a recipient without
#     encrypt=always is still accepted unsigned (what accept still does).
#  5. The result header (X-Smimegate-Result) forged by the sender is gone
#     after `smimectl spool release --clear` (ReinjectCommand captures
#     what is handed on, so the gateway does not see it again) and after
#     the Postfix-hold release (`postsuper -H`, no re-injection key).
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/pki.sh"
. "$top/tests/lib/dirpki.sh"
. "$top/tests/lib/mime.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
. "$top/tests/lib/slapd.sh"
need_gateway
need_tools openssl postfix postsuper postqueue smtp-sink swaks perl slapd slapadd sendmail setpriv stat

P="$T/pki"
dirpki_setup "$P"
gate_import "$P" alice
mkdir -p "$T/m"

# ---- 1. the defaults, and the unix socket's permissions ----------------
def() { "$top/smimegate" -P "$1" 2>&1; }
check "default Socket is unix:/run/smimegate/smimegate.sock ($(def Socket))" \
    test "$(def Socket)" = "unix:/run/smimegate/smimegate.sock"
check "default InternalHosts is empty ($(def InternalHosts))" test -z "$(def InternalHosts)"
check "default LocalSubmissionInternal is no ($(def LocalSubmissionInternal))" \
    test "$(def LocalSubmissionInternal)" = no

make_message "$T/m/raw.eml" <<'EOF'
From: Alice <alice@example.com>
To: bob@elsewhere.test
Subject: through the socket
Message-ID: <raw@example.com>

A local user drives the milter directly.
EOF
cp "$top/tests/lib/milter-client.pl" "$T/milter-client.pl"
# The socket's directory exists and anyone may pass through it: only the
# socket's own mode and group decide.
mkdir -p "$T/run"
chmod 0755 "$T/run"
SOCK="$T/run/smimegate.sock"
grp=daemon
getent group "$grp" >/dev/null || bail "group $grp exists"
(GATE_EXEC=exec; gate_run -f -o "Socket=unix:$SOCK" -o "SocketGroup=$grp" \
    -o "ReinjectCommand=/bin/false") >>"$T/gate.stdout" 2>>"$GATE_LOG" &
UPID=$!
at_exit "stop_pid $UPID 100"
_sock_there() { [ -S "$SOCK" ] && grep -q "starting: socket" "$GATE_LOG"; }
if wait_for 100 _sock_there; then
	ok "the gateway listens on unix:$SOCK"
else
	diag_file "$GATE_LOG" 20 "smimegate"
	bail "the gateway listens on unix:$SOCK"
fi
check "the socket is mode 0660 ($(stat -c %a "$SOCK"))" test "$(stat -c %a "$SOCK")" = 660
check "the socket's group is SocketGroup $grp ($(stat -c %G "$SOCK"))" \
    test "$(stat -c %G "$SOCK")" = "$grp"
check "no TCP warning for a unix socket" sh -c "! grep -q 'a TCP socket' '$GATE_LOG'"
client_as() { # GROUPS LOG: milter-client.pl as nobody with those groups
	setpriv --reuid=nobody --regid=nogroup --groups "$1" \
	    perl "$T/milter-client.pl" --socket "unix:$SOCK" --message "$T/m/raw.eml" \
	    --from alice@example.com --rcpt bob@elsewhere.test --auth alice@example.com \
	    >"$2.log" 2>&1
}
if client_as nogroup "$T/raw-nobody"; then
	not_ok "a raw milter client as nobody is refused (it got through)"
	diag_file "$T/raw-nobody.log" 10 "milter client"
else
	check "a raw milter client as nobody is refused: permission denied" \
	    grep -q "Permission denied" "$T/raw-nobody.log"
fi
check "the gateway never saw nobody's message" sh -c "! grep -q 'from=<alice@example.com>' '$GATE_LOG'"
if client_as "$grp" "$T/raw-member"; then
	check "a member of SocketGroup drives it (the refusal above was the permissions)" \
	    grep -q "REPLBODY" "$T/raw-member.log"
else
	not_ok "a member of SocketGroup drives it"
	diag_file "$T/raw-member.log" 10 "milter client"
fi
stop_pid "$UPID" 100
# A missing directory is made: 0750, group SocketGroup.
SOCK2="$T/made/smimegate.sock"
(GATE_EXEC=exec; gate_run -f -o "Socket=unix:$SOCK2" -o "SocketGroup=$grp" \
    -o "ReinjectCommand=/bin/false") >>"$T/gate.stdout" 2>>"$GATE_LOG" &
UPID=$!
at_exit "stop_pid $UPID 100"
_sock2() { [ -S "$SOCK2" ]; }
if wait_for 100 _sock2; then
	check "the socket's directory is made 0750, group $grp" \
	    test "$(stat -c '%a %G' "$T/made")" = "750 $grp"
else
	not_ok "the gateway makes the socket's directory"
	diag_file "$GATE_LOG" 10 "smimegate"
fi
stop_pid "$UPID" 100

# ---- the Postfix set-up -----------------------------------------------------
{
	ldif_head
	ldif_entry dave dave@example.net "userCertificate;binary" "$P/dave.der"
} >"$T/people.ldif"
slapd_start "$T/people.ldif" || bail "slapd started"
URL=$(slapd_url)
cat >"$T/policy" <<EOF
default encrypt=if-possible
to dave@example.net encrypt=always fallback=reject
to rex@example.net encrypt=always fallback=reject
to review@example.net action=hold
EOF
# ReinjectCommand: what the gateway hands on is captured, one file each,
# and never seen by the gateway again.
printf '#!/bin/sh\nf=$(mktemp "%s/captured.XXXXXX")\ncat >"$f"\n' "$T" >"$T/capture"
chmod 0755 "$T/capture"
GATE_OPTS="-o LDAPDirectories=$URL -o TrustAnchorFile=$P/ca.pem -o CRLCheck=no
    -o PolicyFile=$T/policy -o QueueRunInterval=1 -o ReinjectCommand=$T/capture"
gate_start || bail "smimegate started"
check "a TCP socket logs a warning at start" grep -q "Socket inet:.*a TCP socket" "$GATE_LOG"
sink_start || bail "smtp-sink started"
PF_EXTRA="non_smtpd_milters = inet:127.0.0.1:$MILTER_PORT"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters and non_smtpd_milters"

# A message; its Message-ID is <ID@example.com>, its body says marker-ID.
msg() { # ID TO [EXTRA HEADER LINE]
	{
		printf 'From: Alice <alice@example.com>\nTo: %s\nSubject: trust %s\n' "$2" "$1"
		printf 'Message-ID: <%s@example.com>\nMIME-Version: 1.0\n' "$1"
		[ -n "${3:-}" ] && printf '%s\n' "$3"
		printf 'Content-Type: text/plain; charset=us-ascii\n\nSecret text marker-%s.\n' "$1"
	} | make_message "$T/m/$1.eml"
}
# by_sendmail ID TO: submitted with the private Postfix's sendmail(1).
by_sendmail() {
	/usr/sbin/sendmail -C "$PF_DIR/conf" -i -f alice@example.com "$2" <"$T/m/$1.eml"
}
signed_ok() { # FILE: multipart/signed that openssl verifies against the root
	grep -qi '^Content-Type: multipart/signed' "$1" &&
	    openssl cms -verify -in "$1" -CAfile "$P/ca.pem" -out /dev/null >/dev/null 2>&1
}
delivered() { sink_wait "<$1@example.com>" "$T/m/$1.got" "${2:-100}"; }
# nothing_for ID: after a bounded wait (3 s) for it, nothing at the sink
# holds the message: neither its Message-ID nor marker-ID (in clear).
_at_sink() { grep -q -F -e "<$1@example.com>" -e "marker-$1" "$SINK_DIR"/* 2>/dev/null; }
nothing_for() {
	! wait_for 30 _at_sink "$1"
}

# ---- 2. sendmail(1) submissions ---------------------------------------------
msg sm1 bob@elsewhere.test
if by_sendmail sm1 bob@elsewhere.test && delivered sm1; then
	check "a sendmail(1) submission From alice is not signed (defaults)" \
	    sh -c "! grep -qi '^Content-Type: multipart/signed' '$T/m/sm1.got'"
	check "the gateway logged it as outbound and unsigned (not trusted to sign)" \
	    grep -q "from=<alice@example.com>, to=<bob@elsewhere.test>, direction=outbound, action=unsigned, reason=not signed: the client (no login, not in InternalHosts) is not trusted" "$GATE_LOG"
else
	not_ok "a sendmail(1) submission is delivered"
	diag_file "$PF_DIR/maillog" 10 maillog
fi
msg smtp1 bob@elsewhere.test
if send_mail "$T/m/smtp1.eml" alice@example.com bob@elsewhere.test && delivered smtp1; then
	check "the same message from an InternalHosts SMTP client is signed" signed_ok "$T/m/smtp1.got"
else
	not_ok "the SMTP message is delivered ($SMTP_REPLY)"
fi

# ---- 3. labelled encrypted, and is not ---------------------------------------
# application/pkcs7-mime enveloped-data whose base64 is plain text.
{
	printf 'From: Alice <alice@example.com>\nTo: rex@example.net\nSubject: trust lab1\n'
	printf 'Message-ID: <lab1@example.com>\nMIME-Version: 1.0\n'
	printf 'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n'
	printf 'Content-Transfer-Encoding: base64\n\n'
	printf 'Secret text marker-lab1, in clear.\n' | base64
} | make_message "$T/m/lab1.eml"
# multipart/encrypted (PGP/MIME's label) with plain text inside.
{
	printf 'From: Alice <alice@example.com>\nTo: rex@example.net\nSubject: trust lab2\n'
	printf 'Message-ID: <lab2@example.com>\nMIME-Version: 1.0\n'
	printf 'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="b1"\n\n'
	printf -- '--b1\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n'
	printf -- '--b1\nContent-Type: application/octet-stream\n\nSecret text marker-lab2, in clear.\n'
	printf -- '--b1--\n'
} | make_message "$T/m/lab2.eml"
for id in lab1 lab2; do
	if send_mail "$T/m/$id.eml" alice@example.com rex@example.net; then
		not_ok "$id: labelled encrypted, plain inside, encrypt=always: refused (accepted: $SMTP_REPLY)"
	else
		check "$id: labelled encrypted, plain inside, encrypt=always: refused ($SMTP_CODE)" \
		    test "$SMTP_CODE" -ge 400
	fi
done
sleep 1
check "lab1: nothing delivered" nothing_for lab1
check "lab2: nothing delivered" nothing_for lab2
# A real EnvelopedData (to bob's certificate) passes as it is.
printf 'Content-Type: text/plain\n\nSecret text marker-enc1.\n' >"$T/m/enc1.inner"
openssl cms -encrypt -aes256 -in "$T/m/enc1.inner" -out "$T/m/enc1.smime" "$P/bob.pem" 2>"$T/enc1.err" ||
    diag_file "$T/enc1.err"
{
	printf 'From: Alice <alice@example.com>\nTo: rex@example.net\nSubject: trust enc1\n'
	printf 'Message-ID: <enc1@example.com>\n'
	cat "$T/m/enc1.smime"
} | make_message "$T/m/enc1.eml"
if send_mail "$T/m/enc1.eml" alice@example.com rex@example.net && delivered enc1; then
	check "a real EnvelopedData under encrypt=always passes as it is" \
	    openssl cms -decrypt -in "$T/m/enc1.got" -recip "$P/bob.pem" -inkey "$P/bob.key" -out /dev/null
else
	not_ok "a real EnvelopedData under encrypt=always is delivered ($SMTP_REPLY)"
fi

# ---- 5a. spool release --clear: the forged result header goes -------------
msg rel1 review@example.net "X-Smimegate-Result: pass (forged by the sender)"
if send_mail "$T/m/rel1.eml" alice@example.com review@example.net; then
	ok "action=hold: accepted into the gateway's spool ($QID)"
else
	not_ok "action=hold: accepted ($SMTP_REPLY)"
fi
_held() { gate_ctl spool list 2>/dev/null | grep -q "hold.*review@example.net"; }
wait_for 50 _held
hid=$(gate_ctl spool list 2>/dev/null | awk '$2 == "hold" && /review@example.net/ { print $1; exit }')
check "the copy is held ($hid)" test -n "$hid"
check "spool release --clear" gate_ctl spool release "$hid" --clear
_captured() { grep -l -F "marker-rel1" "$T"/captured.* >/dev/null 2>&1; }
if wait_for 100 _captured; then
	f=$(grep -l -F "marker-rel1" "$T"/captured.* | head -1)
	keep "$f" rel1.captured
	check "release --clear: handed on without X-Smimegate-Result" \
	    sh -c "! grep -qi '^X-Smimegate-Result:' '$f'"
else
	not_ok "release --clear: the copy is handed on"
	diag_file "$GATE_LOG" 10 smimegate
fi

# ---- 2b, 4. LocalSubmissionInternal; OnInternalError accept ----------------
gate_stop
gate_start -o LocalSubmissionInternal=yes -o OnInternalError=accept ||
    bail "smimegate restarted with LocalSubmissionInternal yes, OnInternalError accept"
msg sm2 bob@elsewhere.test
if by_sendmail sm2 bob@elsewhere.test && delivered sm2; then
	check "LocalSubmissionInternal yes: the sendmail(1) submission is signed" signed_ok "$T/m/sm2.got"
else
	not_ok "LocalSubmissionInternal yes: the sendmail(1) submission is delivered"
fi
ks="$GATE_STATE/keystore"
mv "$ks" "$ks.away"
msg ie1 dave@example.net
if send_mail "$T/m/ie1.eml" alice@example.com dave@example.net; then
	not_ok "internal error, OnInternalError accept, encrypt=always: not accepted ($SMTP_REPLY)"
else
	check "internal error, OnInternalError accept, encrypt=always: tempfailed ($SMTP_CODE)" \
	    test "$SMTP_CODE" -ge 400 -a "$SMTP_CODE" -lt 500
fi
msg ie2 bob@elsewhere.test
if send_mail "$T/m/ie2.eml" alice@example.com bob@elsewhere.test && delivered ie2; then
	check "internal error, OnInternalError accept, if-possible: accepted unsigned" \
	    sh -c "! grep -qi '^Content-Type: multipart/signed' '$T/m/ie2.got'"
else
	not_ok "internal error, OnInternalError accept, if-possible: delivered ($SMTP_REPLY)"
fi
sleep 1
check "ie1: nothing delivered to dave" nothing_for ie1
check "the gateway says why accept did not apply" \
    grep -q "not accepted in clear (OnInternalError accept)" "$GATE_LOG"
mv "$ks.away" "$ks"

# ---- 5b. held in Postfix (no re-injection key), released with postsuper ----
gate_stop
gate_start -o "ReinjectKeyFile=$T/no-such-dir/reinject.key" || bail "smimegate restarted without a re-injection key"
msg ph1 review@example.net "X-Smimegate-Result: pass (forged by the sender)"
if send_mail "$T/m/ph1.eml" alice@example.com review@example.net; then
	ok "action=hold without a spool: accepted into Postfix's hold queue ($QID)"
else
	not_ok "action=hold without a spool: accepted ($SMTP_REPLY)"
fi
_pf_held() { postqueue -c "$PF_DIR/conf" -p 2>/dev/null | grep -q "^$QID!"; }
check "Postfix holds it" wait_for 50 _pf_held
postsuper -c "$PF_DIR/conf" -H "$QID" >"$T/postsuper.log" 2>&1
postqueue -c "$PF_DIR/conf" -f >/dev/null 2>&1
if delivered ph1 150; then
	check "released from Postfix's hold queue: without X-Smimegate-Result" \
	    sh -c "! grep -qi '^X-Smimegate-Result:' '$T/m/ph1.got'"
else
	not_ok "released from Postfix's hold queue: delivered"
	diag_file "$PF_DIR/maillog" 10 maillog
fi

done_testing
