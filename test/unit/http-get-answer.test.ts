import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Commands } from '../../src/api/commands.js';
import { goTimeString } from '../../src/go-time.js';
import type { HttpDeps } from '../../src/api/http/context.js';
import { getAnswer, tryFastGet } from '../../src/api/http/get-answer.js';
import { Store } from '../../src/store/store.js';
import { SERVER_HEADER } from '../../src/version.js';

/** The fast path reads only these of the HTTP dependencies (tokens and passwords are Koa's business). */
type FastPathDeps = Pick<HttpDeps, 'commands' | 'responseHost' | 'limits' | 'cors'>;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers: opts.headers ?? {}, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
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
    responseHost: () => '127.0.0.1:7721',
    limits: { maxKeyLength: 250, maxValueSize: 1024 },
    cors: { enabled: false, origin: '*' },
  };
  const deps = fast as HttpDeps;
  /** What the fast path declined, as Koa would then see it. */
  const declined: string[] = [];
  const server = http.createServer((req, res) => {
    if (tryFastGet(deps, req, res)) return;
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
