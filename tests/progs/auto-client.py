#!/usr/bin/env python3
"""auto-client.py MODE PORT N [METHOD] - clients for test_auto.c, one new
connection per exchange, closed after it (what the shim pools). Prints
"requests R errors E crossed X".

  banner PORT N          reads the server's banner line first, sends NOOP,
                         reads its reply (a 5 s timeout: a banner that never
                         comes is an error, not a hang)
  writefirst PORT N      the same, but sends NOOP before reading anything
                         and expects the banner and the reply
  mixed PORT N           the first exchange as banner, the others as
                         writefirst
  replay PORT N METHOD   GET /warm on one connection, then METHOD /act on
                         the next (a reused one, under the shim): an answer
                         must be "acted"; none is an error
"""
import socket
import sys

stats = {"requests": 0, "errors": 0, "crossed": 0}


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    return s


def read_until(s, n_lines):
    buf = b""
    while buf.count(b"\n") < n_lines:
        data = s.recv(4096)
        if not data:
            return None
        buf += data
    return buf


def exchange_lines(port, write_first):
    with connect(port) as s:
        stats["requests"] += 1
        want = b"220 banner\r\n250 ok\r\n"
        if write_first:
            s.sendall(b"NOOP\r\n")
            got = read_until(s, 2)
        else:
            got = read_until(s, 1)
            if got is not None:
                s.sendall(b"NOOP\r\n")
                more = read_until(s, 1)
                got = None if more is None else got + more
        if got is None:
            stats["errors"] += 1
        elif got != want:
            stats["crossed"] += 1


def http(port, method, path, want):
    with connect(port) as s:
        stats["requests"] += 1
        body = b"once" if method == "POST" else b""
        s.sendall(b"%s %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
                  % (method.encode(), path, len(body), body))
        buf = b""
        while b"\r\n\r\n" not in buf or not buf.endswith(want):
            data = s.recv(4096)
            if not data:
                stats["errors"] += 1
                return
            buf += data
            if len(buf) > 4096:
                stats["crossed"] += 1
                return


def run(mode, port, n, extra):
    for i in range(n):
        try:
            if mode in ("banner", "writefirst", "mixed"):
                exchange_lines(port, mode == "writefirst" or (mode == "mixed" and i > 0))
            else:
                http(port, "GET", b"/warm", b"warm\n")
                http(port, extra[0], b"/act", b"acted\n")
        except OSError:
            stats["errors"] += 1


run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
print("requests %(requests)d errors %(errors)d crossed %(crossed)d" % stats)
