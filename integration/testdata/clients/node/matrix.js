// ioredis Cluster and node-redis createCluster in Shoal's client matrix
// (integration/clients_test.go).
//
// Usage: node matrix.js ioredis|node-redis HOST:PORT...
//
// Connects with the client's defaults, prints one JSON line
// {"ready": true, "version": ...}, then answers each JSON request line on
// stdin with one JSON line on stdout (the ops are described in
// clients_test.go). Every reply is encoded as a string, an integer, null, a
// list, or {"err": "ErrorType: message"}; the test does every check itself.
'use strict';

const readline = require('readline');

function enc(v) {
  if (v instanceof Error) return { err: `${v.constructor.name}: ${v.message}` };
  if (Buffer.isBuffer(v)) return v.toString();
  if (Array.isArray(v)) return v.map(enc);
  if (v === undefined) return null;
  return v;
}

async function attempt(fn) {
  try {
    return enc(await fn());
  } catch (e) {
    return enc(e);
  }
}

// Each adapter maps the ops' few client calls onto one library.
function ioredisAdapter(addrs) {
  const Redis = require('ioredis');
  const c = new Redis.Cluster(addrs.map(hostPort));
  c.on('error', (e) => console.error('ioredis:', e.message));
  return {
    version: require('ioredis/package.json').version,
    ready: () => new Promise((resolve, reject) => {
      c.once('ready', resolve);
      c.once('end', () => reject(new Error('cluster connection ended')));
    }),
    set: (k, v) => c.set(k, v),
    setPX: (k, v, ms) => c.set(k, v, 'PX', ms),
    get: (k) => c.get(k),
    mset: (kvs) => c.mset(...kvs),
    mget: (ks) => c.mget(...ks),
    del: (ks) => c.del(...ks),
    expire: (k, s) => c.expire(k, s),
    ttl: (k) => c.ttl(k),
    pttl: (k) => c.pttl(k),
    // The explicit pipeline: ioredis sends it to one node, so its keys
    // must share a slot (or a node).
    pipeline: async (keys, counter) => {
      const p = c.pipeline();
      keys.forEach((k, i) => p.set(k, String(i)).incr(counter).get(k));
      const res = await p.exec();
      return res.map(([err, v]) => (err ? err : v));
    },
    primaries: async () => c.nodes('master').map((n) => `${n.options.host}:${n.options.port}`).sort(),
    // The cluster-wide fan-out: every master of cluster.nodes('master').
    scan: async (match) => {
      const out = [];
      for (const n of c.nodes('master')) {
        let cursor = '0';
        do {
          const [next, keys] = await n.scan(cursor, 'MATCH', match, 'COUNT', 1000);
          out.push(...keys);
          cursor = next;
        } while (cursor !== '0');
      }
      return out;
    },
    keys: async (match) => (await Promise.all(c.nodes('master').map((n) => n.keys(match)))).flat(),
    dbsize: async () => (await Promise.all(c.nodes('master').map((n) => n.dbsize()))).reduce((a, b) => a + b, 0),
  };
}

function nodeRedisAdapter(addrs) {
  const { createCluster } = require('redis');
  const c = createCluster({ rootNodes: addrs.map((a) => ({ url: `redis://${a}` })) });
  c.on('error', (e) => console.error('node-redis:', e.message));
  const masters = () => c.masters;
  return {
    version: require('redis/package.json').version,
    ready: () => c.connect(),
    set: (k, v) => c.set(k, v),
    setPX: (k, v, ms) => c.set(k, v, { expiration: { type: 'PX', value: ms } }),
    get: (k) => c.get(k),
    mset: (kvs) => c.mSet(kvs),
    mget: (ks) => c.mGet(ks),
    del: (ks) => c.del(ks),
    expire: (k, s) => c.expire(k, s),
    ttl: (k) => c.ttl(k),
    pttl: (k) => c.pTTL(k),
    // The explicit pipeline: a cluster multi() sent as a pipeline goes to
    // the node of its first key.
    pipeline: async (keys, counter) => {
      const m = c.multi();
      keys.forEach((k, i) => m.set(k, String(i)).incr(counter).get(k));
      return m.execAsPipeline();
    },
    primaries: async () => masters().map((n) => `${n.host}:${n.port}`).sort(),
    // The cluster-wide fan-out: a client for each of cluster.masters.
    scan: async (match) => {
      const out = [];
      for (const m of masters()) {
        const node = await c.nodeClient(m);
        for await (const keys of node.scanIterator({ MATCH: match, COUNT: 1000 })) out.push(...keys);
      }
      return out;
    },
    keys: async (match) => {
      const out = [];
      for (const m of masters()) out.push(...(await (await c.nodeClient(m)).keys(match)));
      return out;
    },
    dbsize: async () => {
      let n = 0;
      for (const m of masters()) n += await (await c.nodeClient(m)).dbSize();
      return n;
    },
  };
}

