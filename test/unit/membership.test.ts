import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberInfo } from '../../src/cluster/membership/membership.js';
import { Nodes, crash, options, seesAllAlive, sleep, stateOf, waitFor } from './membership-harness.test.js';

describe('membership', () => {
  it('three members converge to all alive, with metadata and join events', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', []);
      const joined: MemberInfo[] = [];
      a.on('join', (info) => joined.push(info));
      const b = await nodes.start('b', [a.localAddress()]);
      const c = await nodes.start('c', [a.localAddress()]);
      const all = [a, b, c].map((m) => m.localAddress());
      await waitFor('all see three alive', () => [a, b, c].every((m) => seesAllAlive(m, all)));

      const self = a.members().find((x) => x.local);
      assert.equal(self?.address, a.localAddress());
      assert.equal(self?.state, 'alive');
      const cSeenByB = b.members().find((x) => x.address === c.localAddress());
      assert.deepEqual(cSeenByB?.meta, { name: 'c', http: '127.0.0.1:8100', data: '127.0.0.1:9000', proto: 1 });
      assert.equal(cSeenByB?.local, false);
      assert.deepEqual(joined.map((j) => j.address).sort(), [b.localAddress(), c.localAddress()].sort());
      for (const m of [a, b, c]) {
        const s = m.stats();
        assert.equal(s.rejectedBadMac + s.rejectedMalformed + s.rejectedReplay + s.rejectedStale + s.droppedOversized, 0);
        assert.ok(s.datagramsIn > 0 && s.datagramsOut > 0);
      }
    } finally {
      await nodes.stopAll();
    }
  });

  it('joins a seed started later (unreachable seeds are retried, start() does not fail)', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', []);
      const port = Number(a.localAddress().split(':')[1]);
      await a.stop();
      const b = await nodes.start('b', [`127.0.0.1:${port}`]);
      await sleep(700);
      assert.equal(b.members().length, 1);
      const a2 = await nodes.start('a', [], { port });
      await waitFor('b joins the late seed', () => seesAllAlive(b, [a2.localAddress(), b.localAddress()]));
    } finally {
      await nodes.stopAll();
    }
  });

  it('updateMeta reaches the others as an update event', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', []);
      const b = await nodes.start('b', [a.localAddress()]);
      await waitFor('joined', () => seesAllAlive(b, [a.localAddress(), b.localAddress()]));
      const updates: MemberInfo[] = [];
      b.on('update', (info) => updates.push(info));
      a.updateMeta({ name: 'a', http: '127.0.0.1:1234', data: '127.0.0.1:9000', proto: 2 });
      await waitFor('b sees the new meta', () => b.members().find((x) => x.address === a.localAddress())?.meta?.proto === 2);
      assert.equal(updates.at(-1)?.meta?.http, '127.0.0.1:1234');
      assert.throws(() => a.updateMeta({ name: 'x'.repeat(300), http: '', data: '', proto: 1 }), TypeError);
    } finally {
      await nodes.stopAll();
    }
  });

  // Defect 1: swim restarted a suspect's timer at every probe round, so with a
  // suspicion timeout longer than a round a dead member stayed suspect forever.
  it('a member killed without leaving becomes faulty although its suspicion timeout exceeds a probe round', async () => {
    const nodes = new Nodes();
    try {
      // 3 members, probe 200 ms: the dead one is probed every ~400 ms; suspicion timeout 5 × 200 = 1 s.
      const timing = { probeIntervalMs: 200, pingTimeoutMs: 100, suspicionMult: 5 };
      const a = await nodes.start('a', [], timing);
      const b = await nodes.start('b', [a.localAddress()], timing);
      const c = await nodes.start('c', [a.localAddress()], timing);
      const all = [a, b, c].map((m) => m.localAddress());
      await waitFor('converged', () => [a, b, c].every((m) => seesAllAlive(m, all)));

      const seen: string[] = [];
      a.on('suspect', (i) => i.address === c.localAddress() && seen.push('suspect'));
      a.on('faulty', (i) => i.address === c.localAddress() && seen.push('faulty'));
      await crash(c);
      await waitFor('c suspect on a', () => stateOf(a, c.localAddress()) === 'suspect', 10_000);
      await waitFor('c faulty on a and b', () => stateOf(a, c.localAddress()) === 'faulty' && stateOf(b, c.localAddress()) === 'faulty', 10_000);
      assert.deepEqual(seen, ['suspect', 'faulty']);
      assert.equal(stateOf(a, b.localAddress()), 'alive');
      assert.equal(stateOf(b, a.localAddress()), 'alive');
    } finally {
      await nodes.stopAll();
    }
  });

  // Defect 2: a restarted node began again at incarnation 0 and was ignored by
  // every node holding its faulty record at incarnation >= 0. Here a (the new
  // instance's seed) has already forgotten the old one, so only b holds the record,
  // and once its piggybacked copies are spent nothing tells the new instance to
  // outbid it (periodic push-pull, which would, is off).
  it('a crashed member restarted on the same port comes back alive everywhere, with its new metadata', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', [], { reapFaultyAfterMs: 300, pushPullIntervalMs: 0 });
      const b = await nodes.start('b', [a.localAddress()], { pushPullIntervalMs: 0 });
      const x = await nodes.start('x', [a.localAddress()], { pushPullIntervalMs: 0 });
      const addr = x.localAddress();
      const all = [a.localAddress(), b.localAddress(), addr];
      await waitFor('converged', () => [a, b, x].every((m) => seesAllAlive(m, all)));

      await crash(x);
      await waitFor('x faulty on b', () => stateOf(b, addr) === 'faulty', 10_000);
      await waitFor('x reaped on a', () => stateOf(a, addr) === undefined, 10_000);
      // The restart comes later than swim's few piggybacked copies of the faulty record (as a real restart does).
      await sleep(3000);

      const back: string[] = [];
      b.on('alive', (i) => i.address === addr && back.push('alive'));
      const port = Number(addr.split(':')[1]);
      const x2 = await nodes.start('x-restarted', [a.localAddress()], { port, pushPullIntervalMs: 0 });
      assert.equal(x2.localAddress(), addr);
      await waitFor('x back alive on a and b', () => seesAllAlive(a, all) && seesAllAlive(b, all), 10_000);
      assert.deepEqual(back, ['alive']);
      assert.equal(b.members().find((m) => m.address === addr)?.meta?.name, 'x-restarted');
      await waitFor('x2 sees everyone', () => seesAllAlive(x2, all), 10_000);
    } finally {
      await nodes.stopAll();
    }
  });

  // Defect 3: swim's leave() only closed the socket, so peers saw a failure.
  it('a graceful stop is seen as left, not faulty', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', []);
      const b = await nodes.start('b', [a.localAddress()]);
      const c = await nodes.start('c', [a.localAddress()]);
      const all = [a, b, c].map((m) => m.localAddress());
      await waitFor('converged', () => [a, b, c].every((m) => seesAllAlive(m, all)));

      const events: string[] = [];
      for (const ev of ['suspect', 'faulty', 'leave'] as const) a.on(ev, (i) => i.address === all[2] && events.push(ev));
      await c.stop();
      assert.equal(c.members().find((m) => m.local)?.state, 'left');
      await waitFor('c left on a and b', () => stateOf(a, all[2]!) === 'left' && stateOf(b, all[2]!) === 'left', 10_000);
      // Stays left through several suspicion timeouts (3 × 200 ms).
      await sleep(2000);
      assert.equal(stateOf(a, all[2]!), 'left');
      assert.equal(stateOf(b, all[2]!), 'left');
      assert.deepEqual(events, ['leave']);
    } finally {
      await nodes.stopAll();
    }
  });

  it('reaps a faulty member after reapFaultyAfterMs, and the reaped member rejoins', async () => {
    const nodes = new Nodes();
    try {
      const reap = { reapFaultyAfterMs: 1000 };
      const a = await nodes.start('a', [], reap);
      const b = await nodes.start('b', [a.localAddress()], reap);
      const x = await nodes.start('x', [a.localAddress()], reap);
      const addr = x.localAddress();
      const all = [a.localAddress(), b.localAddress(), addr];
      await waitFor('converged', () => [a, b, x].every((m) => seesAllAlive(m, all)));

      await crash(x);
      await waitFor('x faulty', () => stateOf(a, addr) === 'faulty' && stateOf(b, addr) === 'faulty', 10_000);
      await waitFor('x reaped', () => stateOf(a, addr) === undefined && stateOf(b, addr) === undefined, 10_000);
      assert.equal(a.members().length, 2);

      const joins: string[] = [];
      a.on('join', (i) => joins.push(i.address));
      const x2 = await nodes.start('x', [b.localAddress()], { ...reap, port: Number(addr.split(':')[1]) });
      await waitFor('x rejoined', () => [a, b, x2].every((m) => seesAllAlive(m, all)), 10_000);
      assert.deepEqual(joins, [addr]);
    } finally {
      await nodes.stopAll();
    }
  });

  it('stop() during start(), and twice, is safe; an instance starts once', async () => {
    const { Membership } = await import('../../src/cluster/membership/membership.js');
    const m = new Membership(options('s'));
    const started = m.start([]);
    const stopped = Promise.all([m.stop(), m.stop()]);
    await started;
    await stopped;
    assert.equal(m.members()[0]?.state, 'left');
    await assert.rejects(m.start([]));
    await new Membership(options('never-started')).stop();
  });

  it('rejects bad options', async () => {
    const { Membership } = await import('../../src/cluster/membership/membership.js');
    const base = options('n', { probeIntervalMs: 1000, pingTimeoutMs: 500 });
    assert.throws(() => new Membership({ ...base, authKey: '' }), TypeError);
    assert.throws(() => new Membership({ ...base, maxDatagram: 100 }), RangeError);
    assert.throws(() => new Membership({ ...base, probeIntervalMs: 0 }), RangeError);
    assert.throws(() => new Membership({ ...base, port: 70000 }), RangeError);
    assert.throws(() => new Membership({ ...base, meta: { name: 'n', http: 'h', data: 'd', proto: -1 } }), TypeError);
    await assert.rejects(new Membership(base).start(['not an address']), RangeError);
  });
});
