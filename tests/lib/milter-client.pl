#!/usr/bin/perl
# milter-client.pl: the MTA side of one milter transaction (protocol 6),
# for tests: sends a message file to a milter with a chosen client address,
# envelope, macros and body chunking, records what the filter asks for at
# end of message, and writes the message as the MTA would deliver it.
#
#   perl milter-client.pl --socket inet:PORT@127.0.0.1|unix:PATH --message FILE
#       --from ADDR --rcpt ADDR [--rcpt ADDR]... [--ip 127.0.0.1]
#       [--auth LOGIN] [--qid ID] [--chunks 7,11,30] [--out RESULT]
#
# Prints one line per event: "reply <phase> <code>", "mod CHGHEADER
# Name[idx] = value", "mod ADDHEADER ...", "mod INSHEADER ...",
# "mod REPLBODY <n> octets", "final <code>" (continue, accept, reject,
# tempfail, discard, replycode <text>).  With --out, the resulting message
# (headers changed as asked, body replaced) is written with CRLF line ends.
# Exits 0 when the transaction ran to its end, non-zero (die) on a protocol
# or I/O error.
#
# Why not only miltertest: miltertest 1.6.0 (Debian's 2.11.0~beta2) reads
# each end-of-message reply into a 1024-octet stack buffer without a length
# check (mt_eom, mt_milter_read), so it crashes on any replacement body
# packet over 1 KiB, which every signed message is.  Perl, not Python:
# swaks is Perl, so Perl is there wherever the tests run.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Getopt::Long;

my ($sock, $msgfile, $from, @rcpts, $ip, $auth, $qid, $chunks, $out);
$ip = '127.0.0.1';
$qid = 'MCLIENT1';
GetOptions('socket=s' => \$sock, 'message=s' => \$msgfile,
    'from=s' => \$from, 'rcpt=s' => \@rcpts, 'ip=s' => \$ip,
    'auth=s' => \$auth, 'qid=s' => \$qid, 'chunks=s' => \$chunks,
    'out=s' => \$out) or exit 2;
die "usage: see the comment at the top\n"
    unless $sock && $msgfile && $from && @rcpts;
my ($port, $host) = $sock =~ /^inet:(\d+)\@(.+)$/;
my ($path) = $sock =~ /^(?:unix|local):(.+)$/;
die "only inet:PORT\@HOST and unix:PATH sockets\n" unless $port || $path;

# Protocol flags (libmilter/mfdef.h).
my %NO = (conn => 0x1, helo => 0x2, mail => 0x4, rcpt => 0x8, body => 0x10,
    hdrs => 0x20, eoh => 0x40, data => 0x200);
my %NR = (conn => 0x1000, helo => 0x2000, mail => 0x4000, rcpt => 0x8000,
    data => 0x10000, eoh => 0x40000, body => 0x80000, hdrs => 0x80);
my %CODE = (c => 'continue', a => 'accept', r => 'reject', t => 'tempfail',
    d => 'discard', y => 'replycode', s => 'skip');

my $fh;
open($fh, '<:raw', $msgfile) or die "$msgfile: $!\n";
my $raw = do { local $/; <$fh> };
close $fh;
my ($head, $body) = split /\r?\n\r?\n/, $raw, 2;
$body = '' unless defined $body;
my @headers;    # [name, value] in order, values unfolded as the MTA sends
for my $line (split /\r?\n(?![ \t])/, $head) {
	my ($n, $v) = $line =~ /^([^:]+):[ \t]?(.*)$/s or die "bad header: $line\n";
	$v =~ s/\r?\n/\r\n/g;
	push @headers, [$n, $v];
}

my $s = $path ? IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM)
    : IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
    Proto => 'tcp', Timeout => 10);
die "connect $sock: $!\n" unless $s;
$s->autoflush(1);

sub send_pkt {
	my ($cmd, $data) = @_;
	$data = '' unless defined $data;
	print $s pack('N', length($data) + 1) . $cmd . $data
	    or die "write: $!\n";
}
sub read_exact {
	my ($n) = @_;
	my $buf = '';
	while (length($buf) < $n) {
		my $r = sysread($s, $buf, $n - length($buf), length($buf));
		die "read: " . (defined $r ? "connection closed" : $!) . "\n"
		    unless $r;
	}
	return $buf;
}
sub read_pkt {
	local $SIG{ALRM} = sub { die "timeout waiting for the milter\n" };
	alarm 60;
	my $len = unpack('N', read_exact(4));
	my $pkt = read_exact($len);
	alarm 0;
	return (substr($pkt, 0, 1), substr($pkt, 1));
}

