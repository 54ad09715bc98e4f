import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Arena, blockBytes, MAX_CLASS_BYTES } from '../../src/store/arena.js';

/** Writes a recognisable pattern for (owner, length) into a block. */
function fill(a: Arena, h: number, owner: number, length: number): void {
  const buf = a.bufferOf(h);
  const at = a.offsetOf(h);
  for (let i = 0; i < length; i++) buf[at + i] = (owner * 31 + i) & 0xff;
}

function holds(a: Arena, h: number, owner: number, length: number): boolean {
  const buf = a.bufferOf(h);
  const at = a.offsetOf(h);
  for (let i = 0; i < length; i++) if (buf[at + i] !== ((owner * 31 + i) & 0xff)) return false;
  return true;
}

describe('store arena', () => {
  it('allocates blocks that hold their size without overlapping, each with its owner', () => {
    const a = new Arena();
    const sizes = [0, 1, 7, 8, 9, 100, 127, 128, 129, 1000, 1024, 4097, MAX_CLASS_BYTES, MAX_CLASS_BYTES + 1, 100_000];
    const blocks = sizes.map((size, owner) => {
      const h = a.alloc(size, owner);
      assert.ok(a.capacityOf(h) >= size, `capacity for ${size}`);
      assert.equal(a.ownerOf(h), owner);
      fill(a, h, owner, size);
      return h;
    });
    for (const [owner, h] of blocks.entries()) assert.ok(holds(a, h, owner, sizes[owner]!), `block of ${sizes[owner]} bytes intact`);
    assert.equal(a.blocks, sizes.length);
    assert.equal(
      a.usedBytes,
      sizes.reduce((n, s) => n + blockBytes(s), 0),
      'used bytes are the blocks at their class size',
    );
    for (const h of blocks) a.free(h);
    assert.equal(a.blocks, 0);
    assert.equal(a.usedBytes, 0);
  });

  it('rounds a size up by at most an eighth (plus the 8-byte step below 128)', () => {
    for (let size = 1; size <= MAX_CLASS_BYTES; size += size < 300 ? 1 : 97) {
      const cls = blockBytes(size) - 4;
      assert.ok(cls >= size, `${size} fits its class ${cls}`);
      assert.ok(cls <= Math.max(size + 7, size * 1.125), `${size} is not rounded to ${cls}`);
    }
  });

  it('reuses a freed block before growing, and gives an emptied page back', () => {
    const a = new Arena();
    const first = a.alloc(100, 1);
    const held = a.heldBytes;
    a.free(first);
    const again = a.alloc(100, 2);
    assert.equal(again, first, 'the freed block came back');
    assert.equal(a.heldBytes, held, 'no new page');
    // Fill two pages' worth, then free all but one block: the pages without a block in use go back.
    const many: number[] = [];
    for (let i = 0; i < 3000; i++) many.push(a.alloc(100, 10 + i));
    const peak = a.heldBytes;
    for (const h of many) a.free(h);
    assert.ok(a.heldBytes < peak / 2, `held ${a.heldBytes} after freeing, ${peak} at the peak`);
    assert.ok(holds(a, again, 2, 0));
  });

  it('compaction moves the blocks of sparse pages, tells each owner, keeps the bytes, and gives pages back', () => {
    const a = new Arena();
    const where = new Map<number, number>();
    for (let owner = 0; owner < 20_000; owner++) {
      const h = a.alloc(100, owner);
      fill(a, h, owner, 100);
      where.set(owner, h);
    }
    // Keep every tenth block: every page is sparse now.
    for (const [owner, h] of [...where]) {
      if (owner % 10 !== 0) {
        a.free(h);
        where.delete(owner);
      }
    }
    const before = a.heldBytes;
    assert.ok(a.slackBytes > a.usedBytes, 'mostly slack before');
    let moves = 0;
    for (let round = 0; round < 100; round++) {
      const n = a.compact(500, (owner, h) => where.set(owner, h));
      moves += n;
      if (n === 0) break;
    }
    assert.ok(moves > 0);
    assert.ok(a.heldBytes < before / 3, `held ${a.heldBytes} after compaction, ${before} before`);
    for (const [owner, h] of where) {
      assert.equal(a.ownerOf(h), owner);
      assert.ok(holds(a, h, owner, 100), `owner ${owner}'s bytes moved intact`);
    }
    assert.equal(a.blocks, where.size);
  });

  it('holds values of every size up to 16 MiB, large ones in buffers of their own', () => {
    const a = new Arena();
    for (const size of [0, 1, 16 * 1024, 16 * 1024 + 1, 1 << 20, 16 << 20]) {
      const h = a.alloc(size, 7);
      fill(a, h, 7, Math.min(size, 4096));
      if (size > 4096) a.bufferOf(h)[a.offsetOf(h) + size - 1] = 0xab;
      assert.ok(holds(a, h, 7, Math.min(size, 4096)));
      if (size > 4096) assert.equal(a.bufferOf(h)[a.offsetOf(h) + size - 1], 0xab);
      if (size > MAX_CLASS_BYTES) assert.equal(a.bufferOf(h).length, size, 'a buffer of its own');
      assert.ok(a.usedBytes >= size);
      a.free(h);
      assert.equal(a.usedBytes, 0);
    }
  });
});
