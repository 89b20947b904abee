#!/usr/bin/env python3
"""auto-peer.py MODE LOG - servers for test_auto.c.

Listens on 127.0.0.1 on a port of the kernel's choosing, prints "port N" on
stdout, then serves until killed, one thread per connection. Every accepted
connection appends "accept" to LOG.

Modes:
  banner  speaks first, like SMTP: "220 banner" on accept, then "250 ok"
          for each line the client sends
  act     HTTP/1.1, keep-alive: GET /warm is answered "warm"; a request for
          /act is executed (logged "act METHOD") and answered "acted" when
          it is the first on its connection, otherwise the connection is
          closed without a reply, like a server that acts and then crashes
          or times out
"""
import socket
import sys
import threading

lock = threading.Lock()


def log(path, what):
    with lock, open(path, "a") as f:
        f.write(what + "\n")


def lines(sock):
    buf = b""
    while True:
        while b"\n" not in buf:
            data = sock.recv(4096)
            if not data:
                return
            buf += data
        line, buf = buf.split(b"\n", 1)
        yield line, buf


def banner(sock, path):
    sock.sendall(b"220 banner\r\n")
    for _ in lines(sock):
        sock.sendall(b"250 ok\r\n")


def request(sock, buf):
    """(method, path, rest of buf) of the next request, or None at EOF."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(4096)
        if not data:
            return None
        buf += data
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines_ = head.split(b"\r\n")
    n = 0
    for line in lines_[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            n = int(value)
    while len(buf) < n:
        data = sock.recv(4096)
        if not data:
            return None
        buf += data
    method, path = lines_[0].split(b" ")[:2]
    return method.decode(), path.decode(), buf[n:]


def act(sock, path):
    buf, first = b"", True
    while True:
        req = request(sock, buf)
        if req is None:
            return
        method, target, buf = req
        body = b"warm\n"
        if target == "/act":
            log(path, "act " + method)
            if not first:
                return  # acted, and gone without a word
            body = b"acted\n"
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        first = False


def serve(conn, mode, path):
    log(path, "accept")
    try:
        (banner if mode == "banner" else act)(conn, path)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    print("port %d" % ls.getsockname()[1], flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, mode, path), daemon=True).start()


main()
