#!/usr/bin/perl
# fake-dovecot-auth.pl: a stand-in for Dovecot's auth service, enough for
# Postfix's smtpd with smtpd_sasl_type=dovecot and
# smtpd_sasl_path=inet:127.0.0.1:PORT, so that the tests can submit mail
# with SMTP AUTH through a real Postfix and smimegate sees a real
# {auth_authen} macro.  Test use only: passwords are in a plain file.
#
#   perl fake-dovecot-auth.pl PORT USERS_FILE [LIFETIME_SECONDS]
#
# USERS_FILE has "login password" lines.  Offers PLAIN only (with or without
# an initial response).  Listens on 127.0.0.1 only; exits by itself after
# LIFETIME_SECONDS (default 600).  Perl rather than C or Python: swaks, which
# the tests need anyway, is a Perl program, so Perl is always there.
#
# The protocol (Dovecot auth protocol 1.x, the client side of which is
# Postfix's xsasl_dovecot_server.c): the server greets with VERSION, MECH
# lines and DONE; the client sends VERSION and CPID, then
# "AUTH <id> <mech> service=smtp ... [resp=<base64>]"; the server answers
# "OK <id> user=<login>", "CONT <id> <base64>" or "FAIL <id>".
use strict;
use warnings;
use IO::Socket::INET;
use MIME::Base64;

my ($port, $users_file, $lifetime) = @ARGV;
die "usage: $0 PORT USERS_FILE [LIFETIME]\n" unless $port && $users_file;
$lifetime ||= 600;

my %password;
open(my $fh, '<', $users_file) or die "$users_file: $!\n";
while (<$fh>) {
	chomp;
	next if /^\s*(#|$)/;
	my ($login, $pw) = split ' ', $_, 2;
	$password{$login} = $pw;
}
close $fh;

my $server = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
    LocalPort => $port, Proto => 'tcp', Listen => 16, ReuseAddr => 1)
    or die "listen 127.0.0.1:$port: $!\n";
$SIG{CHLD} = 'IGNORE';
$SIG{ALRM} = sub { exit 0 };
alarm $lifetime;
$| = 1;
print "listening on 127.0.0.1:$port\n";

sub check_plain {
	my ($b64) = @_;
	my $raw = decode_base64($b64 // '');
	my (undef, $login, $pw) = split /\0/, $raw, 3;
	return undef unless defined $login && defined $pw;
	return (exists $password{$login} && $password{$login} eq $pw)
	    ? $login : undef;
}

sub answer {
	my ($c, $id, $b64) = @_;
	my $login = check_plain($b64);
	if (defined $login) {
		print "$id OK $login\n";
		print $c "OK\t$id\tuser=$login\n";
	} else {
		print "$id FAIL\n";
		print $c "FAIL\t$id\treason=Authentication failed\n";
	}
}

while (1) {
	my $c = $server->accept or next;
	my $pid = fork;
	if (!defined $pid || $pid) {
		close $c;
		next;
	}
	# The child serves one smtpd process for as long as it stays.
	close $server;
	alarm $lifetime;
	$c->autoflush(1);
	print $c "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t$$\nCUID\t1\n",
	    "COOKIE\t", "0" x 32, "\nDONE\n";
	my %waiting;
	while (my $line = <$c>) {
		$line =~ s/\r?\n$//;
		my @f = split /\t/, $line;
		next unless @f;
		if ($f[0] eq 'AUTH' && @f >= 3) {
			my ($id, $mech) = @f[1, 2];
			my %arg = map { /^([^=]+)=(.*)$/ ? ($1 => $2) : ($_ => 1) } @f[3 .. $#f];
			if (uc $mech ne 'PLAIN') {
				print $c "FAIL\t$id\treason=Unsupported mechanism\n";
			} elsif (exists $arg{resp}) {
				answer($c, $id, $arg{resp});
			} else {
				$waiting{$id} = 1;
				print $c "CONT\t$id\t\n";
			}
		} elsif ($f[0] eq 'CONT' && @f >= 2 && delete $waiting{$f[1]}) {
			answer($c, $f[1], $f[2]);
		}
	}
	exit 0;
}
