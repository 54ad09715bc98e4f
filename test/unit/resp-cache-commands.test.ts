import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { respHarness } from '../helpers/resp-harness.js';

/** Replies checked byte for byte against redis-server 7.0 (test/compat/compare-with-redis.ts). */
describe("the commands caches use, with Redis 7's replies", () => {
  test('INCR family: values, errors, overflow, a string that is not a number', async () => {
    const { run } = respHarness();
    assert.equal(await run('INCR', 'fresh'), ':1\r\n');
    assert.equal(await run('SET', 'n', '10'), '+OK\r\n');
    assert.equal(await run('INCRBY', 'n', '5'), ':15\r\n');
    assert.equal(await run('DECR', 'n'), ':14\r\n');
    assert.equal(await run('DECRBY', 'n', '3'), ':11\r\n');
    assert.equal(await run('GET', 'n'), '$2\r\n11\r\n');
    assert.equal(await run('INCRBY', 'n', 'x'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await run('INCRBY', 'n', '9223372036854775807'), '-ERR increment or decrement would overflow\r\n');
    assert.equal(await run('DECRBY', 'n', '-9223372036854775808'), '-ERR decrement would overflow\r\n');
    await run('SET', 's', 'abc');
    assert.equal(await run('INCR', 's'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await run('INCRBYFLOAT', 's', '1'), '-ERR value is not a valid float\r\n');
    assert.equal(await run('INCRBYFLOAT', 'f', '0.1'), '$3\r\n0.1\r\n');
    assert.equal(await run('INCRBYFLOAT', 'f', '0.2'), '$3\r\n0.3\r\n');
    assert.equal(await run('INCRBYFLOAT', 'f', 'inf'), '-ERR increment would produce NaN or Infinity\r\n');
    // SET on a counter replaces it; INCR then counts from the new value.
    await run('SET', 'fresh', '5');
    assert.equal(await run('INCR', 'fresh'), ':6\r\n');
  });

  test('APPEND, GETRANGE, SETRANGE, GETSET, GETDEL, GETEX, MSETNX', async () => {
    const { run } = respHarness({ maxValueSize: 64 });
    assert.equal(await run('APPEND', 'a', 'hello'), ':5\r\n');
    assert.equal(await run('APPEND', 'a', ' world'), ':11\r\n');
    assert.equal(await run('GETRANGE', 'a', '-5', '-1'), '$5\r\nworld\r\n');
    assert.equal(await run('GETRANGE', 'a', '-1', '-5'), '$0\r\n\r\n');
    assert.equal(await run('GETRANGE', 'nokey', '0', '10'), '$0\r\n\r\n');
    assert.equal(await run('SETRANGE', 'a', '6', 'WORLD'), ':11\r\n');
    assert.equal(await run('SETRANGE', 'b', '3', 'x'), ':4\r\n');
    assert.equal(await run('GET', 'b'), '$4\r\n\0\0\0x\r\n');
    assert.equal(await run('SETRANGE', 'b', '-1', 'x'), '-ERR offset is out of range\r\n');
    assert.equal(await run('SETRANGE', 'b', '100', 'x'), '-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n');
    assert.equal(await run('GETSET', 'a', 'new'), '$11\r\nhello WORLD\r\n');
    assert.equal(await run('GETDEL', 'a'), '$3\r\nnew\r\n');
    assert.equal(await run('GETDEL', 'a'), '$-1\r\n');
    await run('SET', 'ex', 'v');
    assert.equal(await run('GETEX', 'ex', 'EX', '100'), '$1\r\nv\r\n');
    assert.equal(await run('TTL', 'ex'), ':100\r\n');
    assert.equal(await run('GETEX', 'ex', 'PERSIST'), '$1\r\nv\r\n');
    assert.equal(await run('TTL', 'ex'), ':-1\r\n');
    assert.equal(await run('GETEX', 'ex', 'EX', '0'), "-ERR invalid expire time in 'getex' command\r\n");
    assert.equal(await run('GETEX', 'ex', 'EX', '10', 'PX', '10'), '-ERR syntax error\r\n');
    assert.equal(await run('MSETNX', 'm1', '1', 'm2', '2'), ':1\r\n');
    assert.equal(await run('MSETNX', 'm2', 'x', 'm3', '3'), ':0\r\n');
    assert.equal(await run('MGET', 'm1', 'm2', 'm3'), '*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n');
  });

  test('EXPIRE with any valid flag combination; EXPIREAT, EXPIRETIME', async () => {
    const { run } = respHarness();
    await run('SET', 'k', 'v');
    assert.equal(await run('EXPIRE', 'k', '100', 'XX', 'GT'), ':0\r\n');
    assert.equal(await run('EXPIRE', 'k', '100', 'NX'), ':1\r\n');
    assert.equal(await run('EXPIRE', 'k', '200', 'XX', 'GT'), ':1\r\n');
    assert.equal(await run('EXPIRE', 'k', '50', 'GT'), ':0\r\n');
    assert.equal(await run('EXPIRE', 'k', '50', 'LT', 'XX'), ':1\r\n');
    assert.equal(await run('EXPIRE', 'k', '50', 'NX', 'XX'), '-ERR NX and XX, GT or LT options at the same time are not compatible\r\n');
    assert.equal(await run('EXPIRE', 'k', '50', 'GT', 'LT'), '-ERR GT and LT options at the same time are not compatible\r\n');
    assert.equal(await run('EXPIRE', 'k', 'x', 'FOO'), '-ERR Unsupported option FOO\r\n');
    assert.equal(await run('EXPIREAT', 'k', '4102444800'), ':1\r\n');
    assert.equal(await run('EXPIRETIME', 'k'), ':4102444800\r\n');
    assert.equal(await run('PEXPIRETIME', 'k'), ':4102444800000\r\n');
    assert.equal(await run('EXPIRETIME', 'none'), ':-2\r\n');
    assert.equal(await run('PEXPIREAT', 'k', '1'), ':1\r\n');
    assert.equal(await run('EXISTS', 'k'), ':0\r\n');
  });

  test('TOUCH, RENAME, RENAMENX, COPY, RANDOMKEY, OBJECT, MEMORY USAGE', async () => {
    const { run } = respHarness();
    await run('SET', 'a', '123', 'EX', '100');
    assert.equal(await run('TOUCH', 'a', 'none'), ':1\r\n');
    assert.equal(await run('RENAME', 'none', 'x'), '-ERR no such key\r\n');
    assert.equal(await run('RENAME', 'a', 'b'), '+OK\r\n');
    assert.equal(await run('TTL', 'b'), ':100\r\n');
    assert.equal(await run('EXISTS', 'a'), ':0\r\n');
    await run('SET', 'c', '1');
    assert.equal(await run('RENAMENX', 'b', 'c'), ':0\r\n');
    assert.equal(await run('RENAMENX', 'b', 'd'), ':1\r\n');
    assert.equal(await run('COPY', 'd', 'c'), ':0\r\n');
    assert.equal(await run('COPY', 'd', 'c', 'REPLACE'), ':1\r\n');
    assert.equal(await run('GET', 'c'), '$3\r\n123\r\n');
    assert.equal(await run('COPY', 'd', 'd'), '-ERR source and destination objects are the same\r\n');
    assert.equal(await run('COPY', 'd', 'e', 'FOO'), '-ERR syntax error\r\n');
    assert.match(await run('RANDOMKEY'), /^\$1\r\n[cd]\r\n$/);
    assert.equal(await run('OBJECT', 'ENCODING', 'c'), '$3\r\nint\r\n');
    await run('SET', 'long', 'x'.repeat(50));
    assert.equal(await run('OBJECT', 'ENCODING', 'long'), '$3\r\nraw\r\n');
    assert.equal(await run('OBJECT', 'REFCOUNT', 'c'), ':2147483647\r\n');
    assert.equal(await run('OBJECT', 'ENCODING', 'none'), '$-1\r\n');
    assert.match(await run('OBJECT', 'FREQ', 'c'), /^-ERR An LFU maxmemory policy is not selected/);
    assert.match(await run('MEMORY', 'USAGE', 'long'), /^:\d+\r\n$/);
    assert.equal(await run('MEMORY', 'USAGE', 'none'), '$-1\r\n');
    await run('FLUSHALL');
    assert.equal(await run('RANDOMKEY'), '$-1\r\n');
    assert.equal(await run('DBSIZE'), ':0\r\n');
  });

  test('CONFIG SET, CLIENT LIST/INFO/KILL/NO-EVICT, WAIT without peers, FLUSHALL arguments, SCAN cursors', async () => {
    const h = respHarness();
    const { run } = h;
    assert.equal(await run('CONFIG', 'SET', 'nosuch', 'x'), "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n");
    assert.equal(
      await run('CONFIG', 'SET', 'databases', '2'),
      "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config\r\n",
    );
    assert.equal(await run('CLIENT', 'NO-EVICT', 'on'), '+OK\r\n');
    assert.equal(await run('CLIENT', 'NO-EVICT', 'maybe'), '-ERR syntax error\r\n');
    assert.match(await run('CLIENT', 'INFO'), /^\$\d+\r\nid=1 addr=127\.0\.0\.1:0 .*flags=e .*cmd=client .*resp=2\n\r\n$/);
    const other = h.connect();
    await other.run('PING');
    assert.match(await run('CLIENT', 'LIST'), /id=1 .*\nid=2 .*cmd=ping/);
    assert.equal(await run('CLIENT', 'KILL', 'ID', '2'), ':1\r\n');
    assert.equal(other.conn.quit, true);
    assert.equal(await run('CLIENT', 'KILL', '1.2.3.4:5'), '-ERR No such client\r\n');
    assert.equal(await run('WAIT', '1', '10'), ':0\r\n');
    assert.equal(await run('WAIT', '1', '-1'), '-ERR timeout is negative\r\n');
    assert.equal(await run('FLUSHALL', 'FOO'), '-ERR syntax error\r\n');
    assert.equal(await run('FLUSHDB', 'ASYNC'), '+OK\r\n');
    assert.equal(await run('SCAN', '18446744073709551616'), '-ERR invalid cursor\r\n');
    assert.equal(await run('SCAN', '-1'), '*2\r\n$1\r\n0\r\n*0\r\n');
    // DBSIZE never counts a key past its expiry.
    await run('SET', 'short', 'v', 'PX', '1');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await run('DBSIZE'), ':0\r\n');
  });

  test("FLUSHALL makes a WATCHing connection's EXEC answer null", async () => {
    const h = respHarness();
    await h.run('SET', 'w', '1');
    await h.run('WATCH', 'w');
    await h.connect().run('FLUSHALL');
    await h.run('MULTI');
    assert.equal(await h.run('EXEC'), '*-1\r\n');
  });
});
