import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyHash } from '../../src/store/digest.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { RELEASE_MIN_BYTES, releaseBuffer } from '../../src/store/buffer-release.js';
import { GUARD, HOLLOW, LIVE, SLOT_BYTES, SlotTable, TOMBSTONE, type SlotState } from '../../src/store/slot-table.js';
import { Store } from '../../src/store/store.js';

function rec(key: string, over: Partial<EntryRecord> = {}): EntryRecord {
  const vv = { t: 1_764_000_000_123, c: 4095, n: 'node-a' };
  return { key, value: Buffer.from(`value of ${key}`), created: 1_764_000_000_123_456, vv, expireAt: 0, ev: vv, ...over };
}

describe('store slots', () => {
  it('round-trip every field exactly: versions (counter and node id), expiry, create time, the kind of stub', () => {
    const t = new SlotTable();
    const cases: [EntryRecord, SlotState][] = [
      [rec('plain'), LIVE],
      [rec('two versions', { ev: { t: 1_764_000_000_999, c: 0, n: 'node-b' }, expireAt: 1_764_000_100_000 }), LIVE],
      [rec('big counter', { vv: { t: 5, c: 2 ** 40 + 3, n: 'x' }, ev: { t: 6, c: 2 ** 32, n: 'y' } }), LIVE],
      [rec('empty value', { value: Buffer.alloc(0) }), LIVE],
      [rec('', { value: Buffer.from('empty key') }), LIVE],
      [rec('ключ 🔑'), LIVE],
      [rec('safe max', { vv: { t: Number.MAX_SAFE_INTEGER, c: Number.MAX_SAFE_INTEGER, n: 'n'.repeat(64) }, created: Number.MAX_SAFE_INTEGER }), LIVE],
      [{ ...rec('hollow'), value: null, created: 0, hollow: true }, HOLLOW],
      [{ ...rec('tombstone'), value: null, created: 0 }, TOMBSTONE],
      [{ ...rec('guard of a value', { expireAt: 10 }), value: null, created: 0, hollow: true }, GUARD],
      [{ ...rec('guard of a delete', { expireAt: 10 }), value: null, created: 0 }, GUARD],
    ];
    const slots = cases.map(([r, state]) => t.add(r.key, keyHash(r.key), r, state));
    cases.forEach(([r], i) => {
      const s = t.find(r.key, keyHash(r.key));
      assert.equal(s, slots[i]);
      assert.deepEqual(t.record(s), r, r.key);
    });
    // A live value becoming a stub keeps its versions and loses its bytes.
    const s = slots[1]!;
    t.changeState(s, HOLLOW);
    assert.deepEqual(t.record(s), { ...cases[1]![0], value: null, created: 0, hollow: true });
    t.changeState(s, GUARD);
    assert.equal(t.record(s).hollow, true, 'a guard of a value reads back hollow');
    // Replacing a slot with big counters by small ones forgets the big ones.
    const b = slots[2]!;
    t.replace(b, rec('big counter'), LIVE);
    assert.deepEqual(t.record(b), rec('big counter'));
  });

  it('finds keys among many, through deletes that shift the index back, and the lists keep their order', () => {
    const t = new SlotTable();
    const keys = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `ü-${i}` : `k${i}`));
    for (const k of keys) t.add(k, keyHash(k), rec(k), LIVE);
    for (let i = 0; i < keys.length; i += 3) t.remove(t.find(keys[i]!, keyHash(keys[i]!)));
    keys.forEach((k, i) => {
      const s = t.find(k, keyHash(k));
      if (i % 3 === 0) assert.equal(s, -1, `${k} removed`);
      else assert.equal(t.keyOf(s), k);
    });
    assert.equal(t.find('absent', keyHash('absent')), -1);
    assert.equal(t.counts[LIVE], keys.length - Math.ceil(keys.length / 3));
    // LRU order: the oldest is the first key still there; touching it makes it the newest.
    assert.equal(t.keyOf(t.oldest(LIVE)), keys[1]);
    t.touch(t.oldest(LIVE));
    assert.equal(t.keyOf(t.oldest(LIVE)), keys[2]);
  });

  it('the store holds a key given with a lone surrogate once, as its UTF-8 form', () => {
    const s = new Store({ nodeId: 'n' });
    s.set('a\ud800', Buffer.from('1'));
    s.set('a\ud800', Buffer.from('2'));
    assert.equal(s.stats().keys, 1);
    assert.equal(s.get('a\ud800')?.value?.toString(), '2');
    assert.equal(s.get('a\ufffd')?.value?.toString(), '2');
  });

  it('reserve() sizes the columns and the index once: adding that many records grows neither, and every one is found', () => {
    const t = new SlotTable();
    t.reserve(5000);
    const columns = t.columnBytes;
    const index = t.indexBytes;
    assert.ok(index * 3 >= 5000 * 4 * 4, 'the index holds 5000 keys under three quarters full');
    for (let i = 0; i < 5000; i++) t.add(`k${i}`, keyHash(`k${i}`), rec(`k${i}`), LIVE);
    assert.equal(t.columnBytes, columns);
    assert.equal(t.indexBytes, index);
    for (let i = 0; i < 5000; i += 97) assert.equal(t.keyOf(t.find(`k${i}`, keyHash(`k${i}`))), `k${i}`);
    t.reserve(10);
    assert.equal(t.columnBytes, columns, 'a smaller reservation shrinks nothing');
  });

  it('a grown table frees its replaced columns at once, and keeps every record', async () => {
    // The release channel closes a moment after its module loads; until then buffers are left to the collector.
    const probe = () => releaseBuffer(new ArrayBuffer(RELEASE_MIN_BYTES));
    for (let i = 0; i < 100 && !probe(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(probe(), 'a buffer given to releaseBuffer is freed (detached)');

    const t = new SlotTable();
    const n = 40_000;
    let columns = t.loc;
    let replaced = 0;
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < n; i++) {
      t.add(`k${i}`, keyHash(`k${i}`), rec(`k${i}`), LIVE);
      if (t.loc !== columns) {
        if (columns.buffer.byteLength === 0) replaced += 1;
        else assert.ok(columns.byteLength * (SLOT_BYTES / 8) < RELEASE_MIN_BYTES, `a replaced generation of ${columns.byteLength} B per column was kept`);
        columns = t.loc;
      }
    }
    assert.ok(replaced >= 3, `${replaced} generations given back`);
    assert.equal(t.state.buffer, t.loc.buffer, 'the columns share one buffer');
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < (t.columnBytes + t.indexBytes + t.arena.heldBytes) * 1.5, `array buffers grew by ${grown} B`);
    for (let i = 0; i < n; i += 7) assert.equal(t.keyOf(t.find(`k${i}`, keyHash(`k${i}`))), `k${i}`);
  });

  it('a store reserves no more slots than its MaxMemory could hold', () => {
    const s = new Store({ nodeId: 'n', maxMemory: 64 * 1024 });
    s.reserve(10_000_000);
    assert.ok(s.stats().heldBytes < 2 * 1024 * 1024, `held ${s.stats().heldBytes} bytes`);
  });

  it('values read from the store are copies: a later write reusing the block does not change them', () => {
    const s = new Store({ nodeId: 'n' });
    s.set('a', Buffer.from('first value'));
    const read = s.get('a')!;
    s.delete('a');
    s.set('b', Buffer.from('other value'));
    assert.equal(read.value?.toString(), 'first value');
  });
});
