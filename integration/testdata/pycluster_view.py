"""redis-py's view of a cluster, for the integration tests.

Usage: /usr/bin/python3 pycluster_view.py NKEYS HOST:PORT...

Through redis-py's RedisCluster (defaults otherwise): writes view0 ..
view{NKEYS-1}, then prints one JSON line with the nodes redis-py takes for
primaries and replicas, what DBSIZE and KEYS answer when sent to every
primary (redis-py sends them to one node by default), and DBSIZE after
FLUSHALL (which redis-py sends to every primary).
"""
import json
import sys

from redis.cluster import ClusterNode, RedisCluster


def main():
    nkeys = int(sys.argv[1])
    nodes = []
    for a in sys.argv[2:]:
        host, port = a.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    rc = RedisCluster(startup_nodes=nodes, socket_timeout=10)
    for i in range(nkeys):
        rc.set("view" + str(i), i)
    out = {
        "primaries": sorted(n.name for n in rc.get_primaries()),
        "replicas": sorted(n.name for n in rc.get_replicas()),
        "dbsize": rc.dbsize(target_nodes=RedisCluster.PRIMARIES),
        "keys": len(rc.keys("view*", target_nodes=RedisCluster.PRIMARIES)),
    }
    rc.flushall()
    out["dbsize_after_flushall"] = rc.dbsize(target_nodes=RedisCluster.PRIMARIES)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
