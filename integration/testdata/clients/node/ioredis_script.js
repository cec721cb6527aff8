// ioredis defineCommand against a Shoal cluster (integration/scripts_ioredis_test.go).
//
// Usage: node ioredis_script.js HOST:PORT...
//
// Defines a sliding-window rate limiter as a custom command (ioredis sends
// EVALSHA and falls back to EVAL on NOSCRIPT), calls it, flushes the
// script cache on every node, calls it again, and prints one JSON line:
// {"allowed": n, "denied": m, "after_flush": [allowed, count], "hash": {...}}.
'use strict';

const Redis = require('ioredis');

async function main() {
  const addrs = process.argv.slice(2).map((a) => {
    const i = a.lastIndexOf(':');
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  const c = new Redis.Cluster(addrs);
  c.on('error', (e) => console.error('ioredis:', e.message));
  // KEYS[1]: the window's sorted set; ARGV: now (ms), window (ms), limit,
  // request id. Allowed requests are recorded; the reply is [allowed, count].
  c.defineCommand('ratelimit', {
    numberOfKeys: 1,
    lua: `
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
      local n = redis.call('ZCARD', KEYS[1])
      if n < tonumber(ARGV[3]) then
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
        redis.call('HINCRBY', KEYS[1] .. ':stats', 'allowed', 1)
        return {1, n + 1}
      end
      redis.call('HINCRBY', KEYS[1] .. ':stats', 'denied', 1)
      return {0, n}`,
  });
  let allowed = 0;
  let denied = 0;
  for (let i = 0; i < 30; i++) {
    const [ok] = await c.ratelimit('{rl}win', 1000 + i, 100000, 10, `req${i}`);
    if (ok === 1) allowed++;
    else denied++;
  }
  await Promise.all(c.nodes('master').map((n) => n.script('FLUSH')));
  const afterFlush = await c.ratelimit('{rl}win', 200000, 100000, 10, 'late');
  const hash = await c.hgetall('{rl}win:stats');
  process.stdout.write(JSON.stringify({ allowed, denied, after_flush: afterFlush, hash }) + '\n');
  c.disconnect();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
