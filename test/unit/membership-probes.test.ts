import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeRecorder } from '../../src/cluster/membership/probes.js';
import { sealedTime } from '../../src/cluster/security.js';
import { DatagramSealer } from '../../src/cluster/security.js';

describe('probe recorder', () => {
  it('round trips from pings and acks: last, p50, p99; acks from another address or unknown seqs are ignored', () => {
    let now = 1000;
    const p = new ProbeRecorder({ maxClockSkewMs: 500, now: () => now });
    for (let i = 0; i < 100; i++) {
      p.pingSent(i, 'h:1');
      now += i + 1;
      p.ackReceived(i, 'h:1', 0);
    }
    p.pingSent(500, 'h:1');
    p.ackReceived(500, 'other:2', 0);
    p.ackReceived(999, 'h:1', 0);
    const s = p.summary('h:1')!;
    assert.equal(s.samples, 100);
    assert.equal(s.rttLastMs, 100);
    assert.equal(s.rttP50Ms, 50);
    assert.equal(s.rttP99Ms, 99);
    assert.equal(s.clockOffsetMs, null);
    assert.equal(p.summary('other:2'), null);
  });

  it('clock offset from the fastest exchange, and one report each time it crosses MaxClockSkew', () => {
    let now = 10_000;
    const reports: [string, number, boolean][] = [];
    const p = new ProbeRecorder({ maxClockSkewMs: 500, now: () => now, onSkew: (h, o, s) => reports.push([h, o, s]) });
    const exchange = (seq: number, rtt: number, peerAhead: number) => {
      p.pingSent(seq, 'h:1');
      const mid = now + rtt / 2;
      now += rtt;
      p.ackReceived(seq, 'h:1', mid + peerAhead);
    };
    exchange(1, 40, 900);
    exchange(2, 4, 800);
    exchange(3, 40, 700);
    assert.equal(p.summary('h:1')!.clockOffsetMs, 800);
    assert.equal(p.summary('h:1')!.clockOffsetErrorMs, 2);
    assert.deepEqual(reports, [['h:1', 900, true]]);
    for (let i = 0; i < 20; i++) exchange(10 + i, 2, 10);
    assert.equal(p.summary('h:1')!.clockOffsetMs, 10);
    assert.deepEqual(reports.at(-1), ['h:1', 10, false]);
  });

  it('reads the sender clock sealed in a datagram', () => {
    const sealer = new DatagramSealer('k', 'purpose', { encrypt: false, windowMs: 30_000, now: () => 1_234_567_890_123 });
    assert.equal(sealedTime(sealer.seal(Buffer.from('x'))), 1_234_567_890_123);
    assert.equal(sealedTime(Buffer.alloc(3)), 0);
  });
});
