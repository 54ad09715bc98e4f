import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from '../../src/persistence/layout.js';
import { writeSnapshot } from '../../src/persistence/snapshot.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { startGossipNode } from '../helpers/cluster.js';
import {
  freeUdpPort,
  request,
  restartNode,
  sleep,
  startNode,
  stopAllNodes,
  tempDir,
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

/** Keys in the data directory of the load tests: enough that loading takes a noticeable time (about a second here). */
const LARGE_KEYS = 200_000;
const largeValue = (i: number) => `value-${i}-${'x'.repeat(24)}`;

/** A data directory holding `total` keys in its snapshot, written by the node's own snapshot writer. */
async function largeDataDir(total: number): Promise<{ dataDir: string; snapshot: string }> {
  const dataDir = join(tempDir(), 'db');
  mkdirSync(dataDir, { mode: 0o700 });
  const now = Date.now();
  const records: EntryRecord[] = [];
  for (let i = 0; i < total; i++) {
    const vv = { t: now - total + i, c: 0, n: 'writer-node' };
    records.push({ key: `preloaded-key-${i}`, value: Buffer.from(largeValue(i)), created: vv.t * 1000, vv, expireAt: 0, ev: vv });
  }
  const snapshot = join(dataDir, SNAPSHOT_FILE);
  await writeSnapshot(snapshot, join(dataDir, SNAPSHOT_TEMP_FILE), records, { nodeId: 'writer-node', createdAt: now, replayFrom: 1 });
  return { dataDir, snapshot };
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

  test('a large data directory: while it loads /healthz is 200, /readyz 503 with how far it is, every other request a 503 envelope and TCP closed; then ready with every key', async (t) => {
    const { dataDir } = await largeDataDir(LARGE_KEYS);
    const node = await startNode({ dataDir, waitReady: false });
    const seen = { loading: 0, healthz: 0, refusedData: 0, refusedSet: 0, tcpClosed: 0 };
    let ready: { status: number; body: ReadyBody } | undefined;
    for (let i = 0; i < 5000 && ready === undefined; i++) {
      const r = await readyz(node).catch(() => undefined); // refused until the HTTP port is bound
      if (r === undefined) {
        assert.equal(node.proc.exitCode, null, `the node exited:\n${node.stdout()}\n${node.stderr()}`);
        await sleep(5);
        continue;
      }
      if (r.status === 200) {
        ready = r;
        break;
      }
      assert.equal(r.status, 503);
      assert.equal(r.body.phase, 'loading', JSON.stringify(r.body));
      assert.equal(r.body.reasons.length, 1, JSON.stringify(r.body));
      assert.match(r.body.reasons[0]!, /^loading the data directory: \d+ (of ~\d+ records|records so far)$/);
      seen.loading += 1;
      // Between two answers that both say "loading", whatever was asked was asked during the load.
      const h = await request(node.httpPort, '/healthz');
      const get = await request(node.httpPort, '/data/?cmd=get&key=preloaded-key-7');
      const set = await request(node.httpPort, `/data/?cmd=set&key=during-load&val=x&pass=${TEST_PASSWORD}`, { method: 'POST' });
      const tcp = await new Promise<string>((resolve) => {
        const s = net.connect(node.tcpPort, '127.0.0.1', () => {
          s.destroy();
          resolve('open');
        });
        s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      if ((await readyz(node)).status !== 503) continue;
      assert.equal(h.status, 200);
      assert.deepEqual(h.json(), { status: 'ok' });
      seen.healthz += 1;
      for (const [name, res] of [
        ['get', get],
        ['set', set],
      ] as const) {
        assert.equal(res.status, 503, `${name}: ${res.text}`);
        assert.equal(res.headers['retry-after'], '1');
        const e = res.json<{ Status: number; Results: string; Message: string; ResponseHost: string }>();
        assert.equal(e.Status, 503);
        assert.equal(e.Results, 'ERROR');
        assert.equal(e.Message, 'loading the data directory, try again shortly');
        assert.equal(e.ResponseHost, node.httpAddr);
      }
      seen.refusedData += 1;
      seen.refusedSet += 1;
      assert.equal(tcp, 'ECONNREFUSED', 'the TCP port opens after the load');
      seen.tcpClosed += 1;
    }
    assert.ok(ready !== undefined, 'ready in the end');
    assert.ok(seen.loading > 0, '/readyz answered 503 while loading');
    assert.ok(seen.healthz > 0 && seen.refusedData > 0 && seen.tcpClosed > 0, JSON.stringify(seen));
    assert.deepEqual(ready.body.reasons, []);
    assert.equal(ready.body.keys, LARGE_KEYS, 'every key is loaded');
    for (const i of [0, 7, LARGE_KEYS - 1]) {
      const r = await request(node.httpPort, `/data/?cmd=get&key=preloaded-key-${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.text, largeValue(i));
    }
    const absent = await request(node.httpPort, '/data/?cmd=get&key=during-load');
    assert.equal(absent.status, 404, 'the write refused during the load was not made');
    assert.equal(await node.stop(), 0);
    t.diagnostic(`during the load: ${JSON.stringify(seen)}`);
  });

  test('SIGTERM while the data directory loads: exit 0, lock released, nothing written; a restart loads every key', async () => {
    const { dataDir, snapshot } = await largeDataDir(LARGE_KEYS);
    const before = readFileSync(snapshot);
    const node = await startNode({ dataDir, waitReady: false });
    await waitFor(
      '/readyz to say loading',
      async () => {
        const r = await readyz(node).catch(() => undefined);
        if (r?.status === 200) assert.fail('the load ended before the test could stop it');
        return r?.status === 503 && r.body.phase === 'loading';
      },
      30_000,
      5,
    );
    assert.equal(await node.stop('SIGTERM', 20_000), 0, 'a clean exit');
    assert.match(node.stdout(), /SIGTERM received while starting: stopped, nothing written/);
    assert.deepEqual(readdirSync(dataDir), ['store.snapshot'], 'no lock, no new log, no auth.json left behind');
    assert.ok(readFileSync(snapshot).equals(before), 'the snapshot is untouched');

    const again = await restartNode(node, { readyTimeoutMs: 60_000 });
    const r = await readyz(again);
    assert.equal(r.status, 200);
    assert.equal(r.body.keys, LARGE_KEYS);
    const last = await request(again.httpPort, `/data/?cmd=get&key=preloaded-key-${LARGE_KEYS - 1}`);
    assert.equal(last.text, largeValue(LARGE_KEYS - 1));
    assert.equal(await again.stop(), 0);
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
