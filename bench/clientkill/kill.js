// node-redis createCluster through a master's SIGKILL (see run.sh).
// Usage: node kill.js WORKDIR PORT...; every port is a root node.
const fs = require('fs');
const path = require('path');
const { createCluster } = require('redis');
const keySlot = require('cluster-key-slot');

(async () => {
  const [work, ...ports] = process.argv.slice(2);
  const c = createCluster({ rootNodes: ports.map(p => ({ url: `redis://127.0.0.1:${p}` })) });
  c.on('error', () => {});
  await c.connect();
  const key = 'matrix-key';
  await c.set(key, 'v0');
  const port = c.getSlotMaster(keySlot(key)).port;
  process.kill(parseInt(fs.readFileSync(path.join(work, String(port), 'pid'), 'utf8')), 'SIGKILL');
  const t0 = Date.now();
  const errors = {};
  let ok = null;
  while (Date.now() - t0 < 20000) {
    try {
      await Promise.race([c.set(key, 'v1'),
        new Promise((_, rej) => setTimeout(() => rej(new Error('no answer within 2 s')), 2000))]);
      ok = (Date.now() - t0) / 1000;
      break;
    } catch (e) {
      const n = e.message.slice(0, 80);
      errors[n] = (errors[n] || 0) + 1;
      await new Promise(r => setTimeout(r, 100));
    }
  }
  const version = require('redis/package.json').version;
  console.log(JSON.stringify({ client: `node-redis ${version}`, killed: port, recovered_after_s: ok, errors }));
  process.exit(0);
})();
