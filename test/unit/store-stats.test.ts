import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EntryRecord } from '../../src/store/entry.js';
import { Store } from '../../src/store/store.js';

/** What the counter must equal: held values with an expiry, by walking the store. */
const walkedExpires = (store: Store) => [...store.entries()].filter((e: EntryRecord) => e.value !== null && e.expireAt !== 0).length;

describe('Store.stats() counters', () => {
  test('expires follows every way a value with a TTL comes and goes, without a walk', () => {
    let now = 1_000_000;
    // Small MaxMemory so that writes evict.
    const store = new Store({ nodeId: 'unit', maxMemory: 4000, tombstoneTtlMs: 10_000, now: () => now });
    const peer = new Store({ nodeId: 'peer', now: () => now });
    let seed = 7;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 3000; step++) {
      const key = `k${random(60)}`;
      const ttl = random(3) === 0 ? 0 : 1 + random(5000);
      switch (random(8)) {
        case 0:
        case 1:
          store.set(key, Buffer.alloc(random(200)), ttl);
          break;
        case 2:
          store.expire(key, ttl);
          break;
        case 3:
          store.delete(key);
          break;
        case 4:
          store.get(key);
          break;
        case 5:
          store.merge(peer.set(key, Buffer.alloc(random(100)), ttl));
          break;
        case 6:
          now += random(2000);
          break;
        default:
          if (random(10) === 0) store.sweep();
      }
      assert.equal(store.stats().expires, walkedExpires(store), `step ${step}`);
    }
    assert.ok(store.stats().evictions > 0, 'the run evicted');
    store.clear();
    assert.equal(store.stats().expires, 0);
  });
});
