#!/usr/bin/env python3
"""http-client.py MODE ARGS... - HTTP clients for test_http.c, one new
connection per exchange, closed after it (what the shim pools). Prints
"requests R errors E crossed X": exchanges made, exchanges that failed (an
exception, a short answer), answers with another request's body.

  get PORT N PATH BODY        GET PATH, answer must be BODY
  proxyget PROXY ORIGIN N BODY  GET http://127.0.0.1:ORIGIN/small through PROXY
  connect PROXY A B N         a CONNECT tunnel to A (a GET inside it), then a
                              GET for B through the proxy: must be B's body
  connecttls PROXY A B N      the same, with TLS inside the tunnel to A
  abort PORT N                GET /big, read 1 MB of it with recv(), close;
                              then GET /small: must be "small-A"
  post PORT N                 GET / then a POST on a new connection; the
                              server acts on POSTs and closes without replying
  tls PORT N                  GET / over TLS (certificate not checked)
"""
import socket
import ssl
import sys

stats = {"requests": 0, "errors": 0, "crossed": 0}


def answer(sock):
    """The body of the response on sock (Content-Length framed), or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return None
        buf += data
    head, body = buf.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1."):
        return b"(not a response: " + head[:20] + b"...)"
    n = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            n = int(value)
    while len(body) < n:
        data = sock.recv(65536)
        if not data:
            return None
        body += data
    return body


def exchange(sock, request, want=None):
    stats["requests"] += 1
    sock.sendall(request)
    body = answer(sock)
    if body is None:
        stats["errors"] += 1
    elif want is not None and body != want:
        stats["crossed"] += 1
    return body


def connect(port):
    return socket.create_connection(("127.0.0.1", port))


def get(port, path, want):
    with connect(port) as s:
        exchange(s, b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path, want)


def proxy_get(proxy, origin, want):
    with connect(proxy) as s:
        exchange(s, b"GET http://127.0.0.1:%d/small HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                 % (origin, origin), want)


def through_tunnel(proxy, origin, tls):
    with connect(proxy) as s:
        s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (origin, origin))
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = s.recv(1)
            if not data:
                stats["errors"] += 1
                return
            buf += data
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            with ctx.wrap_socket(s) as t:  # closed without close_notify, like most programs
                exchange(t, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"tls-ok\n")
        else:
            exchange(s, b"GET /small HTTP/1.1\r\nHost: a\r\n\r\n", b"small-A\n")


def abort(port):
    """Gives up on a download (5 MB) after 1 MB and whatever else is already
    there, short of 4 MB: the rest is still on its way when the program
    closes."""
    with connect(port) as s:
        s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        got = 0
        while got < 1 << 20:
            got += len(s.recv(65536))
        try:
            while got < 4 << 20:
                data = s.recv(65536, socket.MSG_DONTWAIT)
                if not data:
                    break
                got += len(data)
        except BlockingIOError:
            pass
    get(port, b"/small", b"small-A\n")


def post(port):
    get(port, b"/", b"ok\n")
    with connect(port) as s:
        stats["requests"] += 1
        try:
            s.sendall(b"POST /act HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nonce")
            if answer(s) is None:
                stats["errors"] += 1
        except OSError:
            stats["errors"] += 1


def tls(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with ctx.wrap_socket(connect(port)) as s:  # closed without close_notify
            exchange(s, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"tls-ok\n")
    except (OSError, ssl.SSLError):
        stats["errors"] += 1


def run(mode, a):
    n = int(a[-1]) if mode in ("connect", "connecttls", "abort", "post", "tls") else int(a[2 if mode == "proxyget" else 1])
    for _ in range(n):
        try:
            if mode == "get":
                get(int(a[0]), a[2].encode(), a[3].encode().decode("unicode_escape").encode())
            elif mode == "proxyget":
                proxy_get(int(a[0]), int(a[1]), a[3].encode().decode("unicode_escape").encode())
            elif mode in ("connect", "connecttls"):
                through_tunnel(int(a[0]), int(a[1]), mode == "connecttls")
                proxy_get(int(a[0]), int(a[2]), b"small-B\n")
            elif mode == "abort":
                abort(int(a[0]))
            elif mode == "post":
                post(int(a[0]))
            elif mode == "tls":
                tls(int(a[0]))
        except (OSError, ssl.SSLError):
            stats["errors"] += 1


run(sys.argv[1], sys.argv[2:])
print("requests %(requests)d errors %(errors)d crossed %(crossed)d" % stats)
