#!/usr/bin/python3
"""mysql-cycle.py PORT USER PASSWORD DB N MODE: N times connect (PyMySQL),
SELECT CURRENT_USER(), DATABASE(), then go away; MODE quit closes with
COM_QUIT (conn.close()), noquit drops the socket without it, as a killed
or careless client does. Prints 'errors E' and one line per error."""
import sys

import pymysql

port, user, password, db, n, mode = sys.argv[1:7]
want = (f"{user}@%", db)
errors = 0
for i in range(int(n)):
    try:
        c = pymysql.connect(host="127.0.0.1", port=int(port), user=user, password=password,
                            database=db, connect_timeout=5, read_timeout=5)
        cur = c.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        got = cur.fetchone()
        if got != want:
            errors += 1
            print(f"run {i}: got {got}, want {want}")
        if mode == "quit":
            c.close()
        else:
            c._sock.close()
    except Exception as e:  # every failure is counted and shown
        errors += 1
        print(f"run {i}: {e!r}"[:200])
print(f"errors {errors}")
