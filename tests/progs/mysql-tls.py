#!/usr/bin/python3
"""mysql-tls.py PORT N CA: N times connect (PyMySQL) as u1 on d1, over TLS
verified with the certificate CA (its own CA, for 127.0.0.1), or without
TLS when CA is '-'; SELECT CURRENT_USER() and the session's Ssl_cipher,
check the user and that the session is TLS exactly when asked, close
(COM_QUIT). Prints one line per error and 'errors E'."""
import sys

import pymysql

port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
tls = {"ssl": {"ca": ca}} if ca != "-" else {"ssl_disabled": True}
errors = 0
for i in range(n):
    try:
        c = pymysql.connect(host="127.0.0.1", port=port, user="u1", password="p1",
                            database="d1", connect_timeout=5, read_timeout=5, **tls)
        cur = c.cursor()
        cur.execute("SELECT CURRENT_USER()")
        user = cur.fetchone()[0]
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        cipher = cur.fetchone()[1]
        if user != "u1@%" or bool(cipher) != (ca != "-"):
            errors += 1
            print(f"run {i}: user {user!r}, Ssl_cipher {cipher!r}, TLS asked: {ca != '-'}")
        c.close()
    except Exception as e:  # every failure is counted and shown
        errors += 1
        print(f"run {i}: {e!r}"[:200])
print(f"errors {errors}")
