import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { DATA_GOSSIP_PURPOSE } from '../../src/cluster/dissemination/disseminator.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { dataCmd, members, restartGossipNode, startGossipCluster, status, tokenOf, waitConverged, type StatusDoc } from '../helpers/cluster.js';
import { TEST_AUTH_KEY, qs, request, sleep, stopAllNodes, waitFor, type NodeHandle } from '../helpers/node-process.js';

/** Issue 5 against real processes: convergence of pushes and push-pull, under restarts, pauses and junk. */

after(stopAllNodes);

type Gossip = NodeHandle & { gossip: string };

async function allAlive(nodes: Gossip[]): Promise<void> {
  await waitFor(
    `${nodes.length} alive members everywhere`,
    async () => {
      const views = await Promise.all(nodes.map(members));
      return views.every((v) => v.filter((m) => m.state === 'alive').length === nodes.length);
    },
    15_000,
  );
}

/** Runs `jobs` with at most `parallel` at a time over keep-alive connections. */
async function runAll<T>(jobs: (() => Promise<T>)[], parallel = 16): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

function fingerprint(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

/** Every node answers the same for every key (value bytes, or 404). */
async function assertSameReads(nodes: NodeHandle[], keys: string[], expected?: Map<string, string | null>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    for (const n of nodes) {
      const reads = await runAll(
        keys.map((key) => async () => {
          const r = await request(n.httpPort, `/data/?${qs({ cmd: 'get', key })}`, { agent });
          return r.status === 200 ? fingerprint(r.body) : r.status === 404 ? null : `status ${r.status}`;
        }),
      );
      keys.forEach((key, i) => {
        if (expected) assert.equal(reads[i], expected.get(key), `node ${n.httpAddr}, key ${key}`);
      });
      expected ??= new Map(keys.map((k, i) => [k, reads[i]!]));
    }
  } finally {
    agent.destroy();
  }
}

