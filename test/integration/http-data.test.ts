import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  TEST_PASSWORD,
  getToken,
  qs,
  request,
  restartNode,
  runToExit,
  sleep,
  startNode,
  stopAllNodes,
  tempDir,
  type NodeHandle,
} from '../helpers/node-process.js';

/** Every row of docs/protocol.md's `/data/` table, success and failure columns, against a real node process. */

let node: NodeHandle;
let token: string;

before(async () => {
  node = await startNode({ settings: { MaxValueSize: '16mb', Cors: 1, Access_Control_Allow_Origin: 'https://example.test' } });
  token = await getToken(node.httpPort);
});
after(stopAllNodes);

const data = (params: Record<string, string | number | Buffer | undefined>, opts = {}) => request(node.httpPort, `/data/?${qs(params)}`, opts);

interface Env {
  Cmd: string;
  Status: number;
  Results: string;
  Key: string;
  Data: unknown;
  ResponseHost: string;
  KeyCreateTime: string;
}

function assertEnvelope(
  r: { status: number; headers: http.IncomingHttpHeaders; json: <T>() => T },
  status: number,
  results: string,
  cmd: string,
  key: string,
): Env {
  const e = r.json<Env>();
  assert.equal(r.status, status, 'HTTP status equals Status');
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8;');
  assert.deepEqual(Object.keys(e).slice(0, 7), ['Cmd', 'Status', 'Results', 'Key', 'Data', 'ResponseHost', 'KeyCreateTime']);
  assert.equal(e.Status, status);
  assert.equal(e.Results, results);
  assert.equal(e.Cmd, cmd);
  assert.equal(e.Key, key);
  assert.equal(e.ResponseHost, `127.0.0.1:${node.httpPort}`);
  assert.match(r.headers.server as string, /^owlcache \d+\.\d+\.\d+/);
  return e;
}

