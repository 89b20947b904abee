#!/usr/bin/python3
"""Pool a few connections, then exec a program that lists its own fds.

Under the shim the pool holds an idle connection at the moment of exec; the
listing (printed by the exec'd ls) must show no socket."""
import os
import socket
import sys

port = int(sys.argv[1])
for _ in range(5):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"PING\r\n")
    assert s.recv(64) == b"+PONG\r\n"
    s.close()
sys.stdout.flush()
os.execv("/bin/ls", ["ls", "-l", "/proc/self/fd/"])
