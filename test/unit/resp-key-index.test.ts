import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KeyIndex } from '../../src/api/resp/key-index.js';
import { Store } from '../../src/store/store.js';

/** Every key a full scan returns, with how often, in steps of `count`. */
function fullScan(index: KeyIndex, count: number, between?: (step: number) => void): Map<string, number> {
  const seen = new Map<string, number>();
  let cursor = 0;
  for (let step = 0; step < KeyIndex.BUCKETS + 1; step++) {
    const { next, keys } = index.scan(cursor, count);
    for (const k of keys) seen.set(k, (seen.get(k) ?? 0) + 1);
    if (next === 0) return seen;
    assert.ok(next > cursor, 'the cursor moves forward');
    cursor = next;
    between?.(step);
  }
  throw new Error('scan did not end');
}

function storeWith(keys: string[], now?: () => number): Store {
  const store = new Store({ nodeId: 'unit', ...(now ? { now } : {}) });
  for (const k of keys) store.set(k, Buffer.from(k));
  return store;
}

const names = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('KeyIndex (SCAN)', () => {
  test('bucketOf depends on the key alone and stays in range', () => {
    for (const k of ['', 'a', 'key:1', '你好', 'x'.repeat(1000)]) {
      const b = KeyIndex.bucketOf(k);
      assert.equal(b, KeyIndex.bucketOf(k));
      assert.ok(Number.isInteger(b) && b >= 0 && b < KeyIndex.BUCKETS, `${k}: ${b}`);
    }
    // FNV-1a of "a" is 0xe40c292c.
    assert.equal(KeyIndex.bucketOf('a'), 0xe40c292c & (KeyIndex.BUCKETS - 1));
  });

  test('a full scan returns every live key exactly once, whatever COUNT is', () => {
    const keys = names(3000);
    const index = new KeyIndex(storeWith(keys));
    for (const count of [1, 10, 1000, 1_000_000]) {
      const seen = fullScan(index, count);
      assert.equal(seen.size, keys.length, `count ${count}`);
      assert.ok(
        [...seen.values()].every((n) => n === 1),
        `count ${count}: a key twice`,
      );
    }
  });

  test('keys live for the whole scan are returned even while others are written, read and deleted', () => {
    const stable = names(500, 'stable');
    const store = storeWith(stable);
    const index = new KeyIndex(store);
    const seen = fullScan(index, 20, (step) => {
      // Reads reorder the LRU; writes and deletes move other keys in and out.
      for (let i = 0; i < 50; i++) store.get(stable[(step * 50 + i) % stable.length]!);
      store.set(`churn${step}`, Buffer.from('x'));
      if (step > 0) store.delete(`churn${step - 1}`);
    });
    for (const k of stable) assert.equal(seen.get(k), 1, k);
  });

  test('follows the store after it is built: new keys appear, deleted and expired keys do not', () => {
    let now = 1_000_000;
    const store = storeWith(['a', 'b', 'c'], () => now);
    const index = new KeyIndex(store, () => now);
    assert.deepEqual([...fullScan(index, 100).keys()].sort(), ['a', 'b', 'c']);
    store.set('d', Buffer.from('d'));
    store.set('soon', Buffer.from('s'), 1000);
    store.delete('b');
    assert.deepEqual([...fullScan(index, 100).keys()].sort(), ['a', 'c', 'd', 'soon']);
    now += 1001;
    // No event tells the index of an expiry: the scan that meets the key drops it.
    assert.deepEqual([...fullScan(index, 100).keys()].sort(), ['a', 'c', 'd']);
  });

  test('costs nothing until the first SCAN, and forgets the store once closed', () => {
    const store = storeWith(['a']);
    let subscribed = 0;
    const onChange = store.onChange.bind(store);
    store.onChange = (listener) => {
      subscribed += 1;
      return onChange(listener);
    };
    const index = new KeyIndex(store);
    store.set('b', Buffer.from('b'));
    assert.equal(subscribed, 0, 'no listener before the first scan');
    assert.equal(fullScan(index, 10).size, 2);
    assert.equal(subscribed, 1);
    index.close();
    store.set('c', Buffer.from('c'));
    assert.equal(fullScan(index, 10).size, 3, 'a scan after close rebuilds from the store');
    assert.equal(subscribed, 2);
  });

  test('a cursor outside the table ends the scan', () => {
    const index = new KeyIndex(storeWith(['a']));
    for (const cursor of [-1, KeyIndex.BUCKETS, 2 ** 53]) assert.deepEqual(index.scan(cursor, 10), { next: 0, keys: [] });
  });
});