describe('replication (real processes, gossip mode)', () => {
  it('five nodes, 1 000 writes spread over all (set, expire, delete, binary, a 2 MiB value): same digest, same bytes everywhere', async () => {
    const nodes = await startGossipCluster(5);
    await allAlive(nodes);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const tokens = await Promise.all(nodes.map(tokenOf));
    const expected = new Map<string, string | null>();
    const keys: string[] = [];
    const jobs: (() => Promise<void>)[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = i % 5;
      const key = `key-${i % 700}`;
      if (!keys.includes(key)) keys.push(key);
      const value = i % 7 === 0 ? randomBytes(64 + (i % 500)) : Buffer.from(`value ${i}`);
      jobs.push(async () => {
        const node = nodes[n]!;
        const op = i % 10;
        const params: Record<string, string | number | Buffer> = { key, token: tokens[n]! };
        if (op === 8) Object.assign(params, { cmd: 'delete' });
        else if (op === 9) Object.assign(params, { cmd: 'expire', exptime: 3600 });
        else Object.assign(params, { cmd: 'set', valuedata: value, ...(op === 3 ? { exptime: 3600 } : {}) });
        await request(node.httpPort, `/data/?${qs(params)}`, { agent });
      });
    }
    // Writes to one key go in order (per key, one after another) so the expected final state is known.
    const byKey = new Map<string, (() => Promise<void>)[]>();
    jobs.forEach((j, i) => {
      const k = `key-${i % 700}`;
      byKey.set(k, [...(byKey.get(k) ?? []), j]);
    });
    await runAll(
      [...byKey.values()].map((list) => async () => {
        for (const j of list) await j();
      }),
      24,
    );
    const big = randomBytes(2 * 1024 * 1024);
    assert.equal((await dataCmd(nodes[2]!, { cmd: 'set', key: 'big-value' }, big)).json<{ Status: number }>().Status, 200);
    keys.push('big-value');
    agent.destroy();

    await waitConverged(nodes, 60_000);
    // Read the writer-independent truth from node 0, then every node must answer the same.
    await assertSameReads(nodes, keys, expected.size > 0 ? expected : undefined);
    for (const n of nodes) {
      const r = await dataCmd(n, { cmd: 'get', key: 'big-value' });
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(big), `2 MiB value on ${n.httpAddr}`);
    }
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('concurrent writes to the same keys on different nodes end with the same winner everywhere; set-then-delete leaves nothing', async () => {
    const nodes = await startGossipCluster(3);
    await allAlive(nodes);
    const keys = Array.from({ length: 30 }, (_, i) => `contended-${i}`);
    await Promise.all(nodes.flatMap((n, ni) => keys.map((key) => dataCmd(n, { cmd: 'set', key, valuedata: `from-node-${ni}` }))));
    const doomed = Array.from({ length: 30 }, (_, i) => `doomed-${i}`);
    await Promise.all(
      doomed.map(async (key, i) => {
        const n = nodes[i % 3]!;
        await dataCmd(n, { cmd: 'set', key, valuedata: 'short-lived' });
        await dataCmd(n, { cmd: 'delete', key });
      }),
    );
    await waitConverged(nodes, 30_000);
    await assertSameReads(nodes, keys);
    const winners = await Promise.all(keys.map(async (key) => (await dataCmd(nodes[0]!, { cmd: 'get', key })).body.toString()));
    assert.ok(
      winners.every((w) => /^from-node-\d$/.test(w)),
      winners.join(','),
    );
    for (const n of nodes) {
      for (const key of doomed) assert.equal((await dataCmd(n, { cmd: 'get', key })).status, 404, `${key} on ${n.httpAddr}`);
    }
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('a node stopped while 10 000 writes happen elsewhere holds all of them after restart, with no write needed', async () => {
    const nodes = await startGossipCluster(3);
    await allAlive(nodes);
    const [a, b, c] = nodes as [Gossip, Gossip, Gossip];
    await c.stop('SIGTERM');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const tokens = [await tokenOf(a), await tokenOf(b)];
    await runAll(
      Array.from({ length: 10_000 }, (_, i) => async () => {
        const n = i % 2 === 0 ? a : b;
        const r = await request(n.httpPort, `/data/?${qs({ cmd: 'set', key: `bulk-${i}`, valuedata: `v${i}`, token: tokens[i % 2]! })}`, { agent });
        assert.equal(r.status, 200);
      }),
      32,
    );
    agent.destroy();
    const root = await waitConverged([a, b], 30_000);
    const c2 = await restartGossipNode(c);
    await waitFor('the restarted node caught up', async () => (await status(c2)).store.digest === root, 30_000, 250);
    assert.equal((await status(c2)).store.keys, 10_000);
    assert.equal((await dataCmd(c2, { cmd: 'get', key: 'bulk-9999' })).body.toString(), 'v9999');
    await Promise.all([a.stop(), b.stop(), c2.stop()]);
  });

  it('a partition (one side paused, then the other) with writes on both sides heals into one state', async () => {
    const nodes = await startGossipCluster(4);
    await allAlive(nodes);
    const [a, b, c, d] = nodes as [Gossip, Gossip, Gossip, Gossip];
    const write = (n: Gossip, key: string, v: string) => dataCmd(n, { cmd: 'set', key, valuedata: v });
    await Promise.all([tokenOf(a), tokenOf(b), tokenOf(c), tokenOf(d)]);
    // Side {c, d} cut off: writes on {a, b}.
    c.proc.kill('SIGSTOP');
    d.proc.kill('SIGSTOP');
    try {
      for (let i = 0; i < 50; i++) await write(i % 2 ? a : b, `left-${i}`, `L${i}`);
      await write(a, 'both', 'from-left');
    } finally {
      c.proc.kill('SIGCONT');
      d.proc.kill('SIGCONT');
    }
    // Now side {a, b} cut off: writes on {c, d}, including the same key, later.
    a.proc.kill('SIGSTOP');
    b.proc.kill('SIGSTOP');
    try {
      for (let i = 0; i < 50; i++) await write(i % 2 ? c : d, `right-${i}`, `R${i}`);
      await write(c, 'both', 'from-right');
    } finally {
      a.proc.kill('SIGCONT');
      b.proc.kill('SIGCONT');
    }
    await waitConverged(nodes, 60_000);
    for (const n of nodes) {
      assert.equal((await dataCmd(n, { cmd: 'get', key: 'both' })).body.toString(), 'from-right', 'the newer write wins');
      assert.equal((await dataCmd(n, { cmd: 'get', key: 'left-7' })).body.toString(), 'L7');
      assert.equal((await dataCmd(n, { cmd: 'get', key: 'right-8' })).body.toString(), 'R8');
    }
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('bad, replayed, random and truncated data-gossip datagrams are dropped and counted; nothing changes', async () => {
    const nodes = await startGossipCluster(2);
    await allAlive(nodes);
    const [a] = nodes as [Gossip, Gossip];
    await dataCmd(a, { cmd: 'set', key: 'stable', valuedata: 'v' });
    await waitConverged(nodes);
    const before = await status(a);
    const dataPort = Number(/data deltas on UDP (\d+)/.exec(a.stdout())![1]);
    const sealer = new DatagramSealer(TEST_AUTH_KEY, DATA_GOSSIP_PURPOSE, { encrypt: false, windowMs: 30_000 });
    const wrongKey = new DatagramSealer('some-other-key-0000', DATA_GOSSIP_PURPOSE, { encrypt: false, windowMs: 30_000 });
    const valid = sealer.seal(randomBytes(300));
    const datagrams = [randomBytes(5), randomBytes(900), wrongKey.seal(Buffer.from('x')), valid, valid, valid.subarray(0, valid.length - 3)];
    const s = dgram.createSocket('udp4');
    for (const d of datagrams) await new Promise<void>((res) => s.send(d, dataPort, '127.0.0.1', () => res()));
    s.close();
    await sleep(1000);
    const after = await status(a);
    const p0 = before.replication.push;
    const p1 = after.replication.push;
    const rejected = (p: StatusDoc['replication']['push']) =>
      p.rejectedBadMac! + p.rejectedMalformed! + p.rejectedReplay! + p.rejectedStale! + p.deltasMalformed!;
    assert.ok(rejected(p1) - rejected(p0) >= 5, JSON.stringify(p1));
    assert.equal(p1.rejectedReplay! - p0.rejectedReplay!, 1);
    assert.equal(after.store.digest, before.store.digest);
    assert.equal((await dataCmd(a, { cmd: 'get', key: 'stable' })).body.toString(), 'v');
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('/server/ add on one node (either group_type) appears in getall on every node; delete disappears everywhere', async () => {
    const nodes = await startGossipCluster(3);
    await allAlive(nodes);
    const server = async (n: NodeHandle, params: Record<string, string>) =>
      (await request(n.httpPort, `/server/?${qs({ ...params, token: await tokenOf(n) })}`)).json<{ Status: number; Data: { Address: string }[] | null }>();
    assert.equal((await server(nodes[0]!, { cmd: 'add', address: 'http://127.0.0.1:7999', pass: 'secret-pass-1' })).Status, 200);
    assert.equal((await server(nodes[1]!, { cmd: 'add', address: '127.0.0.1:7998', group_type: 'gossip' })).Status, 200);
    const has = async (n: NodeHandle, type: string, address: string) =>
      ((await server(n, { cmd: 'getall', group_type: type })).Data ?? []).some((e) => e.Address === address);
    await waitFor(
      'adds everywhere',
      async () => {
        for (const n of nodes) if (!(await has(n, 'owlcache', 'http://127.0.0.1:7999')) || !(await has(n, 'gossip', '127.0.0.1:7998'))) return false;
        return true;
      },
      20_000,
      250,
    );
    assert.equal((await server(nodes[2]!, { cmd: 'delete', address: 'http://127.0.0.1:7999' })).Status, 200);
    await waitFor(
      'delete everywhere',
      async () => {
        for (const n of nodes) if (await has(n, 'owlcache', 'http://127.0.0.1:7999')) return false;
        return true;
      },
      20_000,
      250,
    );
    await Promise.all(nodes.map((n) => n.stop()));
  });
});

describe('tombstones and stale data (real processes)', () => {
  it('a node away longer than TombstoneTTL discards its copy at start, so a delete collected meanwhile does not come back', async () => {
    const ttl = { TombstoneTTL: '3s', Task_ClearExpireData: '500ms' };
    const nodes = await startGossipCluster(2, ttl);
    await allAlive(nodes);
    const [a, b] = nodes as [Gossip, Gossip];
    await dataCmd(a, { cmd: 'set', key: 'zombie', valuedata: 'brains' });
    await dataCmd(a, { cmd: 'set', key: 'keeper', valuedata: 'kept' });
    await waitConverged(nodes);
    await b.stop('SIGTERM');
    await dataCmd(a, { cmd: 'delete', key: 'zombie' });
    // Past the TTL the tombstone is collected on a; b's snapshot still holds the live key.
    await sleep(4500);
    const b2 = await restartGossipNode(b);
    assert.match(b2.stderr() + b2.stdout(), /older than TombstoneTTL/);
    await waitConverged([a, b2], 30_000);
    for (const n of [a, b2]) {
      assert.equal((await dataCmd(n, { cmd: 'get', key: 'zombie' })).status, 404, `zombie on ${n.httpAddr}`);
      assert.equal((await dataCmd(n, { cmd: 'get', key: 'keeper' })).body.toString(), 'kept');
    }
    await Promise.all([a.stop(), b2.stop()]);
  });
});
