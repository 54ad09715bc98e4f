// Defect 4: swim accepted any datagram from anyone, and crashed on some.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { pack } from 'msgpackr';
import { MEMBERSHIP_PURPOSE, type Membership } from '../../src/cluster/membership/membership.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { KEY, Nodes, seesAllAlive, sleep, waitFor } from './membership-harness.test.js';

const PING = 10;
const ACK = 13;
const SYNC = 12;
const UPDATE = 14;

function msg(type: number, body: unknown): Buffer {
  return Buffer.concat([Buffer.from([type]), pack(body)]);
}

function compound(parts: Buffer[], count = parts.length): Buffer {
  const head = Buffer.alloc(3);
  head.writeUInt16LE(count, 1);
  return Buffer.concat([
    head,
    ...parts.flatMap((p) => {
      const len = Buffer.alloc(2);
      len.writeUInt16LE(p.length);
      return [len, p];
    }),
  ]);
}

/** A raw UDP client standing in for an attacker (or a peer) at 127.0.0.1. */
async function rawSocket(): Promise<{ socket: Socket; received: Buffer[] }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, received };
}

function sendTo(socket: Socket, m: Membership, buf: Buffer): Promise<void> {
  const [host, port] = m.localAddress().split(':');
  return new Promise((resolve) => socket.send(buf, Number(port), host, () => resolve()));
}

