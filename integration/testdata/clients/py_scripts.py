"""redis-py's scripting against a Shoal cluster (integration/scripting_test.go).

Usage: /usr/bin/python3 py_scripts.py HOST:PORT...

Runs register_script (EVALSHA, falling back to EVAL on NOSCRIPT) and a
redis-py Lock (its acquire, extend and release are Lua scripts), and prints
one JSON object with what each returned; the test checks it.
"""
import json
import sys

from redis.cluster import ClusterNode, RedisCluster


def main():
    nodes = []
    for a in sys.argv[1:]:
        host, port = a.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    rc = RedisCluster(startup_nodes=nodes)
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
