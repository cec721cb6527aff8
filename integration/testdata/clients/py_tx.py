"""redis-py transactions against a Shoal cluster (integration/tx_test.go).

Usage: /usr/bin/python3 py_tx.py KEY THREADS INCREMENTS HOST:PORT...

redis-py 4.x's RedisCluster has no transactions (its pipeline refuses
transaction=True): as its documentation suggests, the script runs them on
the redis.Redis client of the node that serves KEY's slot, which the
RedisCluster finds (and finds again, after MOVED or a lost connection:
run_on_node).

First, one pipeline(transaction=True) with mixed commands, then THREADS
threads that each add INCREMENTS to KEY with the optimistic-lock recipe
(WATCH, GET, MULTI, SET, EXEC; retry on WatchError); it prints
{"tx": [...], "ok": n, "retries": n, "final": n}, then the line KILL, and
waits for a line on stdin: meanwhile the test kills the leader of KEY's
group. Then, with the same clients: ten transactions INCR x, INCRBY y 10
(each reply must have y = 10 x), the threads again, and one WATCH that a
concurrent SET must abort; it prints
{"tx_after": [[x, y]...], "x": n, "y": n, "ok": n, "retries": n,
"final": n, "uncertain": n, "watch_aborted": bool, "watched": n,
"after_watch": n}. uncertain counts the EXECs that failed in a way that
leaves unknown whether they applied (a reply lost with the connection, a
proposal timeout); redirections, refused connections and aborted
transactions are retried and never applied.
"""
import copy
import json
import sys
import threading
import time
import types

import redis
import redis.cluster
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MovedError,
    TimeoutError,
    TryAgainError,
    WatchError,
)

# redis-py before 4.4 (Debian 12 ships 4.3.4) deep-copies its connection
# arguments when it reconnects to a seed node that lost its connection:
# they hold a bound method of the client, hence its locks, and the copy
# fails with "cannot pickle '_thread.lock' object", which ends the client
# at the first failover whose dead node comes first in CLUSTER SLOTS.
# redis-py 4.4 fixed it (redis/redis-py#2377) by not copying them; a
# shallow copy does the same here.
if tuple(int(x) for x in redis.__version__.split(".")[:2]) < (4, 4):
    redis.cluster.copy = types.SimpleNamespace(deepcopy=copy.copy)

key = sys.argv[1]
threads, increments = int(sys.argv[2]), int(sys.argv[3])
nodes = []
for a in sys.argv[4:]:
    host, port = a.rsplit(":", 1)
    nodes.append(ClusterNode(host, int(port)))
rc = RedisCluster(startup_nodes=nodes, cluster_error_retry_attempts=40)
rc_lock = threading.Lock()  # RedisCluster's slot map is not thread-safe
tag = key[: key.index("}") + 1]
counts = {"ok": 0, "retries": 0, "uncertain": 0}
counts_lock = threading.Lock()


def count(name):
    with counts_lock:
        counts[name] += 1


class NotApplied(Exception):
    """An EXEC that surely did not apply (see certain())."""


def certain(e):
    """Whether the failure e of an EXEC leaves its transaction unapplied:
    a redirection or TRYAGAIN (the transaction was aborted), a refused
    connection (nothing was sent)."""
    if isinstance(e, (MovedError, TryAgainError)):
        return True
    return isinstance(e, ConnectionError) and "Connection refused" in str(e)


def run_on_node(f, deadline=90):
    """Calls f with the redis.Redis client of the node serving key, finding
    the node again after each failure, for at most deadline seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            with rc_lock:
                r = rc.get_redis_connection(rc.get_node_from_key(key))
            return f(r)
        except (MovedError, TryAgainError, ClusterDownError, ConnectionError, TimeoutError) as e:
            if time.monotonic() > end:
                raise
            print(f"retrying after {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            time.sleep(0.1)  # a client's backoff while the group elects
            with rc_lock:
                try:
                    rc.nodes_manager.initialize()
                except Exception as e2:  # noqa: BLE001 (no node answers yet)
                    print(f"reloading the slot map: {e2}", file=sys.stderr, flush=True)


def execute(pipe):
    """pipe.execute(), counting the failures that may have applied."""
    try:
        return pipe.execute()
    except WatchError:
        raise
    except Exception as e:
        if not certain(e):
            count("uncertain")
        raise


def increment(r):
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                v = int(pipe.get(key))
                pipe.multi()
                pipe.set(key, v + 1)
                execute(pipe)
                count("ok")
                return
            except WatchError:
                count("retries")


def worker():
    for _ in range(increments):
        run_on_node(increment)


def run_workers():
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def decode(vals):
    return [v.decode() if isinstance(v, bytes) else v for v in vals]


def first_tx(r):
    p = r.pipeline(transaction=True)
    p.set(tag + "a", "1").incr(tag + "a").get(tag + "a").exists(tag + "none")
    return decode(execute(p))


out = run_on_node(first_tx)
run_on_node(lambda r: r.set(key, 0))
run_on_node(lambda r: (r.set(tag + "x", 0), r.set(tag + "y", 0)))
run_workers()
final = run_on_node(lambda r: int(r.get(key)))
print(json.dumps({"tx": out, "ok": counts["ok"], "retries": counts["retries"], "final": final}), flush=True)
ok_before = counts["ok"]
print("KILL", flush=True)
sys.stdin.readline()


def pair_tx(r):
    p = r.pipeline(transaction=True)
    p.incr(tag + "x").incrby(tag + "y", 10)
    return execute(p)


tx_after = [run_on_node(pair_tx) for _ in range(10)]
x = run_on_node(lambda r: int(r.get(tag + "x")))
y = run_on_node(lambda r: int(r.get(tag + "y")))
run_workers()
final = run_on_node(lambda r: int(r.get(key)))


def watch_aborted(r):
    """WATCH key, change it from another connection, then MULTI/EXEC:
    the EXEC must abort. Returns (aborted, the value set meanwhile)."""
    with r.pipeline() as pipe:
        pipe.watch(key)
        v = int(pipe.get(key)) + 1000
        r.set(key, v)  # another connection of the pool
        pipe.multi()
        pipe.set(key, -1)
        try:
            execute(pipe)
            return False, v
        except WatchError:
            return True, v


aborted, watched = run_on_node(watch_aborted)
after_watch = run_on_node(lambda r: int(r.get(key)))
print(json.dumps({
    "tx_after": tx_after, "x": x, "y": y,
    "ok": counts["ok"] - ok_before, "retries": counts["retries"], "final": final,
    "uncertain": counts["uncertain"],
    "watch_aborted": aborted, "watched": watched, "after_watch": after_watch,
}), flush=True)
