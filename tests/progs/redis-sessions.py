#!/usr/bin/env python3
"""redis-sessions.py PORT [loop N] - Redis connection state left by one user,
seen by the next (issue: "Redis and memcached without session leaks").

With "loop N": N cycles of connect, AUTH, SELECT, GET, close, alternating
between two users and two databases; prints "loop cycles C wrong W", W
counting replies that were not the cycle's own user's and database's value.

Each scenario: user 1 opens a connection, changes its state and closes it
without undoing that; user 2 opens a connection and asks. One line per
scenario, "name: reply reply ...", so a run without the shim and a run with
it can be compared line for line. Plain sockets and RESP, no client library:
what goes on the wire is exactly what is written here.
"""
import socket
import sys
import time

PORT = int(sys.argv[1])


def cmd(*words):
    out = b"*%d\r\n" % len(words)
    for w in words:
        w = w.encode() if isinstance(w, str) else w
        out += b"$%d\r\n%s\r\n" % (len(w), w)
    return out


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.s.settimeout(2.0)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One reply, flattened to text."""
        head = self.line()
        if head is None:
            return "(timeout)"
        t, rest = head[:1], head[1:]
        if t in (b"+", b"-", b":"):
            return head.decode()
        if t == b"$":
            n = int(rest)
            if n < 0:
                return "(nil)"
            while len(self.buf) < n + 2:
                chunk = self.s.recv(65536)
                if not chunk:
                    return "(eof)"
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode()
        if t in (b"*", b">"):
            n = int(rest)
            return "[" + ",".join(self.reply() for _ in range(max(n, 0))) + "]"
        return "?" + head.decode()

    def ask(self, *words):
        self.s.sendall(cmd(*words))
        return self.reply()

    def close(self):
        self.s.close()


def scenario(name, before, after):
    c = Conn()
    for words in before:
        c.ask(*words)
    c.close()
    time.sleep(0.02)
    c = Conn()
    print(name + ": " + " ".join(c.ask(*w) for w in after), flush=True)
    c.close()


def main():
    admin = Conn()
    admin.ask("ACL", "SETUSER", "default", "on", "nopass", "~*", "&*", "+@all")
    admin.ask("FLUSHALL")
    admin.ask("ACL", "SETUSER", "other", "on", ">pw", "~secret*", "+@all")
    admin.ask("ACL", "SETUSER", "default", "on", "nopass", "resetkeys", "~public*", "+@all")
    admin.ask("SELECT", "1")
    admin.ask("SET", "public:k", "in-db1")
    admin.ask("SELECT", "0")
    admin.ask("SET", "public:k", "in-db0")
    admin.ask("HSET", "public:h", "f", "v")
    admin.close()

    scenario("select", [("SELECT", "1"), ("GET", "public:k")], [("GET", "public:k")])
    scenario("multi", [("MULTI",), ("SET", "public:m", "queued")],
             [("SET", "public:n", "1"), ("GET", "public:n")])
    scenario("watch", [("WATCH", "public:w"), ("GET", "public:w")],
             [("MULTI",), ("SET", "public:x", "1"), ("EXEC",)])
    scenario("auth", [("AUTH", "other", "pw"), ("SET", "secret:s", "1")],
             [("GET", "secret:s")])
    scenario("setname", [("CLIENT", "SETNAME", "first")], [("CLIENT", "GETNAME")])
    scenario("hello3", [("HELLO", "3")], [("HGETALL", "public:h")])
    scenario("subscribe", [("SUBSCRIBE", "chan")], [("SET", "public:p", "1")])
    # A pipeline of 20 commands with a slow one in the middle, closed after
    # the first reply: the rest must never reach the next user.
    c = Conn()
    pipe = b"".join(cmd("ECHO", "mine-%d" % i) for i in range(10)) + cmd("DEBUG", "SLEEP", "0.2") \
        + b"".join(cmd("ECHO", "mine-%d" % i) for i in range(10, 20))
    c.s.sendall(pipe)
    c.reply()
    c.close()
    c = Conn()
    print("pipeline: " + c.ask("ECHO", "next-user"), flush=True)
    c.close()


def loop(n):
    admin = Conn()
    admin.ask("ACL", "SETUSER", "alice", "on", ">a", "~*", "+@all")
    admin.ask("ACL", "SETUSER", "bob", "on", ">b", "~*", "+@all")
    for db in ("3", "5"):
        admin.ask("SELECT", db)
        admin.ask("SET", "who", "db" + db)
    admin.close()
    wrong = 0
    for i in range(n):
        user, pw, db = ("alice", "a", "3") if i % 2 == 0 else ("bob", "b", "5")
        c = Conn()
        got = [c.ask("AUTH", user, pw), c.ask("SELECT", db), c.ask("GET", "who"),
               c.ask("ACL", "WHOAMI")]
        c.close()
        if got != ["+OK", "+OK", "db" + db, user]:
            wrong += 1
            print("wrong: cycle %d %s" % (i, got), flush=True)
    print("loop cycles %d wrong %d" % (n, wrong), flush=True)


if len(sys.argv) > 3 and sys.argv[2] == "loop":
    loop(int(sys.argv[3]))
else:
    main()
