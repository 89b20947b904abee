#!/usr/bin/env python3
"""redis-noreset.py [-p PORT] - a small RESP server that predates RESET.

Speaks enough of Redis for twpool's tests (PING, ECHO, GET, SET, DEL,
SELECT, AUTH, ACL WHOAMI, ACL SETUSER, INFO, QUIT) and answers RESET the
way Redis before 6.2 does: "-ERR unknown command 'RESET'". It prints
"port N" once listening (port 0 or none: any free port).

What it saw is in INFO, so a test can assert on the server's side:
  total_connections_received  connections accepted
  resets_refused              RESET commands answered with the error
  used_after_refused          commands read on a connection after it
                              refused a RESET (a pool that reused a
                              connection it could not clean)
"""
import socket
import sys
import threading

lock = threading.Lock()
data = {}  # (db, key) -> bytes
users = {b"default": None}  # name -> password (None: nopass)
seen = {"total_connections_received": 0, "resets_refused": 0, "used_after_refused": 0}


def bulk(v):
    return b"$-1\r\n" if v is None else b"$%d\r\n%s\r\n" % (len(v), v)


def err(msg):
    return b"-" + msg.encode() + b"\r\n"


class Session:
    def __init__(self):
        self.db = 0
        self.user = b"default"
        self.refused = False

    def info(self):
        with lock:
            text = "".join("%s:%d\r\n" % kv for kv in seen.items())
        return bulk(text.encode())

    def auth(self, args):
        user, pw = (args[0], args[1]) if len(args) == 2 else (b"default", args[0])
        if users.get(user, b"\0") not in (pw, None):
            return err("WRONGPASS invalid username-password pair or user is disabled.")
        self.user = user
        return b"+OK\r\n"

    def acl(self, args):
        sub = args[0].upper() if args else b""
        if sub == b"WHOAMI":
            return bulk(self.user)
        if sub == b"SETUSER":
            pw = [a[1:] for a in args[2:] if a.startswith(b">")]
            users[args[1]] = pw[0] if pw else None
            return b"+OK\r\n"
        return err("ERR unknown subcommand")

    def select(self, args):
        if not args[0].isdigit() or int(args[0]) > 15:
            return err("ERR DB index is out of range")
        self.db = int(args[0])
        return b"+OK\r\n"

    def store(self, name, args):
        with lock:
            if name == b"GET":
                return bulk(data.get((self.db, args[0])))
            if name == b"SET":
                data[(self.db, args[0])] = args[1]
                return b"+OK\r\n"
            return b":%d\r\n" % sum(data.pop((self.db, k), None) is not None for k in args)

    def run(self, words):
        name, args = words[0].upper(), words[1:]
        if self.refused:
            with lock:
                seen["used_after_refused"] += 1
        try:
            if name == b"PING":
                return b"+PONG\r\n"
            if name == b"ECHO":
                return bulk(args[0])
            if name in (b"GET", b"SET", b"DEL"):
                return self.store(name, args)
            handler = {b"SELECT": self.select, b"AUTH": self.auth, b"ACL": self.acl}.get(name)
            if handler:
                return handler(args)
            if name == b"INFO":
                return self.info()
        except IndexError:
            return err("ERR wrong number of arguments for '%s' command" % name.decode().lower())
        if name == b"RESET":
            self.refused = True
            with lock:
                seen["resets_refused"] += 1
        return err("ERR unknown command '%s', with args beginning with: " % words[0].decode())


def parse(buf):
    """(words, rest) for the first whole command in buf, or (None, buf)."""
    if not buf.startswith(b"*"):
        if b"\n" not in buf:
            return None, buf
        line, rest = buf.split(b"\n", 1)
        return line.strip().split(), rest
    if b"\r\n" not in buf:
        return None, buf
    head, rest = buf.split(b"\r\n", 1)
    words = []
    for _ in range(int(head[1:])):
        if b"\r\n" not in rest:
            return None, buf
        blen, after = rest.split(b"\r\n", 1)
        n = int(blen[1:])
        if len(after) < n + 2:
            return None, buf
        words.append(after[:n])
        rest = after[n + 2:]
    return words, rest


def serve(conn):
    s, buf = Session(), b""
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            out = b""
            while True:
                words, buf = parse(buf)
                if words is None:
                    break
                if not words:
                    continue
                if words[0].upper() == b"QUIT":
                    conn.sendall(out + b"+OK\r\n")
                    return
                out += s.run(words)
            try:
                conn.sendall(out)
            except OSError:
                return


def main():
    port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "-p" else 0
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    print("port %d" % ls.getsockname()[1], flush=True)
    while True:
        conn, _ = ls.accept()
        with lock:
            seen["total_connections_received"] += 1
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
