import net from 'node:net';
import { freePort, startNode, stopAllNodes, TEST_PASSWORD } from '../helpers/node-process.js';

/**
 * A development check, not a test (tests must not need redis-server): sends
 * the same commands to a redis-server and to an owlcache node and prints every
 * reply that differs, byte for byte. Run it with a redis-server listening:
 *
 *   redis-server --port 16399 --bind 127.0.0.1 --save '' --appendonly no &
 *   node dist/test/compat/compare-with-redis.js 16399
 *
 * Replies that legitimately differ (versions, ids, times) are listed as such.
 */

const CASES: string[][] = [
  ['FLUSHALL'],
  ['SET', 'n', '10'],
  ['INCR', 'n'],
  ['INCRBY', 'n', '5'],
  ['DECR', 'n'],
  ['DECRBY', 'n', '3'],
  ['GET', 'n'],
  ['INCRBY', 'n', 'x'],
  ['INCRBY', 'n', '9223372036854775807'],
  ['DECRBY', 'n', '-9223372036854775808'],
  ['SET', 's', 'abc'],
  ['INCR', 's'],
  ['INCRBYFLOAT', 's', '1'],
  ['INCRBYFLOAT', 'f', '0.1'],
  ['INCRBYFLOAT', 'f', '0.2'],
  ['INCRBYFLOAT', 'f', '1e3'],
  ['INCRBYFLOAT', 'f', 'abc'],
  ['INCRBYFLOAT', 'f', 'inf'],
  ['INCRBYFLOAT', 'f', '-1000.3'],
  ['GET', 'f'],
  ['INCR', 'fresh'],
  ['INCR', 'fresh'],
  ['APPEND', 'a', 'hello'],
  ['APPEND', 'a', ' world'],
  ['GET', 'a'],
  ['GETRANGE', 'a', '0', '4'],
  ['GETRANGE', 'a', '-5', '-1'],
  ['GETRANGE', 'a', '-1', '-5'],
  ['GETRANGE', 'a', '5', '100'],
  ['GETRANGE', 'nokey', '0', '10'],
  ['GETRANGE', 'a', 'x', '1'],
  ['SETRANGE', 'a', '6', 'WORLD'],
  ['GET', 'a'],
  ['SETRANGE', 'b', '3', 'x'],
  ['GET', 'b'],
  ['SETRANGE', 'b', '-1', 'x'],
  ['SETRANGE', 'nk', '0', ''],
  ['GETSET', 'a', 'new'],
  ['GETSET', 'gs', 'v'],
  ['GETDEL', 'gs'],
  ['GETDEL', 'gs'],
  ['SET', 'ex', 'v'],
  ['GETEX', 'ex', 'EX', '100'],
  ['TTL', 'ex'],
  ['GETEX', 'ex', 'PERSIST'],
  ['TTL', 'ex'],
  ['GETEX', 'ex', 'EX', '0'],
  ['GETEX', 'ex', 'FOO'],
  ['GETEX', 'ex', 'EX', '10', 'PX', '10'],
  ['GETEX', 'missing'],
  ['MSETNX', 'm1', '1', 'm2', '2'],
  ['MSETNX', 'm2', 'x', 'm3', '3'],
  ['MGET', 'm1', 'm2', 'm3'],
  ['MSETNX', 'm1'],
  ['EXPIRE', 'm1', '100', 'XX', 'GT'],
  ['EXPIRE', 'm1', '100', 'NX'],
  ['EXPIRE', 'm1', '200', 'XX', 'GT'],
  ['EXPIRE', 'm1', '50', 'GT'],
  ['EXPIRE', 'm1', '50', 'LT', 'XX'],
  ['EXPIRE', 'm1', '50', 'NX', 'XX'],
  ['EXPIRE', 'm1', '50', 'GT', 'LT'],
  ['EXPIRE', 'm1', '50', 'FOO'],
  ['EXPIRE', 'm1', 'x', 'FOO'],
  ['EXPIRE', 'm2', '10', 'LT'],
  ['EXPIRE', 'm2', '10', 'GT'],
  ['EXPIREAT', 'm1', '4102444800'],
  ['EXPIRETIME', 'm1'],
  ['PEXPIRETIME', 'm1'],
  ['EXPIRETIME', 'm3'],
  ['EXPIRETIME', 'none'],
  ['PEXPIREAT', 'm3', '1'],
  ['EXISTS', 'm3'],
  ['TOUCH', 'm1', 'm2', 'none'],
  ['RENAME', 'none', 'x'],
  ['RENAME', 'm1', 'm1'],
  ['RENAME', 'm1', 'r1'],
  ['EXPIRETIME', 'r1'],
  ['RENAMENX', 'r1', 'm2'],
  ['RENAMENX', 'r1', 'r2'],
  ['RENAMENX', 'r2', 'r2'],
  ['COPY', 'r2', 'c1'],
  ['COPY', 'r2', 'c1'],
  ['COPY', 'r2', 'c1', 'REPLACE'],
  ['COPY', 'r2', 'r2'],
  ['COPY', 'r2', 'c2', 'DB', '1'],
  ['COPY', 'r2', 'c2', 'DB', 'x'],
  ['COPY', 'r2', 'c2', 'FOO'],
  ['COPY', 'none', 'c3'],
  ['SET', 'i', '123'],
  ['OBJECT', 'ENCODING', 'i'],
  ['OBJECT', 'ENCODING', 'a'],
  ['SET', 'long', 'x'.repeat(50)],
  ['OBJECT', 'ENCODING', 'long'],
  ['OBJECT', 'ENCODING', 'none'],
  ['OBJECT', 'REFCOUNT', 'i'],
  ['OBJECT', 'REFCOUNT', 'long'],
  ['OBJECT', 'FREQ', 'i'],
  ['OBJECT', 'FOO', 'i'],
  ['OBJECT', 'ENCODING'],
  ['MEMORY', 'USAGE', 'none'],
  ['MEMORY', 'FOO'],
  ['CONFIG', 'SET', 'nosuch', 'x'],
  ['CONFIG', 'SET', 'databases', '2'],
  ['CONFIG', 'GET', 'nosuch'],
  ['CONFIG', 'SET', 'a'],
  ['CLIENT', 'NO-EVICT', 'on'],
  ['CLIENT', 'NO-EVICT', 'maybe'],
  ['CLIENT', 'KILL', '1.2.3.4:5'],
  ['CLIENT', 'KILL', 'ID', '999999'],
  ['CLIENT', 'KILL', 'ID', 'x'],
  ['CLIENT', 'FOO'],
  ['MULTI'],
  ['SET', 't', '1'],
  ['INCR', 't'],
  ['GET', 't'],
  ['EXEC'],
  ['MULTI'],
  ['SET', 't'],
  ['EXEC'],
  ['MULTI'],
  ['MULTI'],
  ['WATCH', 'x'],
  ['DISCARD'],
  ['EXEC'],
  ['DISCARD'],
  ['UNWATCH'],
  ['WAIT', '0', '0'],
  ['WAIT', 'x', '0'],
  ['WAIT', '1', '-1'],
  ['FLUSHALL', 'FOO'],
  ['FLUSHDB', 'ASYNC'],
  ['DBSIZE'],
  ['RANDOMKEY'],
  ['SET', 'only', '1'],
  ['RANDOMKEY'],
  ['SCAN', 'x'],
  ['SCAN', '0', 'COUNT', '0'],
  ['SCAN', '0', 'FOO', 'x'],
  ['SCAN', '18446744073709551616'],
  ['SCAN', '-1'],
  ['HELLO', '4'],
  ['HELLO', 'x'],
  ['HELLO', '3', 'FOO'],
  ['HELLO', '3'],
  ['GET', 'nokey'],
  ['CONFIG', 'GET', 'appendonly'],
  ['MGET', 'only', 'nokey'],
  ['EXEC'],
  ['MULTI'],
  ['WATCH', 'k'],
  ['EXEC'],
  ['HELLO', '2'],
];