describe('membership authentication', () => {
  it('a node with a wrong key never joins', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', []);
      const b = await nodes.start('b', [a.localAddress()]);
      await waitFor('a and b joined', () => seesAllAlive(a, [a.localAddress(), b.localAddress()]));
      const w = await nodes.start('w', [a.localAddress(), b.localAddress()], { authKey: 'not-the-cluster-key' });
      // Seeds are retried with backoff: several attempts fit in this time.
      await waitFor('a rejected w', () => a.stats().rejectedBadMac >= 2, 10_000);
      await sleep(1500);
      assert.deepEqual(
        a
          .members()
          .map((x) => x.address)
          .sort(),
        [a.localAddress(), b.localAddress()].sort(),
      );
      assert.deepEqual(
        b
          .members()
          .map((x) => x.address)
          .sort(),
        [a.localAddress(), b.localAddress()].sort(),
      );
      assert.deepEqual(
        w.members().map((x) => x.address),
        [w.localAddress()],
      );
      assert.ok(w.stats().datagramsOut >= 2);
    } finally {
      await nodes.stopAll();
    }
  });

  it('an encrypted cluster converges, and a plain node cannot join it', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', [], { encrypt: true });
      const b = await nodes.start('b', [a.localAddress()], { encrypt: true });
      await waitFor(
        'encrypted pair joined',
        () => seesAllAlive(a, [a.localAddress(), b.localAddress()]) && seesAllAlive(b, [a.localAddress(), b.localAddress()]),
      );
      const p = await nodes.start('plain', [a.localAddress()]);
      await waitFor('a rejected the plain node', () => a.stats().rejectedBadMac >= 1, 10_000);
      assert.equal(a.members().length, 2);
      assert.equal(p.members().length, 1);
    } finally {
      await nodes.stopAll();
    }
  });

  it('random bytes, truncated, forged and garbage-inside datagrams change nothing and crash nothing', async () => {
    const nodes = new Nodes();
    const { socket, received } = await rawSocket();
    try {
      const a = await nodes.start('a', []);
      const b = await nodes.start('b', [a.localAddress()]);
      const all = [a.localAddress(), b.localAddress()];
      await waitFor('joined', () => seesAllAlive(a, all) && seesAllAlive(b, all));
      const before = a.stats();
      const sealer = new DatagramSealer(KEY, MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 30_000 });
      const fake = { host: '127.0.0.1:1', state: 0, incarnation: 5, meta: { name: 'evil', http: 'x', data: 'y', proto: 1 } };

      // Unauthenticated: random bytes of many sizes, a plain swim message, a wrong-key seal, a truncated and a bit-flipped seal.
      const unauthenticated: Buffer[] = [Buffer.alloc(0), Buffer.from([1])];
      for (let i = 0; i < 50; i++) unauthenticated.push(randomBytes(1 + Math.floor(Math.random() * 1400)));
      unauthenticated.push(msg(UPDATE, fake));
      unauthenticated.push(new DatagramSealer('wrong', MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 30_000 }).seal(msg(UPDATE, fake)));
      const good = sealer.seal(msg(UPDATE, fake));
      unauthenticated.push(good.subarray(0, good.length - 1), good.subarray(0, 30), good.subarray(0, 10));
      const flipped = Buffer.from(sealer.seal(msg(UPDATE, fake)));
      flipped[25] = flipped[25]! ^ 0x01;
      unauthenticated.push(flipped);
      const otherPurpose = new DatagramSealer(KEY, 'owlcache/data', { encrypt: false, windowMs: 30_000 });
      unauthenticated.push(otherPurpose.seal(msg(UPDATE, fake)));

      // Authenticated (right key) but garbage inside.
      const garbage: Buffer[] = [
        Buffer.alloc(0),
        randomBytes(64),
        Buffer.from([UPDATE]),
        msg(UPDATE, null),
        msg(UPDATE, 42),
        msg(UPDATE, [1, 2, 3]),
        msg(UPDATE, { host: 7, state: 0, incarnation: 1 }),
        msg(UPDATE, { host: '127.0.0.1:1', state: 9, incarnation: 1 }),
        msg(UPDATE, { host: '127.0.0.1:1', state: 0, incarnation: -1 }),
        msg(UPDATE, { host: '127.0.0.1:1', state: 0, incarnation: 1, meta: 'str' }),
        msg(UPDATE, { ...fake, meta: { name: 1 } }),
        msg(SYNC, null),
        msg(SYNC, { ...fake, state: 2 }),
        msg(PING, null),
        msg(PING, { seq: 'x' }),
        msg(ACK, undefined),
        msg(11, { seq: 1 }),
        msg(11, { seq: 1, destination: {} }),
        msg(99, {}),
        Buffer.concat([msg(UPDATE, fake), Buffer.from([0xc1])]),
        compound([msg(UPDATE, fake)], 3),
        compound([msg(UPDATE, fake), msg(UPDATE, null)]),
        compound([compound([msg(UPDATE, fake)])]),
        compound([], 0),
        Buffer.from([0, 0xff, 0xff]),
      ];
      for (const d of unauthenticated) await sendTo(socket, a, d);
      for (const g of garbage) await sendTo(socket, a, sealer.seal(g));

      await waitFor(
        'all counted',
        () => {
          const s = a.stats();
          return s.rejectedBadMac + s.rejectedMalformed - before.rejectedBadMac - before.rejectedMalformed >= unauthenticated.length + garbage.length;
        },
        10_000,
      );
      const after = a.stats();
      assert.equal(after.rejectedMalformed - before.rejectedMalformed >= garbage.length, true, 'every garbage-inside datagram counted as malformed');
      // wrong key, other purpose, one byte short, one bit flipped (the rest fail earlier, as malformed)
      assert.ok(after.rejectedBadMac - before.rejectedBadMac >= 4);
      // The fake member, carried by the valid first part of a bad compound, never got in: a datagram is taken whole or not at all.
      await sleep(500);
      assert.deepEqual(
        a
          .members()
          .map((x) => x.address)
          .sort(),
        [...all].sort(),
      );
      assert.ok(a.members().every((x) => x.state === 'alive'));
      assert.equal(received.length, 0, 'nothing answered');
      assert.ok(seesAllAlive(b, all));
    } finally {
      socket.close();
      await nodes.stopAll();
    }
  });

  it('a valid datagram is answered once: replays and stale or future timestamps are dropped and counted', async () => {
    const nodes = new Nodes();
    const { socket, received } = await rawSocket();
    try {
      const a = await nodes.start('a', [], { macWindowMs: 5000 });
      const sealer = new DatagramSealer(KEY, MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 5000 });
      const ping = sealer.seal(msg(PING, { seq: 4242 }));
      await sendTo(socket, a, ping);
      await waitFor('ack', () => received.length === 1, 5000);
      const ack = sealer.open(received[0]!);
      assert.ok(ack !== null, 'the answer is sealed with the cluster key');
      assert.equal(ack[0], ACK);

      const replays = a.stats().rejectedReplay;
      await sendTo(socket, a, ping);
      await sendTo(socket, a, ping);
      await waitFor('replays counted', () => a.stats().rejectedReplay === replays + 2, 5000);

      const past = new DatagramSealer(KEY, MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 5000, now: () => Date.now() - 60_000 });
      const future = new DatagramSealer(KEY, MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 5000, now: () => Date.now() + 60_000 });
      await sendTo(socket, a, past.seal(msg(PING, { seq: 1 })));
      await sendTo(socket, a, future.seal(msg(PING, { seq: 2 })));
      await waitFor('stale counted', () => a.stats().rejectedStale === 2, 5000);
      await sleep(300);
      assert.equal(received.length, 1, 'only the first ping was answered');
    } finally {
      socket.close();
      await nodes.stopAll();
    }
  });
});
