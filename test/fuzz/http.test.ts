import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import fc from 'fast-check';
import { unauthenticatedBodyLimit } from '../../src/api/http/context.js';
import { TEST_PASSWORD, freePort, getToken, qs, request, startNode, stopAllNodes, type HttpResult, type NodeHandle } from '../helpers/node-process.js';
import {
  CONTENT_TYPES,
  CaseCounter,
  DATA_CMDS,
  STACK_ON_WIRE,
  assertCanary,
  assertHealthy,
  badTokenArb,
  bytesArb,
  digestOf,
  exchange,
  fcParams,
  keepAliveAgent,
  multipartArb,
  plantCanary,
  rawQueryArb,
  runs,
  textArb,
  type Canary,
} from './fuzz-helpers.js';

/**
 * The HTTP surfaces of one long-lived node (owlcache mode): /data/, /server/,
 * /group_data/, /cluster/, unknown paths, and raw bytes that are barely HTTP.
 * Every answer must be the protocol's own (envelope with the right Status on
 * /data/, HTTP 200 + body Status on /server/), in time, without a stack trace;
 * afterwards the node runs, answers, and unauthenticated input changed nothing
 * (canary key and digest root). Every answer of the session is kept and checked
 * for the node's password and the /server/ passwords added.
 */

/** The node's MaxKeyLength and MaxValueSize below: bodies past this are read only with a token outside them. */
const PREAUTH_BODY = unauthenticatedBodyLimit({ maxKeyLength: 512, maxValueSize: 64 * 1024 });
const counter = new CaseCounter('HTTP');
let node: NodeHandle;
let token: string;
let agent: http.Agent;
let canary: Canary;
let digest: string;
/** Every response body and header block of the session, for the password check. */
const answers: string[] = [];
/** The `pass` values given to /server/ add. */
const serverPasses = new Set<string>();

const ENVELOPE_FIELDS = ['Cmd', 'Status', 'Results', 'Key', 'Data', 'ResponseHost', 'KeyCreateTime'];
const RESULTS: Record<number, string> = { 200: 'SUCCESS', 401: 'NOT_PASS', 404: 'NOT_FOUND', 413: 'ERROR', 500: 'ERROR', 501: 'UNKNOWN_COMMAND' };

