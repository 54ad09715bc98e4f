// A node:cluster application whose workers share one replicated cache: each worker runs an
// embedded owlcache node (its own ports and data directory) and the nodes find each other by
// gossip on 127.0.0.1. A value set through one worker is read through any other.
//
//   npm run build && node examples/cluster-app/app.mjs
//   curl -X PUT --data 'hello' http://127.0.0.1:3000/cache/greeting
//   curl http://127.0.0.1:3000/cache/greeting        # any worker answers, X-Worker says which
//
// Environment: APP_PORT (3000), WORKERS (the number of CPUs, at least 2), DATA_DIR
// (./cluster-app-data), OWLCACHE_KEY (the shared gossip key; generated per run if unset).
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { startNode } from 'owlcache';

const APP_PORT = Number(process.env.APP_PORT ?? 3000);
const WORKERS = Math.max(2, Number(process.env.WORKERS ?? availableParallelism()));
const DATA_DIR = resolve(process.env.DATA_DIR ?? './cluster-app-data');

if (cluster.isPrimary) {
  const env = {
    OWLCACHE_KEY: process.env.OWLCACHE_KEY ?? randomBytes(24).toString('base64url'),
    OWLCACHE_PASS: process.env.OWLCACHE_PASS ?? `app-${randomBytes(12).toString('base64url')}`,
  };
  /** Worker index → its node's gossip address, while it runs. */
  const gossip = new Map();
  let stopping = false;

  // One worker at a time: each is seeded with the nodes already running (a restarted one too).
  const fork = (index) =>
    new Promise((ready) => {
      const worker = cluster.fork({ ...env, WORKER_INDEX: String(index), OWLCACHE_SEEDS: [...gossip.values()].join(',') });
      worker.on('message', (m) => {
        if (m?.type !== 'owlcache-ready') return;
        gossip.set(index, m.gossip);
        ready();
      });
      worker.on('exit', (code, signal) => {
        gossip.delete(index);
        if (stopping) return;
        console.log(`worker ${index} ended (${signal ?? code}); starting it again in a second`);
        setTimeout(() => void fork(index), 1000);
      });
    });

  for (let i = 0; i < WORKERS; i++) await fork(i);
  console.log(`cluster-app ready on http://127.0.0.1:${APP_PORT} with ${WORKERS} workers; nodes ${[...gossip.values()].join(' ')}`);

  const stop = () => {
    if (stopping) return;
    stopping = true;
    // Each worker stops its node (its peers record it as left) and ends; then so does the primary.
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send({ type: 'shutdown' });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const index = Number(process.env.WORKER_INDEX);
  const node = await startNode({
    GroupWorkMode: 'gossip',
    GossipDataSyncAuthKey: process.env.OWLCACHE_KEY,
    Pass: process.env.OWLCACHE_PASS,
    Host: '127.0.0.1',
    ResponseHost: '127.0.0.1',
    // Port 0: a free port of this worker's own (node:cluster shares only the application's port).
    Httpport: 0,
    Gossipport: 0,
    DataGossipPort: 0,
    CloseTcp: false,
    DBfile: join(DATA_DIR, `worker-${index}`),
    Logfile: '',
    seeds: (process.env.OWLCACHE_SEEDS ?? '').split(',').filter(Boolean),
  });

  const server = http.createServer(async (req, res) => {
    res.setHeader('X-Worker', String(index));
    res.setHeader('X-Worker-Pid', String(process.pid));
    const url = new URL(req.url ?? '/', 'http://app');
    const match = /^\/cache\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/members' && req.method === 'GET') {
      res.setHeader('Content-Type', 'application/json');
      return res.end(JSON.stringify(node.members()));
    }
    if (match === null) {
      res.statusCode = 404;
      return res.end('try PUT or GET /cache/<key>, or GET /members\n');
    }
    const key = decodeURIComponent(match[1]);
    if (req.method === 'PUT') {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const ttl = Number(url.searchParams.get('ttl') ?? 0);
      try {
        node.set(key, Buffer.concat(chunks), { ttlSeconds: ttl });
      } catch (err) {
        res.statusCode = 400;
        return res.end(`${err.message}\n`);
      }
      res.statusCode = 204;
      return res.end();
    }
    if (req.method === 'GET') {
      const value = node.get(key);
      if (value === undefined) {
        res.statusCode = 404;
        return res.end();
      }
      return res.end(value);
    }
    res.statusCode = 405;
    res.end();
  });
  server.listen(APP_PORT, '127.0.0.1', () => process.send({ type: 'owlcache-ready', gossip: node.info.gossip }));

  // Once: the primary's message and its disconnect may both come.
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    await node.stop();
    if (process.connected) process.disconnect();
  };
  process.on('message', (m) => {
    if (m?.type === 'shutdown') void shutdown();
  });
  // The primary is gone (it crashed or was killed): no worker stays behind.
  process.on('disconnect', shutdown);
}
