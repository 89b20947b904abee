#!/usr/bin/env python3
"""memcache-text.py PORT CASE [N] - memcached's text protocol under a pool.

  cycles N   pymemcache (Debian python3-pymemcache), a Client per cycle:
             set k<pid>-<i> = v<i>, get it back, close; then
             "cycles N wrong W errors E"
  cases      plain sockets, what goes on the wire written here; each user
             opens a connection, does its part and closes; one line per
             scenario, for comparison with a run without the shim:
             noreply   set/incr with noreply, then a get read whole
             badchunk  set ... noreply with a data block of the wrong
                       length (memcached answers an error all the same),
                       closed unread
             meta      ms/mg/ma/md and mn, every reply read
             mgquiet   100 "mg KEY v q" (every third key missing, so no
                       reply; 4 KB values) and mn, closed after 30 replies
             getmulti  one get of those 100 keys, closed after 30 VALUE
                       blocks
             Each is followed by a next user whose replies must be its own.
"""
import os
import socket
import sys
import time

PORT = int(sys.argv[1])
# Values of the pipelined keys: 100 of them are far more than any buffer
# of the program's, so closing halfway leaves replies on the socket.
BIG = 4000


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.s.settimeout(1.0)
        self.f = self.s.makefile("rb")

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        try:
            got = self.f.readline()
        except socket.timeout:
            return "(timeout)"
        return got.decode().rstrip("\r\n") if got else "(eof)"

    def lines(self, n):
        """n lines, each cut to 24 characters: enough to tell whose."""
        return [self.line()[:24] for _ in range(n)]

    def close(self):
        self.f.close()
        self.s.close()


def next_user(name):
    c = Conn()
    c.send(b"set own 0 0 4\r\nmine\r\nget own\r\nmn\r\n")
    print("%s: next user %s" % (name, " ".join(c.lines(5))), flush=True)
    c.close()


def scenario(name, send, nread):
    c = Conn()
    c.send(send)
    print("%s: %s" % (name, " ".join(c.lines(nread))), flush=True)
    c.close()
    time.sleep(0.02)
    next_user(name)


def cases():
    setup = Conn()
    setup.send(b"flush_all\r\nset n 0 0 1\r\n5\r\n")
    setup.lines(2)
    for i in range(100):
        if i % 3:
            val = b"old-%d-" % i + b"x" * BIG
            setup.send(b"set q%d 0 0 %d\r\n%s\r\n" % (i, len(val), val))
            setup.line()
    setup.close()
    scenario("noreply", b"set nr 0 0 2 noreply\r\nhi\r\nincr n 2 noreply\r\nget nr n\r\n", 5)
    scenario("badchunk", b"set bad 0 0 2 noreply\r\nhello\r\n", 0)
    scenario("meta", b"ms m 2 T0\r\nhi\r\nmg m v\r\nma n\r\nmd m q\r\nmg m v\r\nmn\r\n", 6)
    scenario("mgquiet", b"".join(b"mg q%d v q\r\n" % i for i in range(100)) + b"mn\r\n", 30)
    scenario("getmulti", b"get " + b" ".join(b"q%d" % i for i in range(100)) + b"\r\n", 60)


def cycles(n):
    from pymemcache.client.base import Client
    wrong = errors = 0
    for i in range(n):
        key, val = "k%d-%d" % (os.getpid(), i), b"v%d" % i
        try:
            c = Client(("127.0.0.1", PORT), connect_timeout=2, timeout=2)
            c.set(key, val)
            got = c.get(key)
            c.close()
        except Exception as exc:  # pymemcache raises its own kinds too
            errors += 1
            print("memcache-text: cycle %d: %s" % (i, exc), file=sys.stderr)
            continue
        if got != val:
            wrong += 1
            print("wrong: cycle %d %r" % (i, got), flush=True)
    print("cycles %d wrong %d errors %d" % (n, wrong, errors), flush=True)


if sys.argv[2] == "cycles":
    cycles(int(sys.argv[3]))
else:
    cases()
