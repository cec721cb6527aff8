"""redis-py transactions against one Shoal node (integration/tx_test.go).

Usage: /usr/bin/python3 py_tx.py HOST PORT KEY THREADS INCREMENTS

Against the node that leads KEY's slot, with redis.Redis (redis-py's
pipeline.watch needs a plain client): one pipeline(transaction=True) with
mixed commands, then THREADS threads that each add INCREMENTS to KEY with
the optimistic-lock recipe (WATCH, GET, MULTI, SET, EXEC; retry on
WatchError). Prints one JSON line: {"tx": [...], "ok": n, "retries": n,
"final": n}.
"""
import json
import sys
import threading

import redis

host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
threads, increments = int(sys.argv[4]), int(sys.argv[5])

r = redis.Redis(host=host, port=port)
tag = key[: key.index("}") + 1]
p = r.pipeline(transaction=True)
p.set(tag + "a", "1").incr(tag + "a").get(tag + "a").exists(tag + "none")
out = [v.decode() if isinstance(v, bytes) else v for v in p.execute()]

r.set(key, 0)
ok, retries = [0], [0]
lock = threading.Lock()


def worker():
    c = redis.Redis(host=host, port=port)
    for _ in range(increments):
        with c.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    v = int(pipe.get(key))
                    pipe.multi()
                    pipe.set(key, v + 1)
                    pipe.execute()
                    with lock:
                        ok[0] += 1
                    break
                except redis.WatchError:
                    with lock:
                        retries[0] += 1


ts = [threading.Thread(target=worker) for _ in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(json.dumps({"tx": out, "ok": ok[0], "retries": retries[0], "final": int(r.get(key))}))
