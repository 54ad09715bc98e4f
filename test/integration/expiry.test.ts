import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { redisClient } from '../helpers/redis-client.js';
import { status } from '../helpers/cluster.js';
import { freePort, sleep, startNode, stopAllNodes, TEST_PASSWORD, type NodeHandle } from '../helpers/node-process.js';

describe('expired keys are never counted', () => {
  let node: NodeHandle;
  let redis: Redis;

  before(async () => {
    // Sweeps every 60 minutes: whatever happens below happens before any sweep.
    node = await startNode({ settings: { RespPort: await freePort(), Task_ClearExpireData: 60 } });
    redis = await redisClient(node.respPort, { password: TEST_PASSWORD, commandTimeoutMs: 10_000 });
  });
  after(async () => {
    redis.disconnect();
    await stopAllNodes();
  });

  test('DBSIZE, SCAN and /cluster/status leave out keys past their expiry, before any sweep', async () => {
    const pipe = redis.pipeline();
    for (let i = 0; i < 200; i++) pipe.set(`brief:${i}`, 'v', 'PX', 300);
    for (let i = 0; i < 5; i++) pipe.set(`kept:${i}`, 'v');
    await pipe.exec();
    assert.equal(await redis.dbsize(), 205);
    await sleep(600);
    assert.equal(await redis.dbsize(), 5);
    const seen = new Set<string>();
    let cursor = '0';
    for (let i = 0; i < 1000; i++) {
      const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
      for (const k of keys) seen.add(k);
      cursor = next;
      if (cursor === '0') break;
    }
    assert.deepEqual([...seen].sort(), ['kept:0', 'kept:1', 'kept:2', 'kept:3', 'kept:4']);
    assert.equal((await status(node)).store.keys, 5);
  });
});
