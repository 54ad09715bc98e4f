import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { redisClient } from '../helpers/redis-client.js';
import { status } from '../helpers/cluster.js';
import { freePort, startNode, stopAllNodes, TEST_PASSWORD, type NodeHandle } from '../helpers/node-process.js';

const MB = 1024 * 1024;
const WRITES = 300_000;
const VALUE = 'v'.repeat(1024);
const key = (i: number) => `bound:${String(i).padStart(7, '0')}`;

interface Status {
  node: { rssBytes: number };
  store: { keys: number; bytes: number; heldBytes: number; maxMemory: number; evictions: number };
}

describe('MaxMemory bounds the process (docs/architecture.md, "Store: memory layout")', () => {
  let node: NodeHandle;
  let redis: Redis;

  before(async () => {
    node = await startNode({ settings: { RespPort: await freePort(), MaxMemory: '32mb', AppendLog: 0 } });
    redis = await redisClient(node.respPort, { password: TEST_PASSWORD, commandTimeoutMs: 60_000 });
  });
  after(async () => {
    redis.disconnect();
    await stopAllNodes();
  });

  /**
   * The store holds at most MaxMemory and, with its free slots and free arena
   * blocks, at most 1.15 × MaxMemory. The process around it grows too under
   * this traffic (V8's heap and the allocator's free lists): that part is
   * measured against the same node after the same number of writes to one
   * key, and bounded here at 2.5 × MaxMemory above it (docs/benchmarks.md,
   * "memory", has the figures; the target of 1.15 × for the whole process is not met yet).
   */
  test('300 000 distinct 1 KiB writes under MaxMemory 32mb: the store within MaxMemory, RSS bounded, newest kept, oldest evicted', async () => {
    for (let i = 0; i < WRITES; i += 2000) {
      const p = redis.pipeline();
      for (let j = i; j < i + 2000; j++) p.set('one-key', VALUE);
      await p.exec();
    }
    await redis.del('one-key');
    const empty = ((await status(node)) as unknown as Status).node.rssBytes;
    for (let i = 0; i < WRITES; i += 2000) {
      const p = redis.pipeline();
      for (let j = i; j < i + 2000; j++) p.set(key(j), VALUE);
      const res = await p.exec();
      assert.ok(
        res?.every(([err]) => err === null),
        `writes from ${i} answered OK`,
      );
    }
    const s = (await status(node)) as unknown as Status;
    assert.ok(s.store.bytes <= 32 * MB, `store holds ${s.store.bytes} bytes, within MaxMemory`);
    assert.ok(s.store.heldBytes <= 32 * MB * 1.15, `store's allocations ${s.store.heldBytes} bytes, within 1.15 × MaxMemory`);
    const bound = empty + 32 * MB * 2.5;
    assert.ok(
      s.node.rssBytes <= bound,
      `RSS ${(s.node.rssBytes / MB).toFixed(1)} MB within ${(bound / MB).toFixed(1)} MB (after the same writes to one key ${(empty / MB).toFixed(1)} MB)`,
    );
    assert.ok(s.store.evictions > 0);
    assert.ok(s.store.keys > 10_000, `${s.store.keys} keys live`);
    for (let j = WRITES - 100; j < WRITES; j++) assert.equal(await redis.get(key(j)), VALUE, `newest key ${j} readable`);
    for (let j = 0; j < 100; j++) assert.equal(await redis.get(key(j)), null, `oldest key ${j} evicted`);
    assert.equal(await redis.ping(), 'PONG');
    const info = await redis.info('memory');
    assert.equal(
      Number(/used_memory:(\d+)/.exec(info)?.[1]),
      ((await status(node)) as unknown as Status).store.bytes,
      'INFO used_memory is what the store holds',
    );
  });
});
