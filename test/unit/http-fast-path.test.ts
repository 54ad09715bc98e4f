import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Commands } from '../../src/api/commands.js';
import { goTimeString } from '../../src/go-time.js';
import type { HttpDeps } from '../../src/api/http/context.js';
import { tryFastPath } from '../../src/api/http/fast-path.js';
import { createHttpApp } from '../../src/api/http/app.js';
import { getAnswer } from '../../src/api/http/get-answer.js';
import { HttpServer } from '../../src/api/http/server.js';
import { TokenService } from '../../src/api/http/tokens.js';
import { Store } from '../../src/store/store.js';
import { SERVER_HEADER } from '../../src/version.js';
import { unitHttpDeps } from '../helpers/http-deps.js';

/** The fast path reads only these of the HTTP dependencies (passwords are Koa's business). */
type FastPathDeps = Pick<HttpDeps, 'commands' | 'tokens' | 'responseHost' | 'limits' | 'cors'>;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** Names and values as sent, in order and case. */
  rawHeaders: string[];
  body: Buffer;
}

function send(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: opts.headers ?? {}, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('HTTP GET fast path', () => {
  const store = new Store({ nodeId: 'unit' });
  const fast: FastPathDeps = {
    commands: new Commands(store, { maxKeyLength: 250, maxValueSize: 1024 }),
    tokens: new TokenService('secret-for-the-unit-test-0123456789', 'pw', 0),
    responseHost: () => '127.0.0.1:7721',
    limits: { maxKeyLength: 250, maxValueSize: 1024 },
    cors: { enabled: false, origin: '*' },
  };
  const deps = fast as HttpDeps;
  /** What the fast path declined, as Koa would then see it. */
  const declined: string[] = [];
  const server = http.createServer((req, res) => {
    if (tryFastPath(deps, req, res)) return;
    declined.push(`${req.method} ${req.url}`);
    res.statusCode = 299;
    res.end('not taken');
  });
  let port = 0;

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    store.set('k', Buffer.from('hello'));
    store.set('bin', Buffer.from([0xff, 0x00, 0xfe]));
    store.set('你好', Buffer.from('unicode'));
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("a stored key: the raw value with OwlCache's headers, the same as the Koa route's answer", async () => {
    const r = await send(port, 'GET', '/data/?cmd=get&key=k');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    const e = store.peek('k')!;
    assert.equal(r.headers.key, 'k');
    assert.equal(r.headers.keycreatetime, goTimeString(e.created));
    assert.equal(r.headers.responsehost, '127.0.0.1:7721');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['content-length'], '5');
    assert.equal(r.headers.server, SERVER_HEADER);
    const koa = getAnswer(deps, 'k');
    for (const [name, value] of Object.entries(koa.headers)) assert.equal(r.headers[name.toLowerCase()], value, name);
    const noSlash = await send(port, 'GET', '/data?key=k&cmd=get');
    assert.equal(noSlash.body.toString(), 'hello');
  });

  test('binary values are octet-stream; a missing key is 404 with an empty body', async () => {
    const bin = await send(port, 'GET', '/data/?cmd=get&key=bin');
    assert.equal(bin.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(bin.body, Buffer.from([0xff, 0x00, 0xfe]));
    const missing = await send(port, 'GET', '/data/?cmd=get&key=nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.length, 0);
    assert.equal(missing.headers.key, 'nope');
    assert.equal(missing.headers['content-length'], '0');
  });

  test('HEAD answers the headers without the body; escaped keys go through the full query parser', async () => {
    const head = await send(port, 'HEAD', '/data/?cmd=get&key=k');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body.length, 0);
    const escaped = await send(port, 'GET', `/data/?cmd=get&key=${encodeURIComponent('你好')}`);
    assert.equal(escaped.body.toString(), 'unicode');
    assert.equal(escaped.headers.key, encodeURIComponent('你好'));
    const escapedCmd = await send(port, 'GET', '/data/?cmd=%67et&key=k');
    assert.equal(escapedCmd.body.toString(), 'hello');
  });

  test('CORS headers when enabled', async () => {
    fast.cors = { enabled: true, origin: 'https://example.test' };
    try {
      const r = await send(port, 'GET', '/data/?cmd=get&key=k');
      assert.equal(r.headers['access-control-allow-origin'], 'https://example.test');
      assert.equal(r.headers['access-control-allow-methods'], 'GET, POST, HEAD, OPTIONS');
    } finally {
      fast.cors = { enabled: false, origin: '*' };
    }
  });

  test('anything but a bodiless GET/HEAD of cmd=get is left to Koa', async () => {
    declined.length = 0;
    const cases: [string, string, { headers?: Record<string, string>; body?: string }?][] = [
      ['POST', '/data/?cmd=get&key=k'],
      ['GET', '/data/?cmd=set&key=k&valuedata=x'],
      ['GET', '/data/?key=k'],
      ['GET', '/datax/?cmd=get&key=k'],
      ['GET', '/cluster/?cmd=get&key=k'],
      ['GET', '/data/?cmd=get&key=k', { headers: { 'Content-Length': '5' }, body: 'abcde' }],
      ['GET', '/data/?cmd=get&key=k', { headers: { 'Transfer-Encoding': 'chunked' }, body: 'abc' }],
    ];
    for (const [method, path, opts] of cases) {
      const r = await send(port, method, path, opts);
      assert.equal(r.status, 299, `${method} ${path} ${JSON.stringify(opts ?? {})}`);
    }
    assert.equal(declined.length, cases.length);
  });
});

/** Keys whose JSON or header form needs escaping. */
const AWKWARD_KEYS = [
  'quote"d',
  'back\\slash',
  'ctl\u0001\u001f',
  'line\nbreak',
  'tab\there',
  '你好',
  'ключ',
  'emoji😀',
  'sep\u2028',
  'space key',
  '</script>',
];

describe('HTTP write fast path', () => {
  /** Two nodes given the same requests: one with the fast path in front of Koa, one with Koa alone. */
  const limits = { maxKeyLength: 250, maxValueSize: 1024 };
  const tokens = new TokenService('secret-for-the-unit-test-0123456789', 'pw', 0);
  const depsOn = (store: Store): HttpDeps => unitHttpDeps(store, tokens, limits);
  const store = new Store({ nodeId: 'unit' });
  const deps = depsOn(store);
  let fastTaken = 0;
  const withFast = new HttpServer(createHttpApp(deps), {
    host: '127.0.0.1',
    port: 0,
    fastPath: (req, res) => {
      const answered: boolean = tryFastPath(deps, req, res);
      if (answered) fastTaken++;
      return answered;
    },
  });
  const koaDeps = depsOn(new Store({ nodeId: 'unit' }));
  const koaOnly = new HttpServer(createHttpApp(koaDeps), { host: '127.0.0.1', port: 0 });
  let fastPort = 0;
  let koaPort = 0;
  let token = '';

  before(async () => {
    fastPort = (await withFast.listen()).port;
    koaPort = (await koaOnly.listen()).port;
    token = await tokens.issue('127.0.0.1');
  });
  after(async () => {
    await withFast.close();
    await koaOnly.close();
  });

  /**
   * The answer's bytes, headers in their order and case, with the parts that
   * differ between two writes (the date, the create time and so the length)
   * replaced by placeholders.
   */
  const comparable = (a: Answer) => {
    assert.equal(Number(a.headers['content-length']), a.body.length);
    const headers: string[] = [];
    for (let i = 0; i < a.rawHeaders.length; i += 2) {
      const name = a.rawHeaders[i]!;
      if (['date', 'connection', 'keep-alive', 'content-length'].includes(name.toLowerCase())) continue;
      headers.push(`${name}: ${name.toLowerCase() === 'keycreatetime' ? '<time>' : a.rawHeaders[i + 1]}`);
    }
    const body = a.body.toString('latin1').replace(/"KeyCreateTime":"[^"]*"/, '"KeyCreateTime":"<time>"');
    return { status: a.status, headers, body };
  };

  test('a token not seen yet goes through Koa; once verified, writes are answered before Koa with the same bytes', async () => {
    fastTaken = 0;
    const first = await send(fastPort, 'GET', `/data/?cmd=set&key=a&valuedata=1&token=${encodeURIComponent(token)}`);
    assert.equal(first.status, 200);
    assert.equal((await send(koaPort, 'GET', `/data/?cmd=set&key=a&valuedata=1&token=${encodeURIComponent(token)}`)).status, 200);
    assert.equal(fastTaken, 0, 'an unknown token is verified by the Koa route');
    const cases = [
      `/data/?cmd=set&key=a&valuedata=hello&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=b&valuedata=x&exptime=100&token=${encodeURIComponent(token)}`,
      `/data/?cmd=expire&key=b&exptime=0&token=${encodeURIComponent(token)}`,
      `/data/?cmd=expire&key=absent&exptime=5&token=${encodeURIComponent(token)}`,
      `/data/?cmd=delete&key=a&token=${encodeURIComponent(token)}`,
      `/data/?cmd=delete&key=a&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=&valuedata=x&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=big&valuedata=${'v'.repeat(2000)}&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=bad&valuedata=x&exptime=soon&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=neg&valuedata=x&exptime=-1&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=${'k'.repeat(300)}&valuedata=x&token=${encodeURIComponent(token)}`,
      ...AWKWARD_KEYS.map((key) => `/data/?cmd=set&key=${encodeURIComponent(key)}&valuedata=x&exptime=60&token=${encodeURIComponent(token)}`),
      ...AWKWARD_KEYS.map((key) => `/data/?cmd=expire&key=${encodeURIComponent(key)}&exptime=5&token=${encodeURIComponent(token)}`),
      ...AWKWARD_KEYS.map((key) => `/data/?cmd=delete&key=${encodeURIComponent(key)}&token=${encodeURIComponent(token)}`),
      `/data/?cmd=set&key=a+b&valuedata=x+y&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=%zz%&valuedata=%&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=rep&key=second&valuedata=&valuedata=other&token=${encodeURIComponent(token)}`,
      `/data/?cmd=set&key=bin&valuedata=%FF%00%FE&token=${encodeURIComponent(token)}`,
    ];
    const statuses = new Set<number>();
    for (const path of cases) {
      const before: number = fastTaken;
      const fast = await send(fastPort, 'GET', path);
      statuses.add(fast.status);
      assert.equal(fastTaken, before + 1, `taken by the fast path: ${path.slice(0, 60)}`);
      const koa = await send(koaPort, 'GET', path);
      assert.deepEqual(comparable(fast), comparable(koa), path.slice(0, 60));
    }
    assert.deepEqual([...statuses].sort(), [200, 404, 413, 500], 'successes, misses and both refusals compared');
    assert.equal(store.get('b')?.expireAt, 0, 'the writes took effect');
    const bearer = await send(fastPort, 'GET', '/data/?cmd=set&key=c&valuedata=y', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(bearer.status, 200);
    assert.equal(store.get('c')?.value?.toString(), 'y');
  });

  test('refused writes (read-only: 500 with the reason) answer the same bytes on both paths; a failing command answers the same 500 envelope', async () => {
    const path = `/data/?cmd=set&key=${encodeURIComponent('ro "key"')}&valuedata=x&token=${encodeURIComponent(token)}`;
    for (const d of [deps, koaDeps]) d.commands.refuseWrites('read-only for the test');
    try {
      const before: number = fastTaken;
      const fast = await send(fastPort, 'GET', path);
      assert.equal(fastTaken, before + 1);
      const koa = await send(koaPort, 'GET', path);
      assert.equal(fast.status, 500);
      assert.match(fast.body.toString(), /"Message":"read-only for the test"/);
      assert.deepEqual(comparable(fast), comparable(koa));
    } finally {
      for (const d of [deps, koaDeps]) d.commands.refuseWrites(null);
    }
    const failing = () => {
      throw new Error('the store failed (unit test)');
    };
    const sets = [deps.commands.set, koaDeps.commands.set] as const;
    deps.commands.set = failing;
    koaDeps.commands.set = failing;
    try {
      const fast = await send(fastPort, 'GET', path);
      const koa = await send(koaPort, 'GET', path);
      assert.equal(fast.status, 500);
      assert.equal(koa.status, 500);
      assert.equal(fast.body.toString(), koa.body.toString());
      assert.equal(
        fast.body.toString(),
        '{"Cmd":"","Status":500,"Results":"ERROR","Key":"","Data":null,"ResponseHost":"127.0.0.1:7721","KeyCreateTime":"0001-01-01T00:00:00Z","Message":"internal error"}',
      );
    } finally {
      deps.commands.set = sets[0];
      koaDeps.commands.set = sets[1];
    }
  });

  test('a wrong token, another address or a body leaves the request to Koa, which refuses or reads it', async () => {
    const takenBefore: number = fastTaken;
    const wrong = await send(fastPort, 'GET', '/data/?cmd=set&key=w&valuedata=1&token=nope');
    assert.equal(wrong.status, 401);
    const posted = await send(fastPort, 'POST', `/data/?cmd=set&key=p&token=${encodeURIComponent(token)}`, {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'valuedata=posted',
    });
    assert.equal(posted.status, 200);
    assert.equal(store.get('p')?.value?.toString(), 'posted');
    assert.equal(fastTaken, takenBefore);
    assert.equal(tokens.knownVerdict(token, '10.0.0.9'), false, 'bound to the address it was issued to');
    assert.equal(store.get('w'), undefined);
  });
});
