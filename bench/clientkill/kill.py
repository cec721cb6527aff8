"""redis-py RedisCluster through a master's SIGKILL (see run.sh).

Usage: kill.py WORKDIR PORT...: every port is a startup node, as in
Shoal's client matrix; WORKDIR/PORT/pid holds each server's pid.
"""
import json
import os
import signal
import sys
import time

import redis
from redis.cluster import ClusterNode, RedisCluster

work, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
key = "matrix-key"
rc.set(key, "v0")
node = rc.get_node_from_key(key)
os.kill(int(open(os.path.join(work, str(node.port), "pid")).read()), signal.SIGKILL)
t0, errors, ok = time.time(), {}, None
while time.time() - t0 < 20:
    try:
        rc.set(key, "v1")
        ok = round(time.time() - t0, 2)
        break
    except Exception as e:  # noqa: BLE001 - every failure is reported
        n = "%s: %s" % (type(e).__name__, str(e)[:80])
        errors[n] = errors.get(n, 0) + 1
        time.sleep(0.1)
print(json.dumps({"client": "redis-py " + redis.__version__, "killed": node.port,
                  "recovered_after_s": ok, "errors": errors}))
