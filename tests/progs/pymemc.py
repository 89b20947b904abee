#!/usr/bin/python3
"""Short-connection memcached client for twpool tests (standard library only).

    pymemc.py [--host H] --port P [-n N] [--prefix P] [--mode plain|asyncio]

The memcached text-protocol counterpart of pyclient.py (which speaks Redis).
Cycle i opens a connection (socket.create_connection or
asyncio.open_connection), sends "set <prefix>-<pid>-<i> 0 0 len" with the
value v<i>, expects STORED, sends "get" for the key, expects exactly
"VALUE <key> 0 len", the value and END, and closes. A failed call or an early
EOF is an error, a wrong reply is "crossed"; either way the next cycle starts
on a fresh connection. The last line on stdout is always

    requests R errors E crossed X elapsed_ms T rps Q

with R = 2 x completed cycles. Exit status 0 iff E and X are 0.
"""

import argparse
import asyncio
import os
import socket
import sys
import time


class Crossed(Exception):
    """The server answered, but not what this request expects."""


def requests(key, val):
    """(request bytes, the exact reply bytes it must get), in order."""
    return [(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(val), val), b"STORED\r\n"),
            (b"get %s\r\n" % key, b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(val), val))]


def check(want, got):
    if got != want:
        if len(got) < len(want) and want.startswith(got):
            raise EOFError("connection closed mid-reply")
        raise Crossed("expected %r, got %r" % (want[:80], got[:80]))


def read_reply(readline, want):
    """Reads as many lines as the wanted reply has and compares."""
    got = b""
    for _ in range(want.count(b"\n")):
        line = readline()
        if not line:
            break
        got += line
    check(want, got)


def plain_cycle(args, key, val):
    with socket.create_connection((args.host, args.port)) as sock:
        with sock.makefile("rb") as f:
            for req, want in requests(key, val):
                sock.sendall(req)
                read_reply(f.readline, want)


async def async_cycle(args, key, val):
    reader, writer = await asyncio.open_connection(args.host, args.port)
    try:
        for req, want in requests(key, val):
            writer.write(req)
            await writer.drain()
            got = b""
            for _ in range(want.count(b"\n")):
                line = await reader.readline()
                if not line:
                    break
                got += line
            check(want, got)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def run_async(args, tally):
    for i in range(args.n):
        key, val = b"%s-%d-%d" % (args.prefix.encode(), os.getpid(), i), b"v%d" % i
        try:
            await async_cycle(args, key, val)
            tally[0] += 1
        except (OSError, EOFError, Crossed) as exc:
            tally[2 if isinstance(exc, Crossed) else 1] += 1
            print("pymemc: cycle %d: %s: %s" % (i, type(exc).__name__, exc), file=sys.stderr)


def run_plain(args, tally):
    for i in range(args.n):
        key, val = b"%s-%d-%d" % (args.prefix.encode(), os.getpid(), i), b"v%d" % i
        try:
            plain_cycle(args, key, val)
            tally[0] += 1
        except (OSError, EOFError, Crossed) as exc:
            tally[2 if isinstance(exc, Crossed) else 1] += 1
            print("pymemc: cycle %d: %s: %s" % (i, type(exc).__name__, exc), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--prefix", default="pm")
    p.add_argument("--mode", choices=("plain", "asyncio"), default="plain")
    args = p.parse_args()

    tally = [0, 0, 0]  # done, errors, crossed
    t0 = time.monotonic()
    if args.mode == "plain":
        run_plain(args, tally)
    else:
        asyncio.run(run_async(args, tally))
    elapsed = time.monotonic() - t0
    reqs = 2 * tally[0]
    print("requests %d errors %d crossed %d elapsed_ms %d rps %d"
          % (reqs, tally[1], tally[2], int(elapsed * 1000), int(reqs / elapsed) if elapsed > 0 else 0))
    return 0 if tally[1] == 0 and tally[2] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
