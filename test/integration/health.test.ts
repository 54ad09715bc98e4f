import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startGossipNode } from '../helpers/cluster.js';
import {
  freePort,
  freeUdpPort,
  request,
  restartNode,
  sleep,
  startNode,
  stopAllNodes,
  TEST_PASSWORD,
  waitFor,
  type NodeHandle,
} from '../helpers/node-process.js';

/** GET /healthz and /readyz on real node processes (README "Health checks"). */

interface ReadyBody {
  status: string;
  reasons: string[];
  phase: string;
  keys: number;
  aliveMembers?: number;
}

async function readyz(node: NodeHandle): Promise<{ status: number; body: ReadyBody }> {
  const r = await request(node.httpPort, '/readyz', { timeoutMs: 5000 });
  assert.match(String(r.headers['content-type']), /^application\/json/);
  return { status: r.status, body: r.json<ReadyBody>() };
}

/** Writes `total` keys through the RESP port with MSET, `perCommand` pairs a command, on one connection. */
async function msetMany(port: number, total: number, perCommand: number): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  const commands = Math.ceil(total / perCommand);
  await new Promise<void>((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`MSET: ${got.slice(0, 200)}`)), 120_000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('-')) {
        clearTimeout(timer);
        reject(new Error(`MSET failed: ${got.slice(0, 200)}`));
      } else if (got.split('\r\n').length - 1 >= commands + 1) {
        clearTimeout(timer);
        resolve();
      }
    });
    s.on('error', reject);
    const arg = (a: string) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    s.write(`*2\r\n${arg('AUTH')}${arg(TEST_PASSWORD)}`);
    for (let c = 0; c < commands; c++) {
      const n = Math.min(perCommand, total - c * perCommand);
      const parts = [`*${1 + 2 * n}\r\n`, arg('MSET')];
      for (let i = 0; i < n; i++) {
        const k = c * perCommand + i;
        parts.push(arg(`preloaded-key-${k}`), arg(`value-${k}-${'x'.repeat(24)}`));
      }
      s.write(parts.join(''));
    }
  });
  s.end();
}

describe('health checks', { timeout: 240_000 }, () => {
  after(stopAllNodes);

  test('/healthz is 200 and /readyz 200 on a started node, plain JSON without a token', async () => {
    const node = await startNode();
    const h = await request(node.httpPort, '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json(), { status: 'ok' });
    const r = await readyz(node);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ready');
    assert.deepEqual(r.body.reasons, []);
  });

  test('a large data directory: while it loads no probe succeeds (the ports open after the load), and every /readyz answer comes from the loaded store', async (t) => {
    const total = 300_000;
    const respPort = await freePort();
    const node = await startNode({ settings: { RespPort: respPort, AppendFsync: 'no' } });
    await msetMany(respPort, total, 1000);
    const keys = (await readyz(node)).body.keys;
    assert.equal(keys, total);
    assert.equal(await node.stop(), 0, 'the final snapshot is written');

    const probes: { at: number; status: number | 'refused'; body?: ReadyBody }[] = [];
    let probing = true;
    const probeLoop = (async () => {
      for (let i = 0; probing && i < 20_000; i++) {
        const at = Date.now();
        try {
          const r = await readyz(node);
          probes.push({ at, ...r });
        } catch {
          probes.push({ at, status: 'refused' });
        }
        await sleep(5);
      }
    })();
    let again: NodeHandle;
    try {
      again = await restartNode(node, { readyTimeoutMs: 120_000 });
      await waitFor('a probe to see the node ready', () => probes.at(-1)?.status === 200, 30_000, 20);
    } finally {
      probing = false;
      await probeLoop;
    }
    // The node's own account of the load: "... loaded N keys (...) in X ms ..." with the time it finished.
    const log = readFileSync(join(again.dir, 'log', 'owlcache.log'), 'utf8');
    const m = /^(\S+) INFO \[persistence\] loaded (\d+) keys \(\d+ stubs\) in (\d+) ms/m.exec(log.slice(log.lastIndexOf('SIGTERM received')));
    assert.ok(m, `no load line in the log:\n${log.slice(-2000)}`);
    assert.equal(Number(m[2]), total);
    const loadEnd = Date.parse(m[1]!);
    const loadStart = loadEnd - Number(m[3]);
    // A probe's connect follows its start by a moment (more on a loaded machine): the last 50 ms of the load are left out.
    const duringLoad = probes.filter((p) => p.at >= loadStart && p.at < loadEnd - 50);
    assert.ok(duringLoad.length > 0, `some probes were made during the ${m[3]} ms load`);
    assert.ok(
      duringLoad.every((p) => p.status === 'refused'),
      'no probe made during the load got an answer',
    );
    const answered = probes.filter((p) => p.status !== 'refused');
    assert.ok(answered.length > 0);
    for (const p of answered) {
      assert.equal(p.body!.keys, total, 'every answer comes from the whole loaded store');
      if (p.status === 503) assert.deepEqual(p.body!.reasons, ['the data directory is not loaded yet'], JSON.stringify(p.body));
      else assert.equal(p.status, 200);
    }
    assert.equal(answered.at(-1)!.status, 200);
    t.diagnostic(
      `load ${m[3]} ms; probes: ${duringLoad.length} refused during the load, ${answered.filter((p) => p.status === 503).length} answered 503 (starting), then 200`,
    );
  });

  test('gossip mode: 503 until a member joined while a seed is configured, then 200; a node without seeds is ready at once', async () => {
    const seedPort = await freeUdpPort();
    const a = await startGossipNode([`127.0.0.1:${seedPort}`]);
    const first = await readyz(a);
    assert.equal(first.status, 503);
    assert.deepEqual(first.body.reasons, ['gossip mode: no member joined yet, though seeds are configured']);
    assert.equal(first.body.aliveMembers, 0);
    await sleep(1000);
    assert.equal((await readyz(a)).status, 503, 'still not ready with the seed absent');
    assert.equal((await request(a.httpPort, '/healthz')).status, 200, 'but alive');

    const b = await startGossipNode([], { Gossipport: seedPort });
    assert.equal((await readyz(b)).status, 200, 'no seed configured: ready once loaded');
    const joined = await waitFor(
      'a to join b',
      async () => {
        const r = await readyz(a);
        return r.status === 200 ? r : undefined;
      },
      20_000,
      100,
    );
    assert.equal(joined!.body.aliveMembers, 1);
  });

  test('SIGTERM with ShutdownDrain: /readyz answers 503 (draining) while the node still serves, then it stops', async () => {
    const node = await startNode({ settings: { ShutdownDrain: 3 } });
    assert.equal((await readyz(node)).status, 200);
    node.proc.kill('SIGTERM');
    const draining = await waitFor(
      '/readyz to say draining',
      async () => {
        const r = await readyz(node);
        return r.status === 503 ? r : undefined;
      },
      5000,
      20,
    );
    assert.deepEqual(draining!.body.reasons, ['draining: the node is stopping']);
    assert.equal(draining!.body.phase, 'draining');
    assert.equal((await request(node.httpPort, '/healthz')).status, 200, 'the process still serves');
    assert.equal((await request(node.httpPort, '/data/?cmd=get&key=absent')).status, 404, 'and answers reads');
    assert.equal(await node.stop('SIGTERM', 20_000), 0, 'then it stops cleanly');
  });
});
