#!/usr/bin/python3
"""mysql-cycle.py PORT N MODE USER:PASSWORD:DB...: N times connect (PyMySQL)
with the next login of the list (round robin), SELECT CURRENT_USER(),
DATABASE(), check both are that login's, then go away; MODE quit closes
with COM_QUIT (conn.close()), noquit drops the socket without it, as a
killed or careless client does, pause closes with COM_QUIT and waits 2 s
before the next cycle. Prints one line per error and 'errors E'."""
import sys
import time

import pymysql

port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
logins = [a.split(":") for a in sys.argv[4:]]
errors = 0
for i in range(n):
    user, password, db = logins[i % len(logins)]
    want = (f"{user}@%", db)
    try:
        c = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                            database=db, connect_timeout=5, read_timeout=5)
        cur = c.cursor()
        cur.execute("SELECT CURRENT_USER(), DATABASE()")
        got = cur.fetchone()
        if got != want:
            errors += 1
            print(f"run {i}: got {got}, want {want}")
        if mode in ("quit", "pause"):
            c.close()
            if mode == "pause":
                time.sleep(2)
        else:
            c._rfile.close()  # the socket's last other reference
            c._sock.close()
    except Exception as e:  # every failure is counted and shown
        errors += 1
        print(f"run {i}: {e!r}"[:200])
print(f"errors {errors}")