async function send(path: string, opts: { method?: string; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<HttpResult> {
  let r: HttpResult;
  try {
    r = await request(node.httpPort, path, { ...opts, agent, timeoutMs: 8000 });
  } catch (err) {
    // A reused keep-alive socket the server had just closed: once more on a fresh connection.
    if (!/socket hang up|ECONNRESET|EPIPE/.test(String(err))) throw err;
    if (path.length > 16 * 1024) {
      // Past Node's header limit (16 KiB) the server answers 431 and drops the connection while the request is still being written.
      return { status: 431, headers: {}, body: Buffer.alloc(0), text: '', json: () => ({}) as never };
    }
    try {
      r = await request(node.httpPort, path, { ...opts, timeoutMs: 8000 });
    } catch (again) {
      throw new Error(
        `${String(again)} on ${opts.method ?? 'GET'} ${path.slice(0, 300)} (${opts.body?.length ?? 0} body bytes; node exit ${node.proc.exitCode}):\n${node.stderr().slice(-3000)}`,
      );
    }
  }
  answers.push(`${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`);
  assert.doesNotMatch(r.text, STACK_ON_WIRE, `stack trace on the wire for ${path.slice(0, 200)}`);
  return r;
}

/** qs with strings sent as their UTF-8 bytes (lone surrogates become U+FFFD, as a browser sends them). */
function sqs(params: Record<string, string | number | Buffer | undefined>): string {
  const out: Record<string, string | number | Buffer | undefined> = {};
  for (const [k, v] of Object.entries(params)) out[k] = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  return qs(out);
}

const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

function isJson(r: HttpResult): boolean {
  return String(r.headers['content-type'] ?? '').startsWith('application/json');
}

/** A /data/ envelope: the original's fields in order, HTTP status = Status, Results matching. */
function checkEnvelope(r: HttpResult, what: string): { Cmd: string; Status: number; Key: string; Data: unknown } {
  const e = r.json<Record<string, unknown>>();
  assert.deepEqual(Object.keys(e).slice(0, 7), ENVELOPE_FIELDS, `${what}: envelope fields ${Object.keys(e).join(',')}`);
  assert.equal(r.status, e.Status, `${what}: HTTP ${r.status} but Status ${String(e.Status)}`);
  assert.equal(e.Results, RESULTS[e.Status as number], `${what}: Results ${String(e.Results)} for ${String(e.Status)}`);
  return e as { Cmd: string; Status: number; Key: string; Data: unknown };
}

async function unchanged(what: string): Promise<void> {
  await assertHealthy(node, what, agent);
  await assertCanary(node, canary, what);
  assert.equal(await digestOf(node, token), digest, `${what}: the store's digest changed`);
}

before(async () => {
  node = await startNode({ settings: { MaxValueSize: '64kb', MaxKeyLength: 512, HttpClientRequestTimeout: 300, RespPort: 0 } });
  agent = keepAliveAgent();
  token = await getToken(node.httpPort);
  canary = await plantCanary(node, token);
  digest = await digestOf(node, token);
});

after(async () => {
  agent?.destroy();
  await stopAllNodes();
  counter.report();
});

describe('HTTP fuzz', () => {
  test('/data/ with every command and hostile parameters, without a valid token: the right Status, nothing changed', async () => {
    const caseArb = fc.record({
      cmd: fc.oneof(fc.constantFrom(...DATA_CMDS), textArb),
      key: fc.option(textArb),
      valuedata: fc.option(
        fc.oneof(
          bytesArb(64),
          textArb.map((s) => Buffer.from(s)),
        ),
      ),
      exptime: fc.option(fc.oneof(fc.constantFrom('-1', '0', '10', '99999999999', 'abc', '1.5'), textArb)),
      token: fc.option(badTokenArb(token)),
      tokenName: fc.constantFrom('token', 'owl_token'),
      post: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /data/ (commands, no valid token)');
        // Strings go as their UTF-8 bytes (lone surrogates become U+FFFD, as a browser would send them).
        const b = (s: string | null) => (s === null ? undefined : Buffer.from(s, 'utf8'));
        const params: Record<string, Buffer | undefined> = { cmd: b(c.cmd), key: b(c.key), valuedata: c.valuedata ?? undefined, exptime: b(c.exptime) };
        if (c.token !== null) params[c.tokenName] = b(c.token);
        const q = sqs(params);
        const r = c.post
          ? await send('/data/', { method: 'POST', body: q, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
          : await send(`/data/?${q}`);
        if (r.status === 431 || r.status === 414) return; // a URL past Node's header limit: refused before the app
        const what = `cmd=${JSON.stringify(c.cmd.slice(0, 40))}`;
        if (c.post && q.length > 3 * 64 * 1024 + 64 * 1024 + 512) {
          // A form body past the limit is refused before it is read: 413 when its length is declared, else 401
          // once it passes the unauthenticated read limit (these bodies are sent chunked and carry no valid token).
          assert.ok([401, 413].includes(checkEnvelope(r, what).Status), r.text);
          return;
        }
        if (c.post && q.length > PREAUTH_BODY) {
          // Past the unauthenticated read limit with no valid token outside the body: 401 unread, whatever the command.
          assert.equal(checkEnvelope(r, what).Status, 401);
          return;
        }
        switch (utf8(c.cmd)) {
          case 'get':
            assert.ok(r.status === 404 || r.status === 200, `${what}: ${r.status}`);
            assert.equal(r.headers.responsehost, node.httpAddr);
            return;
          case 'ping':
            assert.equal(r.status, 200);
            assert.deepEqual(r.body, c.valuedata && c.valuedata.length > 0 ? c.valuedata : Buffer.from('PONG'));
            return;
          case 'set':
          case 'expire':
          case 'delete':
          case 'pass': {
            const e = checkEnvelope(r, what);
            assert.equal(e.Status, 401, `${what} without a valid token: ${r.text.slice(0, 300)}`);
            assert.equal(e.Data, null);
            return;
          }
          case 'exist':
            assert.equal(checkEnvelope(r, what).Status, 404);
            return;
          default: {
            const e = checkEnvelope(r, what);
            assert.equal(e.Status, 501, `${what}: ${r.text.slice(0, 300)}`);
            assert.equal(e.Cmd, utf8(c.cmd));
          }
        }
      }),
      fcParams(runs(700), true),
    );
    await unchanged('/data/ commands');
  });

  test('/data/ with raw queries, bad percent-encodings, duplicate names, any method, content type and body', async () => {
    const caseArb = fc.record({
      path: fc.constantFrom('/data/', '/data', '/data//', '/DATA/', '/data/x'),
      query: rawQueryArb,
      method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
      type: fc.constantFrom(...CONTENT_TYPES),
      body: fc.oneof(
        fc.constant(undefined),
        bytesArb(200),
        rawQueryArb.map((s) => Buffer.from(s, 'latin1')),
        multipartArb,
        fc.constant(Buffer.alloc(70 * 1024, 0x61)),
      ),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /data/ (raw queries and bodies)');
        const headers: Record<string, string> = {};
        if (c.type !== '') headers['Content-Type'] = c.type;
        const withBody = c.body !== undefined && c.method !== 'GET' && c.method !== 'HEAD';
        // Content-Length when the body is sent, half the time (else chunked); never a length without its body.
        if (withBody && c.body!.length % 2 === 0) headers['Content-Length'] = String(c.body!.length);
        let r: HttpResult;
        try {
          r = await send(`${c.path}?${c.query}`, { method: c.method, headers, ...(withBody ? { body: c.body } : {}) });
        } catch (err) {
          // A body over the limit is answered 413 without being read, and the connection closed: the client may see the close first.
          if (withBody && c.body!.length > 64 * 1024 && /ECONNRESET|EPIPE|socket hang up/.test(String(err))) return;
          throw err;
        }
        if (c.method === 'HEAD' || !isJson(r)) {
          assert.ok(
            [200, 204, 400, 401, 404, 405, 413, 431, 500, 501].includes(r.status),
            `${c.method} ${c.path}?${c.query.slice(0, 100)}: ${r.status} ${r.text.slice(0, 200)}`,
          );
          // A /data/ miss has an empty body; a path no route knows gets Koa's plain "Not Found".
          if (r.status === 404) assert.ok(r.body.length === 0 || r.text === 'Not Found', `404 with ${JSON.stringify(r.text.slice(0, 100))}`);
          return;
        }
        if (!c.path.toLowerCase().startsWith('/data')) return;
        const e = checkEnvelope(r, `${c.method} ${c.path}?${c.query.slice(0, 100)}`);
        // Without a valid token nothing may succeed but a read.
        assert.ok([401, 404, 413, 500, 501].includes(e.Status), `unexpected Status ${e.Status}: ${r.text.slice(0, 300)}`);
      }),
      fcParams(runs(900), true),
    );
    await unchanged('/data/ raw');
  });

  test('/server/ without a valid token: HTTP 200 and Status 401 (or 500 for an unreadable body), lists unchanged', async () => {
    const before = await send(`/server/?${sqs({ cmd: 'getall', token })}`);
    const caseArb = fc.record({
      query: rawQueryArb,
      cmd: fc.constantFrom('getall', 'get', 'add', 'delete', 'x', ''),
      token: fc.option(badTokenArb(token)),
      post: fc.boolean(),
      type: fc.constantFrom(...CONTENT_TYPES),
      body: fc.oneof(bytesArb(100), multipartArb),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /server/ (no valid token)');
        const q = `${sqs({ cmd: c.cmd, address: '127.0.0.1:9', pass: 'never-stored-0123', ...(c.token === null ? {} : { token: c.token }) })}&${c.query}`;
        const r = c.post ? await send(`/server/?${q}`, { method: 'POST', body: c.body, headers: { 'Content-Type': c.type } }) : await send(`/server/?${q}`);
        if (r.status === 431) return;
        assert.equal(r.status, 200, `/server/ answered HTTP ${r.status}: ${r.text.slice(0, 200)}`);
        const b = r.json<{ Status: number; Results: string; Data: unknown }>();
        assert.ok(b.Status === 401 || b.Status === 500, `/server/ without a valid token: Status ${b.Status} ${r.text.slice(0, 300)}`);
        assert.equal(b.Data, null);
      }),
      fcParams(runs(350), true),
    );
    const afterwards = await send(`/server/?${sqs({ cmd: 'getall', token })}`);
    assert.equal(afterwards.text, before.text, 'the server list changed without a token');
    await unchanged('/server/ without token');
  });

  test('/server/ with a valid token and hostile addresses: HTTP 200, a known Status, passwords never sent back', async () => {
    const port = await freePort();
    const addressArb = fc.oneof(
      fc.constantFrom(
        `127.0.0.1:${port}`,
        `http://127.0.0.1:${port}`,
        `http://127.0.0.1:${port}/`,
        `HTTP://127.0.0.1:${port}`,
        '127.0.0.1:0',
        '127.0.0.1:65536',
        '[::1]:99999',
        '',
        ' ',
        'a b:1',
        '127.0.0.1:1/x',
        'ftp://127.0.0.1:1',
        '127.0.0.1',
      ),
      // Only strings that cannot name a reachable host: spaces, paths or user names make checkAddress refuse them.
      textArb.map((s) => `bad address ${s}`),
      textArb.map((s) => `127.0.0.1:1/${s}`),
    );
    const caseArb = fc.record({
      cmd: fc.constantFrom('getall', 'get', 'add', 'add', 'delete', 'x', ''),
      address: addressArb,
      pass: fc.oneof(
        fc.string({ minLength: 12, maxLength: 24 }).map((s) => `pw-${s}-${Math.random().toString(36).slice(2, 10)}`),
        fc.constant(''),
      ),
      group: fc.constantFrom('', 'owlcache', 'gossip', 'other'),
      post: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /server/ (valid token)');
        if (c.cmd === 'add' && c.pass.length >= 8) serverPasses.add(c.pass);
        const q = sqs({ cmd: c.cmd, address: c.address, pass: c.pass, group_type: c.group, token });
        const r = c.post
          ? await send('/server/', { method: 'POST', body: q, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
          : await send(`/server/?${q}`);
        if (r.status === 431) return;
        assert.equal(r.status, 200);
        const b = r.json<{ Cmd: string; Status: number; Data: unknown }>();
        assert.ok([200, 404, 500, 501].includes(b.Status), `Status ${b.Status}: ${r.text.slice(0, 300)}`);
        if (c.group === 'other') assert.equal(b.Status, 500);
        if (c.cmd === 'add' || c.cmd === 'delete') assert.equal(b.Cmd, '');
        const list = Array.isArray(b.Data) ? b.Data : b.Data === null ? [] : [b.Data];
        for (const e of list as { Pass?: unknown }[]) assert.equal(e.Pass, '', 'a password was sent back');
      }),
      fcParams(runs(350), true),
    );
    await unchanged('/server/ with token');
  });

  test('/group_data/ with hostile parameters: 501/404 with an empty body, or a value', async () => {
    const caseArb = fc.record({
      query: rawQueryArb,
      cmd: fc.constantFrom('get', 'get', 'set', '', 'x'),
      key: textArb,
      info: fc.boolean(),
      target: fc.option(fc.oneof(textArb, fc.constantFrom(node.httpAddr, '127.0.0.1:1', 'http://127.0.0.1:1', 'evil.example:80', '[::1]:1')), {
        nil: undefined,
      }),
      post: fc.boolean(),
      type: fc.constantFrom(...CONTENT_TYPES),
      body: fc.oneof(bytesArb(100), multipartArb),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /group_data/');
        const q = `${sqs({ cmd: c.cmd, key: c.key, valuedata: c.info ? 'info' : undefined, target: c.target })}&${c.query}`;
        const r = c.post
          ? await send(`/group_data/?${q}`, { method: 'POST', body: c.body, headers: { 'Content-Type': c.type } })
          : await send(`/group_data/?${q}`);
        if (r.status === 431) return;
        if (isJson(r) && r.status !== 200) {
          checkEnvelope(r, 'group_data body error');
          return;
        }
        assert.ok([200, 404, 501].includes(r.status), `/group_data/: ${r.status} ${r.text.slice(0, 200)}`);
        if (r.status !== 200) assert.equal(r.body.length, 0);
      }),
      fcParams(runs(300), true),
    );
    await unchanged('/group_data/');
  });

  test('/cluster/, /internal/ (owlcache mode) and unknown paths: refused without a valid token, never a crash', async () => {
    const caseArb = fc.record({
      path: fc.oneof(
        fc.constantFrom(
          '/cluster/status',
          '/cluster/members',
          '/cluster/',
          '/internal/entry',
          '/internal/sync',
          '/',
          '/favicon.ico',
          '/%',
          '/%00',
          '/data/../server/',
          '//data/',
        ),
        textArb.map((s) => `/${encodeURIComponent(s)}`),
      ),
      query: rawQueryArb,
      token: fc.option(badTokenArb(token)),
      method: fc.constantFrom('GET', 'POST', 'HEAD', 'PUT'),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP other paths');
        const q = `${c.query}${c.token === null ? '' : `&${sqs({ token: c.token })}`}`;
        const r = await send(`${c.path}?${q}`, { method: c.method });
        if (c.path.startsWith('/cluster/') && r.status === 200) assert.fail(`${c.path} answered 200 without a valid token`);
        assert.ok(r.status < 500 || r.status === 501, `${c.method} ${c.path}: ${r.status} ${r.text.slice(0, 200)}`);
      }),
      fcParams(runs(250), true),
    );
    await unchanged('other paths');
  });

  test('raw bytes that are barely HTTP: an error answer or a clean close, in time', async () => {
    const lineArb = fc.oneof(
      fc.constantFrom(
        'GET /data/?cmd=ping HTTP/1.1',
        'POST /data/ HTTP/1.1',
        'GET / HTTP/9.9',
        'GET  HTTP/1.1',
        'get /data/ http/1.1',
        '\u0000\u0001',
        'GET /data/?cmd=ping HTTP/1.0',
        'POST /server/ HTTP/1.1',
        'PRI * HTTP/2.0',
      ),
      bytesArb(60).map((b) => b.toString('latin1')),
    );
    const headerArb = fc.oneof(
      fc.constantFrom(
        'Host: 127.0.0.1',
        'Content-Length: 5',
        'Content-Length: -1',
        'Content-Length: 99999999999999999999',
        'Content-Length: 10',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: gzip, chunked',
        'Content-Type: multipart/form-data; boundary=XYZ',
        'Content-Type: application/x-www-form-urlencoded',
        'Expect: 100-continue',
        'Connection: close',
        ': empty',
        'X-Bad\u0000: y',
      ),
      bytesArb(40).map((b) => b.toString('latin1')),
    );
    const reqArb = fc.tuple(
      lineArb,
      fc.array(headerArb, { maxLength: 5 }),
      fc.oneof(
        bytesArb(80),
        fc.constantFrom('5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', '--XYZ\r\n', 'cmd=set&key=a&valuedata=b').map((s) => Buffer.from(s)),
      ),
      fc.boolean(),
    );
    await fc.assert(
      fc.asyncProperty(reqArb, async ([line, headers, body, crlf]) => {
        counter.add('HTTP raw request bytes');
        const eol = crlf ? '\r\n' : '\n';
        const head = Buffer.from(`${line}${eol}${headers.join(eol)}${eol}${eol}`, 'latin1');
        const { data } = await exchange(node.httpPort, [head, body], 8000);
        const text = data.toString('latin1');
        answers.push(text);
        if (data.length > 0) assert.match(text, /^HTTP\/1\.[01] \d{3} /, `not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`);
        assert.doesNotMatch(text, STACK_ON_WIRE);
      }),
      fcParams(runs(250), true),
    );
    await unchanged('raw bytes');
  });

  test('/data/ with a valid token: any key and value bytes are stored and read back exactly, or refused with a clear Status', async () => {
    const caseArb = fc.record({
      key: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), textArb),
      value: fc.oneof(bytesArb(300), fc.constant(Buffer.alloc(0))),
      how: fc.constantFrom('query', 'form', 'multipart', 'raw'),
      exptime: fc.constantFrom(undefined, '0', '100', '-1', 'abc'),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('HTTP /data/ (valid token)');
        if (c.key === canary.key) return;
        let r: HttpResult;
        const base = { cmd: 'set', key: c.key, exptime: c.exptime, token };
        // A body past the unauthenticated read limit carries its token in the query string (README "Tokens").
        const tokenIn = (body: string | Buffer) => (body.length > PREAUTH_BODY ? `/data/?${sqs({ token })}` : '/data/');
        if (c.how === 'query') r = await send(`/data/?${sqs({ ...base, valuedata: c.value })}`);
        else if (c.how === 'form') {
          const body = sqs({ ...base, valuedata: c.value });
          r = await send(tokenIn(body), { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
        } else if (c.how === 'raw')
          r = await send(`/data/?${sqs(base)}`, {
            method: 'POST',
            body: c.value,
            headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(c.value.length) },
          });
        else {
          const fields = Object.entries(base)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `--B0UND\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
          const body = Buffer.concat([
            Buffer.from(fields.join('')),
            Buffer.from('--B0UND\r\nContent-Disposition: form-data; name="valuedata"; filename="v"\r\n\r\n'),
            c.value,
            Buffer.from('\r\n--B0UND--\r\n'),
          ]);
          r = await send(tokenIn(body), { method: 'POST', body, headers: { 'Content-Type': 'multipart/form-data; boundary=B0UND' } });
        }
        if (r.status === 431) return;
        const e = checkEnvelope(r, `authenticated set via ${c.how}`);
        const keyBytes = Buffer.byteLength(c.key);
        if (keyBytes > 60 * 1024) {
          // The key alone is past the body limit for forms and multipart (413), or refused as too long (500).
          assert.ok(e.Status === 413 || e.Status === 500, r.text);
          return;
        }
        if (c.key === '' || keyBytes > 512 || c.exptime === '-1') {
          assert.equal(e.Status, 500, r.text);
          return;
        }
        if (c.how === 'multipart' && /[\r\n"]/.test(c.key)) return; // a field name the multipart framing cannot carry
        assert.equal(e.Status, 200, r.text);
        const g = await send(`/data/?${sqs({ cmd: 'get', key: c.key })}`);
        assert.equal(g.status, 200);
        assert.deepEqual(g.body, c.value, `value of ${JSON.stringify(c.key)} via ${c.how} did not round-trip`);
      }),
      fcParams(runs(300), true),
    );
    await assertHealthy(node, 'authenticated /data/', agent);
    await assertCanary(node, canary, 'authenticated /data/');
  });

  test('no answer of the session contains a password', () => {
    assert.ok(answers.length > 1000, `only ${answers.length} answers kept`);
    const secrets = [TEST_PASSWORD, ...serverPasses];
    for (const a of answers) for (const s of secrets) assert.ok(!a.includes(s), `an answer contains a password: ${a.slice(0, 300)}`);
    assert.ok(!node.stdout().includes(TEST_PASSWORD) && !node.stderr().includes(TEST_PASSWORD), 'the node printed its password');
  });
});
