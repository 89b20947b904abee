#!/usr/bin/perl
# redis-loop.pl PORT N same|alternate - Perl Redis (libredis-perl), a
# client per cycle: connect, AUTH, SELECT, GET "who", ACL WHOAMI, close
# (dropping the object closes its socket; Redis.pm sends no QUIT then).
# "same": always alice and database 3; "alternate": alice/3 and bob/5 in
# turn. Prints "wrong: cycle I ..." for each cycle whose replies are not
# its own, then "loop cycles N wrong W errors E".
use strict;
use warnings;
use Redis;

my ($port, $n, $mode) = @ARGV;
my ($wrong, $errors) = (0, 0);
for my $i (0 .. $n - 1) {
	my ($user, $pw, $db) = ($mode eq 'same' || $i % 2 == 0) ? ('alice', 'a', 3) : ('bob', 'b', 5);
	my @got = eval {
		my $r = Redis->new(server => "127.0.0.1:$port", reconnect => 0, cnx_timeout => 2);
		my @g = ($r->auth($user, $pw), $r->select($db), $r->get('who'), $r->acl_whoami);
		undef $r;
		@g;
	};
	if ($@) {
		$errors++;
		print STDERR "redis-loop.pl: cycle $i: $@";
		next;
	}
	my $want = join(' ', 'OK', 'OK', "db$db", $user);
	my $have = join(' ', map { $_ // '(nil)' } @got);
	if ($have ne $want) {
		$wrong++;
		print "wrong: cycle $i $have\n";
	}
}
print "loop cycles $n wrong $wrong errors $errors\n";
