#!/usr/bin/python3
"""Socket options and fd flags across pooled reuse (run under the shim).

Cycle A sets options before connect(); cycle B sets none and must see the
kernel defaults (nothing leaked from A); cycle C sets them again and must see
them on the reused connection; cycle D checks O_NONBLOCK and FD_CLOEXEC.
Prints one line per check, "ok ..." or "FAIL ...", and exits 1 on any FAIL.

"optcheck.py PORT defaults 4|6" checks options that change other options
(issue 10 item 5) instead: user A sets them, user B sets none and prints what
every one reads before and after connect, which must be what a fresh socket
reads; then users set them in orders where the order matters and print the
result. The output is the same with and without the shim.

"optcheck.py PORT ruledout" sets options that make a connection unpoolable
(SO_RCVBUF, TCP_CONGESTION, a SO_RCVLOWAT) on sockets socket() may have
handed a pooled connection, and prints what the next users read: the same
with and without the shim, which must give those users sockets of their own.
"""
import fcntl
import os
import socket
import struct
import sys

port = int(sys.argv[1])
failures = 0
MODE = sys.argv[2] if len(sys.argv) > 2 else "flags"

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


def run_defaults(fam_arg):
    """Options that change others, set by one user, read by the next."""
    v6 = fam_arg == "6"
    fam, host = (socket.AF_INET6, "::1") if v6 else (socket.AF_INET, "127.0.0.1")
    opts = [  # name, level, option, value the first user sets, struct format
        ("IP_TOS", socket.IPPROTO_IP, socket.IP_TOS, 0x13, "i"),  # ECN bits kept by TCP
        ("SO_PRIORITY", socket.SOL_SOCKET, socket.SO_PRIORITY, 3, "i"),
        ("TCP_NODELAY", socket.IPPROTO_TCP, socket.TCP_NODELAY, 1, "i"),
        ("TCP_CORK", socket.IPPROTO_TCP, socket.TCP_CORK, 1, "i"),
        ("SO_LINGER", socket.SOL_SOCKET, socket.SO_LINGER, (1, 2), "ii"),
        ("SO_KEEPALIVE", socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1, "i"),
        ("TCP_KEEPIDLE", socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 77, "i"),
        ("SO_RCVLOWAT", socket.SOL_SOCKET, socket.SO_RCVLOWAT, 4, "i"),
        ("TCP_USER_TIMEOUT", socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 4321, "i"),
        ("TCP_NOTSENT_LOWAT", socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 4096, "i"),
        ("SO_RCVTIMEO", socket.SOL_SOCKET, socket.SO_RCVTIMEO, (5, 0), "ll"),
    ]
    if v6:
        opts += [("IPV6_TCLASS", socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x20, "i"),
                 ("IPV6_UNICAST_HOPS", socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 9, "i")]
    else:
        opts += [("IP_TTL", socket.IPPROTO_IP, socket.IP_TTL, 9, "i")]
    byname = {o[0]: o for o in opts}

    def readall(s):
        return {o[0]: read(s, o[1], o[2], o[4]) for o in opts}

    def show(label, vals, want=None):
        for name, v in vals.items():
            print(f"{label} {name} {v}")
            if want is not None:
                check(v == want[name], f"{label}: {name} reads {v}, a fresh socket {want[name]}")

    def setseq(s, names, values=None):
        for n in names:
            _, l, o, v, f = byname[n]
            s.setsockopt(l, o, pack(f, (values or {}).get(n, v)))

    def use(label, before=(), after=(), values=None, want=None):
        s = socket.socket(fam)
        print(f"{label} fd {s.fileno()}")
        setseq(s, before, values)
        show(f"{label} pre", readall(s), want)
        s.connect((host, port))
        setseq(s, after, values)
        show(f"{label} post", readall(s), want)
        check(ping(s), f"{label}: reply")
        s.close()

    fresh = socket.socket(fam)
    pristine = readall(fresh)
    fresh.close()
    show("fresh", pristine)
    names = [o[0] for o in opts]
    use("A1", before=names)  # all set before connect
    use("B1", want=pristine)
    use("A2", after=list(reversed(names)))  # all set after connect, reversed
    use("B2", want=pristine)
    # The order matters: the TOS sets the priority whenever it changes.
    use("C1", before=["SO_PRIORITY", "IP_TOS"], values={"IP_TOS": 0x10})
    use("C2", before=["IP_TOS", "SO_PRIORITY", "IP_TOS"], values={"IP_TOS": 0x10})
    use("C3", before=["SO_PRIORITY"], after=["IP_TOS"], values={"IP_TOS": 0x10})
    use("B3", want=pristine)
    sys.exit(1 if failures else 0)


def run_ruledout():
    """Options that rule pooling out never reach the next user."""
    def use(label, sets):
        s = socket.socket()
        for l, n, v in sets:
            s.setsockopt(l, n, v)
        print(f"{label} pre SO_RCVBUF {s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)}")
        print(f"{label} pre TCP_CONGESTION {congestion(s)}")
        s.connect(("127.0.0.1", port))
        print(f"{label} post TCP_CONGESTION {congestion(s)}")
        check(ping(s), f"{label}: reply")
        s.close()

    def congestion(s):
        return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()

    use("A", [])
    use("D", [(socket.SOL_SOCKET, socket.SO_RCVBUF, 40000)])
    use("E", [])
    use("F", [(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")])
    use("G", [])
    use("H", [(socket.SOL_SOCKET, socket.SO_RCVLOWAT, 4)])
    use("I", [])
    sys.exit(1 if failures else 0)


if MODE == "ruledout":
    run_ruledout()
if MODE == "defaults":
    run_defaults(sys.argv[3] if len(sys.argv) > 3 else "4")

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
