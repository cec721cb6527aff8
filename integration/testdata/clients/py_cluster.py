"""redis-py's RedisCluster in Shoal's client matrix (integration/clients_test.go).

Usage: /usr/bin/python3 py_cluster.py HOST:PORT...

Connects with RedisCluster (defaults otherwise), prints one JSON line
{"ready": true, "version": ...}, then answers each JSON request line on
stdin with one JSON line on stdout (the ops are described in
clients_test.go). Every reply is encoded as: a string, an integer, null,
a list, or {"err": "ExceptionType: message"} for an error; the test does
every check itself.
"""
import json
import logging
import sys
import time

import redis
from redis.cluster import ClusterNode, RedisCluster


def enc(v):
    if isinstance(v, bytes):
        return v.decode()
    if v is True:
        return "OK"  # redis-py's reply to SET and MSET
    if isinstance(v, (list, tuple)):
        return [enc(x) for x in v]
    if isinstance(v, Exception):
        return {"err": "%s: %s" % (type(v).__name__, v)}
    return v


def attempt(fn):
    try:
        return enc(fn())
    except Exception as e:  # noqa: BLE001 - the test judges every failure
        return enc(e)


def op_slots(rc, req):
    sets = [attempt(lambda k=k, v=v: rc.set(k, v)) for k, v in zip(req["keys"], req["values"])]
    gets = [attempt(lambda k=k: rc.get(k)) for k in req["keys"]]
    return {"set": sets, "get": gets}


def op_touch(rc, req):
    """GET every key: a client whose view of the cluster is stale meets a
    MOVED and reloads it."""
    errors = [r for r in (attempt(lambda k=k: rc.get(k)) for k in req["keys"]) if isinstance(r, dict)]
    return {"errors": len(errors), "first": errors[0]["err"] if errors else ""}


def op_pipeline(rc, req):
    def run():
        p = rc.pipeline()
        for i, k in enumerate(req["keys"]):
            p.set(k, str(i))
            p.incr(req["key"])
            p.get(k)
        return [enc(r) for r in p.execute(raise_on_error=False)]

    def cross():
        # A cluster pipeline over many slots: redis-py splits it by node.
        p = rc.pipeline()
        for k in req["cross_keys"]:
            p.set(k, k)
        return [enc(r) for r in p.execute(raise_on_error=False)]
    return {"replies": attempt(run), "cross": attempt(cross)}


def op_multikey(rc, req):
    a, b, c = req["keys"]
    m = req["missing"]
    return {
        "mset": attempt(lambda: rc.mset({a: "1", b: "2", c: "3"})),
        "mget": attempt(lambda: rc.mget(a, b, c, m)),
        "del": attempt(lambda: rc.delete(a, b, m)),
    }


def op_crossslot(rc, req):
    a, b = req["keys"]
    return {
        "mset": attempt(lambda: rc.mset({a: "1", b: "2"})),
        "mget": attempt(lambda: rc.mget(a, b)),
    }


def op_scan(rc, req):
    match = req["match"]
    return {
        "primaries": sorted(n.name for n in rc.get_primaries()),
        "scan": attempt(lambda: list(rc.scan_iter(match=match, count=1000))),
        "keys": attempt(lambda: rc.keys(match, target_nodes=RedisCluster.PRIMARIES)),
        "dbsize": attempt(lambda: rc.dbsize(target_nodes=RedisCluster.PRIMARIES)),
    }


def op_ttl(rc, req):
    k1, k2, k3 = req["keys"]
    return {
        "set": attempt(lambda: rc.set(k1, "v")),
        "expire": attempt(lambda: int(rc.expire(k1, 100))),
        "ttl": attempt(lambda: rc.ttl(k1)),
        "setpx": attempt(lambda: rc.set(k2, "v", px=100000)),
        "pttl": attempt(lambda: rc.pttl(k2)),
        "setshort": attempt(lambda: rc.set(k3, "v", px=300)),
    }


def op_get(rc, req):
    return {"get": attempt(lambda: rc.get(req["key"]))}


def op_rw(rc, req):
    """SET then GET the key until the GET returns the value (the client's own
    retries and topology refreshes inside each call) or the time is up."""
    start = time.monotonic()
    deadline = start + req["timeout_ms"] / 1000.0
    attempts, errors = 0, []
    while True:
        attempts += 1
        try:
            rc.set(req["key"], req["value"])
            got = rc.get(req["key"])
            if got is not None and got.decode() == req["value"]:
                return {"ok": True, "attempts": attempts, "errors": errors,
                        "ms": int((time.monotonic() - start) * 1000)}
            errors.append("GET returned %r" % got)
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s" % (type(e).__name__, e))
        errors = errors[:5]
        if time.monotonic() > deadline:
            return {"ok": False, "attempts": attempts, "errors": errors,
                    "ms": int((time.monotonic() - start) * 1000)}
        time.sleep(0.05)


OPS = {
    "slots": op_slots, "touch": op_touch, "pipeline": op_pipeline, "multikey": op_multikey,
    "crossslot": op_crossslot, "scan": op_scan, "ttl": op_ttl, "get": op_get, "rw": op_rw,
}


def main():
    # redis-py logs every MOVED and connection error it handles itself.
    logging.getLogger("redis").setLevel(logging.CRITICAL)
    nodes = []
    for a in sys.argv[1:]:
        host, port = a.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    rc = RedisCluster(startup_nodes=nodes, socket_timeout=5)
    print(json.dumps({"ready": True, "version": redis.__version__}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            out = OPS[req["op"]](rc, req)
        except Exception as e:  # noqa: BLE001
            out = {"fatal": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
