<?php
// phpredis RedisCluster::keys() after a failover in Redis Cluster itself
// (see run.sh). Shoal's client matrix records keys() as missing some
// masters' keys and counting others twice after a group's leadership
// moved; this runs the same sequence against a real Redis Cluster: write
// keys over every slot, fail a master over to its replica (CLUSTER
// FAILOVER), let the same RedisCluster object follow MOVED for one key of
// each moved slot range, then call keys('*') again.
//
// Usage: php keys.php PORT...; prints one JSON line.

$ports = array_slice($argv, 1);
$seeds = array_map(fn($p) => "127.0.0.1:$p", $ports);
$rc = new RedisCluster(null, $seeds, 5, 5);

$n = 20000;
// The cluster may still be settling right after it formed: retry writes.
for ($i = 0; $i < $n; $i++) {
    for ($try = 0; ; $try++) {
        try {
            $rc->set("k:$i", "v");
            break;
        } catch (RedisClusterException $e) {
            if ($try > 50) throw $e;
            usleep(100000);
        }
    }
}
function count_keys($rc, $n) {
    $got = $rc->keys('k:*');
    if ($got === false) {
        return ['err' => $rc->getLastError()];
    }
    $seen = array_count_values($got);
    return ['returned' => count($got), 'distinct' => count($seen),
            'missing' => $n - count($seen),
            'twice' => count(array_filter($seen, fn($c) => $c > 1))];
}
$before = count_keys($rc, $n);

// The master of k:0's slot, and one of its replicas.
$admin = new Redis();
$admin->connect('127.0.0.1', $ports[0]);
$slot = $admin->rawCommand("CLUSTER", "KEYSLOT", "k:0");
// Replicas appear in CLUSTER SLOTS once they have attached.
$master = $replica = null;
for ($t = 0; $t < 100 && $replica === null; $t++) {
    foreach ($admin->rawCommand("CLUSTER", "SLOTS") as $r) {
        if ($r[0] <= $slot && $slot <= $r[1] && isset($r[3])) {
            [$master, $replica] = [$r[2][1], $r[3][1]];
        }
    }
    usleep(100000);
}
$r = new Redis();
$r->connect('127.0.0.1', $replica);
$r->rawCommand('CLUSTER', 'FAILOVER');
for ($t = 0; $t < 100; $t++) {
    $info = $r->rawCommand('ROLE');
    if ($info[0] === 'master') break;
    usleep(100000);
}
usleep(500000);
// Single-key commands on every key: phpredis follows MOVED for the moved
// slots one at a time, as it did in Shoal's matrix.
$moved = 0;
for ($i = 0; $i < $n; $i++) {
    if ($rc->get("k:$i") === "v") $moved++;
}
$after = count_keys($rc, $n);
echo json_encode(['client' => 'phpredis ' . phpversion('redis'), 'failed_over' => $master,
                  'promoted' => (int)$replica, 'gets_ok' => $moved,
                  'keys_before' => $before, 'keys_after' => $after]), "\n";
