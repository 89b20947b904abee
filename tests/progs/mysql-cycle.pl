#!/usr/bin/perl
# mysql-cycle.pl DRIVER PORT N MODE USER:PASSWORD:DB... - Perl DBI, a
# connection per cycle. DRIVER is MariaDB (DBD::MariaDB) or mysql
# (DBD::mysql); Debian builds both on libmariadb. N times connect with the
# next login of the list (round robin), SELECT CURRENT_USER(), DATABASE(),
# check both are that login's, then go away; MODE quit closes with COM_QUIT
# ($dbh->disconnect). Prints one line per error and 'errors E', like
# mysql-cycle.py.
use strict;
use warnings;
use DBI;

my ($driver, $port, $n, $mode, @logins) = @ARGV;
die "usage: mysql-cycle.pl MariaDB|mysql PORT N quit USER:PASSWORD:DB...\n"
	unless $mode eq 'quit' && $driver =~ /^(MariaDB|mysql)$/;
my $errors = 0;
for my $i (0 .. $n - 1) {
	my ($user, $pw, $db) = split /:/, $logins[$i % @logins];
	my $want = "$user\@% $db";
	my $got = eval {
		my $dsn = "DBI:$driver:database=$db;host=127.0.0.1;port=$port;" . lc($driver)
			. "_connect_timeout=5";
		my $dbh = DBI->connect($dsn, $user, $pw, { RaiseError => 1, PrintError => 0 });
		my @row = $dbh->selectrow_array('SELECT CURRENT_USER(), DATABASE()');
		$dbh->disconnect;
		join(' ', map { $_ // 'NULL' } @row);
	};
	if (!defined $got) { # every failure is counted and shown
		$errors++;
		printf "run %d: %.200s\n", $i, $@ =~ s/\n.*//sr;
	} elsif ($got ne $want) {
		$errors++;
		print "run $i: got $got, want $want\n";
	}
}
print "errors $errors\n";
