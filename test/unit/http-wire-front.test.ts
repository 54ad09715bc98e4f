import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createHttpApp } from '../../src/api/http/app.js';
import { fastAnswer, storeFastSets, tryFastPath, type FastRequest, type FastSet } from '../../src/api/http/fast-path.js';
import { HttpServer } from '../../src/api/http/server.js';
import { TokenService } from '../../src/api/http/tokens.js';
import { WireFront, parseWireHead } from '../../src/api/http/wire-front.js';
import { Store } from '../../src/store/store.js';
import { unitHttpDeps } from '../helpers/http-deps.js';

const GET = 'GET /data/?cmd=get&key=a HTTP/1.1\r\nHost: x\r\n\r\n';

describe('parseWireHead', () => {
  test('takes a GET or HEAD of HTTP/1.1 with one Host, in any header case, and says where the next request starts', () => {
    const one = parseWireHead(Buffer.from(GET), 0);
    assert.deepEqual(one, { method: 'GET', url: '/data/?cmd=get&key=a', authorization: undefined, close: false, end: GET.length });
    const head =
      'HEAD /data?cmd=get&key=b%20c HTTP/1.1\r\nhOST: x\r\nconnection:  Close \r\nAUTHORIZATION: Bearer t.k\r\ncontent-length: 0\r\nX-Other: \t y \r\n\r\n';
    const two = Buffer.from(GET + head);
    assert.deepEqual(parseWireHead(two, GET.length), {
      method: 'HEAD',
      url: '/data?cmd=get&key=b%20c',
      authorization: 'Bearer t.k',
      close: true,
      end: two.length,
    });
    const keep = parseWireHead(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n'), 0);
    assert.equal(keep?.close, false);
  });

  test('refuses every request outside its narrow form; asks for more of a head not wholly read', () => {
    const refused: [string, string][] = [
      ['POST', 'POST /data/?cmd=get&key=a HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['lowercase method', 'get /data/ HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['two spaces', 'GET  /data/ HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['no leading slash', 'GET data/ HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['absolute form', 'GET http://x/data/ HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['HTTP/1.0', 'GET /data/ HTTP/1.0\r\nHost: x\r\n\r\n'],
      ['bare LF after a header', 'GET /data/ HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n'],
      ['no Host', 'GET /data/ HTTP/1.1\r\n\r\n'],
      ['two Hosts', 'GET /data/ HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'],
      ['Transfer-Encoding', 'GET /data/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'],
      ['a body', 'GET /data/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde'],
      ['Content-Length twice', 'GET /data/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n'],
      ['Content-Length 00', 'GET /data/ HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n'],
      ['Expect', 'GET /data/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n'],
      ['Upgrade', 'GET /data/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n'],
      ['Connection: upgrade', 'GET /data/ HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n\r\n'],
      ['Connection twice', 'GET /data/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nConnection: close\r\n\r\n'],
      ['Authorization twice', 'GET /data/ HTTP/1.1\r\nHost: x\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n'],
      ['a folded line', 'GET /data/ HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n'],
      ['no colon', 'GET /data/ HTTP/1.1\r\nHost: x\r\nX-A b\r\n\r\n'],
      ['space before the colon', 'GET /data/ HTTP/1.1\r\nHost : x\r\n\r\n'],
      ['empty name', 'GET /data/ HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n'],
      ['DEL in a value', 'GET /data/ HTTP/1.1\r\nHost: x\r\nX-A: b\x7f\r\n\r\n'],
      ['NUL in a value', 'GET /data/ HTTP/1.1\r\nHost: x\r\nX-A: b\x00\r\n\r\n'],
    ];
    for (const [why, text] of refused) assert.equal(parseWireHead(Buffer.from(text, 'latin1'), 0), null, why);
    assert.equal(
      parseWireHead(Buffer.from([...Buffer.from('GET /data/?key='), 0xc3, 0xa9, ...Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), 0),
      null,
      'a non-ASCII target',
    );
    assert.equal(
      parseWireHead(Buffer.from([...Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nX-A: '), 0xe9, 0x0d, 0x0a, 0x0d, 0x0a]), 0),
      null,
      'obs-text in a value',
    );
    const long = `GET / HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(16 * 1024)}\r\n\r\n`;
    assert.equal(parseWireHead(Buffer.from(long), 0), null, 'a head past 16 KiB');
    const full = Buffer.from(`${GET.slice(0, -2)}Authorization: Bearer t\r\n\r\n`);
    assert.notEqual(parseWireHead(full, 0), null);
    for (let cut = 0; cut < full.length; cut++) assert.equal(parseWireHead(full.subarray(0, cut), 0), undefined, `cut at ${cut}: more is needed`);
    assert.equal(parseWireHead(Buffer.from('GET /data/ HTTP/1.1\nHost: x\n\n'), 0), undefined, 'bare LFs: no empty line yet, so more is needed');
    assert.equal(parseWireHead(Buffer.from(`GET /${'a'.repeat(16 * 1024)}`), 0), null, 'no empty line in 16 KiB');
  });
});

/** Writes `text` in pieces (a pause between them) and collects every byte until the server closes. */
function transcript(port: number, pieces: (string | Buffer)[], pauseMs = 30): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close in 10 s; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(-300))}`));
    }, 10_000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('connect', async () => {
      for (const [i, p] of pieces.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        socket.write(p);
      }
    });
  });
}

/**
 * A transcript with what differs between two nodes given the same requests
 * replaced by placeholders: the date, and the create times (the clock's
 * sub-millisecond part runs on) with the lengths that depend on them.
 */
const comparable = (t: string) =>
  t
    .replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: <date>\r\n')
    .replace(/\r\nKeycreatetime: [^\r]*\r\n/g, '\r\nKeycreatetime: <time>\r\n')
    .replace(/"KeyCreateTime":"[^"]*"/g, '"KeyCreateTime":"<time>"')
    .replace(/\r\nContent-Length: \d+\r\n/g, '\r\nContent-Length: <n>\r\n');

describe('the wire front in front of node:http', () => {
  const limits = { maxKeyLength: 250, maxValueSize: 1024 };
  /** A node's HTTP port, its clock stopped so that two of them given the same writes answer the same bytes. */
  const serve = (wire: boolean) => {
    const store = new Store({ nodeId: 'unit', now: () => 1_800_000_000_000 });
    // Each its own, so each verifies a token the first time it sees it.
    const tokens = new TokenService('secret-for-the-unit-test-0123456789', 'pw', 0);
    const deps = unitHttpDeps(store, tokens, limits);
    const taken = { wire: 0, http: 0, turns: 0, sets: 0 };
    const server = new HttpServer(createHttpApp(deps), {
      host: '127.0.0.1',
      port: 0,
      fastPath: (req, res) => {
        const answered = tryFastPath(deps, req, res);
        if (answered) taken.http++;
        return answered;
      },
      ...(wire
        ? {
            wire: {
              answer: (req: FastRequest) => {
                const a = fastAnswer(deps, req, true);
                if (a !== null) taken.wire++;
                return a;
              },
              storeSets: (sets: readonly FastSet[]) => {
                taken.turns++;
                taken.sets += sets.length;
                return storeFastSets(deps, sets);
              },
            },
          }
        : {}),
    });
    return { store, server, taken, tokens, port: 0 };
  };
  const withWire = serve(true);
  const httpOnly = serve(false);
  let token = '';

  before(async () => {
    for (const s of [withWire, httpOnly]) {
      s.port = (await s.server.listen()).port;
      s.store.set('a', Buffer.from('hello'));
      s.store.set('bin', Buffer.from([0xff, 0x00]));
    }
    token = await withWire.tokens.issue('127.0.0.1');
  });
  after(async () => {
    await withWire.server.close();
    await httpOnly.server.close();
  });

  test('answers byte for byte what node:http answers, on each path, pipelined or not', async () => {
    const t = encodeURIComponent(token);
    const req = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
    const last = req('/data/?cmd=get&key=a', 'Connection: close\r\n');
    const cases: (string | Buffer)[][] = [
      [req('/data/?cmd=get&key=a') + req('/data/?cmd=get&key=nope') + req('/data?cmd=get&key=bin') + last],
      [`HEAD /data/?cmd=get&key=a HTTP/1.1\r\nHost: x\r\n\r\n${last}`],
      [req('/data/?cmd=get&key=%61&x=1') + req('/data/?key=a&cmd=get') + last],
      // An unknown token: Koa verifies it; then the writes are fast on both.
      [req(`/data/?cmd=set&key=w&valuedata=1&token=${t}`) + last],
      [req(`/data/?cmd=set&key=w&valuedata=2&token=${t}`) + req('/data/?cmd=get&key=w') + last],
      [
        req('/data/?cmd=delete&key=w', `Authorization: Bearer ${token}\r\n`) +
          req('/data/?cmd=expire&key=a&exptime=100', `authorization: bearer ${token}\r\n`) +
          last,
      ],
      [req('/data/?cmd=set&key=x&valuedata=1&token=wrong') + last],
      // Sets refused alone, stored beside good ones, a bad exptime (refused at once), a TTL.
      [
        req(`/data/?cmd=set&key=big&valuedata=${'v'.repeat(2000)}&token=${t}`) +
          req(`/data/?cmd=set&key=${'k'.repeat(300)}&valuedata=1&token=${t}`) +
          req(`/data/?cmd=set&key=&valuedata=1&token=${t}`) +
          req(`/data/?cmd=set&key=e&valuedata=1&exptime=soon&token=${t}`) +
          req(`/data/?cmd=set&key=e&valuedata=1&exptime=100&token=${t}`) +
          req(`/data/?cmd=set&key=${encodeURIComponent('ключ "q"')}&valuedata=%FF%00&token=${t}`) +
          req(`/data/?cmd=get&key=${encodeURIComponent('ключ "q"')}`) +
          last,
      ],
      // Handed to node:http part-way: a body, Koa's paths, HTTP/1.0, Expect.
      [
        req('/data/?cmd=get&key=a') +
          `POST /data/?cmd=set&key=p&token=${t} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\nvaluedata=P` +
          req('/data/?cmd=get&key=p') +
          last,
      ],
      [req('/data/?cmd=get&key=a') + req('/') + req('/data/?cmd=nope') + last],
      [`GET /data/?cmd=get&key=a HTTP/1.0\r\n\r\n`],
      [`GET /data/?cmd=get&key=a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`],
      // A head split across reads, and bytes node:http cannot parse.
      ['GET /data/?cmd=get&k', `ey=a HTTP/1.1\r\nHost: x\r\n\r\n${last}`],
      [`${req('/data/?cmd=get&key=a')}GET /\x01 HTTP/1.1\r\n\r\n`],
    ];
    for (const pieces of cases) {
      const wire = await transcript(withWire.port, pieces);
      const http = await transcript(httpOnly.port, pieces);
      assert.match(wire, /^HTTP\/1\.1 /, String(pieces[0]).slice(0, 80));
      assert.equal(comparable(wire), comparable(http), String(pieces[0]).slice(0, 80));
    }
    assert.ok(withWire.taken.wire >= 15, `the wire front answered ${withWire.taken.wire}`);
    assert.ok(withWire.taken.http >= 2, 'after a hand-over, node:http answers the fast requests');
    assert.equal(httpOnly.taken.wire, 0);
    assert.equal(withWire.store.get('p')?.value?.toString(), 'P', 'the posted write took effect');
  });

  test("sets from many connections in one turn are stored together; each connection's later requests wait for its set", async () => {
    const t = encodeURIComponent(token);
    const before = { ...withWire.taken };
    const sockets = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(withWire.port, '127.0.0.1', () => resolve(s));
            s.on('error', reject);
          }),
      ),
    );
    const texts = sockets.map(() => '');
    const closed = sockets.map((s, i) => {
      s.on('data', (d: Buffer) => (texts[i] += d.toString('latin1')));
      return new Promise<void>((resolve) => s.on('close', () => resolve()));
    });
    // Every connection accepted by the server first, so that their writes arrive in one turn.
    await new Promise((r) => setTimeout(r, 100));
    // Each connection: its own set, then a get of it and a close in the same write.
    for (const [i, s] of sockets.entries()) {
      s.write(
        `GET /data/?cmd=set&key=turn${i}&valuedata=v${i}&token=${t} HTTP/1.1\r\nHost: x\r\n\r\n` +
          `GET /data/?cmd=get&key=turn${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
    }
    const timer = setTimeout(() => {
      for (const s of sockets) s.destroy();
    }, 10_000);
    await Promise.all(closed);
    clearTimeout(timer);
    texts.forEach((text, i) => {
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*"Cmd":"set","Status":200[\s\S]*HTTP\/1\.1 200 OK\r\n/, `connection ${i}`);
      assert.ok(text.endsWith(`\r\n\r\nv${i}`), `connection ${i} read its own set: ${JSON.stringify(text.slice(-40))}`);
      assert.equal(withWire.store.get(`turn${i}`)?.value?.toString(), `v${i}`);
    });
    const turns = withWire.taken.turns - before.turns;
    assert.equal(withWire.taken.sets - before.sets, 20, 'every set went through a turn');
    assert.ok(turns < 20, `20 sets were stored in ${turns} turns`);
  });

  test('a client that ends its side after a set and a get gets both answers, then the close', async () => {
    const t = encodeURIComponent(token);
    // Known, so the set is the wire front's (node:http drops the requests in flight of a client that ends its side).
    assert.equal(await withWire.tokens.verify(token, '127.0.0.1'), true);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(withWire.port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no close in 10 s; got ${JSON.stringify(got.slice(-200))}`));
      }, 10_000);
      socket.on('data', (d: Buffer) => (got += d.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(got);
      });
      socket.end(
        `GET /data/?cmd=set&key=ended&valuedata=E&token=${t} HTTP/1.1\r\nHost: x\r\n\r\n` + 'GET /data/?cmd=get&key=ended HTTP/1.1\r\nHost: x\r\n\r\n',
      );
    });
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*"Cmd":"set"[\s\S]*HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nE$/);
  });

  test('a long pipeline in one write is answered in order, every answer whole', async () => {
    const count = 3000;
    for (let i = 0; i < count; i++) withWire.store.set(`k${i}`, Buffer.from(`value-${i}`));
    let text = '';
    for (let i = 0; i < count; i++) text += `GET /data/?cmd=get&key=k${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
    text += 'GET /data/?cmd=get&key=k0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const before = withWire.taken.wire;
    const got = await transcript(withWire.port, [text]);
    const bodies = [...got.matchAll(/Content-Length: (\d+)\r\nDate: [^\r]*\r\nConnection: [^\r]*\r\n(?:Keep-Alive: [^\r]*\r\n)?\r\n/g)].map((m) =>
      got.slice(m.index + m[0].length, m.index + m[0].length + Number(m[1])),
    );
    assert.equal(bodies.length, count + 1);
    for (let i = 0; i < count; i++) assert.equal(bodies[i], `value-${i}`, `answer ${i}`);
    assert.equal(withWire.taken.wire - before, count + 1, 'heads cut between reads are put together, not handed over');
  });

  test('a keep-alive connection the front holds is closed when the server closes', async () => {
    const extra = serve(true);
    const port = (await extra.server.listen()).port;
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => {});
    socket.write(GET);
    const deadline = Date.now() + 5000;
    while (!text.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.match(text, /^HTTP\/1\.1 404 /);
    const started = Date.now();
    await extra.server.close(60_000);
    await closed;
    assert.ok(Date.now() - started < 10_000, 'closed without waiting for the grace');
  });
});

describe('WireFront', () => {
  test('closes a connection idle past the keep-alive time, and hands over the bytes of a request it does not take', async () => {
    const handed: Buffer[] = [];
    const front = new WireFront({
      answer: (req) => (req.url === '/fast' ? { status: 200, headers: ['Content-Length', '2'], body: Buffer.from('ok') } : null),
      storeSets: () => [],
      handOff: (socket) => {
        socket.on('data', (d: Buffer) => {
          handed.push(d);
          socket.end('handed');
        });
      },
      keepAliveMs: 200,
    });
    const server = net.createServer((s) => front.accept(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const idle = net.connect(port, '127.0.0.1');
      idle.on('error', () => {});
      let idleText = '';
      idle.on('data', (d: Buffer) => (idleText += d.toString('latin1')));
      const idleClosed = new Promise<number>((resolve) => idle.on('close', () => resolve(Date.now())));
      const sent = Date.now();
      idle.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
      const closedAt = await idleClosed;
      assert.match(idleText, /^HTTP\/1\.1 200 OK\r\nContent-Length: 2\r\nDate: .*\r\nConnection: keep-alive\r\nKeep-Alive: timeout=0\r\n\r\nok$/);
      assert.ok(closedAt - sent >= 150, 'not before the keep-alive time');
      for (let i = 0; i < 100 && front.size > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(front.size, 0, 'no longer held');

      const slow = 'POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz';
      const got = await transcript(port, [`GET /fast HTTP/1.1\r\nHost: x\r\n\r\n${slow}`]);
      assert.match(got, /\r\n\r\nokhanded$/);
      assert.equal(Buffer.concat(handed).toString('latin1'), slow, 'exactly the bytes from the request not taken');
    } finally {
      front.destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
