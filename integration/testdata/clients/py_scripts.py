"""redis-py's scripting against a Shoal cluster (integration/scripting_test.go).

Usage: /usr/bin/python3 py_scripts.py HOST:PORT...

Runs register_script (EVALSHA, falling back to EVAL on NOSCRIPT) and a
redis-py Lock (its acquire, extend and release are Lua scripts), and prints
one JSON object with what each returned. Then it takes two locks (one
without a timeout, one with), prints a second JSON object and the line
KILL, and waits for a line on stdin: meanwhile the test kills the leader of
the keys' group. It goes on through the failover with the same client and
prints a third JSON object: a plain EVALSHA of the registered script (no
NOSCRIPT fallback), the script's counter, and what became of the locks.
The test checks the three.
"""
import copy
import json
import sys
import time
import types

import redis
import redis.cluster
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import LockNotOwnedError, NoScriptError

# redis-py before 4.4 (Debian 12 ships 4.3.4) deep-copies its connection
# arguments when it reconnects to a seed node that lost its connection:
# they hold a bound method of the client, hence its locks, and the copy
# fails with "cannot pickle '_thread.lock' object", which ends the client
# at the first failover whose dead node comes first in CLUSTER SLOTS.
# redis-py 4.4 fixed it (redis/redis-py#2377) by not copying them; a
# shallow copy does the same here.
if tuple(int(x) for x in redis.__version__.split(".")[:2]) < (4, 4):
    redis.cluster.copy = types.SimpleNamespace(deepcopy=copy.copy)

# The timed lock's timeout, in seconds: longer than a failover under load.
TTL = 30


def main():
    nodes = []
    for a in sys.argv[1:]:
        host, port = a.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    # redis-py's own failover handling: a command that meets a dead node
    # retries its connection 5 times 0.25 s apart, then reloads the slot
    # map and starts again, cluster_error_retry_attempts times (3 by
    # default, too few for an election on a loaded machine).
    rc = RedisCluster(startup_nodes=nodes, cluster_error_retry_attempts=40)
    out = {}
    incr = rc.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    out["incr1"] = incr(keys=["py:{s}:n"], args=[5])
    out["incr2"] = incr(keys=["py:{s}:n"], args=[2])
    echo = rc.register_script("return {KEYS[1], ARGV[1], 3.7, true, false}")
    out["echo"] = [x.decode() if isinstance(x, bytes) else x for x in echo(keys=["py:{s}:k"], args=["a"])]
    lock = rc.lock("py:{s}:lock", timeout=10)
    out["acquired"] = lock.acquire(blocking=False)
    out["owned"] = lock.owned()
    other = rc.lock("py:{s}:lock", timeout=10)
    out["second_acquired"] = other.acquire(blocking=False)
    out["extended"] = lock.extend(5)
    lock.release()
    out["released_owned"] = lock.owned()
    out["reacquired"] = other.acquire(blocking=False)
    other.release()
    try:
        rc.eval("return redis.call('SET', KEYS[1], 'x')", 1, "py:{s}:ro")
        rc.eval_ro("return redis.call('SET', KEYS[1], 'x')", 1, "py:{s}:ro")
        out["eval_ro"] = "no error"
    except Exception as e:  # noqa: BLE001
        out["eval_ro"] = str(e)
    print(json.dumps(out), flush=True)

    # Across a leader kill.
    before = {"incr": incr(keys=["py:{s}:n"], args=[3])}
    held = rc.lock("py:{s}:held")  # no timeout
    before["held"] = held.acquire(blocking=False)
    timed = rc.lock("py:{s}:ttl", timeout=TTL)
    # The wall clock, as the server's expiry: on a VM the monotonic clock
    # may run at another rate (0.5% slower here).
    t0 = time.time()
    before["ttl_acquired"] = timed.acquire(blocking=False)
    print(json.dumps(before), flush=True)
    print("KILL", flush=True)
    sys.stdin.readline()

    after = {"ttl": TTL}
    try:
        after["evalsha"] = rc.evalsha(incr.sha, 1, "py:{s}:n", 1)
    except NoScriptError as e:
        after["evalsha"] = "NOSCRIPT: " + str(e)
    after["incr"] = incr(keys=["py:{s}:n"], args=[2])
    after["echo"] = [x.decode() if isinstance(x, bytes) else x for x in echo(keys=["py:{s}:k"], args=["b"])]
    thief = rc.lock("py:{s}:held")
    after["held_stolen"] = thief.acquire(blocking=False)
    after["held_owned"] = held.owned()
    held.release()
    after["held_owned_after_release"] = held.owned()
    after["held_reacquired"] = thief.acquire(blocking=False)
    thief.release()
    waiter = rc.lock("py:{s}:ttl", timeout=5)
    after["ttl_stolen"] = waiter.acquire(blocking=False)
    after["ttl_pttl"] = rc.pttl("py:{s}:ttl")
    # redis-py's blocking acquire polls (every 0.1 s) until the TTL ends.
    after["ttl_expired"] = waiter.acquire(blocking=True, blocking_timeout=TTL + 60)
    after["ttl_waited"] = time.time() - t0
    try:
        timed.release()
        after["ttl_owner_release"] = "released"
    except LockNotOwnedError:
        after["ttl_owner_release"] = "LockNotOwnedError"
    waiter.release()
    print(json.dumps(after), flush=True)


if __name__ == "__main__":
    main()
