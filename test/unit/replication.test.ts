import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AntiEntropy } from '../../src/cluster/antientropy/anti-entropy.js';
import { Packr } from 'msgpackr';
import { BroadcastQueue } from '../../src/cluster/dissemination/broadcast-queue.js';
import { Disseminator } from '../../src/cluster/dissemination/disseminator.js';
import type { UdpTransport } from '../../src/cluster/transport/udp-transport.js';
import { encodeRecord } from '../../src/store/record-codec.js';
import type { InternalClient } from '../../src/cluster/internal-client.js';
import type { Peer } from '../../src/cluster/peers.js';
import { RequestSigner } from '../../src/cluster/request-signing.js';
import { leafOf } from '../../src/store/digest.js';
import { Store } from '../../src/store/store.js';

describe('broadcast queue', () => {
  it('keeps one delta per key (the newest), fresh first, until each went out `limit` times', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('a', Buffer.from('a1'));
    q.enqueue('b', Buffer.from('b1'));
    q.enqueue('a', Buffer.from('a2'));
    const first = q.takeFresh(1000);
    assert.deepEqual(
      first.map((d) => d.bytes.toString()),
      ['b1', 'a2'],
    );
    q.sent(first, ['p1', 'p2', 'p3'], 4, ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p10']);
    assert.equal(q.freshCount, 0);
    assert.equal(q.retryCount, 2);
    const again = q.takeFor('p4', 1000);
    assert.equal(again.length, 2);
    q.sent(again, ['p4'], 4, ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p10']);
    assert.equal(q.size, 0, 'sent 4 times = limit: gone');
  });

  it('retransmits only to peers that have not had a delta, and stops once every live peer has', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('k', Buffer.from('v'), ['origin']);
    const d = q.takeFresh(100);
    q.sent(d, ['p1'], 100, ['origin', 'p1', 'p2']);
    assert.equal(q.takeFor('p1', 100).length, 0, 'p1 has it');
    assert.equal(q.takeFor('origin', 100).length, 0, 'it came from there');
    const to2 = q.takeFor('p2', 100);
    assert.equal(to2.length, 1);
    q.sent(to2, ['p2'], 100, ['origin', 'p1', 'p2']);
    assert.equal(q.size, 0, 'origin, p1, p2: all three live peers have it');
  });

  it('a delta whose sender already sent it to every other live peer is not pushed on', () => {
    const q = new BroadcastQueue(100);
    q.enqueue('k', Buffer.from('v'), ['sender', 'me', 'p2']);
    const d = q.takeFresh(100);
    q.sent(d, [], 4, ['sender', 'p2']);
    assert.equal(q.size, 0);
  });

  it('respects the byte budget and the bound on its length', () => {
    const q = new BroadcastQueue(10);
    for (let i = 0; i < 25; i++) q.enqueue(`k${i}`, Buffer.alloc(100));
    assert.equal(q.size, 10);
    assert.equal(q.dropped, 15);
    assert.equal(q.takeFresh(350).length, 3);
  });

  it('a newer delta queued while an older one was out wins over its retransmission', () => {
    const q = new BroadcastQueue(10);
    q.enqueue('k', Buffer.from('old'));
    const out = q.takeFresh(100);
    q.enqueue('k', Buffer.from('new'));
    q.sent(out, ['p'], 10, ['p', 'q']);
    assert.deepEqual(
      q.takeFresh(100).map((d) => d.bytes.toString()),
      ['new'],
    );
    assert.equal(q.retryCount, 0);
  });
});

