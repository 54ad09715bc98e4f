import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { ClusterPage, PAGE_EVENTS_KEPT, type PageSource, type PageStatus } from '../../src/cluster-page/page-state.js';
import { SlidingWindow } from '../../src/cluster-page/sliding-window.js';
import type { MemberInfo } from '../../src/cluster/membership/types.js';
import { Store, type StoreChange } from '../../src/store/store.js';

describe('SlidingWindow', () => {
  test('rate over the complete seconds of the window; the second in progress is not read', () => {
    let now = 100_000;
    const w = new SlidingWindow(5, () => now);
    for (let s = 0; s < 5; s++) {
      w.add(10);
      now += 1000;
    }
    w.add(1000); // the second in progress
    assert.equal(w.perSecond(), 10);
    now += 3000;
    // Three of the five seconds have slid out (the 1000 counts from now on).
    assert.equal(w.perSecond(), (2 * 10 + 1000) / 5);
    now += 10_000;
    assert.equal(w.perSecond(), 0);
    assert.equal(w.mean(), null);
  });

  test('mean of the values added in the window', () => {
    let now = 5_000;
    const w = new SlidingWindow(10, () => now);
    w.add(1, 30);
    w.add(1, 10);
    now += 1000;
    w.add(2, 80);
    now += 1000;
    assert.equal(w.mean(), 30);
  });

  test('a window that is not a whole number of seconds >= 1 is refused', () => {
    assert.throws(() => new SlidingWindow(0), RangeError);
    assert.throws(() => new SlidingWindow(1.5), RangeError);
  });
});

function source(store: Store, status: PageStatus, reads: { n: number }, peerFacts?: PageSource['peerFacts']): PageSource {
  return { status: () => status, reads: () => reads.n, onChange: (l: (c: StoreChange) => void) => store.onChange(l), ...(peerFacts ? { peerFacts } : {}) };
}

const gossipStatus = (members: PageStatus['cluster']): PageStatus => ({
  node: { name: 'a', id: 'id-a', version: '0.1.0', mode: 'gossip', http: '127.0.0.1:1', uptimeSeconds: 42 },
  store: { keys: 3, bytes: 300, maxMemory: 1000 },
  cluster: members,
});

const member = (address: string, state: MemberInfo['state'], local = false): MemberInfo => ({
  address,
  state,
  incarnation: 1,
  meta: { name: `n-${address}`, http: 'h', data: 'd', proto: 1 },
  since: 0,
  local,
});

describe('ClusterPage', () => {
  test('this node first with its own facts; peers with nulls unless peerFacts knows more', () => {
    const store = new Store({ nodeId: 'a' });
    const rows = [
      { name: 'c', state: 'faulty' as const, gossip: '127.0.0.1:3', http: '127.0.0.1:30', local: false, since: '2026-01-01T00:00:00.000Z' },
      { name: 'a', state: 'alive' as const, gossip: '127.0.0.1:1', http: '127.0.0.1:10', local: true, since: '2026-01-01T00:00:00.000Z' },
      { name: 'b', state: 'alive' as const, gossip: '127.0.0.1:2', http: '127.0.0.1:20', local: false, since: '2026-01-01T00:00:00.000Z' },
    ];
    const page = new ClusterPage(
      source(store, gossipStatus({ members: rows }), { n: 0 }, (m) => (m.name === 'b' ? { rttMs: 3, inSync: true, keys: undefined } : undefined)),
    );
    try {
      const s = page.state();
      assert.equal(s.gossip, true);
      assert.deepEqual(
        s.members.map((m) => m.name),
        ['a', 'b', 'c'],
      );
      const [a, b, c] = s.members;
      assert.equal(a!.local, true);
      assert.deepEqual([a!.keys, a!.bytes, a!.maxMemory, a!.uptimeSeconds], [3, 300, 1000, 42]);
      assert.equal(a!.rttMs, null);
      assert.deepEqual([b!.rttMs, b!.inSync, b!.keys, b!.clockOffsetMs], [3, true, null, null]);
      assert.equal(c!.state, 'faulty');
      assert.equal(c!.uptimeSeconds, null);
    } finally {
      page.close();
    }
  });

  test('owlcache mode: not gossip, this node alone', () => {
    const store = new Store({ nodeId: 'a' });
    const page = new ClusterPage(source(store, { ...gossipStatus(null), node: { ...gossipStatus(null).node, mode: 'owlcache' } }, { n: 0 }));
    try {
      const s = page.state();
      assert.equal(s.gossip, false);
      assert.equal(s.members.length, 1);
      assert.equal(s.members[0]!.gossip, null);
      assert.equal(s.members[0]!.state, 'alive');
    } finally {
      page.close();
    }
  });

  test('operations per second count store changes and reads; lag is the age of received deltas', () => {
    let now = 1_000_000;
    const clock = () => now;
    const store = new Store({ nodeId: 'a', now: clock });
    const peer = new Store({ nodeId: 'b', now: clock });
    const reads = { n: 0 };
    const page = new ClusterPage(source(store, gossipStatus({ members: [] }), reads), clock);
    try {
      for (let i = 0; i < 20; i++) store.set(`k${i}`, Buffer.from('v'));
      reads.n = 30;
      page.state(); // folds the reads into this second
      const delta = peer.set('remote', Buffer.from('x'));
      now += 250;
      store.merge(delta, 'remote');
      now += 1000;
      const s = page.state();
      assert.equal(s.members[0]!.opsPerSecond, (20 + 30 + 1) / 5);
      assert.equal(s.members[0]!.replicationLagMs, 250);
      now += 11_000;
      assert.equal(page.state().members[0]!.replicationLagMs, null);
    } finally {
      page.close();
    }
  });

  test('keeps the latest membership events, newest first, never this node', () => {
    const store = new Store({ nodeId: 'a' });
    const page = new ClusterPage(source(store, gossipStatus({ members: [] }), { n: 0 }));
    const membership = new EventEmitter();
    try {
      page.watch(membership);
      membership.emit('join', member('127.0.0.1:9', 'alive', true));
      membership.emit('join', member('127.0.0.1:2', 'alive'));
      membership.emit('update', member('127.0.0.1:2', 'alive'));
      membership.emit('suspect', member('127.0.0.1:2', 'suspect'));
      membership.emit('faulty', member('127.0.0.1:2', 'faulty'));
      const events = page.state().events;
      assert.deepEqual(
        events.map((e) => e.event),
        ['faulty', 'suspect', 'join'],
      );
      assert.equal(events[0]!.member, 'n-127.0.0.1:2');
      for (let i = 0; i < PAGE_EVENTS_KEPT + 10; i++) membership.emit('alive', member(`127.0.0.1:${100 + i}`, 'alive'));
      const kept = page.state().events;
      assert.equal(kept.length, PAGE_EVENTS_KEPT);
      assert.equal(kept[0]!.gossip, `127.0.0.1:${100 + PAGE_EVENTS_KEPT + 9}`);
      page.close();
      membership.emit('faulty', member('127.0.0.1:2', 'faulty'));
      assert.equal(membership.listenerCount('faulty'), 0);
    } finally {
      page.close();
    }
  });
});
