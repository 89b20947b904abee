#!/usr/bin/python3
"""mysql-bench.py PORT N MODE USER:PASSWORD - N `SELECT 1` with PyMySQL.
MODE keep-alive: one connection for all of them; cycle: connect + SELECT 1
+ close (COM_QUIT) each time. Checks every answer and prints
'requests R errors E rps X', timed from the first connect to the last
close (the interpreter's start is not counted)."""
import sys
import time

import pymysql

port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
user, password = sys.argv[4].split(":")


def connect():
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           connect_timeout=5, read_timeout=5)


def select1(c):
    cur = c.cursor()
    cur.execute("SELECT 1")
    return cur.fetchone() == (1,)


def keep_alive():
    c = connect()
    good = sum(select1(c) for _ in range(n))
    c.close()
    return good


def cycles():
    good = 0
    for _ in range(n):
        c = connect()
        good += select1(c)
        c.close()
    return good


t0 = time.monotonic()
try:
    good = keep_alive() if mode == "keep-alive" else cycles()
except Exception as e:  # the run fails, and says why
    print(f"error: {e!r}"[:200])
    good = 0
elapsed = time.monotonic() - t0
print(f"requests {good} errors {n - good} rps {good / elapsed:.0f}")
