#!/usr/bin/python3
"""Socket options and fd flags across pooled reuse (run under the shim).

Cycle A sets options before connect(); cycle B sets none and must see the
kernel defaults (nothing leaked from A); cycle C sets them again and must see
them on the reused connection; cycle D checks O_NONBLOCK and FD_CLOEXEC.
Prints one line per check, "ok ..." or "FAIL ...", and exits 1 on any FAIL.
"""
import fcntl
import os
import socket
import struct
import sys

port = int(sys.argv[1])
failures = 0

OPTS = [  # level, name, value to set, struct format
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1, "i"),
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, "i"),
    (socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77, "i"),
    (socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 11, "i"),
    (socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3, "i"),
    (socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4321, "i"),
    (socket.IPPROTO_IP, socket.IP_TOS, 0x10, "i"),
    (socket.SOL_SOCKET, socket.SO_RCVTIMEO, (5, 0), "ll"),
    (socket.SOL_SOCKET, socket.SO_SNDTIMEO, (6, 0), "ll"),
    (socket.SOL_SOCKET, socket.SO_LINGER, (1, 2), "ii"),
]


def check(ok, what):
    global failures
    print(("ok " if ok else "FAIL ") + what)
    failures += 0 if ok else 1


def pack(fmt, v):
    return struct.pack(fmt, *v) if isinstance(v, tuple) else struct.pack(fmt, v)


def read(s, level, name, fmt):
    raw = s.getsockopt(level, name, struct.calcsize(fmt))
    v = struct.unpack(fmt, raw)
    return v if len(v) > 1 else v[0]


def ping(s):
    s.sendall(b"PING\r\n")
    return s.recv(64) == b"+PONG\r\n"


def fresh_defaults():
    s = socket.socket()
    d = {(l, n): read(s, l, n, f) for l, n, _, f in OPTS}
    s.close()
    return d


defaults = fresh_defaults()


def cycle(label, set_opts):
    s = socket.socket()
    if set_opts:
        for l, n, v, f in OPTS:
            s.setsockopt(l, n, pack(f, v))
    else:  # a new socket reads the defaults, even before connect
        for l, n, v, f in OPTS:
            got = read(s, l, n, f)
            check(got == defaults[(l, n)], f"{label}: before connect, option {l}/{n} is {got}, "
                  f"want the default {defaults[(l, n)]}")
    s.connect(("127.0.0.1", port))
    for l, n, v, f in OPTS:
        want = v if set_opts else defaults[(l, n)]
        got = read(s, l, n, f)
        check(got == want, f"{label}: option {l}/{n} is {got}, want {want}")
    check(ping(s), f"{label}: reply")
    s.close()


for i in range(3):  # warm the pool, then A/B/C alternate on one connection
    cycle(f"A{i}", True)
    cycle(f"B{i}", False)
cycle("C", True)

# D: flags. A blocking, inheritable socket, then a non-blocking one.
s = socket.socket()
s.set_inheritable(True)
s.connect(("127.0.0.1", port))
check(os.get_inheritable(s.fileno()), "D: FD_CLOEXEC clear as the program left it")
check(not fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK, "D: blocking socket stays blocking")
check(ping(s), "D: reply")
s.close()
s = socket.socket()
s.setblocking(False)
err = s.connect_ex(("127.0.0.1", port))
check(err in (0, 115), f"D: non-blocking connect says {err}")  # 115: EINPROGRESS
import select
_, w, _ = select.select([], [s], [], 2)
check(bool(w), "D: writable after non-blocking connect")
check(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0, "D: SO_ERROR is 0")
check(not os.get_inheritable(s.fileno()), "D: FD_CLOEXEC set as the program left it")
err2 = s.connect_ex(("127.0.0.1", port))  # Linux: 0 once after completion,
err3 = s.connect_ex(("127.0.0.1", port))  # then EISCONN
check(err2 in (0, 106), f"D: second connect says {err2}, want 0 or EISCONN (106)")
check(err3 == 106, f"D: third connect says {err3}, want EISCONN (106)")
s.setblocking(True)
check(ping(s), "D: reply after non-blocking connect")
s.close()
sys.exit(1 if failures else 0)
