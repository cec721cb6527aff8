"""A redis-py RedisCluster writer for the integration tests.

Usage: /usr/bin/python3 pycluster_writer.py PREFIX NKEYS HOST:PORT...

Writes PREFIX0 .. PREFIX{NKEYS-1} in turn with increasing values through
redis-py's RedisCluster (its own retries and redirects, defaults otherwise)
until stdin closes, then prints one JSON line: operations, errors left after
the client's retries, the first error, and the last acknowledged value of
every key.
"""
import json
import logging
import sys
import threading
import traceback

from redis.cluster import ClusterNode, RedisCluster


def main():
    # redis-py logs a traceback for every MOVED and connection error it
    # handles itself: only what reaches the caller counts here.
    logging.getLogger("redis").setLevel(logging.CRITICAL)
    prefix, nkeys = sys.argv[1], int(sys.argv[2])
    nodes = []
    for a in sys.argv[3:]:
        host, port = a.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    rc = RedisCluster(startup_nodes=nodes, socket_timeout=10)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    acked = {}
    ops = errors = 0
    first = ""
    n = 0
    print("ready", flush=True)
    while not stop.is_set():
        n += 1
        for i in range(nkeys):
            if stop.is_set():
                break
            k = prefix + str(i)
            try:
                rc.set(k, n)
                acked[k] = n
            except Exception as e:  # noqa: BLE001 - every failure counts
                errors += 1
                if not first:
                    first = "SET %s: %s: %s" % (k, type(e).__name__, e)
                    traceback.print_exc()  # to stderr: the test log
            ops += 1
    print(json.dumps({"ops": ops, "errors": errors, "first": first, "acked": acked}), flush=True)


if __name__ == "__main__":
    main()
