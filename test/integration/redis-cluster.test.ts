import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { members, restartGossipNode, startGossipNode, tokenOf } from '../helpers/cluster.js';
import { freePort, stopAllNodes, TEST_PASSWORD, waitFor, type NodeHandle } from '../helpers/node-process.js';

/** Redis commands whose meaning spans the cluster: counters that add up, and FLUSHALL. */

type Gossip = NodeHandle & { gossip: string };
const clients: Redis[] = [];

function redisOf(n: NodeHandle): Redis {
  const r = new Redis({ host: '127.0.0.1', port: n.respPort, password: TEST_PASSWORD, retryStrategy: () => 200, commandTimeout: 30_000 });
  r.on('error', () => {});
  clients.push(r);
  return r;
}

async function threeNodes(): Promise<Gossip[]> {
  const first = await startGossipNode([], { RespPort: await freePort() });
  const rest = [await startGossipNode([first.gossip], { RespPort: await freePort() }), await startGossipNode([first.gossip], { RespPort: await freePort() })];
  const nodes = [first, ...rest];
  await waitFor(
    '3 alive members everywhere',
    async () => {
      const views = await Promise.all(nodes.map(members));
      return views.every((v) => v.filter((m) => m.state === 'alive').length === 3);
    },
    20_000,
  );
  await Promise.all(nodes.map(tokenOf));
  return nodes;
}

async function everywhere(rs: Redis[], what: string, check: (r: Redis) => Promise<boolean>, timeoutMs = 40_000): Promise<void> {
  await waitFor(what, async () => (await Promise.all(rs.map(check))).every(Boolean), timeoutMs, 250);
}

describe('Redis semantics across a gossip cluster', () => {
  after(async () => {
    for (const c of clients) c.disconnect();
    await stopAllNodes();
  });

  test('1000 INCR over three nodes, one paused (SIGSTOP) for part of it, count 1000 on every node; SET then INCR elsewhere gives 6', async () => {
    const nodes = await threeNodes();
    const rs = nodes.map(redisOf);
    const incr = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => rs[(from + i) % 3]!.incr('hits'));
    await Promise.all(incr(0, 300));
    const paused = nodes[2]!;
    paused.proc.kill('SIGSTOP');
    let pending: Promise<number>[] = [];
    try {
      // The paused node's share waits in its socket; the others count meanwhile.
      pending = incr(300, 800);
      await Promise.all(pending.filter((_, i) => (300 + i) % 3 !== 2));
    } finally {
      paused.proc.kill('SIGCONT');
    }
    await Promise.all([...pending, ...incr(800, 1000)]);
    await everywhere(rs, 'every node to count 1000', async (r) => (await r.get('hits')) === '1000');

    await rs[0]!.set('hits', '5');
    await everywhere(rs, 'the SET to reach every node', async (r) => (await r.get('hits')) === '5');
    assert.equal(await rs[1]!.incr('hits'), 6);
    await everywhere(rs, '6 on every node', async (r) => (await r.get('hits')) === '6');
    await Promise.all(nodes.map((n) => n.stop()));
  });

  test('FLUSHALL on one node empties every node; a node down meanwhile is empty after it rejoins, and writes after the flush survive', async () => {
    const nodes = await threeNodes();
    const [a, b, c] = nodes as [Gossip, Gossip, Gossip];
    const [ra, rb] = [redisOf(a), redisOf(b)];
    const batch = ra.pipeline();
    for (let i = 0; i < 50; i++) batch.set(`old:${i}`, `v${i}`);
    batch.incrby('old:counter', 7);
    await batch.exec();
    const rc = redisOf(c);
    await everywhere([ra, rb, rc], 'the keys to reach every node', async (r) => (await r.dbsize()) === 51);
    rc.disconnect();
    await c.stop();

    assert.equal(await rb.flushall(), 'OK');
    await everywhere([ra, rb], 'the live nodes to be empty', async (r) => (await r.dbsize()) === 0, 20_000);
    await ra.set('after', 'kept');
    const c2 = await restartGossipNode(c);
    const rc2 = redisOf(c2);
    await everywhere(
      [ra, rb, rc2],
      'one key, the one written after the flush, on every node',
      async (r) => (await r.dbsize()) === 1 && (await r.get('after')) === 'kept',
    );
    // The rejoined node's old copies did not come back anywhere, by push-pull or otherwise.
    await new Promise((r) => setTimeout(r, 3000));
    for (const r of [ra, rb, rc2]) {
      assert.equal(await r.dbsize(), 1);
      assert.equal(await r.get('old:0'), null);
      assert.equal(await r.get('old:counter'), null);
    }
    assert.equal(await rc2.incr('old:counter'), 1, 'a flushed counter starts again from 0');
    await Promise.all([a.stop(), b.stop(), c2.stop()]);
  });
});
