#!/bin/sh
# Daemon habits, through a real Postfix: SIGHUP reloads the configuration
# (a changed LocalDomains) without dropping connections: an SMTP session
# opened before the reload keeps the configuration it started with, new
# ones follow the new file; a key read at start only (HTTPListen, the
# Pickup* limits) that a reload changes is logged as a warning, one line
# each, and a key that takes effect at once is not; a broken file keeps
# the old configuration and the log names file:line; the pid file; the
# privilege drop to UserID.
. "$(dirname "$0")/../lib/common.sh"
. "$top/tests/lib/postfix.sh"
. "$top/tests/lib/gate.sh"
need_gateway
need_tools postfix smtp-sink swaks perl

# A file of our own: the reload reads it again (-o options stay).
GATE_CONF="$T/gw.conf"
sed 's/^LocalDomains.*/LocalDomains example.com/' "$top/tests/lib/test.conf" >"$GATE_CONF"
gate_start -o "PidFile=$T/gw.pid" || bail "smimegate started"
sink_start || bail "smtp-sink started"
pf_start "$MILTER_PORT" || bail "Postfix started with smtpd_milters"

check "pid file holds the daemon's pid" test "$(cat "$T/gw.pid" 2>/dev/null)" = "$GATE_PID"

mkdir -p "$T/m"
msg() { # ID
	printf 'From: dave@example.org\r\nTo: bob@elsewhere.test\r\nSubject: %s\r\n' "$1"
	printf 'Message-ID: <%s@reload.test>\r\n\r\nbody %s\r\n' "$1" "$1"
}
# direction ID: sends as dave@example.org, prints the gateway's direction.
direction() {
	msg "$1" >"$T/m/$1.eml"
	send_mail "$T/m/$1.eml" dave@example.org bob@elsewhere.test || { echo "refused:$SMTP_REPLY"; return; }
	gate_logline "$QID" | sed -n 's/.*direction=\([a-z]*\).*/\1/p'
}

# An SMTP session opened now and used after the reload.
held_session() {
	perl -MIO::Socket::INET -e '
	    my ($port, $go, $msg) = @ARGV;
	    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port)
	        or die "connect: $!\n";
	    sub rd { my $l; do { $l = <$s>; die "eof\n" unless defined $l } while $l =~ /^\d{3}-/; return $l }
	    sub cmd { print $s "$_[0]\r\n"; return rd() }
	    rd(); cmd("EHLO held.smimegate.test");
	    for (my $i = 0; $i < 300 && ! -e $go; $i++) { select(undef, undef, undef, 0.1) }
	    cmd("MAIL FROM:<dave\@example.org>"); cmd("RCPT TO:<bob\@elsewhere.test>");
	    cmd("DATA");
	    my $m = do { open(my $f, "<", $msg) or die; local $/; <$f> }; print $s $m, ".\r\n";
	    my $r = rd(); print $r; cmd("QUIT");' "$SMTP_PORT" "$T/go" "$T/m/held.eml"
}

check "before the reload: example.org is not local (inbound)" \
    test "$(direction before)" = inbound
msg held >"$T/m/held.eml"
held_session >"$T/held.out" 2>&1 &
held=$!
sleep 0.5

sed -i 's/^LocalDomains.*/LocalDomains example.com, example.org/' "$GATE_CONF"
kill -HUP "$GATE_PID"
wait_for 50 grep -q "reloaded $GATE_CONF" "$GATE_LOG"
check "SIGHUP: the daemon is still running" kill -0 "$GATE_PID"
check "SIGHUP: logged the reload" grep -q "reloaded $GATE_CONF" "$GATE_LOG"
check "after the reload: new mail follows the new LocalDomains (outbound)" \
    test "$(direction after)" = outbound

touch "$T/go"
wait "$held"
hq=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$T/held.out")
if [ -n "$hq" ] && l=$(gate_logline "$hq"); then
	check "a session open across the reload still works and keeps its configuration (inbound)" \
	    log_has "$l" "direction=inbound"
else
	not_ok "a session open across the reload still works"
	diag_file "$T/held.out" 5 "held session"
fi

# Keys read at start only: a reload warns for each that changed.
printf 'HTTPListen 127.0.0.1:%s\nPickupMaxFailures 7\n' "$(free_port)" >>"$GATE_CONF"
kill -HUP "$GATE_PID"
wait_for 50 sh -c '[ "$(grep -c "reloaded $1" "$2")" -ge 2 ]' sh "$GATE_CONF" "$GATE_LOG"
for k in HTTPListen PickupMaxFailures; do
	check "reload: '$k changed; takes effect after a restart' logged once" \
	    test "$(grep -c "$k changed; takes effect after a restart" "$GATE_LOG")" = 1
done
if grep -q "LocalDomains changed" "$GATE_LOG"; then
	not_ok "reload: no restart warning for LocalDomains (it takes effect at once)"
else
	ok "reload: no restart warning for LocalDomains (it takes effect at once)"
fi
check "after the second reload: mail still follows the new LocalDomains (outbound)" \
    test "$(direction second)" = outbound

# A broken file: the daemon keeps the configuration in force.
printf 'NoSuchKey yes\n' >>"$GATE_CONF"
line=$(wc -l <"$GATE_CONF")
kill -HUP "$GATE_PID"
wait_for 50 grep -q "reload failed" "$GATE_LOG"
check "broken file: the daemon is still running" kill -0 "$GATE_PID"
check "broken file: the log names $GATE_CONF:$line" \
    grep -q "reload failed.*$GATE_CONF:$line" "$GATE_LOG"
check "broken file: mail still follows the last good configuration (outbound)" \
    test "$(direction broken)" = outbound

# SIGTERM: the daemon stops and removes its pid file.
sed -i '/^NoSuchKey/d' "$GATE_CONF"
gate_stop
check "SIGTERM: pid file removed" test ! -e "$T/gw.pid"

# Privilege drop: as root with UserID, the daemon runs as that user.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	pd=$(mktemp -d /tmp/smimegate-priv.XXXXXX)
	chmod 0755 "$pd"
	at_exit "rm -rf '$pd'"
	MILTER_PORT="" GATE_STATE="$pd/state"
	gate_start -o UserID=nobody -o "PidFile=$pd/gw.pid" || bail "smimegate started with UserID"
	uid=$(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$GATE_PID/status")
	nob=$(id -u nobody)
	check "UserID=nobody: the daemon runs as nobody (Uid: $uid)" test "$uid" = "$nob$nob$nob$nob"
	check "UserID=nobody: the state directory belongs to nobody" \
	    test "$(stat -c %U "$pd/state")" = nobody
	gate_stop
else
	skip "privilege drop" "not root"
fi

done_testing
