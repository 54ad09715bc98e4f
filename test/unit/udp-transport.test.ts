import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { DatagramSealer, SEAL_OVERHEAD } from '../../src/cluster/security.js';
import { PURPOSE_LABEL, UdpTransport, type DatagramPurpose } from '../../src/cluster/transport/udp-transport.js';

const KEY = 'udp-transport-test-key-0123456789';
const MAX = 1400;

function transport(ports: Partial<Record<DatagramPurpose, number>> = { membership: 0, data: 0 }): UdpTransport {
  return new UdpTransport({ bindHost: '127.0.0.1', ports, authKey: KEY, encrypt: false, macWindowMs: 30_000, maxDatagram: MAX });
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !cond(); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What one transport's handlers received, per purpose. */
function collect(t: UdpTransport): Record<DatagramPurpose, { payload: string; from: string }[]> {
  const got: Record<DatagramPurpose, { payload: string; from: string }[]> = { membership: [], data: [] };
  for (const p of ['membership', 'data'] as const) t.onMessage(p, (payload, from) => got[p].push({ payload: payload.toString(), from }));
  return got;
}

/** A plain socket standing in for a peer or an attacker: records what reaches it. */
async function rawSocket(): Promise<{ socket: dgram.Socket; port: number; received: Buffer[]; send(b: Buffer, port: number): Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  const port = await new Promise<number>((resolve) => socket.bind(0, '127.0.0.1', () => resolve(socket.address().port)));
  const send = (b: Buffer, to: number) => new Promise<void>((resolve, reject) => socket.send(b, to, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
  return { socket, port, received, send };
}

describe('UDP transport', () => {
  let a: UdpTransport;
  let b: UdpTransport;
  let gotB: ReturnType<typeof collect>;
  let raw: Awaited<ReturnType<typeof rawSocket>>;
  const at = (t: UdpTransport, p: DatagramPurpose) => `127.0.0.1:${t.port(p)}`;

  before(async () => {
    a = transport();
    b = transport();
    await a.open();
    await b.open();
    gotB = collect(b);
    raw = await rawSocket();
  });
  after(async () => {
    raw.socket.close();
    await a.close();
    await b.close();
  });

  it("each purpose has its own port; a sealed datagram of each purpose reaches that purpose's handler, named by its sender", async () => {
    assert.notEqual(a.port('membership'), a.port('data'));
    await a.send('membership', at(b, 'membership'), Buffer.from('ping'));
    await a.send('data', at(b, 'data'), Buffer.from('delta'));
    await waitFor('both arrived', () => gotB.membership.length === 1 && gotB.data.length === 1);
    assert.deepEqual(gotB.membership, [{ payload: 'ping', from: at(a, 'membership') }]);
    assert.deepEqual(gotB.data, [{ payload: 'delta', from: at(a, 'data') }]);
    const s = a.stats();
    assert.equal(s.membership.datagramsOut, 1);
    assert.equal(s.membership.bytesOut, 4 + SEAL_OVERHEAD);
    assert.equal(s.data.datagramsOut, 1);
  });

  it('a datagram sealed for the other purpose is dropped and counted as mac', async () => {
    const before = b.stats();
    const received = gotB.membership.length + gotB.data.length;
    // Data sealed, sent to the membership port; membership sealed, sent to the data port.
    await a.send('data', at(b, 'membership'), Buffer.from('wrong door'));
    await a.send('membership', at(b, 'data'), Buffer.from('wrong door'));
    await waitFor('both heard', () => b.stats().membership.datagramsIn > before.membership.datagramsIn && b.stats().data.datagramsIn > before.data.datagramsIn);
    const after = b.stats();
    assert.equal(after.membership.dropped.mac - before.membership.dropped.mac, 1);
    assert.equal(after.data.dropped.mac - before.data.dropped.mac, 1);
    assert.equal(gotB.membership.length + gotB.data.length, received, 'a wrong-purpose datagram reached a handler');
  });

  it('a tampered datagram is dropped as mac; the same one untouched is taken', async () => {
    const sealer = new DatagramSealer(KEY, PURPOSE_LABEL.membership, { encrypt: false, windowMs: 30_000 });
    const tampered = sealer.seal(Buffer.from('tampered'));
    tampered[24]! ^= 0x01; // a payload byte (the header is 22 bytes)
    const macBefore = b.stats().membership.dropped.mac;
    const n = gotB.membership.length;
    await raw.send(tampered, b.port('membership'));
    await waitFor('the tampered one counted', () => b.stats().membership.dropped.mac === macBefore + 1);
    await raw.send(sealer.seal(Buffer.from('intact')), b.port('membership'));
    await waitFor('the intact one delivered', () => gotB.membership.length === n + 1);
    assert.equal(gotB.membership.at(-1)?.payload, 'intact');
    assert.equal(gotB.membership.at(-1)?.from, `127.0.0.1:${raw.port}`);
  });

  it('a datagram replayed is dropped as replay', async () => {
    // Capture what a sends, then play it to b twice.
    await a.send('data', `127.0.0.1:${raw.port}`, Buffer.from('once'));
    await waitFor('captured', () => raw.received.length === 1);
    const captured = raw.received[0]!;
    const n = gotB.data.length;
    const replays = b.stats().data.dropped.replay;
    await raw.send(captured, b.port('data'));
    await raw.send(captured, b.port('data'));
    await waitFor('the replay counted', () => b.stats().data.dropped.replay === replays + 1);
    assert.equal(gotB.data.length, n + 1);
    assert.equal(gotB.data.at(-1)?.payload, 'once');
  });

  it('refuses to send a datagram that sealed would exceed maxDatagram, and counts it', async () => {
    raw.received.length = 0;
    const before = a.stats().membership;
    await a.send('membership', `127.0.0.1:${raw.port}`, Buffer.alloc(MAX - SEAL_OVERHEAD + 1));
    await a.send('membership', `127.0.0.1:${raw.port}`, Buffer.alloc(MAX - SEAL_OVERHEAD));
    await waitFor('the one that fits arrived', () => raw.received.length === 1);
    assert.equal(raw.received[0]!.length, MAX);
    const after = a.stats().membership;
    assert.equal(after.dropped.oversize - before.dropped.oversize, 1);
    assert.equal(after.datagramsOut - before.datagramsOut, 1);
    assert.equal(after.maxDatagramOut, MAX);
    // Destinations that are not host:port are refused the same way, without throwing.
    await a.send('membership', 'nowhere', Buffer.from('x'));
    assert.equal(a.stats().membership.dropped.address - before.dropped.address, 1);
  });

  it('a handler that throws loses only that datagram', async () => {
    const t = transport({ membership: 0 });
    await t.open();
    try {
      const got: string[] = [];
      t.onMessage('membership', (p) => {
        if (p.toString() === 'boom') throw new Error('handler bug');
        got.push(p.toString());
      });
      await a.send('membership', at(t, 'membership'), Buffer.from('boom'));
      await a.send('membership', at(t, 'membership'), Buffer.from('after'));
      await waitFor('the next one delivered', () => got.length === 1);
      assert.deepEqual(got, ['after']);
      assert.throws(() => t.send('data', at(b, 'data'), Buffer.from('x')), /does not carry data/);
    } finally {
      await t.close();
    }
  });
});

describe('UDP transport ports', () => {
  it('close() releases both ports; sends after it are dropped quietly', async () => {
    const t = transport();
    await t.open();
    const ports = { membership: t.port('membership'), data: t.port('data') };
    await t.close();
    await t.send('membership', '127.0.0.1:9', Buffer.from('x'));
    assert.equal(t.stats().membership.datagramsOut, 0);
    const again = transport(ports);
    await again.open();
    try {
      assert.deepEqual({ membership: again.port('membership'), data: again.port('data') }, ports);
    } finally {
      await again.close();
    }
  });

  it('when a port is taken, open() fails and leaves nothing bound', async () => {
    const holder = transport({ membership: 0 });
    await holder.open();
    const busy = holder.port('membership');
    const probe = transport({ data: 0 });
    await probe.open();
    const freePort = probe.port('data');
    await probe.close();
    try {
      const t = transport({ data: freePort, membership: busy });
      await assert.rejects(t.open(), /EADDRINUSE/);
      // The data port, bound first, was released.
      const check = transport({ data: freePort });
      await check.open();
      await check.close();
    } finally {
      await holder.close();
    }
  });
});
