#!/usr/bin/python3
"""mysql-hazards.py PORT CASE: one of the ways a review found to get
another login's session through a pooled MySQL connection. Each case
prints what it saw and ends with 'bad N' (0: what a program sees without
twpool). Needs tests/integration's users: u1/p1 (d1, d2, role r1), u3/p3
(ed25519, d1 and d2).

  pipelined   a login with a wrong password and a query in one write
  role        SET ROLE hidden from a scan of the query text
  use         USE hidden in an executable comment and in EXECUTE IMMEDIATE
  caps        a login with FOUND_ROWS and MULTI_STATEMENTS, then one without
  dup         a program that works on a dup() of its socket"""
import os
import socket
import struct
import sys

import pymysql
from pymysql._auth import scramble_native_password
from pymysql.constants import CLIENT

port, case = int(sys.argv[1]), sys.argv[2]
bad = 0


def connect(user="u1", password="p1", db="d1", **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password, database=db,
                           connect_timeout=5, read_timeout=5, **kw)


def one(c, sql):
    cur = c.cursor()
    cur.execute(sql)
    return cur.fetchone()


def expect(what, got, want):
    global bad
    if got != want:
        bad += 1
        print(f"{what}: got {got!r}, want {want!r}")


def read_packet(s):
    head = b""
    while len(head) < 4:
        more = s.recv(4 - len(head))
        if not more:
            return None
        head += more
    n, body = head[0] | head[1] << 8 | head[2] << 16, b""
    while len(body) < n:
        more = s.recv(n - len(body))
        if not more:
            return None
        body += more
    return body


def raw_login(password, then=b""):
    """A login of u1 on d1 written by hand (with then in the same write):
    the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    g = read_packet(s)
    at = g.index(b"\0", 1) + 1 + 4
    salt = g[at:at + 8] + g[at + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10:][:12]
    caps = 0x1 | 0x4 | 0x8 | 0x200 | 0x8000 | 0x20000 | 0x80000
    auth = scramble_native_password(password, salt)
    body = (struct.pack("<IIB23x", caps, 1 << 24, 45) + b"u1\0" + bytes([len(auth)]) + auth +
            b"d1\0mysql_native_password\0")
    try:
        s.sendall(struct.pack("<I", len(body))[:3] + b"\x01" + body + then)
    except BrokenPipeError:  # the server refused the login and went away
        pass
    return s


def replies(s, most):
    got = []
    try:
        while len(got) < most:
            p = read_packet(s)
            if p is None:
                break
            got.append(p)
    except OSError:
        pass
    return got


def pipelined():
    s = raw_login(b"p1")  # a connection of this login's to pool
    expect("the login's reply", replies(s, 1)[0][:1], b"\x00")
    s.sendall(b"\x01\x00\x00\x00\x01")  # COM_QUIT
    s.close()
    query = b"\x03SELECT CURRENT_USER()"
    s = raw_login(b"wrong", struct.pack("<I", len(query))[:3] + b"\x00" + query)
    got = replies(s, 6)
    expect("the refused login's reply", got[0][:1] if got else None, b"\xff")
    expect("a query after a refused login ran", any(b"u1@" in p for p in got), False)


def role():
    c = connect()
    one(c, "EXECUTE IMMEDIATE CONCAT('SET RO', 'LE r1')")
    c.close()
    for user, password in (("u1", "p1"), ("u3", "p3")):
        c = connect(user, password)
        expect(f"{user}'s role", one(c, "SELECT CURRENT_ROLE()"), (None,))
        c.close()


def use():
    for how in ("/*!40101USE d2*/", "EXECUTE IMMEDIATE CONCAT('U', 'SE d2')"):
        c = connect()
        one(c, how)
        c.close()
        for _ in range(2):
            c = connect()
            expect(f"the database after {how}", one(c, "SELECT DATABASE()"), ("d1",))
            c.close()


def caps():
    c = connect(client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS)
    expect("FOUND_ROWS counts a matched row", c.cursor().execute("UPDATE t SET v = v WHERE id = 1"), 1)
    c.close()
    for _ in range(2):
        c = connect()
        expect("without FOUND_ROWS, a row left as it was", c.cursor().execute(
            "UPDATE t SET v = v WHERE id = 1"), 0)
        try:
            one(c, "SELECT 1; SELECT 2")
            expect("two statements without MULTI_STATEMENTS", "accepted", "refused")
        except pymysql.MySQLError:
            pass
        c.close()


def dup():
    connect().close()
    s = socket.create_connection(("127.0.0.1", port))
    copy = socket.socket(fileno=os.dup(s.fileno()))
    c = connect(defer_connect=True)
    try:
        c.connect(sock=copy)
        expect("a query on the copy", one(c, "SELECT 7"), (7,))
        c.close()
    except pymysql.MySQLError as e:  # refused loudly: not a hang, not a wrong answer
        print(f"dup: {e!r}"[:200])
    s.close()


{"pipelined": pipelined, "role": role, "use": use, "caps": caps, "dup": dup}[case]()
print(f"bad {bad}")
