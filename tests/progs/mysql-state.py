#!/usr/bin/python3
"""mysql-state.py PORT MODE: for each piece of MySQL session state, one
connection (user A) leaves it behind and goes (MODE quit: COM_QUIT;
noquit: drops the socket), then a new connection of the same process
(user B) checks it sees a fresh session. Prints one line per leak and
'leaks N'. Run with and without the shim: both must print 'leaks 0'.
Needs database d1 with table t (id INT PRIMARY KEY AUTO_INCREMENT, v
VARCHAR(64)) and d2, user u1/p1 with rights on both and role r1."""
import sys

import pymysql

port, mode = int(sys.argv[1]), sys.argv[2]


def connect():
    return pymysql.connect(host="127.0.0.1", port=port, user="u1", password="p1", database="d1",
                           charset="utf8mb4", connect_timeout=5, read_timeout=10, autocommit=True)


def one(c, sql):
    cur = c.cursor()
    cur.execute(sql)
    return cur.fetchone()


def leave(c):
    if mode == "quit":
        c.close()
    else:
        c._rfile.close()  # the socket's last other reference
        c._sock.close()


def fails(c, sql):
    try:
        one(c, sql)
        return False
    except pymysql.MySQLError:
        return True


# name: (what A does, what B checks: a function of B's connection -> ok)
cases = [
    ("USE", ["USE d2"], lambda b: one(b, "SELECT DATABASE()") == ("d1",)),
    ("user variable", ["SET @x = 5"], lambda b: one(b, "SELECT @x") == (None,)),
    ("sql_mode", ["SET SESSION sql_mode = 'ANSI'"],
     lambda b: one(b, "SELECT @@session.sql_mode = @@global.sql_mode") == (1,)),
    ("character set", ["SET NAMES latin1"],
     lambda b: one(b, "SELECT @@character_set_client") == ("utf8mb4",)),
    ("session variable", ["SET SESSION wait_timeout = 77"],
     lambda b: one(b, "SELECT @@session.wait_timeout = @@global.wait_timeout") == (1,)),
    ("role", ["SET ROLE r1"], lambda b: one(b, "SELECT CURRENT_ROLE()") == (None,)),
    ("temporary table", ["CREATE TEMPORARY TABLE tt (a INT)"], lambda b: fails(b, "SELECT * FROM tt")),
    ("open transaction", ["SET autocommit = 0", "INSERT INTO t (v) VALUES ('uncommitted')"],
     lambda b: one(b, "SELECT COUNT(*) FROM t WHERE v = 'uncommitted'") == (0,)),
    ("row lock", ["BEGIN", "SELECT * FROM t WHERE id = 1 FOR UPDATE"],
     lambda b: one(b, "SET SESSION innodb_lock_wait_timeout = 2") is None
     and not fails(b, "SELECT * FROM t WHERE id = 1 FOR UPDATE")),
    ("GET_LOCK", ["SELECT GET_LOCK('twpool-test', 0)"], lambda b: one(b, "SELECT IS_FREE_LOCK('twpool-test')") == (1,)),
    ("LAST_INSERT_ID", ["INSERT INTO t (v) VALUES ('id')"], lambda b: one(b, "SELECT LAST_INSERT_ID()") == (0,)),
    ("prepared statement", ["PREPARE s FROM 'SELECT 1'"], lambda b: fails(b, "EXECUTE s")),
]

leaks = 0
for name, doing, ok in cases:
    a = connect()
    for sql in doing:
        one(a, sql)
    leave(a)
    b = connect()
    try:
        good = ok(b)
    except pymysql.MySQLError as e:
        good = False
        print(f"{name}: {e!r}"[:200])
    if not good:
        leaks += 1
        print(f"{name}: user B saw user A's state")
    b.close()
print(f"leaks {leaks}")
