<?php
// phpredis's RedisCluster in Shoal's client matrix (integration/clients_test.go).
//
// Usage: php php_cluster.php HOST:PORT...
//
// Connects with RedisCluster (defaults otherwise), prints one JSON line
// {"ready": true, "version": ...}, then answers each JSON request line on
// stdin with one JSON line on stdout (the ops are described in
// clients_test.go). Every reply is encoded as a string, an integer, null, a
// list, or {"err": "..."}; the test does every check itself. phpredis
// returns false both for a nil reply and for an error: the error is told
// apart by getLastError().

$seeds = array_slice($argv, 1);
$rc = new RedisCluster(null, $seeds, 5, 5);

function enc($v) {
    if ($v === true) return 'OK';
    if ($v === false) return null;
    if (is_array($v)) return array_map('enc', $v);
    return $v;
}

// attempt runs one client call and encodes its reply or its error.
function attempt($rc, $fn) {
    $rc->clearLastError();
    try {
        $v = $fn();
    } catch (Exception $e) {
        return ['err' => get_class($e) . ': ' . $e->getMessage()];
    }
    if ($v === false && $rc->getLastError() !== null) {
        return ['err' => $rc->getLastError()];
    }
    return enc($v);
}

// Integer replies that phpredis turns into booleans (EXPIRE).
function int01($v) {
    return is_array($v) ? $v : ($v === 'OK' ? 1 : ($v === null ? 0 : $v));
}

function op_slots($rc, $req) {
    $set = [];
    foreach ($req['keys'] as $i => $k) {
        $set[] = attempt($rc, fn() => $rc->set($k, $req['values'][$i]));
    }
    $get = [];
    foreach ($req['keys'] as $k) {
        $get[] = attempt($rc, fn() => $rc->get($k));
    }
    return ['set' => $set, 'get' => $get];
}

// GET every key: a client whose view of the cluster is stale meets a
// MOVED and reloads it.
function op_touch($rc, $req) {
    $errors = 0;
    $first = '';
    foreach ($req['keys'] as $k) {
        $r = attempt($rc, fn() => $rc->get($k));
        if (is_array($r)) {
            $errors++;
            $first = $first ?: $r['err'];
        }
    }
    return ['errors' => $errors, 'first' => $first];
}

function op_pipeline($rc, $req) {
    // RedisCluster has no pipeline mode, and its multi() is MULTI/EXEC,
    // which Shoal does not have (a multi(Redis::PIPELINE) call also
    // leaves the client in MULTI mode, failing every later command).
    $why = 'phpredis RedisCluster has no pipeline mode';
    return ['replies' => ['unsupported' => $why], 'cross' => ['unsupported' => $why]];
}

function op_multikey($rc, $req) {
    [$a, $b, $c] = $req['keys'];
    $m = $req['missing'];
    return [
        'mset' => attempt($rc, fn() => $rc->mset([$a => '1', $b => '2', $c => '3'])),
        'mget' => attempt($rc, fn() => $rc->mget([$a, $b, $c, $m])),
        'del' => attempt($rc, fn() => $rc->del($a, $b, $m)),
    ];
}

function op_crossslot($rc, $req) {
    [$a, $b] = $req['keys'];
    return [
        'mset' => attempt($rc, fn() => $rc->mset([$a => '1', $b => '2'])),
        'mget' => attempt($rc, fn() => $rc->mget([$a, $b])),
    ];
}

// The cluster-wide fan-out: SCAN and DBSIZE on each of _masters(); KEYS,
// which RedisCluster sends to every master itself.
function op_scan($rc, $req) {
    $masters = $rc->_masters();
    $names = array_map(fn($m) => $m[0] . ':' . $m[1], $masters);
    sort($names);
    $scan = attempt($rc, function () use ($rc, $masters, $req) {
        $out = [];
        foreach ($masters as $m) {
            $it = null;
            do {
                $keys = $rc->scan($it, $m, $req['match'], 1000);
                if ($keys === false && $rc->getLastError() !== null) {
                    throw new Exception('SCAN: ' . $rc->getLastError());
                }
                if ($keys !== false) {
                    array_push($out, ...$keys);
                }
            } while ($it > 0);
        }
        return $out;
    });
    $dbsize = attempt($rc, function () use ($rc, $masters) {
        $n = 0;
        foreach ($masters as $m) {
            $n += $rc->dbSize($m);
        }
        return $n;
    });
    return [
        'primaries' => $names,
        'scan' => $scan,
        'keys' => attempt($rc, fn() => $rc->keys($req['match'])),
        'dbsize' => $dbsize,
    ];
}

function op_ttl($rc, $req) {
    [$k1, $k2, $k3] = $req['keys'];
    return [
        'set' => attempt($rc, fn() => $rc->set($k1, 'v')),
        'expire' => int01(attempt($rc, fn() => $rc->expire($k1, 100))),
        'ttl' => attempt($rc, fn() => $rc->ttl($k1)),
        'setpx' => attempt($rc, fn() => $rc->set($k2, 'v', ['px' => 100000])),
        'pttl' => attempt($rc, fn() => $rc->pttl($k2)),
        'setshort' => attempt($rc, fn() => $rc->set($k3, 'v', ['px' => 300])),
    ];
}

function op_get($rc, $req) {
    return ['get' => attempt($rc, fn() => $rc->get($req['key']))];
}

// SET then GET the key until the GET returns the value (the client's own
// retries and topology refreshes inside each call) or the time is up.
function op_rw($rc, $req) {
    $start = microtime(true);
    $errors = [];
    for ($attempts = 1; ; $attempts++) {
        $set = attempt($rc, fn() => $rc->set($req['key'], $req['value']));
        $got = is_array($set) ? $set : attempt($rc, fn() => $rc->get($req['key']));
        $ms = (int)((microtime(true) - $start) * 1000);
        if ($got === $req['value']) {
            return ['ok' => true, 'attempts' => $attempts, 'errors' => $errors, 'ms' => $ms];
        }
        if (count($errors) < 5) {
            $errors[] = json_encode($got);
        }
        if ($ms > $req['timeout_ms']) {
            return ['ok' => false, 'attempts' => $attempts, 'errors' => $errors, 'ms' => $ms];
        }
        usleep(50000);
    }
}

echo json_encode(['ready' => true, 'version' => phpversion('redis')]), "\n";
while (($line = fgets(STDIN)) !== false) {
    $req = json_decode($line, true);
    try {
        $out = ('op_' . $req['op'])($rc, $req);
    } catch (Throwable $e) {
        $out = ['fatal' => get_class($e) . ': ' . $e->getMessage()];
    }
    echo json_encode($out), "\n";
}