describe('/data/ commands', () => {
  it('pass: right password gives a token with a create time; wrong password is 401 NOT_PASS', async () => {
    const ok = assertEnvelope(await data({ cmd: 'pass', pass: TEST_PASSWORD }), 200, 'SUCCESS', 'pass', '');
    assert.equal(typeof ok.Data, 'string');
    assert.match(ok.KeyCreateTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const jwt = Buffer.from(ok.Data as string, 'base64').toString();
    assert.equal(jwt.split('.').length, 3, 'the token is a base64-wrapped JWT');
    const bad = assertEnvelope(await data({ cmd: 'pass', pass: 'wrong-password-1' }), 401, 'NOT_PASS', 'pass', '');
    assert.equal(bad.Data, null);
    assert.ok(!JSON.stringify(bad).includes(TEST_PASSWORD));
  });

  it('set then get returns the raw bytes with Key / Keycreatetime / Responsehost headers', async () => {
    const set = assertEnvelope(await data({ cmd: 'set', key: 'hello', valuedata: 'world', token }), 200, 'SUCCESS', 'set', 'hello');
    assert.equal(set.Data, '');
    assert.notEqual(set.KeyCreateTime, '0001-01-01T00:00:00Z');
    const get = await data({ cmd: 'get', key: 'hello' });
    assert.equal(get.status, 200);
    assert.equal(get.text, 'world');
    assert.equal(get.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(get.headers.key, 'hello');
    assert.equal(get.headers.responsehost, `127.0.0.1:${node.httpPort}`);
    assert.match(get.headers.keycreatetime as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$/);
    // Same instant in both formats.
    const fromHeader = (get.headers.keycreatetime as string).replace(' +0000 UTC', 'Z').replace(' ', 'T');
    assert.equal(fromHeader, set.KeyCreateTime);
  });

  it('get on a missing key: 404, empty body, same headers with zero time', async () => {
    const r = await data({ cmd: 'get', key: 'nope' });
    assert.equal(r.status, 404);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers.key, 'nope');
    assert.equal(r.headers.keycreatetime, '0001-01-01 00:00:00 +0000 UTC');
  });

  it('get ignores valuedata=info; HEAD is GET without a body; /data works without the slash', async () => {
    await data({ cmd: 'set', key: 'h', valuedata: 'abc', token });
    assert.equal((await data({ cmd: 'get', key: 'h', valuedata: 'info' })).text, 'abc');
    const head = await data({ cmd: 'get', key: 'h' }, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-length'], '3');
    assert.equal(head.headers.key, 'h');
    assert.equal((await request(node.httpPort, `/data?${qs({ cmd: 'get', key: 'h' })}`)).text, 'abc');
  });

  it('set without or with a bad token is 401 and stores nothing', async () => {
    assertEnvelope(await data({ cmd: 'set', key: 'nt', valuedata: 'x' }), 401, 'NOT_PASS', 'set', 'nt');
    assertEnvelope(await data({ cmd: 'set', key: 'nt', valuedata: 'x', token: 'garbage' }), 401, 'NOT_PASS', 'set', 'nt');
    const forged = Buffer.from('eyJhbGciOiJub25lIn0.eyJpcCI6IjEyNy4wLjAuMSJ9.').toString('base64');
    assertEnvelope(await data({ cmd: 'set', key: 'nt', valuedata: 'x', token: forged }), 401, 'NOT_PASS', 'set', 'nt');
    assert.equal((await data({ cmd: 'get', key: 'nt' })).status, 404);
  });

  it('owl_token works as an alias, and the bare JWT is accepted too', async () => {
    assertEnvelope(await data({ cmd: 'set', key: 'alias', valuedata: '1', owl_token: token }), 200, 'SUCCESS', 'set', 'alias');
    const jwt = Buffer.from(token, 'base64').toString();
    assertEnvelope(await data({ cmd: 'set', key: 'alias', valuedata: '2', token: jwt }), 200, 'SUCCESS', 'set', 'alias');
    assert.equal((await data({ cmd: 'get', key: 'alias' })).text, '2');
  });

  it('a token from another client address is refused', async () => {
    const other = await getToken(node.httpPort, TEST_PASSWORD, '127.0.0.2');
    assertEnvelope(await data({ cmd: 'set', key: 'ip', valuedata: 'x', token: other }), 401, 'NOT_PASS', 'set', 'ip');
    assertEnvelope(await data({ cmd: 'set', key: 'ip', valuedata: 'x', token: other }, { localAddress: '127.0.0.2' }), 200, 'SUCCESS', 'set', 'ip');
    assertEnvelope(await data({ cmd: 'set', key: 'ip', valuedata: 'x', token }, { localAddress: '127.0.0.2' }), 401, 'NOT_PASS', 'set', 'ip');
  });

  it('set: negative exptime is 500 and nothing stored; non-numeric exptime means forever; exptime expires', async () => {
    const neg = assertEnvelope(await data({ cmd: 'set', key: 'neg', valuedata: 'x', exptime: -5, token }), 500, 'ERROR', 'set', 'neg');
    assert.equal(neg.Data, null);
    assert.equal((await data({ cmd: 'get', key: 'neg' })).status, 404);
    assertEnvelope(await data({ cmd: 'set', key: 'nn', valuedata: 'x', exptime: 'soon', token }), 200, 'SUCCESS', 'set', 'nn');
    assertEnvelope(await data({ cmd: 'set', key: 'short', valuedata: 'x', exptime: 1, token }), 200, 'SUCCESS', 'set', 'short');
    assert.equal((await data({ cmd: 'get', key: 'short' })).status, 200);
    await sleep(1300);
    assert.equal((await data({ cmd: 'get', key: 'short' })).status, 404);
    assert.equal((await data({ cmd: 'get', key: 'nn' })).status, 200);
  });

  it('expire: sets a time, 0 makes permanent, missing key 404, no token 401', async () => {
    await data({ cmd: 'set', key: 'e', valuedata: 'x', token });
    assertEnvelope(await data({ cmd: 'expire', key: 'e', exptime: 1, token }), 200, 'SUCCESS', 'expire', 'e');
    assertEnvelope(await data({ cmd: 'expire', key: 'e', exptime: 0, token }), 200, 'SUCCESS', 'expire', 'e');
    await sleep(1200);
    assert.equal((await data({ cmd: 'get', key: 'e' })).status, 200, 'exptime 0 made it permanent');
    assertEnvelope(await data({ cmd: 'expire', key: 'missing', exptime: 5, token }), 404, 'NOT_FOUND', 'expire', 'missing');
    assertEnvelope(await data({ cmd: 'expire', key: 'e', exptime: 5 }), 401, 'NOT_PASS', 'expire', 'e');
  });

  it('delete: removes, then 404; no token 401', async () => {
    await data({ cmd: 'set', key: 'd', valuedata: 'x', token });
    assertEnvelope(await data({ cmd: 'delete', key: 'd' }), 401, 'NOT_PASS', 'delete', 'd');
    assertEnvelope(await data({ cmd: 'delete', key: 'd', token }), 200, 'SUCCESS', 'delete', 'd');
    assert.equal((await data({ cmd: 'get', key: 'd' })).status, 404);
    assertEnvelope(await data({ cmd: 'delete', key: 'd', token }), 404, 'NOT_FOUND', 'delete', 'd');
  });

  it('exist: 200 or 404 NOT_FOUND', async () => {
    await data({ cmd: 'set', key: 'x1', valuedata: 'x', token });
    assertEnvelope(await data({ cmd: 'exist', key: 'x1' }), 200, 'SUCCESS', 'exist', 'x1');
    assertEnvelope(await data({ cmd: 'exist', key: 'x2' }), 404, 'NOT_FOUND', 'exist', 'x2');
  });

  it('ping: PONG, or the valuedata sent', async () => {
    assert.equal((await data({ cmd: 'ping' })).text, 'PONG');
    assert.equal((await data({ cmd: 'ping', valuedata: 'hi there' })).text, 'hi there');
  });

  it('unknown or missing cmd: 501 UNKNOWN_COMMAND echoing Cmd and Key', async () => {
    assertEnvelope(await data({ cmd: 'frob', key: 'k' }), 501, 'UNKNOWN_COMMAND', 'frob', 'k');
    assertEnvelope(await data({ key: 'k' }), 501, 'UNKNOWN_COMMAND', '', 'k');
  });

  it('an empty value is a value: 200 with Content-Length 0', async () => {
    await data({ cmd: 'set', key: 'empty', valuedata: '', token });
    const r = await data({ cmd: 'get', key: 'empty' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '0');
  });

  it('random binary bytes round-trip exactly: query, urlencoded POST, multipart POST, raw body', async () => {
    const bytes = randomBytes(4096);
    await data({ cmd: 'set', key: 'bin-q', valuedata: bytes, token });
    assert.deepEqual((await data({ cmd: 'get', key: 'bin-q' })).body, bytes);

    await request(node.httpPort, '/data/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: qs({ cmd: 'set', key: 'bin-form', valuedata: bytes, token }),
    });
    assert.deepEqual((await data({ cmd: 'get', key: 'bin-form' })).body, bytes);

    const boundary = '----owlboundary';
    const part = (name: string, value: Buffer | string, file = false) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file ? '; filename="v.bin"\r\nContent-Type: application/octet-stream' : ''}\r\n\r\n`,
        ),
        Buffer.isBuffer(value) ? value : Buffer.from(value),
        Buffer.from('\r\n'),
      ]);
    const multipart = Buffer.concat([
      part('cmd', 'set'),
      part('key', 'bin-mp'),
      part('token', token),
      part('valuedata', bytes, true),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const mp = await request(node.httpPort, '/data/', {
      method: 'POST',
      headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` },
      body: multipart,
    });
    assert.equal(mp.json<Env>().Status, 200, mp.text);
    assert.deepEqual((await data({ cmd: 'get', key: 'bin-mp' })).body, bytes);

    const raw = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'bin-raw', token })}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(raw.json<Env>().Status, 200);
    const got = await data({ cmd: 'get', key: 'bin-raw' });
    assert.deepEqual(got.body, bytes);
    assert.equal(got.headers['content-type'], 'application/octet-stream');
  });

  it('body parameters come before query parameters, and the first of a repeated name wins', async () => {
    await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'from-query', token })}&valuedata=q`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'key=from-body&valuedata=first&valuedata=second',
    });
    assert.equal((await data({ cmd: 'get', key: 'from-body' })).text, 'first');
    assert.equal((await data({ cmd: 'get', key: 'from-query' })).status, 404);
  });

  it('a key longer than the limit is a 500 with a message', async () => {
    const r = await data({ cmd: 'set', key: 'k'.repeat(2000), valuedata: 'x', token });
    const e = r.json<Env & { Message: string }>();
    assert.equal(e.Status, 500);
    assert.match(e.Message, /key is longer/);
  });

  it('a 20 MiB POST to a node with MaxValueSize 16mb gets 413, and the node keeps serving', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const r = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'big', token })}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: big,
      timeoutMs: 30_000,
    }).catch((err: Error) => ({ status: -1, err }));
    // The node answers 413 without reading the body; the client may see the reset of its upload instead.
    if (r.status !== -1) {
      assert.equal(r.status, 413);
      assert.equal((r as { json: <T>() => T }).json<Env>().Status, 413);
    }
    // A urlencoded body too large after decoding is refused as well (a body this large carries its token outside the body).
    const form = await request(node.httpPort, `/data/?${qs({ token })}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `cmd=set&key=big2&valuedata=${'b'.repeat(17 * 1024 * 1024)}`,
      timeoutMs: 30_000,
    });
    assert.equal(form.status, 413);
    assert.equal((await data({ cmd: 'get', key: 'big' })).status, 404);
    assert.equal((await data({ cmd: 'get', key: 'big2' })).status, 404);
    assert.equal((await data({ cmd: 'get', key: 'hello' })).text, 'world', 'still serving');
  });

  it('CORS headers and preflight when Cors is 1', async () => {
    const r = await data({ cmd: 'ping' });
    assert.equal(r.headers['access-control-allow-origin'], 'https://example.test');
    const pre = await request(node.httpPort, '/data/', { method: 'OPTIONS' });
    assert.equal(pre.status, 204);
  });

  it('/ answers a welcome page', async () => {
    const r = await request(node.httpPort, '/');
    assert.equal(r.status, 200);
    assert.match(r.text, /Welcome to use owlcache/);
  });
});

