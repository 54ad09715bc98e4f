import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createClient, RESP_TYPES } from 'redis';
import { Keyv } from 'keyv';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { freePort, restartNode, startNode, stopAllNodes, TEST_PASSWORD, waitFor, type NodeHandle } from '../helpers/node-process.js';

/**
 * The Redis client packages Node applications use, unchanged and with their
 * default options, against a real node: node-redis 6 (RESP3 by default, and
 * RESP2), ioredis 5, keyv with @keyv/redis, cache-manager 7 on Keyv. Each does
 * its basic operations, a transaction, a pipeline of 1000, binary values, and
 * works again after the node restarts.
 */

const BINARY = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0x80]);
const closers: (() => unknown)[] = [];

describe('Redis client packages against a real node', () => {
  let node: NodeHandle;
  const url = () => `redis://:${TEST_PASSWORD}@127.0.0.1:${node.respPort}`;

  before(async () => {
    node = await startNode({ settings: { RespPort: await freePort(), MaxValueSize: 64 * 1024 } });
  });
  after(async () => {
    for (const close of closers) await Promise.resolve(close()).catch(() => {});
    await stopAllNodes();
  });

  function nodeRedis(resp: 2 | 3) {
    const c = createClient({ url: url(), RESP: resp, socket: { reconnectStrategy: (n) => (n > 50 ? new Error('gave up') : 100) } });
    c.on('error', () => {});
    closers.push(() => c.destroy());
    return c;
  }

  for (const resp of [3, 2] as const) {
    test(`node-redis 6, RESP${resp}${resp === 3 ? ' (its default)' : ''}: basic operations, MULTI, a pipeline of 1000, binary values`, async () => {
      const c = nodeRedis(resp);
      await c.connect();
      const p = `nr${resp}:`;
      assert.equal(await c.set(`${p}a`, '1'), 'OK');
      assert.equal(await c.get(`${p}a`), '1');
      assert.equal(await c.get(`${p}missing`), null);
      assert.equal(await c.incr(`${p}n`), 1);
      assert.equal(await c.incrBy(`${p}n`, 41), 42);
      assert.equal(await c.exists(`${p}a`), 1);
      assert.equal(await c.expire(`${p}a`, 100), 1);
      assert.ok((await c.ttl(`${p}a`)) > 90);
      assert.deepEqual(await c.mGet([`${p}a`, `${p}n`, `${p}missing`]), ['1', '42', null]);
      assert.equal(await c.del(`${p}a`), 1);
      assert.deepEqual(await c.configGet('maxmemory'), { maxmemory: '0' });
      const tx = await c.multi().set(`${p}t`, 'x').incr(`${p}tn`).get(`${p}t`).exec();
      assert.deepEqual(tx, ['OK', 1, 'x']);
      const pipe = c.multi();
      for (let i = 0; i < 1000; i++) pipe.set(`${p}pipe:${i}`, String(i));
      const replies = await pipe.execAsPipeline();
      assert.equal(replies.length, 1000);
      assert.ok(replies.every((r) => String(r) === 'OK'));
      assert.equal(await c.get(`${p}pipe:999`), '999');
      const bin = c.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      await bin.set(`${p}bin`, BINARY);
      assert.deepEqual(await bin.get(`${p}bin`), BINARY);
    });
  }

  test('ioredis 5: basic operations, MULTI, a pipeline of 1000, binary values', async () => {
    const r = new Redis({ host: '127.0.0.1', port: node.respPort, password: TEST_PASSWORD, retryStrategy: (n) => (n > 50 ? null : 100) });
    r.on('error', () => {});
    closers.push(() => r.disconnect());
    assert.equal(await r.set('io:a', '1', 'EX', 100), 'OK');
    assert.equal(await r.get('io:a'), '1');
    assert.equal(await r.incrby('io:n', 5), 5);
    assert.equal(await r.decr('io:n'), 4);
    assert.equal(await r.getdel('io:a'), '1');
    assert.deepEqual(await r.multi().set('io:t', 'x').incr('io:tn').exec(), [
      [null, 'OK'],
      [null, 1],
    ]);
    const pipe = r.pipeline();
    for (let i = 0; i < 1000; i++) pipe.incr('io:counter');
    const replies = (await pipe.exec())!;
    assert.equal(replies.length, 1000);
    assert.deepEqual(replies[999], [null, 1000]);
    await r.set('io:bin', BINARY);
    assert.deepEqual(await r.getBuffer('io:bin'), BINARY);
  });

  test('keyv with @keyv/redis: set with a TTL, setMany, getMany, deleteMany, clear', async () => {
    const store = new KeyvRedis(url());
    const keyv = new Keyv({ store, namespace: 'kv' });
    keyv.on('error', () => {});
    closers.push(() => store.disconnect());
    assert.equal(await keyv.set('a', { n: 1 }, 60_000), true);
    assert.deepEqual(await keyv.get('a'), { n: 1 });
    await keyv.setMany([
      { key: 'b', value: 'B' },
      { key: 'c', value: 'C', ttl: 60_000 },
    ]);
    assert.deepEqual(await keyv.getMany(['a', 'b', 'c', 'none']), [{ n: 1 }, 'B', 'C', undefined]);
    assert.equal(await keyv.deleteMany(['b', 'c']), true);
    assert.equal(await keyv.get('b'), undefined);
    await keyv.set('bin', BINARY);
    assert.deepEqual(Buffer.from((await keyv.get('bin')) as Buffer), BINARY);
    await keyv.clear();
    assert.equal(await keyv.get('a'), undefined);
    // Without a namespace (and told it may), clear() is FLUSHDB.
    const everything = new KeyvRedis(url(), { noNamespaceAffectsAll: true });
    closers.push(() => everything.disconnect());
    const all = new Keyv({ store: everything, useKeyPrefix: false });
    await all.set('plain', 'p');
    await all.clear();
    assert.equal(await all.get('plain'), undefined);
  });

  test('cache-manager 7 on Keyv: set, get, mset with a TTL, mdel, wrap, clear', async () => {
    const store = new KeyvRedis(url());
    closers.push(() => store.disconnect());
    const cache = createCache({ stores: [new Keyv({ store, namespace: 'cm' })] });
    assert.equal(await cache.set('k', 'v', 60_000), 'v');
    assert.equal(await cache.get('k'), 'v');
    await cache.mset([
      { key: 'x', value: 1, ttl: 60_000 },
      { key: 'y', value: 2, ttl: 60_000 },
    ]);
    assert.deepEqual(await cache.mget(['x', 'y']), [1, 2]);
    assert.ok((await cache.ttl('x'))! > Date.now());
    await cache.mdel(['x']);
    assert.equal(await cache.get('x'), undefined);
    assert.equal(await cache.wrap('w', async () => 'computed'), 'computed');
    assert.equal(await cache.wrap('w', async () => 'again'), 'computed');
    assert.equal(await cache.clear(), true);
    assert.equal(await cache.get('k'), undefined);
  });

  test('transactions: WATCH with a change from another connection, EXECABORT, DISCARD', async () => {
    const a = nodeRedis(3);
    const b = nodeRedis(2);
    await Promise.all([a.connect(), b.connect()]);
    await a.set('tx:w', '1');
    const watching = await a
      .duplicate()
      .on('error', () => {})
      .connect();
    closers.push(() => watching.destroy());
    await watching.watch('tx:w');
    await b.set('tx:w', 'changed');
    // EXEC answered null: node-redis reports it as its WatchError.
    await assert.rejects(watching.multi().set('tx:w', 'mine').exec(), /watched keys has been changed/);
    assert.equal(await a.get('tx:w'), 'changed');
    const io = new Redis({ host: '127.0.0.1', port: node.respPort, password: TEST_PASSWORD });
    io.on('error', () => {});
    closers.push(() => io.disconnect());
    await assert.rejects(io.multi().set('tx:q', '1').call('GET').exec(), /EXECABORT/);
    assert.equal(await io.exists('tx:q'), 0);
    await io.multi().set('tx:d', '1').discard();
    assert.equal(await io.exists('tx:d'), 0);
  });

  test('a value over MaxValueSize answers an error and the connection stays usable', async () => {
    const io = new Redis({ host: '127.0.0.1', port: node.respPort, password: TEST_PASSWORD, retryStrategy: () => null });
    io.on('error', () => {});
    closers.push(() => io.disconnect());
    for (const size of [64 * 1024 + 1, 1024 * 1024]) {
      await assert.rejects(io.set('big', Buffer.alloc(size, 1)), /ERR value is larger than MaxValueSize/);
      assert.equal(await io.ping(), 'PONG');
    }
    assert.equal(io.status, 'ready');
  });

  test('every client works again after the node restarts', async () => {
    const nr3 = nodeRedis(3);
    const nr2 = nodeRedis(2);
    await Promise.all([nr3.connect(), nr2.connect()]);
    const io = new Redis({ host: '127.0.0.1', port: node.respPort, password: TEST_PASSWORD, retryStrategy: () => 100 });
    io.on('error', () => {});
    closers.push(() => io.disconnect());
    const store = new KeyvRedis(url());
    closers.push(() => store.disconnect());
    const keyv = new Keyv({ store, namespace: 'rs' });
    keyv.on('error', () => {});
    await keyv.set('before', 1);
    await nr3.set('persisted', 'yes');
    await node.stop();
    node = await restartNode(node);
    const retry = <T>(what: string, f: () => Promise<T>) => waitFor(what, async () => ({ v: await f() }), 20_000, 200).then((x) => x.v);
    assert.equal(await retry('node-redis RESP3 back', () => nr3.get('persisted')), 'yes');
    assert.equal(await retry('node-redis RESP2 back', () => nr2.get('persisted')), 'yes');
    assert.equal(await retry('ioredis back', () => io.get('persisted')), 'yes');
    assert.equal(await retry('keyv back', () => keyv.get('before')), 1);
  });
});