describe('disseminator', () => {
  it('a delta that every live peer already has is not queued to be pushed on; one that a live peer lacks is pushed to it', async () => {
    let receive: ((payload: Buffer, from: string) => void) | null = null;
    const sent: string[] = [];
    const transport = {
      maxDatagram: 1400,
      overhead: () => 0,
      onMessage: (_purpose: string, handler: (payload: Buffer, from: string) => void) => {
        receive = handler;
        return () => {};
      },
      send: async (_purpose: string, to: string) => {
        sent.push(to);
      },
      stats: () => ({ data: { datagramsOut: 0, bytesOut: 0, datagramsIn: 0, bytesIn: 0, dropped: { mac: 0, stale: 0, replay: 0, malformed: 0 } } }),
    } as unknown as UdpTransport;
    const peers: Peer[] = [
      { name: 'a', http: 'a:1', data: 'a:2' },
      { name: 'b', http: 'b:1', data: 'b:2' },
    ];
    const store = new Store({ nodeId: 'me' });
    const d = new Disseminator({
      store,
      peers: { livePeers: () => peers },
      client: {} as InternalClient,
      transport,
      selfHttp: 'me:1',
      fanout: 3,
      retransmitMult: 4,
      flushMs: 1,
      gossipIntervalMs: 60_000,
      followUpMs: 1,
    });
    d.start();
    try {
      const source = new Store({ nodeId: 'a' });
      const packr = new Packr({ useRecords: false });
      const datagram = (key: string, to: string[]) => Buffer.concat([packr.pack({ v: 1, h: 'a:1', to }), encodeRecord(source.set(key, Buffer.from(key)))]);
      receive!(datagram('k1', ['me:2', 'b:2']), 'a:2');
      assert.equal(store.get('k1')?.value?.toString(), 'k1', 'applied');
      assert.equal(d.stats().queueLength, 0, 'a and b have it: not queued');
      receive!(datagram('k2', ['me:2']), 'a:2');
      assert.equal(d.stats().queueLength, 1, 'b lacks it');
      for (let i = 0; i < 100 && sent.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(sent, ['b:2']);
    } finally {
      d.stop();
    }
  });
});

describe('request signing', () => {
  it('accepts a fresh signed call once, refuses tampering, replays, stale calls and other keys', () => {
    let now = 1_000_000;
    const a = new RequestSigner('shared-key-0123456789', 30_000, { self: 'a:1', now: () => now });
    const b = new RequestSigner('shared-key-0123456789', 30_000, { self: 'b:1', now: () => now });
    const other = new RequestSigner('another-key-0123456789', 30_000, { self: 'c:1', now: () => now });
    const body = Buffer.from('payload');
    const h = a.sign('POST', 'b:1', '/internal/sync', body);
    assert.equal(b.verify('POST', '/internal/sync', h, Buffer.from('payloaX')), false);
    assert.equal(b.verify('POST', '/internal/sync?x=1', h, body), false);
    assert.equal(b.verify('POST', '/internal/sync', h, body), true);
    assert.equal(b.verify('POST', '/internal/sync', h, body), false, 'replay');
    assert.equal(b.verify('POST', '/internal/sync', other.sign('POST', 'b:1', '/internal/sync', body), body), false);
    const old = a.sign('GET', 'b:1', '/internal/entry?key=k');
    now += 31_000;
    assert.equal(b.verify('GET', '/internal/entry?key=k', old), false, 'stale');
    assert.equal(b.verify('GET', '/x', 'garbage'), false);
    assert.equal(b.verify('GET', '/x', undefined), false);
    assert.deepEqual({ ...b.stats }, { accepted: 1, rejectedBadMac: 3, rejectedStale: 1, rejectedReplay: 1, rejectedMalformed: 2 });
  });

  it('names the receiver: a call signed for node A is refused by node B (and by nobody else)', () => {
    const now = () => 1_000_000;
    const client = new RequestSigner('shared-key-0123456789', 30_000, { self: '10.0.0.9:7721', now });
    const nodeA = new RequestSigner('shared-key-0123456789', 30_000, { self: '127.0.0.1:7721', now });
    const nodeB = new RequestSigner('shared-key-0123456789', 30_000, { self: '127.0.0.1:7731', now });
    const forA = client.sign('GET', '127.0.0.1:7721', '/internal/entry?key=k');
    assert.equal(nodeB.verify('GET', '/internal/entry?key=k', forA), false, 'a call for A was accepted by B');
    assert.equal(nodeB.stats.rejectedBadMac, 1);
    assert.equal(nodeA.verify('GET', '/internal/entry?key=k', forA), true);
    // One spelling of an address: IPv6 with or without brackets, any case.
    const v6 = new RequestSigner('shared-key-0123456789', 30_000, { self: 'fd00::A:7721', now });
    assert.equal(v6.verify('GET', '/x', client.sign('GET', '[fd00::a]:7721', '/x')), true);
    // A header of the previous format (no receiver) is refused as malformed.
    assert.equal(nodeA.verify('GET', '/x', `v1 1000000 ${'0'.repeat(24)} ${'0'.repeat(64)}`), false);
    assert.equal(nodeA.stats.rejectedMalformed, 1);
  });

  it('catches every replay within the window even once its replay cache is full (floor rule)', () => {
    let now = 1_000_000;
    const client = new RequestSigner('shared-key-0123456789', 30_000, { self: 'c:1', now: () => now });
    const server = new RequestSigner('shared-key-0123456789', 30_000, { self: 's:1', now: () => now, replayCacheSize: 8 });
    const headers: string[] = [];
    for (let i = 0; i < 50; i++) {
      headers.push(client.sign('GET', 's:1', '/internal/entry?key=k'));
      assert.equal(server.verify('GET', '/internal/entry?key=k', headers.at(-1)), true, `call ${i}`);
      now += 10;
    }
    // All 50 are within the 30 s window, only 8 are remembered: none may be accepted again.
    for (const h of headers) assert.equal(server.verify('GET', '/internal/entry?key=k', h), false, 'an evicted call was replayed');
    assert.equal(server.stats.rejectedReplay + server.stats.rejectedStale, 50);
    // Fresh calls still get through.
    now += 10;
    assert.equal(server.verify('GET', '/internal/entry?key=k', client.sign('GET', 's:1', '/internal/entry?key=k')), true);
  });
});

/** Anti-entropy between in-process stores: the client calls the peer's handler directly. */
function pair(a: Store, b: Store, opts: { maxKeysPerChunk?: number; maxMessageBytes?: number } = {}) {
  const calls: string[] = [];
  const peerB: Peer = { name: 'b', http: 'b:1', data: 'b:2' };
  let aeB: AntiEntropy;
  const client = {
    async call(_hp: string, _m: string, _path: string, body?: Buffer) {
      const { packr } = await import('../../src/cluster/antientropy/sync-messages.js');
      calls.push((packr.unpack(body!) as { op: string }).op);
      return aeB.handle(body!);
    },
  } as unknown as InternalClient;
  const aeA = new AntiEntropy({ store: a, peers: { livePeers: () => [peerB] }, client, intervalMs: 1e9, ...opts });
  aeB = new AntiEntropy({ store: b, peers: { livePeers: () => [] }, client, intervalMs: 1e9, ...opts });
  return { round: () => aeA.round(peerB), calls, aeA };
}

function contents(s: Store): string[] {
  return [...s.entries()]
    .map((e) => `${e.key}=${e.value?.toString('hex') ?? (e.hollow ? 'hollow' : 'tomb')}@${e.vv.t}.${e.vv.c}.${e.vv.n}/${e.expireAt}`)
    .sort();
}

describe('anti-entropy (push-pull)', () => {
  it('one round makes two divergent stores equal, both directions, tombstones included', async () => {
    const a = new Store({ nodeId: 'a' });
    const b = new Store({ nodeId: 'b' });
    for (let i = 0; i < 3000; i++) a.set(`a${i}`, Buffer.from(`va${i}`));
    for (let i = 0; i < 2000; i++) b.set(`b${i}`, Buffer.from(`vb${i}`), i % 2 ? 60_000 : 0);
    a.set('shared', Buffer.from('old'));
    b.set('shared', Buffer.from('new'));
    a.set('doomed', Buffer.from('x'));
    b.merge(a.peek('doomed')!);
    b.delete('doomed');
    const { round } = pair(a, b, { maxKeysPerChunk: 500 });
    await round();
    assert.equal(a.digest.root(), b.digest.root());
    assert.deepEqual(contents(a), contents(b));
    assert.equal(a.get('shared')!.value!.toString(), 'new');
    assert.equal(a.get('doomed'), undefined);
    assert.equal(b.get('a17')!.value!.toString(), 'va17');
  });

  it('in sync, a round is one small exchange', async () => {
    const a = new Store({ nodeId: 'a' });
    const b = new Store({ nodeId: 'b' });
    for (let i = 0; i < 100; i++) b.merge(a.set(`k${i}`, Buffer.from('v')));
    const { round, calls, aeA } = pair(a, b);
    await round();
    assert.deepEqual(calls, ['root']);
    assert.equal(aeA.counters.roundsInSync, 1);
  });

  it('a value evicted for memory on one side is not pulled back', async () => {
    // Budget with room for the evicted keys' stubs (their share of MaxMemory), so none is dropped.
    const a = new Store({ nodeId: 'a', maxMemory: 40_000 });
    const b = new Store({ nodeId: 'b' });
    for (let i = 0; i < 100; i++) b.merge(a.set(`k${i}`, Buffer.alloc(500, i)));
    assert.ok(a.stats().evictions > 0);
    const { round, calls } = pair(a, b);
    await round();
    assert.deepEqual(calls, ['root'], 'digests stayed equal: nothing to exchange');
    assert.equal(a.stats().evictions, a.stats().stubs);
  });

  it('does not pull back the bytes of an evicted key when its leaf differs for another reason', async () => {
    const a = new Store({ nodeId: 'a', maxMemory: 40_000 });
    const b = new Store({ nodeId: 'b' });
    for (let i = 0; i < 100; i++) b.merge(a.set(`k${i}`, Buffer.alloc(500, i)));
    const evicted = [...Array(100).keys()].map((i) => `k${i}`).filter((k) => a.peek(k)?.hollow === true);
    assert.ok(evicted.length > 0);
    // A new key in the leaf of every evicted key, written on b only: those leaves now differ.
    const leaves = new Set(evicted.map(leafOf));
    for (let i = 0; leaves.size > 0 && i < 1_000_000; i++) {
      if (leaves.delete(leafOf(`n${i}`))) b.set(`n${i}`, Buffer.from('n'));
    }
    const { round, calls } = pair(a, b);
    await round();
    assert.ok(calls.includes('get'), 'the new keys were pulled');
    assert.equal(a.digest.root(), b.digest.root());
    for (const k of evicted) assert.equal(a.peek(k)?.hollow, true, `${k} stays evicted`);
  });

  it("an expired key's guard makes a peer holding an older copy drop it, in either direction", async () => {
    let now = 1_000_000;
    const clock = () => now;
    for (const initiator of ['stale', 'fresh'] as const) {
      const stale = new Store({ nodeId: 'a', now: clock });
      const fresh = new Store({ nodeId: 'b', now: clock });
      fresh.merge(stale.set('k', Buffer.from('old')));
      fresh.set('k', Buffer.from('new'), 1000); // the delta never reached `stale`
      now += 2000;
      assert.equal(fresh.stats().guards, 1);
      assert.equal(stale.get('k')?.value?.toString(), 'old');
      const { round } = initiator === 'stale' ? pair(stale, fresh) : pair(fresh, stale);
      await round();
      assert.equal(stale.get('k'), undefined, `initiator ${initiator}`);
      assert.equal(stale.digest.root(), fresh.digest.root(), `initiator ${initiator}`);
    }
  });

  it('sends big differences in several bounded messages', async () => {
    const a = new Store({ nodeId: 'a' });
    const b = new Store({ nodeId: 'b' });
    for (let i = 0; i < 200; i++) a.set(`big${i}`, Buffer.alloc(10_000, i));
    const { round, calls } = pair(a, b, { maxMessageBytes: 100_000 });
    await round();
    assert.equal(a.digest.root(), b.digest.root());
    assert.ok(calls.filter((c) => c === 'put').length >= 10, calls.join(','));
  });

  it('rejects malformed requests without touching the store', () => {
    const s = new Store({ nodeId: 's' });
    s.set('k', Buffer.from('v'));
    const root = s.digest.root();
    const ae = new AntiEntropy({ store: s, peers: { livePeers: () => [] }, client: {} as InternalClient, intervalMs: 1e9 });
    for (const bad of [Buffer.from('garbage'), Buffer.alloc(0), Buffer.from([0x81, 0xa2, 0x6f, 0x70, 0xa4, 0x6b, 0x65, 0x79, 0x73])]) {
      assert.throws(() => ae.handle(bad));
    }
    assert.equal(s.digest.root(), root);
  });
});
