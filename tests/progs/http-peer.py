#!/usr/bin/env python3
"""http-peer.py MODE LOG - small HTTP/1.1 servers for test_http.c.

Listens on 127.0.0.1 on a port of the kernel's choosing, prints "port N" on
stdout, then serves until killed, one thread per connection. Every accepted
connection appends "accept" to LOG; what a mode does appends its own lines.

Modes:
  proxy     a forward proxy: CONNECT host:port opens a tunnel; a request in
            absolute form (GET http://host:port/path) is fetched from the
            origin and answered with its body, keep-alive
  actclose  answers GET with 200 "ok", keep-alive; a POST is executed
            (logged "POST") and the connection closed without a reply, like
            a server that crashes or times out after acting
  tls       HTTPS (cert and key in LOG.crt and LOG.key): answers every
            request with 200 "tls-ok", keep-alive
"""
import socket
import ssl
import sys
import threading

lock = threading.Lock()


def log(path, what):
    with lock, open(path, "a") as f:
        f.write(what + "\n")


class Reader:
    """Request heads and bodies from a socket, keeping what it read past them."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self):
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return lines[0].split(" "), fields

    def body(self, fields):
        n = int(fields.get("content-length", "0"))
        while len(self.buf) < n:
            if not self.fill():
                return None
        body, self.buf = self.buf[:n], self.buf[n:]
        return body


def reply(sock, status, body):
    sock.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def tunnel(client, reader, target):
    host, _, port = target.rpartition(":")
    up = socket.create_connection((host, int(port)))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if reader.buf:
        up.sendall(reader.buf)
    t = threading.Thread(target=pipe, args=(up, client), daemon=True)
    t.start()
    pipe(client, up)
    t.join()
    up.close()


def fetch(url):
    """The body of an origin's answer to GET url (http://host:port/path)."""
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.rpartition(":")
    with socket.create_connection((host, int(port))) as up:
        up.sendall(("GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                    % (path, hostport)).encode())
        r = Reader(up)
        _, fields = r.head()
        return r.body(fields)


def requests(reader):
    """Each request on the connection: (method, target, fields); its body,
    if it has one, is left for the caller to read."""
    while True:
        req = reader.head()
        if req is None:
            return
        (method, target, _), fields = req
        yield method, target, fields


def serve_proxy(conn, reader, path):
    for method, target, fields in requests(reader):
        if method == "CONNECT":
            log(path, "CONNECT " + target)
            return tunnel(conn, reader, target)
        reader.body(fields)
        log(path, "GET " + target)
        reply(conn, b"200 OK", fetch(target))


def serve_actclose(conn, reader, path):
    for method, _, fields in requests(reader):
        if reader.body(fields) is None:
            return
        if method == "POST":
            log(path, "POST")
            return
        reply(conn, b"200 OK", b"ok\n")


def serve_tls(conn, reader, path):
    for _ in requests(reader):
        reply(conn, b"200 OK", b"tls-ok\n")


def handle(conn, mode, path, ctx):
    log(path, "accept")
    try:
        if ctx:
            conn = ctx.wrap_socket(conn, server_side=True)
        globals()["serve_" + mode](conn, Reader(conn), path)
    except (OSError, ssl.SSLError) as e:
        log(path, "error " + type(e).__name__)
    finally:
        conn.close()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    ctx = None
    if mode == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path + ".crt", path + ".key")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("port", srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, mode, path, ctx), daemon=True).start()


main()