describe('tokens expire', () => {
  it('an expired token is refused', async () => {
    const n = await startNode({ settings: { Tonken_expire_time: 1 } });
    const t = await getToken(n.httpPort);
    const set = (key: string) => request(n.httpPort, `/data/?${qs({ cmd: 'set', key, valuedata: 'v', token: t })}`);
    assert.equal((await set('a')).json<Env>().Status, 200);
    await sleep(2100);
    assert.equal((await set('b')).json<Env>().Status, 401);
    await n.stop();
  });
});

describe('wrong passwords slow down', () => {
  it('after a few wrong tries from one address, the next answer is delayed; other addresses are not', async () => {
    const n = await startNode({ settings: { PassFailDelay: 400 } });
    const pass = (p: string, localAddress?: string) => request(n.httpPort, `/data/?${qs({ cmd: 'pass', pass: p })}`, { localAddress });
    for (let i = 0; i < 3; i++) assert.equal((await pass('wrong-password-x')).status, 401);
    const t0 = Date.now();
    assert.equal((await pass('wrong-password-x')).status, 401);
    assert.ok(Date.now() - t0 >= 350, 'the fourth wrong try was delayed');
    const t1 = Date.now();
    assert.equal((await pass(TEST_PASSWORD, '127.0.0.3')).status, 200);
    assert.ok(Date.now() - t1 < 350, 'another address is not delayed');
    await n.stop();
  });
});

