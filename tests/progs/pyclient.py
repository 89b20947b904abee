#!/usr/bin/python3
"""Short-connection Redis client for twpool tests (standard library only).

    pyclient.py [--host H] --port P [-n N] [--prefix P]
                [--mode plain|asyncio] [--keepalive]

Cycle i opens a connection (socket.create_connection or
asyncio.open_connection), sends the RESP command SET <prefix>-<i> v<i>,
expects +OK, sends GET <prefix>-<i>, expects the bulk string v<i>, and closes.
--keepalive uses one connection for every cycle instead. A failed call or an
early EOF is an error, a wrong reply is "crossed"; either way the next cycle
starts on a fresh connection. The last line on stdout is always

    requests R errors E crossed X elapsed_ms T rps Q

with R = 2 x completed cycles. Exit status 0 iff E and X are 0.
"""

import argparse
import asyncio
import socket
import sys
import time


class Crossed(Exception):
    """The server answered, but not what this request expects."""


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def parse_header(line):
    """Returns (kind, value) of a reply's first line; value is the bulk length
    for '$', the text for '+' and '-', the number for ':'."""
    if not line.endswith(b"\n"):
        raise EOFError("connection closed mid-reply")
    if not line.endswith(b"\r\n"):
        raise Crossed("not a RESP reply: %r" % line[:80])
    kind, rest = line[:1], line[1:-2]
    if kind in (b"+", b"-"):
        return kind, rest.decode(errors="replace")
    if kind in (b"$", b":"):
        try:
            return kind, int(rest)
        except ValueError:
            pass
    raise Crossed("not a RESP reply: %r" % line[:80])


def check(req, want, kind, value):
    if kind == b"-":
        raise Crossed("%s: error reply %r" % (req, value))
    if (kind, value) != want:
        raise Crossed("%s: expected %r, got %r" % (req, want[1], value))


class PlainConn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(encode(*args))
        kind, value = parse_header(self.file.readline())
        if kind == b"$" and value >= 0:
            data = self.file.read(value + 2)
            if len(data) != value + 2:
                raise EOFError("connection closed mid-reply")
            value = data[:-2].decode(errors="replace")
        return kind, value

    def close(self):
        self.file.close()
        self.sock.close()


class AsyncConn:
    @classmethod
    async def open(cls, host, port):
        self = cls()
        self.reader, self.writer = await asyncio.open_connection(host, port)
        return self

    async def call(self, *args):
        self.writer.write(encode(*args))
        await self.writer.drain()
        kind, value = parse_header(await self.reader.readline())
        if kind == b"$" and value >= 0:
            data = await self.reader.readexactly(value + 2)
            value = data[:-2].decode(errors="replace")
        return kind, value

    async def close(self):
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def expected(args, i):
    key = "%s-%d" % (args.prefix, i)
    return [(("SET", key, "v%d" % i), (b"+", "OK")),
            (("GET", key), (b"$", "v%d" % i))]


class Tally:
    def __init__(self):
        self.done = self.errors = self.crossed = 0

    def failed(self, i, exc):
        if isinstance(exc, Crossed):
            self.crossed += 1
        else:
            self.errors += 1
        print("pyclient: cycle %d: %s: %s" % (i, type(exc).__name__, exc),
              file=sys.stderr)


def run_plain(args, tally):
    conn = None
    for i in range(args.n):
        try:
            if conn is None:
                conn = PlainConn(args.host, args.port)
            for req, want in expected(args, i):
                check(req[0], want, *conn.call(*req))
            tally.done += 1
        except (OSError, EOFError, Crossed) as exc:
            tally.failed(i, exc)
            if conn is not None:
                conn.close()
            conn = None
        if conn is not None and not args.keepalive:
            conn.close()
            conn = None
    if conn is not None:
        conn.close()


async def run_asyncio(args, tally):
    conn = None
    for i in range(args.n):
        try:
            if conn is None:
                conn = await AsyncConn.open(args.host, args.port)
            for req, want in expected(args, i):
                check(req[0], want, *await conn.call(*req))
            tally.done += 1
        except (OSError, EOFError, Crossed) as exc:  # IncompleteReadError is an EOFError
            tally.failed(i, exc)
            if conn is not None:
                await conn.close()
            conn = None
        if conn is not None and not args.keepalive:
            await conn.close()
            conn = None
    if conn is not None:
        await conn.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--prefix", default="py")
    p.add_argument("--mode", choices=("plain", "asyncio"), default="plain")
    p.add_argument("--keepalive", action="store_true")
    args = p.parse_args()

    tally = Tally()
    t0 = time.monotonic()
    if args.mode == "plain":
        run_plain(args, tally)
    else:
        asyncio.run(run_asyncio(args, tally))
    elapsed = time.monotonic() - t0
    requests = 2 * tally.done
    rps = int(requests / elapsed) if elapsed > 0 else 0
    print("requests %d errors %d crossed %d elapsed_ms %d rps %d"
          % (requests, tally.errors, tally.crossed, int(elapsed * 1000), rps))
    return 0 if tally.errors == 0 and tally.crossed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
