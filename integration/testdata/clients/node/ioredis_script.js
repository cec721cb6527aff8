// ioredis defineCommand against a Shoal cluster (integration/scripts_ioredis_test.go).
//
// Usage: node ioredis_script.js HOST:PORT...
//
// Defines a sliding-window rate limiter as a custom command (ioredis sends
// EVALSHA and falls back to EVAL on NOSCRIPT), calls it, flushes the
// script cache on every node, calls it again, and prints one JSON line:
// {"allowed": n, "denied": m, "after_flush": [allowed, count], "hash": {...}}.
// Then it calls it three more times and prints {"before_kill": [[allowed,
// count]...]} and the line KILL, and waits for a line on stdin: meanwhile
// the test kills the leader of the window's group. With the same client it
// then makes ten more calls, the first a plain EVALSHA of the script (which
// needs the script cache of the new leader: ioredis's command sends EVAL on
// each new connection, EVALSHA after), and prints {"evalsha": [allowed,
// count] or "NOSCRIPT...", "after_kill": [[allowed, count]...], "errors": n,
// "hash": {...}}: errors counts the calls that failed (and were made
// again) during the failover.
'use strict';

const { createHash } = require('crypto');
const { once } = require('events');
const readline = require('readline');
const Redis = require('ioredis');

// withRetry calls f until it succeeds, for at most 90 s, counting the
// failures in counter.errors: what an application does on top of ioredis's
// own retries (MOVED, TRYAGAIN, CLUSTERDOWN, reconnection) while a
// failover outlasts them.
async function withRetry(counter, f) {
  const deadline = Date.now() + 90000;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      counter.errors++;
      console.error('ioredis call failed:', e.message);
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function main() {
  const addrs = process.argv.slice(2).map((a) => {
    const i = a.lastIndexOf(':');
    return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
  });
  const c = new Redis.Cluster(addrs);
  c.on('error', (e) => console.error('ioredis:', e.message));
  // KEYS[1]: the window's sorted set; ARGV: now (ms), window (ms), limit,
  // request id. Allowed requests are recorded; the reply is [allowed, count].
  const lua = `
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
      local n = redis.call('ZCARD', KEYS[1])
      if n < tonumber(ARGV[3]) then
        redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
        redis.call('HINCRBY', KEYS[1] .. ':stats', 'allowed', 1)
        return {1, n + 1}
      end
      redis.call('HINCRBY', KEYS[1] .. ':stats', 'denied', 1)
      return {0, n}`;
  c.defineCommand('ratelimit', { numberOfKeys: 1, lua });
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

  // Across a leader kill: the window goes on where it was.
  const beforeKill = [];
  for (let i = 1; i <= 3; i++) {
    beforeKill.push(await c.ratelimit('{rl}win', 200000 + i, 100000, 10, `pre${i}`));
  }
  const stdin = readline.createInterface({ input: process.stdin });
  process.stdout.write(JSON.stringify({ before_kill: beforeKill }) + '\nKILL\n');
  await once(stdin, 'line');
  stdin.close();
  const counter = { errors: 0 };
  const sha = createHash('sha1').update(lua).digest('hex');
  const evalsha = await withRetry(counter, async () => {
    try {
      return await c.evalsha(sha, 1, '{rl}win', 200009, 100000, 10, 'sha');
    } catch (e) {
      if (e.message.includes('NOSCRIPT')) return e.message;
      throw e;
    }
  });
  const afterKill = [];
  for (let i = 0; i < 9; i++) {
    afterKill.push(await withRetry(counter, () => c.ratelimit('{rl}win', 200010 + i, 100000, 10, `post${i}`)));
  }
  const hashAfter = await withRetry(counter, () => c.hgetall('{rl}win:stats'));
  process.stdout.write(JSON.stringify({ evalsha, after_kill: afterKill, errors: counter.errors, hash: hashAfter }) + '\n');
  c.disconnect();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