describe('the process', () => {
  it('bin/owlcache starts a node; SIGTERM exits 0', async () => {
    const n = await startNode({ viaBin: true });
    assert.match(n.stdout(), /HTTP listening on 127\.0\.0\.1:\d+/);
    assert.equal((await request(n.httpPort, '/data/?cmd=ping')).text, 'PONG');
    assert.equal(await n.stop('SIGTERM'), 0);
  });

  it('SIGINT exits 0 too', async () => {
    const n = await startNode();
    assert.equal(await n.stop('SIGINT'), 0);
  });

  it('with no Pass, generates one at first start, prints it once, and keeps it', async () => {
    const n = await startNode({ settings: { Pass: '' } });
    const m = /generated password \(shown once; kept in .*auth\.json\): (\S+)/.exec(n.stdout());
    assert.ok(m, n.stdout());
    const generated = m[1]!;
    assert.ok(generated.length >= 10 && !/^\d+$/.test(generated));
    assert.equal((await getToken(n.httpPort, generated)).length > 0, true);
    assert.equal(await n.stop(), 0);
    const again = await restartNode(n);
    assert.ok(!again.stdout().includes('generated password'), 'printed only once');
    assert.ok((await getToken(again.httpPort, generated)).length > 0, 'the same password after a restart');
    const auth = readFileSync(join(n.dataDir, 'auth.json'));
    assert.ok(auth.length > 0);
    await again.stop();
  });

  it('a bad conf value stops the start with a message naming the file and line (exit 2)', async () => {
    const dir = tempDir();
    const conf = join(dir, 'owlcache.conf');
    writeFileSync(conf, '[HTTP]\nHttpport 7721\nTcpport lots\n');
    const r = await runToExit(['-config', conf], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: Tcpport`));
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  });

  it('a busy port is reported clearly (exit 1)', async () => {
    const r = await runToExit(
      ['--Host=127.0.0.1', `--Httpport=${node.httpPort}`, '--Tcpport=0', `--DBfile=${join(tempDir(), 'db')}`, '--Logfile=', `-pass`, TEST_PASSWORD],
      tempDir(),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot start: .*EADDRINUSE/);
  });
});

describe('HTTPS and the log file', () => {
  it('Open_Https 1 serves /data/ over TLS with the configured certificate; the rotating log file is written', async () => {
    const { repoRoot } = await import('../helpers/repo.js');
    const https = await import('node:https');
    const { existsSync, readdirSync, readFileSync: read } = await import('node:fs');
    const fixtures = join(repoRoot(), 'test', 'fixtures');
    const n = await startNode({
      settings: { Open_Https: 1, Https_CertFile: join(fixtures, 'test-only-https.crt'), Https_KeyFile: join(fixtures, 'test-only-https.key') },
    });
    assert.match(n.stdout(), /HTTPS listening on/);
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port: n.httpPort, path, ca: read(join(fixtures, 'test-only-https.crt')), agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.setTimeout(5000, () => req.destroy(new Error('https request timed out')));
        req.on('error', reject);
      });
    assert.equal((await get('/data/?cmd=ping')).body, 'PONG');
    const pass = JSON.parse((await get(`/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`)).body) as { Status: number };
    assert.equal(pass.Status, 200);
    // Plain HTTP on the TLS port gets no answer of ours.
    const plain = await request(n.httpPort, '/data/?cmd=ping').catch(() => null);
    assert.ok(plain === null || plain.text !== 'PONG');
    const logDir = join(n.dir, 'log');
    assert.ok(existsSync(logDir) && readdirSync(logDir).includes('owlcache.log'), 'log file in Logfile');
    assert.equal(await n.stop(), 0);
    assert.match(read(join(logDir, 'owlcache.log'), 'utf8'), /SIGTERM received, stopping/);
  });

  it('Open_Https 1 with an unreadable certificate stops the start with a clear message', async () => {
    const dir = tempDir();
    const r = await runToExit(
      [
        '--Host=127.0.0.1',
        '--Httpport=0',
        '--Tcpport=0',
        `--DBfile=${join(dir, 'db')}`,
        '--Logfile=',
        '-pass',
        TEST_PASSWORD,
        '--Open_Https=1',
        `--Https_CertFile=${join(dir, 'missing.crt')}`,
      ],
      dir,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Open_Https is 1 but the certificate or key cannot be read/);
  });
});
