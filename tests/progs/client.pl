#!/usr/bin/perl
# client.pl - short-connection Perl client for Redis and memcached (core
# modules only), for twpool tests.
#
#   client.pl --proto redis|memcached --port P [-n N] [--prefix P]
#
# Cycle i opens an IO::Socket::INET connection to 127.0.0.1:P, stores
# PREFIX-<pid>-<i> = v<i> (Redis RESP SET, expecting +OK; memcached set,
# expecting STORED), reads it back (expecting exactly v<i>) and closes. A
# failed call or early EOF is an error, a wrong reply "crossed"; either way
# the next cycle starts on a fresh connection. The last line on stdout is
# always
#   requests R errors E crossed X elapsed_ms T rps Q
# with R = 2 x completed cycles. Exit status 0 iff E and X are 0.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use Time::HiRes qw(time);

my ($proto, $port, $n, $prefix) = ('', 0, 1000, 'pl');
GetOptions('proto=s' => \$proto, 'port=i' => \$port, 'n=i' => \$n, 'prefix=s' => \$prefix)
    && ($proto eq 'redis' || $proto eq 'memcached') && $port > 0
    or die "usage: client.pl --proto redis|memcached --port P [-n N] [--prefix P]\n";
$SIG{PIPE} = 'IGNORE';

# Failures: die "io: ..." (an error) or die "crossed: ..." (a wrong reply).
sub line {
    my ($s) = @_;
    my $l = <$s>;
    die "io: EOF before the reply\n" unless defined $l;
    die "crossed: malformed reply line\n" unless $l =~ s/\r\n\z//;
    return $l;
}

sub expect_line {
    my ($s, $want) = @_;
    my $l = line($s);
    die "crossed: got '$l', want '$want'\n" unless $l eq $want;
}

sub data {
    my ($s, $want, $len) = @_;
    my $got = '';
    while (length($got) < $len + 2) {
        my $r = read($s, $got, $len + 2 - length($got), length($got));
        die "io: EOF in a value\n" unless $r;
    }
    die "crossed: value is not $want\n" unless $got eq "$want\r\n";
}

sub send_req {
    my ($s, $req) = @_;
    print $s $req or die "io: write: $!\n";
    $s->flush or die "io: flush: $!\n";
}

sub redis_cycle {
    my ($s, $key, $val) = @_;
    send_req($s, sprintf("*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n", length $key, $key, length $val, $val));
    expect_line($s, '+OK');
    send_req($s, sprintf("*2\r\n\$3\r\nGET\r\n\$%d\r\n%s\r\n", length $key, $key));
    my $l = line($s);
    die "crossed: GET: got '$l'\n" unless $l =~ /^\$(\d+)\z/;
    data($s, $val, $1);
}

sub memcached_cycle {
    my ($s, $key, $val) = @_;
    send_req($s, sprintf("set %s 0 0 %d\r\n%s\r\n", $key, length $val, $val));
    expect_line($s, 'STORED');
    send_req($s, "get $key\r\n");
    expect_line($s, sprintf('VALUE %s 0 %d', $key, length $val));
    data($s, $val, length $val);
    expect_line($s, 'END');
}

my ($done, $errors, $crossed) = (0, 0, 0);
my $t0 = time;
for my $i (0 .. $n - 1) {
    my ($key, $val) = ("$prefix-$$-$i", "v$i");
    my $s;
    eval {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
            or die "io: connect: $@\n";
        $proto eq 'redis' ? redis_cycle($s, $key, $val) : memcached_cycle($s, $key, $val);
        1;
    } or do {
        my $e = $@;
        $e =~ /^crossed/ ? $crossed++ : $errors++;
        print STDERR "client.pl: cycle $i: $e";
        close $s if $s;
        next;
    };
    close $s;
    $done++;
}
my $ms = int((time - $t0) * 1000);
printf "requests %d errors %d crossed %d elapsed_ms %d rps %d\n", 2 * $done, $errors, $crossed, $ms,
    $ms ? int(2 * $done * 1000 / $ms) : 0;
exit($errors || $crossed ? 1 : 0);
