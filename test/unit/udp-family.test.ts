import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, it } from 'node:test';
import { PURPOSE_LABEL, UdpTransport } from '../../src/cluster/transport/udp-transport.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { udpFamilyFor, udpSendHost, udpSourceHost } from '../../src/cluster/udp-family.js';

describe('gossip socket family', () => {
  it('follows the bind host', () => {
    assert.equal(udpFamilyFor('::1'), 'udp6');
    assert.equal(udpFamilyFor('::'), 'udp6');
    assert.equal(udpFamilyFor('[::1]'), 'udp6');
    assert.equal(udpFamilyFor('127.0.0.1'), 'udp4');
    assert.equal(udpFamilyFor('0.0.0.0'), 'udp4');
    assert.equal(udpFamilyFor(''), 'udp4');
    assert.equal(udpSendHost('udp6', '127.0.0.1'), '::ffff:127.0.0.1');
    assert.equal(udpSendHost('udp6', '::1'), '::1');
    assert.equal(udpSendHost('udp4', '127.0.0.1'), '127.0.0.1');
    assert.equal(udpSourceHost('::ffff:127.0.0.1'), '127.0.0.1');
  });

  it('a transport bound to :: talks with an IPv4 peer, which it names by its IPv4 address', async (t) => {
    const key = 'cluster-key-for-tests-0123456789';
    const sealer = () => new DatagramSealer(key, PURPOSE_LABEL.membership, { encrypt: false, windowMs: 30_000 });
    const received: { payload: string; from: string }[] = [];
    const transport = new UdpTransport({ bindHost: '::', ports: { membership: 0 }, authKey: key, encrypt: false, macWindowMs: 30_000, maxDatagram: 1400 });
    transport.onMessage('membership', (payload, from) => received.push({ payload: payload.toString(), from }));
    let port: number;
    try {
      await transport.open();
      port = transport.port('membership');
    } catch (err) {
      t.skip(`cannot bind udp6 :: here (${(err as Error).message})`);
      return;
    }
    const peer = dgram.createSocket('udp4');
    try {
      const peerPort = await new Promise<number>((resolve) => peer.bind(0, '127.0.0.1', () => resolve(peer.address().port)));
      const peerSealer = sealer();
      const got = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('nothing arrived at the IPv4 peer')), 5000);
        peer.once('message', (msg) => {
          clearTimeout(timer);
          resolve(peerSealer.open(msg)?.toString() ?? 'unauthenticated');
        });
      });
      await transport.send('membership', `127.0.0.1:${peerPort}`, Buffer.from('to v4'));
      assert.equal(transport.stats().membership.sendErrors, 0, 'sending to an IPv4 peer failed');
      assert.equal(await got, 'to v4');
      peer.send(peerSealer.seal(Buffer.from('from v4')), port, '127.0.0.1');
      for (let i = 0; i < 100 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(received, [{ payload: 'from v4', from: `127.0.0.1:${peerPort}` }]);
    } finally {
      peer.close();
      await transport.close();
    }
  });
});
