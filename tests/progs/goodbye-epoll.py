#!/usr/bin/env python3
"""goodbye-epoll.py PORT ROUNDS - a non-blocking HTTP/1.0 client driven by
epoll, as event loops are: the socket is registered before the request goes
out, and each round waits for readiness, reads what is there, and stops at
end of file. A round whose epoll wait times out (5 s) is a hang; the last
event must say what a peer's close says (EPOLLIN with EPOLLRDHUP), and the
body must be whole. Prints "requests R errors E crossed 0 hangs H"."""
import select
import socket
import sys

port, rounds = int(sys.argv[1]), int(sys.argv[2])
errors = hangs = 0
for _ in range(rounds):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
    s.sendall(b"GET /small HTTP/1.0\r\nHost: x\r\n\r\n")
    data, last = b"", 0
    while True:
        ev = ep.poll(5)
        if not ev:
            hangs += 1
            break
        last = ev[0][1]
        try:
            chunk = s.recv(65536)
        except BlockingIOError:
            continue
        if not chunk:
            break
        data += chunk
    if not data.endswith(b"\r\n\r\nsmall-A\n") or not (last & select.EPOLLRDHUP):
        errors += 1
        print("bad round: %r, last event %#x" % (data[-40:], last), file=sys.stderr)
    ep.close()
    s.close()
print("requests %d errors %d crossed 0 hangs %d" % (rounds, errors, hangs))
