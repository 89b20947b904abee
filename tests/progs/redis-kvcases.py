#!/usr/bin/env python3
"""redis-kvcases.py PORT CASE [N] - Redis sessions a pool must not hand on.

Plain sockets and RESP, so what goes on the wire is exactly what is written
here. Each case prints lines "name: reply ..." that a run without the shim
and a run with it must print alike.

  leaks     three ways a connection is left unfit for the next user:
            tracking   HELLO 3 + CLIENT TRACKING on, a read, close; another
                       client changes the key; the next user's GET must get
                       its own RESP2 reply, no invalidation push
            blpop      BLPOP blocks, the client times out and closes; the
                       next user's LPUSH must stay in the list (a blocked
                       connection left alive would pop it) and its replies
                       must be its own
            pipeline   100 commands, the 51st slow (DEBUG SLEEP 0.3, or a
                       BLPOP that times out after 0.3 s), closed after 50
                       replies; the next user's ECHO gets its own reply
            monitor, reply-off   MONITOR, or CLIENT REPLY OFF and a SET,
                       then close; the next user's replies are its own
  tainted N N cycles against a server without RESET (redis-noreset.py):
            SELECT 1 + GET, close; then a fresh user's GET + ACL WHOAMI,
            which must read database 0 as the default user
  clean N   N cycles of GET, close: nothing to reset, so reusable
The tainted and clean cases end with "CASE cycles N wrong W".
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
    def __init__(self, timeout=2.0):
        self.s = socket.create_connection(("127.0.0.1", PORT))
        self.s.settimeout(timeout)
        self.buf = b""

    def need(self, pred):
        while not pred():
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def take_line(self):
        self.need(lambda: b"\r\n" in self.buf)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def value(self):
        """One value, flattened to text; push messages show as >[...]."""
        head = self.take_line()
        t, rest = head[:1], head[1:]
        if t == b"$":
            n = int(rest)
            if n < 0:
                return "(nil)"
            self.need(lambda: len(self.buf) >= n + 2)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode()
        if t in (b"*", b">", b"~"):
            items = ",".join(self.value() for _ in range(max(int(rest), 0)))
            return ("[%s]" if t != b">" else ">[%s]") % items
        if t == b"%":
            return "{" + ",".join(self.value() for _ in range(2 * int(rest))) + "}"
        return head.decode()

    def reply(self):
        try:
            return self.value()
        except socket.timeout:
            return "(timeout)"
        except (EOFError, OSError):
            return "(eof)"

    def ask(self, *words):
        self.s.sendall(cmd(*words))
        return self.reply()

    def close(self):
        self.s.close()


def say(name, *replies):
    print(name + ": " + " ".join(replies), flush=True)


def tracking():
    c = Conn()
    c.ask("HELLO", "3")
    c.ask("CLIENT", "TRACKING", "on")
    c.ask("GET", "kv:t")
    c.close()
    time.sleep(0.05)
    other = Conn()
    other.ask("SET", "kv:t", "changed")
    other.close()
    time.sleep(0.05)
    c = Conn(timeout=0.3)
    say("tracking", c.ask("GET", "kv:u"), c.ask("CLIENT", "TRACKINGINFO"), c.reply())
    c.close()


def unframed():
    """MONITOR and CLIENT REPLY OFF: replies no longer one per request."""
    c = Conn()
    c.ask("MONITOR")
    c.close()
    time.sleep(0.05)
    other = Conn()
    other.ask("SET", "kv:m", "by-other")
    other.close()
    c = Conn(timeout=0.3)
    say("monitor", c.ask("ECHO", "mine"), c.ask("GET", "kv:m"))
    c.close()
    c = Conn()
    c.s.sendall(cmd("CLIENT", "REPLY", "OFF") + cmd("SET", "kv:r", "silent"))
    time.sleep(0.05)
    c.close()
    c = Conn(timeout=0.3)
    say("reply-off", c.ask("ECHO", "mine"), c.ask("GET", "kv:r"))
    c.close()


def blpop():
    c = Conn(timeout=0.2)
    got = c.ask("BLPOP", "kv:q", "0")
    c.close()
    time.sleep(0.1)
    c = Conn()
    say("blpop", got, c.ask("LPUSH", "kv:q", "item"), c.ask("LLEN", "kv:q"), c.ask("ECHO", "mine"))
    c.close()


def pipeline(name, slow):
    """100 commands, slow the 51st, closed after 50 replies."""
    c = Conn()
    pipe = b"".join(cmd("ECHO", "old-%d" % i) for i in range(50)) + cmd(*slow) \
        + b"".join(cmd("ECHO", "old-%d" % i) for i in range(51, 100))
    c.s.sendall(pipe)
    first = []
    while len(first) < 50 and first[-1:] not in (["(timeout)"], ["(eof)"]):
        first.append(c.reply())
    c.close()
    c = Conn()
    say(name, first[-1], c.ask("ECHO", "next-user"), c.ask("PING"))
    c.close()


def cycles(name, n, one):
    wrong = 0
    for i in range(n):
        got, want = one()
        if got != want:
            wrong += 1
            print("wrong: cycle %d %s" % (i, got), flush=True)
    print("%s cycles %d wrong %d" % (name, n, wrong), flush=True)


def tainted_one():
    c = Conn()
    got = [c.ask("SELECT", "1"), c.ask("GET", "kv:k")]
    c.close()
    c = Conn()
    got += [c.ask("GET", "kv:k"), c.ask("ACL", "WHOAMI")]
    c.close()
    return got, ["+OK", "in-db1", "in-db0", "default"]


def clean_one():
    c = Conn()
    got = [c.ask("GET", "kv:k")]
    c.close()
    return got, ["in-db0"]


def setup():
    c = Conn()
    for db in ("1", "0"):
        c.ask("SELECT", db)
        c.ask("SET", "kv:k", "in-db" + db)
    c.ask("DEL", "kv:q")
    c.close()


def main():
    case = sys.argv[2]
    setup()
    if case == "leaks":
        tracking()
        # DEBUG SLEEP holds every reply until it ends; a BLPOP that times
        # out lets the first 50 through, then nothing is unread at close.
        pipeline("pipeline-sleep", ("DEBUG", "SLEEP", "0.3"))
        pipeline("pipeline-block", ("BLPOP", "kv:none", "0.3"))
        unframed()
        blpop()
    elif case == "tainted":
        cycles(case, int(sys.argv[3]), tainted_one)
    elif case == "clean":
        cycles(case, int(sys.argv[3]), clean_one)
    else:
        sys.exit("unknown case " + case)


main()