// within bounds a command's promise: a client may queue a command for a
// node it cannot reach and never settle it.
function within(ms, p) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function hostPort(a) {
  const i = a.lastIndexOf(':');
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
}

const ops = {
  // Every command is issued at once: the library pipelines them per node.
  slots: async (c, req) => {
    const set = await Promise.all(req.keys.map((k, i) => attempt(() => c.set(k, req.values[i]))));
    const get = await Promise.all(req.keys.map((k) => attempt(() => c.get(k))));
    return { set, get };
  },
  // GET every key: a client whose view of the cluster is stale meets a
  // MOVED and reloads it.
  touch: async (c, req) => {
    const got = await Promise.all(req.keys.map((k) => attempt(() => c.get(k))));
    const errors = got.filter((g) => g !== null && typeof g === 'object');
    return { errors: errors.length, first: errors.length ? errors[0].err : '' };
  },
  pipeline: async (c, req) => {
    const replies = await attempt(() => c.pipeline(req.keys, req.key));
    const cross = await Promise.all(req.cross_keys.map((k) => attempt(() => c.set(k, k))));
    return { replies, cross };
  },
  multikey: async (c, req) => {
    const [a, b, d] = req.keys;
    return {
      mset: await attempt(() => c.mset([a, '1', b, '2', d, '3'])),
      mget: await attempt(() => c.mget([a, b, d, req.missing])),
      del: await attempt(() => c.del([a, b, req.missing])),
    };
  },
  crossslot: async (c, req) => {
    const [a, b] = req.keys;
    return {
      mset: await attempt(() => c.mset([a, '1', b, '2'])),
      mget: await attempt(() => c.mget([a, b])),
    };
  },
  scan: async (c, req) => ({
    primaries: await c.primaries(),
    scan: await attempt(() => c.scan(req.match)),
    keys: await attempt(() => c.keys(req.match)),
    dbsize: await attempt(() => c.dbsize()),
  }),
  ttl: async (c, req) => {
    const [k1, k2, k3] = req.keys;
    return {
      set: await attempt(() => c.set(k1, 'v')),
      expire: await attempt(() => c.expire(k1, 100)),
      ttl: await attempt(() => c.ttl(k1)),
      setpx: await attempt(() => c.setPX(k2, 'v', 100000)),
      pttl: await attempt(() => c.pttl(k2)),
      setshort: await attempt(() => c.setPX(k3, 'v', 300)),
    };
  },
  get: async (c, req) => ({ get: await attempt(() => c.get(req.key)) }),
  // SET then GET the key until the GET returns the value (the client's own
  // retries and topology refreshes inside each call) or the time is up.
  rw: async (c, req) => {
    const start = Date.now();
    const errors = [];
    for (let attempts = 1; ; attempts++) {
      try {
        await within(2000, c.set(req.key, req.value));
        const got = await within(2000, c.get(req.key));
        if (got === req.value) return { ok: true, attempts, errors, ms: Date.now() - start };
        errors.push(`GET returned ${JSON.stringify(got)}`);
      } catch (e) {
        errors.push(`${e.constructor.name}: ${e.message}`);
      }
      errors.splice(5);
      if (Date.now() - start > req.timeout_ms) return { ok: false, attempts, errors, ms: Date.now() - start };
      await new Promise((r) => setTimeout(r, 50));
    }
  },
};

async function main() {
  const [kind, ...addrs] = process.argv.slice(2);
  const adapters = { ioredis: ioredisAdapter, 'node-redis': nodeRedisAdapter };
  if (!adapters[kind]) throw new Error(`unknown client ${kind}`);
  const c = adapters[kind](addrs);
  await c.ready();
  process.stdout.write(JSON.stringify({ ready: true, version: c.version }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const req = JSON.parse(line);
    let out;
    try {
      out = await ops[req.op](c, req);
    } catch (e) {
      out = { fatal: `${e.constructor.name}: ${e.message}` };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
