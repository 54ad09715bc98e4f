import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeyIndex } from '../../src/api/resp/key-index.js';
import { fnv1a32 } from '../../src/fnv1a.js';
import { LEAVES, leafOf } from '../../src/store/digest.js';

describe('fnv1a32', () => {
  it('gives the published FNV-1a 32-bit values for ASCII, unsigned', () => {
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  });

  it('hashes UTF-16 code units (the digest leaves are part of the node-to-node protocol)', () => {
    assert.equal(fnv1a32('é'), 0x6c0b6c44);
    assert.equal(fnv1a32('😀'), fnv1a32('\ud83d\ude00'));
  });

  it('is what the store digest and the SCAN index bucket by', () => {
    for (const k of ['', 'a', 'user:1000', 'é', '😀']) {
      assert.equal(leafOf(k), fnv1a32(k) % LEAVES, k);
      assert.equal(KeyIndex.bucketOf(k), fnv1a32(k) & (KeyIndex.BUCKETS - 1), k);
    }
  });
});
