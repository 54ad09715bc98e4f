import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { lazyRedisClient } from '../helpers/redis-client.js';
import { freePort, getToken, qs, request, startNode, stopAllNodes, TEST_PASSWORD, type NodeHandle } from '../helpers/node-process.js';

const clients: Redis[] = [];

/** A client that AUTHs with `password` on connect, or not at all when it is null. */
function client(port: number, password: string | null = TEST_PASSWORD): Redis {
  const r = lazyRedisClient(port, { password });
  clients.push(r);
  return r;
}

/** Sends raw bytes and collects what comes back until the server closes or the time is up. */
function raw(port: number, data: string | Buffer, timeoutMs = 5000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, timeoutMs);
    s.on('connect', () => s.write(data));
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    });
  });
}

/** Like raw, but resolves as soon as `until` matches what came back (the connection is then closed). */
function rawUntil(port: number, data: string | Buffer, until: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no match for ${until} within ${timeoutMs} ms: ${JSON.stringify(text)}`));
    }, timeoutMs);
    s.on('connect', () => s.write(data));
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (until.test(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    });
  });
}

describe('Redis protocol (RESP2)', () => {
  let node: NodeHandle;
  let redis: Redis;

  before(async () => {
    node = await startNode({ settings: { RespPort: await freePort(), MaxValueSize: '1mb' } });
    redis = client(node.respPort);
    await redis.connect();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await stopAllNodes();
  });

  test('the node says where RESP listens', () => {
    assert.match(node.stdout(), new RegExp(`RESP listening on 127\\.0\\.0\\.1:${node.respPort}`));
  });

  test('GET, SET, EXPIRE, TTL, PTTL, PERSIST, DEL, EXISTS', async () => {
    assert.equal(await redis.set('k1', 'hello world'), 'OK');
    assert.equal(await redis.get('k1'), 'hello world');
    assert.equal(await redis.get('missing'), null);
    assert.equal(await redis.exists('k1', 'missing', 'k1'), 2);
    assert.equal(await redis.ttl('k1'), -1);
    assert.equal(await redis.ttl('missing'), -2);
    assert.equal(await redis.expire('k1', 100), 1);
    const ttl = await redis.ttl('k1');
    assert.ok(ttl > 95 && ttl <= 100, String(ttl));
    const pttl = await redis.pttl('k1');
    assert.ok(pttl > 95_000 && pttl <= 100_000, String(pttl));
    assert.equal(await redis.persist('k1'), 1);
    assert.equal(await redis.persist('k1'), 0);
    assert.equal(await redis.ttl('k1'), -1);
    assert.equal(await redis.expire('missing', 10), 0);
    assert.equal(await redis.pexpire('k1', 1500), 1);
    const p2 = await redis.pttl('k1');
    assert.ok(p2 > 1000 && p2 <= 1500, String(p2));
    assert.equal(await redis.del('k1', 'missing'), 1);
    assert.equal(await redis.get('k1'), null);
    assert.equal(await redis.del('k1'), 0);
  });

  test('SET options: EX, PX, NX, XX, GET, KEEPTTL; SETEX; expiry takes effect', async () => {
    assert.equal(await redis.set('opt', 'a', 'EX', 50), 'OK');
    const t = await redis.ttl('opt');
    assert.ok(t > 45 && t <= 50);
    assert.equal(await redis.set('opt', 'b', 'NX'), null);
    assert.equal(await redis.get('opt'), 'a');
    assert.equal(await redis.call('SET', 'opt', 'c', 'XX', 'KEEPTTL'), 'OK');
    assert.ok((await redis.ttl('opt')) > 45);
    assert.equal(await redis.set('nope', 'x', 'XX'), null);
    assert.equal(await redis.exists('nope'), 0);
    assert.equal(await redis.call('SET', 'opt', 'd', 'GET'), 'c');
    assert.equal(await redis.ttl('opt'), -1);
    await assert.rejects(redis.set('opt', 'x', 'EX', 0), /invalid expire time in 'set' command/);
    await assert.rejects(redis.call('SET', 'opt', 'x', 'EX', 'abc'), /value is not an integer/);
    await assert.rejects(redis.call('SET', 'opt', 'x', 'NX', 'XX'), /syntax error/);
    assert.equal(await redis.set('brief', 'x', 'PX', 200), 'OK');
    assert.equal(await redis.setex('sx', 30, 'v'), 'OK');
    assert.ok((await redis.ttl('sx')) > 25);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(await redis.get('brief'), null);
    assert.equal(await redis.ttl('brief'), -2);
  });

  test('EXPIRE with a TTL that is not in the future deletes the key, as in Redis', async () => {
    await redis.set('doomed', 'x');
    assert.equal(await redis.expire('doomed', 0), 1);
    assert.equal(await redis.exists('doomed'), 0);
  });

  test('MSET, MGET, DBSIZE, binary values, STRLEN, TYPE', async () => {
    assert.equal(await redis.mset('m1', 'one', 'm2', 'two'), 'OK');
    assert.deepEqual(await redis.mget('m1', 'nothing', 'm2'), ['one', null, 'two']);
    const value = Buffer.from([0, 255, 13, 10, 128, 36, 42]);
    await redis.set('bin', value);
    assert.deepEqual(await redis.getBuffer('bin'), value);
    assert.equal(await redis.strlen('bin'), value.length);
    assert.equal(await redis.type('bin'), 'string');
    assert.equal(await redis.type('nothing'), 'none');
    const big = Buffer.alloc(300_000, 7);
    await redis.set('big', big);
    assert.deepEqual(await redis.getBuffer('big'), big);
    const n = await redis.dbsize();
    assert.ok(n >= 5, String(n));
    await assert.rejects(redis.call('MSET', 'a', 'b', 'c'), /wrong number of arguments for 'mset' command/);
  });

  test('a value larger than MaxValueSize is refused', async () => {
    await assert.rejects(redis.set('huge', Buffer.alloc(1024 * 1024 + 1)), /MaxValueSize/);
    assert.equal(await redis.exists('huge'), 0);
  });

  test('SCAN returns every key, with MATCH and COUNT', async () => {
    const want = new Set<string>();
    const pipe = redis.pipeline();
    for (let i = 0; i < 300; i++) {
      want.add(`scan:${i}`);
      pipe.set(`scan:${i}`, String(i));
    }
    await pipe.exec();
    const seen = new Set<string>();
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 50);
      for (const k of keys) {
        assert.match(k, /^scan:/);
        seen.add(k);
      }
      cursor = next;
      rounds += 1;
    } while (cursor !== '0' && rounds < 100_000);
    assert.deepEqual(
      [...want].filter((k) => !seen.has(k)),
      [],
    );
    assert.equal(seen.size, 300);

    const streamed = new Set<string>();
    await new Promise<void>((resolve, reject) => {
      const s = redis.scanStream({ match: 'scan:1*', count: 100 });
      s.on('data', (keys: string[]) => {
        for (const k of keys) streamed.add(k);
      });
      s.on('end', resolve);
      s.on('error', reject);
    });
    assert.equal(streamed.size, [...want].filter((k) => k.startsWith('scan:1')).length);
    await assert.rejects(redis.scan('abc'), /invalid cursor/);
    assert.deepEqual((await redis.keys('scan:29*')).sort(), [
      'scan:29',
      'scan:290',
      'scan:291',
      'scan:292',
      'scan:293',
      'scan:294',
      'scan:295',
      'scan:296',
      'scan:297',
      'scan:298',
      'scan:299',
    ]);
  });

  test('INFO has the server, clients, memory, keyspace and cluster sections', async () => {
    await redis.set('info-key', 'x');
    const info = await redis.info();
    for (const s of ['# Server', '# Clients', '# Memory', '# Keyspace', '# Cluster']) assert.ok(info.includes(s), s);
    assert.match(info, /redis_version:\d+\.\d+\.\d+/);
    assert.match(info, /connected_clients:\d+/);
    assert.match(info, /used_memory:\d+/);
    assert.match(info, /db0:keys=\d+,expires=\d+/);
    assert.match(info, /cluster_enabled:0/);
    assert.match(info, /owlcache_mode:owlcache/);
    assert.match(info, new RegExp(`owlcache_http_address:127\\.0\\.0\\.1:${node.httpPort}`));
    const only = await redis.info('keyspace');
    assert.ok(only.startsWith('# Keyspace'));
    assert.ok(!only.includes('# Server'));
  });

  test('connection commands: PING, ECHO, SELECT, CLIENT, HELLO, COMMAND, QUIT', async () => {
    assert.equal(await redis.ping(), 'PONG');
    assert.equal(await redis.ping('hi'), 'hi');
    assert.equal(await redis.echo('echoed'), 'echoed');
    assert.equal(await redis.select(0), 'OK');
    await assert.rejects(redis.select(1), /DB index is out of range/);
    assert.equal(await redis.client('SETNAME', 'tester'), 'OK');
    assert.equal(await redis.client('GETNAME'), 'tester');
    await assert.rejects(redis.call('HELLO', '4'), /NOPROTO unsupported protocol version/);
    const hello = (await redis.call('HELLO', '2')) as unknown[];
    assert.equal(hello[0], 'server');
    assert.equal(hello[5], 2);
    assert.deepEqual(await redis.call('COMMAND', 'DOCS', 'get', 'nosuch'), ['get', ['group', 'string']]);
    await assert.rejects(redis.call('FOO', 'bar', 'baz'), (err: Error) => {
      assert.equal(err.message, "ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' ");
      return true;
    });
    await assert.rejects(redis.call('GET'), /wrong number of arguments for 'get' command/);
    const quitter = client(node.respPort);
    await quitter.connect();
    assert.equal(await quitter.quit(), 'OK');
  });

  test('COMMAND describes the commands from the command table', async () => {
    assert.deepEqual(await redis.call('COMMAND', 'INFO', 'get', 'nosuch'), [
      ['get', 2, ['readonly', 'fast'], 1, 1, 1, ['@read', '@string', '@fast'], [], [], []],
      null,
    ]);
    const count = (await redis.call('COMMAND', 'COUNT')) as number;
    const all = (await redis.call('COMMAND')) as unknown[][];
    assert.equal(all.length, count);
    assert.ok(all.some((c) => c[0] === 'mset' && c[1] === -3 && c[5] === 2));
    assert.deepEqual(await redis.call('COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2'), ['a', 'b']);
  });

  test('writes through RESP and HTTP see each other', async () => {
    await redis.set('from-resp', 'resp value');
    const r = await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'from-resp' })}`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'resp value');
    const token = await getToken(node.httpPort);
    const w = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'from-http', valuedata: 'http value', token })}`);
    assert.equal(w.json().Status, 200);
    assert.equal(await redis.get('from-http'), 'http value');
  });

  test('AUTH is required, and refused with the wrong password', async () => {
    const anon = client(node.respPort, null);
    await anon.connect();
    assert.equal(await anon.ping(), 'PONG');
    await assert.rejects(anon.get('from-resp'), /NOAUTH Authentication required/);
    await assert.rejects(anon.set('sneaky', 'x'), /NOAUTH/);
    await assert.rejects(anon.auth('wrong-password-123'), /WRONGPASS/);
    await assert.rejects(anon.auth('someone', TEST_PASSWORD), /WRONGPASS/);
    await assert.rejects(anon.get('from-resp'), /NOAUTH/);
    await assert.rejects(anon.call('HELLO', '2'), /NOAUTH/);
    assert.equal(await anon.auth(TEST_PASSWORD), 'OK');
    assert.equal(await anon.get('from-resp'), 'resp value');
    assert.equal(await redis.exists('sneaky'), 0);

    const viaHello = client(node.respPort, null);
    await viaHello.connect();
    const hello = (await viaHello.call('HELLO', '2', 'AUTH', 'default', TEST_PASSWORD)) as unknown[];
    assert.equal(hello[0], 'server');
    assert.equal(await viaHello.get('from-resp'), 'resp value');

    const wrong = client(node.respPort, 'not-the-password-1');
    const errors: Error[] = [];
    wrong.on('error', (err: Error) => errors.push(err));
    await assert.rejects(wrong.connect());
    assert.ok(
      errors.some((e) => /WRONGPASS/.test(e.message)),
      errors.map((e) => e.message).join('; '),
    );
  });

  test('10 000 pipelined commands', async () => {
    const pipe = redis.pipeline();
    for (let i = 0; i < 5000; i++) {
      pipe.set(`p:${i}`, `v${i}`);
      pipe.get(`p:${i}`);
    }
    const results = await pipe.exec();
    assert.ok(results !== null);
    assert.equal(results.length, 10_000);
    for (let i = 0; i < 5000; i++) {
      assert.deepEqual(results[2 * i], [null, 'OK']);
      assert.deepEqual(results[2 * i + 1], [null, `v${i}`]);
    }
  });

  test('a pipeline of SET runs broken by reads, a refused value and other writes answers in order', async () => {
    const pipe = redis.pipeline();
    for (let i = 0; i < 3000; i++) pipe.set(`run:${i % 50}`, `v${i}`);
    pipe.get('run:49');
    pipe.set('run:big', 'x'.repeat(2 * 1024 * 1024));
    pipe.set('run:after', 'a');
    pipe.incr('run:n');
    pipe.set('run:tx', 't');
    pipe.get('run:tx');
    const results = await pipe.exec();
    assert.ok(results !== null);
    for (let i = 0; i < 3000; i++) assert.deepEqual(results[i], [null, 'OK']);
    assert.deepEqual(results[3000], [null, 'v2999']);
    assert.match(String(results[3001]![0]), /larger than MaxValueSize/);
    assert.deepEqual(results[3002], [null, 'OK']);
    assert.deepEqual(results[3003], [null, 1]);
    assert.deepEqual(results.at(-1), [null, 't']);
    assert.equal(await redis.get('run:0'), 'v2950');
  });

  test('a GET in a pipeline answers the value it read, though later SETs of the batch reuse its memory', async () => {
    // The reply to a GET is taken from the store's memory as it is read; the batch's replies go out together after it.
    const pipe = redis.pipeline();
    const sizes = [3, 256, 257, 300, 4000];
    for (let round = 0; round < 20; round++) {
      for (const n of sizes) {
        pipe.set(`lent:${n}`, String.fromCharCode(97 + (round % 26)).repeat(n));
        pipe.get(`lent:${n}`);
        pipe.del(`lent:${n}`);
        pipe.set(`lent:other:${n}`, 'Z'.repeat(n));
      }
    }
    const results = await pipe.exec();
    assert.ok(results !== null);
    let at = 0;
    for (let round = 0; round < 20; round++) {
      for (const n of sizes) {
        assert.deepEqual(results[at + 1], [null, String.fromCharCode(97 + (round % 26)).repeat(n)], `round ${round}, ${n} bytes`);
        at += 4;
      }
    }
  });

  test('GET answers alike on every path: queued inside MULTI, refused for a key that is not UTF-8, counted as a hit or a miss', async () => {
    const stat = async (name: string) => Number(new RegExp(`${name}:(\\d+)`).exec(await redis.info('stats'))![1]);
    const [hits, misses] = [await stat('keyspace_hits'), await stat('keyspace_misses')];
    await redis.set('g:one', '1');
    assert.deepEqual(await redis.pipeline().get('g:one').get('g:none').call('GET', 'g:one').exec(), [
      [null, '1'],
      [null, null],
      [null, '1'],
    ]);
    assert.equal(await stat('keyspace_hits'), hits + 2);
    assert.equal(await stat('keyspace_misses'), misses + 1);
    const tx = await redis.multi().get('g:one').set('g:one', '2').get('g:one').exec();
    assert.deepEqual(tx, [
      [null, '1'],
      [null, 'OK'],
      [null, '2'],
    ]);
    await assert.rejects(redis.get(Buffer.from([0xff, 0xfe])), /not valid UTF-8|valid UTF-8/);
  });

  test('inline commands over a raw socket', async () => {
    const text = await rawUntil(node.respPort, `AUTH ${TEST_PASSWORD}\r\nPING\r\nSET inline "two words"\r\nGET inline\r\n`, /two words\r\n$/);
    assert.equal(text, '+OK\r\n+PONG\r\n+OK\r\n$9\r\ntwo words\r\n');
  });

  test('a malformed frame gets an error and the connection closed; the node keeps serving', async () => {
    const before = Number(/used_memory_rss:(\d+)/.exec(await redis.info('memory'))![1]);
    const r = await raw(node.respPort, '*3\r\n$999999999999\r\n');
    assert.equal(r.closed, true);
    assert.match(r.text, /^-ERR Protocol error: invalid bulk length\r\n$/);
    const r2 = await raw(node.respPort, '*99999999\r\n');
    assert.equal(r2.closed, true);
    assert.match(r2.text, /^-ERR Protocol error: invalid multibulk length\r\n$/);
    // Bulk just over MaxValueSize (+ slack): refused before its payload is sent.
    const r3 = await raw(node.respPort, `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${1024 * 1024 * 1024}\r\n`);
    assert.equal(r3.closed, true);
    assert.match(r3.text, /invalid bulk length/);
    // Before AUTH too, the same answer.
    const r4 = await raw(node.respPort, 'GET k\r\n*1\r\n$-3\r\n');
    assert.equal(r4.closed, true);
    assert.match(r4.text, /^-NOAUTH Authentication required\.\r\n-ERR Protocol error: invalid bulk length\r\n$/);
    assert.equal(await redis.ping(), 'PONG');
    assert.equal(await redis.get('from-resp'), 'resp value');
    const after = Number(/used_memory_rss:(\d+)/.exec(await redis.info('memory'))![1]);
    assert.ok(after - before < 200 * 1024 * 1024, `rss grew from ${before} to ${after}`);
  });
});

describe('RESP off by default', () => {
  after(stopAllNodes);

  test('RespPort 0 starts no Redis listener', async () => {
    const node = await startNode();
    assert.doesNotMatch(node.stdout(), /RESP listening/);
  });
});
