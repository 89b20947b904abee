#!/usr/bin/env python3
"""goodbye-redis.py PORT OPS - redis-py with a client per operation, the
short-connection habit: Redis(...).get(), then close(), which calls
shutdown(SHUT_RDWR) before close(). Prints "requests R errors E crossed C"
(crossed: a reply that was not this operation's)."""
import sys

import redis

port, ops = int(sys.argv[1]), int(sys.argv[2])
errors = crossed = 0
for i in range(ops):
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        if r.get("goodbye:%d" % (i % 10)) != b"v%d" % (i % 10):
            crossed += 1
        r.close()
    except redis.RedisError as e:
        errors += 1
        print(e, file=sys.stderr)
print("requests %d errors %d crossed %d" % (ops, errors, crossed))
