import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { DatagramSealer, SEAL_OVERHEAD, deriveKey } from '../../src/cluster/security.js';

const opts = { encrypt: false, windowMs: 30_000 };

describe('deriveKey', () => {
  it('gives a stable 32-byte key per (authKey, purpose), independent across purposes and keys', () => {
    const a = deriveKey('secret', 'owlcache/membership');
    assert.equal(a.length, 32);
    assert.deepEqual(deriveKey('secret', 'owlcache/membership'), a);
    assert.notDeepEqual(deriveKey('secret', 'owlcache/data'), a);
    assert.notDeepEqual(deriveKey('Secret', 'owlcache/membership'), a);
    assert.notDeepEqual(a, Buffer.from('secret'.padEnd(32, '\0')));
  });

  it('refuses an empty key or purpose', () => {
    assert.throws(() => deriveKey('', 'p'), TypeError);
    assert.throws(() => deriveKey('k', ''), TypeError);
  });
});

for (const encrypt of [false, true]) {
  describe(`DatagramSealer (${encrypt ? 'AES-256-GCM' : 'HMAC-SHA256'})`, () => {
    const o = { ...opts, encrypt };

    it('opens what it seals, with a fixed overhead and a version byte', () => {
      const s = new DatagramSealer('k', 'p', o);
      const r = new DatagramSealer('k', 'p', o);
      for (const size of [0, 1, 100, 1362]) {
        const payload = randomBytes(size);
        const d = s.seal(payload);
        assert.equal(d.length, size + SEAL_OVERHEAD);
        assert.equal(d.length, size + s.overhead);
        assert.equal(d[0], 1);
        assert.deepEqual(r.open(d), payload);
      }
      assert.equal(r.stats.opened, 4);
      assert.equal(s.stats.sealed, 4);
    });

    it(encrypt ? 'hides the payload' : 'leaves the payload readable (authentication only)', () => {
      const payload = Buffer.from('a very recognisable payload');
      const d = new DatagramSealer('k', 'p', o).seal(payload);
      assert.equal(d.includes(payload), !encrypt);
    });

    it('seals the same payload twice into different datagrams, each accepted once', () => {
      const s = new DatagramSealer('k', 'p', o);
      const r = new DatagramSealer('k', 'p', o);
      const d1 = s.seal(Buffer.from('x'));
      const d2 = s.seal(Buffer.from('x'));
      assert.notDeepEqual(d1, d2);
      assert.ok(r.open(d1));
      assert.ok(r.open(d2));
      assert.equal(r.open(d1), null);
      assert.equal(r.stats.rejectedReplay, 1);
    });

    it('rejects a wrong key, another purpose, the other mode and any flipped bit as bad MAC', () => {
      const d = new DatagramSealer('k', 'p', o).seal(Buffer.from('hello world'));
      const wrongKey = new DatagramSealer('k2', 'p', o);
      const otherPurpose = new DatagramSealer('k', 'q', o);
      const otherMode = new DatagramSealer('k', 'p', { ...o, encrypt: !encrypt });
      assert.equal(wrongKey.open(d), null);
      assert.equal(otherPurpose.open(d), null);
      assert.equal(otherMode.open(d), null);
      assert.equal(wrongKey.stats.rejectedBadMac + otherPurpose.stats.rejectedBadMac + otherMode.stats.rejectedBadMac, 3);
      const r = new DatagramSealer('k', 'p', o);
      // Every bit after the version and flags bytes (which fail as malformed/mode mismatch) is covered.
      for (let i = 2; i < d.length; i++) {
        for (const bit of [0x01, 0x80]) {
          const t = Buffer.from(d);
          t[i] = t[i]! ^ bit;
          assert.equal(r.open(t), null, `byte ${i} bit ${bit}`);
        }
      }
      assert.equal(r.stats.rejectedBadMac, 2 * (d.length - 2));
      assert.deepEqual(r.open(d), Buffer.from('hello world'));
    });

    it('rejects stale and future datagrams outside the window', () => {
      let now = 1_000_000_000_000;
      const s = new DatagramSealer('k', 'p', { ...o, now: () => now });
      const r = new DatagramSealer('k', 'p', { ...o, now: () => now });
      const d = s.seal(Buffer.from('x'));
      now += 30_001;
      assert.equal(r.open(d), null);
      now -= 60_002;
      assert.equal(r.open(d), null);
      assert.equal(r.stats.rejectedStale, 2);
      now += 30_001;
      assert.ok(r.open(d));
    });

    it('never throws on garbage and counts it', () => {
      const r = new DatagramSealer('k', 'p', o);
      const inputs: Buffer[] = [Buffer.alloc(0), Buffer.from([1]), Buffer.alloc(SEAL_OVERHEAD - 1, 1), Buffer.alloc(SEAL_OVERHEAD, 1)];
      for (let i = 0; i < 500; i++) inputs.push(randomBytes(Math.floor(Math.random() * 200)));
      for (const x of inputs) assert.equal(r.open(x), null);
      assert.equal(r.open('not a buffer' as unknown as Buffer), null);
      const s = r.stats;
      assert.equal(s.rejectedBadMac + s.rejectedMalformed, inputs.length + 1);
      assert.equal(s.opened, 0);
      const d = new DatagramSealer('k', 'p', o).seal(Buffer.from('payload'));
      for (let n = 0; n < d.length; n++) assert.equal(r.open(d.subarray(0, n)), null, `truncated to ${n}`);
    });
  });
}

describe('replay cache', () => {
  it('is bounded, and an evicted datagram is refused (as stale), never accepted again', () => {
    let now = 1_000_000_000_000;
    const s = new DatagramSealer('k', 'p', { ...opts, now: () => now });
    const r = new DatagramSealer('k', 'p', { ...opts, now: () => now, replayCacheSize: 4 });
    const ds: Buffer[] = [];
    for (let i = 0; i < 10; i++) {
      ds.push(s.seal(Buffer.from([i])));
      now += 1;
    }
    for (const d of ds) assert.ok(r.open(d));
    for (const d of ds) assert.equal(r.open(d), null);
    assert.equal(r.stats.rejectedReplay + r.stats.rejectedStale, 10);
    assert.ok(r.stats.rejectedStale >= 6);
    // New datagrams are still accepted.
    assert.ok(r.open(s.seal(Buffer.from('new'))));
  });

  it('forgets datagrams once they are out of the window', () => {
    let now = 1_000_000_000_000;
    const s = new DatagramSealer('k', 'p', { ...opts, now: () => now });
    const r = new DatagramSealer('k', 'p', { ...opts, now: () => now, replayCacheSize: 1000 });
    const old = s.seal(Buffer.from('old'));
    assert.ok(r.open(old));
    now += 31_000;
    assert.ok(r.open(s.seal(Buffer.from('later'))));
    assert.equal((r as unknown as { replay: { size: number } }).replay.size, 1);
    assert.equal(r.open(old), null);
    assert.equal(r.stats.rejectedStale, 1);
  });
});