# Option negotiation: offer every step and every no-reply flag.
send_pkt('O', pack('NNN', 6, 0x1FF, 0x1FFFFF));
my ($c, $d) = read_pkt();
die "negotiation answered '$c'\n" unless $c eq 'O';
my (undef, $actions, $proto) = unpack('NNN', $d);

my $final;
# step NAME CMD DATA: sends unless negotiated away; reads the reply unless
# the filter asked for none.  Returns 0 once the filter gave a final answer.
sub step {
	my ($name, $cmd, $data) = @_;
	return 1 if $NO{$name} && ($proto & $NO{$name});
	send_pkt($cmd, $data);
	return 1 if $NR{$name} && ($proto & $NR{$name});
	my ($rc, $rd) = read_pkt();
	my $code = $CODE{$rc} // "unknown($rc)";
	$code .= " $rd" if $rc eq 'y';
	$code =~ s/\0+$//;
	print "reply $name $code\n";
	return 1 if $rc eq 'c' || ($rc eq 's' && $name eq 'body');
	$final = $code;
	return 0;
}
sub macro { send_pkt('D', $_[0] . join('', map { "$_\0" } @_[1 .. $#_])); }

{
	macro('C', 'j', 'mta.milter-client.test', '{daemon_name}', 'milter-client');
	last unless step('conn', 'C', "client.test\0" . '4' . pack('n', 12345) . "$ip\0");
	last unless step('helo', 'H', "client.test\0");
	my @m = ('i', $qid, '{mail_addr}', $from);
	push @m, '{auth_type}', 'PLAIN', '{auth_authen}', $auth if defined $auth;
	macro('M', @m);
	last unless step('mail', 'M', "<$from>\0");
	for my $r (@rcpts) {
		macro('R', 'i', $qid, '{rcpt_addr}', $r);
		last unless step('rcpt', 'R', "<$r>\0");
	}
	last if defined $final;
	last unless step('data', 'T', '');
	for my $h (@headers) {
		last unless step('hdrs', 'L', "$h->[0]\0$h->[1]\0");
	}
	last if defined $final;
	last unless step('eoh', 'N', '');
	my @pieces;
	if ($chunks) {
		my $last = 0;
		for my $at (split /,/, $chunks) {
			push @pieces, substr($body, $last, $at - $last);
			$last = $at;
		}
		push @pieces, substr($body, $last);
	} else {
		for (my $i = 0; $i < length $body; $i += 65535) {
			push @pieces, substr($body, $i, 65535);
		}
	}
	for my $p (@pieces) {
		next unless length $p;
		last unless step('body', 'B', $p);
	}
	last if defined $final;

	send_pkt('E', '');
	my $newbody;
	while (1) {
		my ($rc, $rd) = read_pkt();
		if ($rc eq 'b') {
			$newbody = '' unless defined $newbody;
			$newbody .= $rd;
			print "mod REPLBODY " . length($rd) . " octets\n";
		} elsif ($rc eq 'h') {
			my ($n, $v) = split /\0/, $rd, 3;
			print "mod ADDHEADER $n = $v\n";
			push @headers, [$n, $v];
		} elsif ($rc eq 'i') {
			my $idx = unpack('N', $rd);
			my ($n, $v) = split /\0/, substr($rd, 4), 3;
			print "mod INSHEADER $n\[$idx] = $v\n";
			splice @headers, ($idx > @headers ? scalar @headers : $idx), 0, [$n, $v];
		} elsif ($rc eq 'm') {
			my $idx = unpack('N', $rd);
			my ($n, $v) = split /\0/, substr($rd, 4), 3;
			print "mod CHGHEADER $n\[$idx] = $v\n";
			# idx counts the headers of that name from 1.
			my $seen = 0;
			for my $i (0 .. $#headers) {
				next unless lc $headers[$i][0] eq lc $n;
				next unless ++$seen == ($idx || 1);
				if ($v eq '') { splice @headers, $i, 1; }
				else { $headers[$i][1] = $v; }
				last;
			}
		} elsif ($rc eq 'p') {
			next;
		} elsif ($rc =~ /^[+\-e2q]$/) {
			(my $t = $rd) =~ s/\0/ /g;
			print "mod other($rc) $t\n";
		} else {
			my $code = $CODE{$rc} // "unknown($rc)";
			$code .= " $rd" if $rc eq 'y';
			$code =~ s/\0+$//;
			$final = $code;
			last;
		}
	}
	$body = $newbody if defined $newbody;
}
print "final " . ($final // 'continue') . "\n";
send_pkt('Q', '');
close $s;

if ($out) {
	open(my $o, '>:raw', $out) or die "$out: $!\n";
	for my $h (@headers) {
		(my $v = $h->[1]) =~ s/\r?\n/\r\n/g;
		print $o "$h->[0]: $v\r\n";
	}
	print $o "\r\n", $body;
	close $o;
}
exit 0;