function session(port: number, auth: boolean): { send(words: string[]): Promise<string>; close(): void } {
  const s = net.connect(port, '127.0.0.1');
  let buf = '';
  let waiter: (() => void) | null = null;
  s.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    waiter?.();
  });
  const frame = (w: string[]) => `*${w.length}\r\n${w.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  if (auth) s.write(frame(['AUTH', TEST_PASSWORD]));
  let skip = auth;
  return {
    async send(words) {
      s.write(frame(words) + frame(['PING', '__end__']));
      for (let i = 0; i < 100 && !/(\$7\r\n__end__\r\n)$/.test(buf); i++)
        await new Promise<void>((r) => {
          waiter = r;
          setTimeout(r, 50);
        });
      let text = buf.replace(/\$7\r\n__end__\r\n$/, '');
      if (skip) {
        text = text.replace(/^\+OK\r\n/, '');
        skip = false;
      }
      buf = '';
      return text;
    },
    close: () => s.destroy(),
  };
}

const redisPort = Number(process.argv[2] ?? 16399);
const node = await startNode({ settings: { RespPort: await freePort() } });
try {
  const theirs = session(redisPort, false);
  const ours = session(node.respPort, true);
  let differ = 0;
  for (const words of CASES) {
    const [a, b] = [await theirs.send(words), await ours.send(words)];
    if (a !== b) {
      differ++;
      console.log(`${words.join(' ')}\n  redis:    ${JSON.stringify(a)}\n  owlcache: ${JSON.stringify(b)}`);
    }
  }
  console.log(`${CASES.length} commands, ${differ} replies differ`);
  theirs.close();
  ours.close();
} finally {
  await stopAllNodes();
}
