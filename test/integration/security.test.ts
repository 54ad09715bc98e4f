import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import {
  TEST_AUTH_KEY,
  TEST_PASSWORD,
  freePort,
  getToken,
  qs,
  request,
  runToExit,
  startNode,
  stopAllNodes,
  tempDir,
  waitFor,
  type HttpResult,
  type NodeHandle,
  type RequestOptions,
} from '../helpers/node-process.js';
import { passwordGeneration } from '../../src/api/http/tokens.js';
import { startGossipNode, tokenOf } from '../helpers/cluster.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { MEMBERSHIP_PURPOSE } from '../../src/cluster/membership/membership.js';
import { DATA_GOSSIP_PURPOSE } from '../../src/cluster/dissemination/disseminator.js';
import { AUTH_HEADER, RequestSigner } from '../../src/cluster/request-signing.js';

/**
 * docs/architecture.md "Security", against real nodes: tampered tokens are refused, wrong
 * passwords are slowed down, unauthenticated or stale node-to-node traffic is
 * refused and counted, no answer ever carries a password, and the data
 * directory is owner-only.
 */

const JWT_SECRET = 'security-test-jwt-secret-0123';
const SERVER_PASSES = ['peer-pass-AAAA-0123456789', 'peer-pass-BBBB-0123456789', 'peer-pass-CCCC-0123456789'];

/** Every answer of the session (headers and body), for the password check at the end. */
const answers: string[] = [];
async function req(port: number, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
  const r = await request(port, path, { timeoutMs: 15_000, ...opts });
  answers.push(`${JSON.stringify(r.headers)}\n${r.body.toString('latin1')}`);
  return r;
}

let node: NodeHandle;

before(async () => {
  node = await startNode({ settings: { Tonken_jwt_secret: JWT_SECRET, Tonken_expire_time: 600, PassFailDelay: 300 } });
});

after(async () => {
  await stopAllNodes();
});

const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const sign = (payload: Record<string, unknown>, secret = JWT_SECRET) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));

async function setWith(token: string, key: string, localAddress?: string): Promise<number> {
  const r = await req(node.httpPort, `/data/?${qs({ cmd: 'set', key, valuedata: 'x', token })}`, localAddress ? { localAddress } : {});
  return r.json<{ Status: number }>().Status;
}

const PWG = passwordGeneration(JWT_SECRET, TEST_PASSWORD);

describe('tokens', () => {
  test('a token made with the node secret and password claim for this IP works (control)', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await setWith(await sign({ ip: '127.0.0.1', pwg: PWG, iat: now, exp: now + 60 }), 'control'), 200);
    assert.equal(await setWith(await getToken(node.httpPort), 'control2'), 200);
  });

  test('changed payload, alg none, another secret, expired, another IP: all refused with 401', async () => {
    const good = await getToken(node.httpPort);
    const jwt = Buffer.from(good, 'base64').toString('utf8');
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const now = Math.floor(Date.now() / 1000);
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    const cases: Record<string, string> = {
      'changed payload (ip)': `${h}.${b64u({ ...payload, ip: '127.0.0.9' })}.${s}`,
      'changed payload (exp)': `${h}.${b64u({ ...payload, exp: now + 10_000_000 })}.${s}`,
      'alg none': `${b64u({ alg: 'none', typ: 'JWT' })}.${p}.`,
      'alg none, base64-wrapped': Buffer.from(`${b64u({ alg: 'none', typ: 'JWT' })}.${p}.`).toString('base64'),
      'alg HS512 header on an HS256 signature': `${b64u({ alg: 'HS512', typ: 'JWT' })}.${p}.${s}`,
      'another secret': await sign({ ip: '127.0.0.1', pwg: PWG, iat: now, exp: now + 60 }, 'some-other-secret-0123456'),
      expired: await sign({ ip: '127.0.0.1', pwg: PWG, iat: now - 120, exp: now - 60 }),
      'another IP in the token': await sign({ ip: '10.1.2.3', pwg: PWG, iat: now, exp: now + 60 }),
      'no ip claim': await sign({ pwg: PWG, iat: now, exp: now + 60 }),
      'no password claim': await sign({ ip: '127.0.0.1', iat: now, exp: now + 60 }),
      "another password's claim": await sign({ ip: '127.0.0.1', pwg: passwordGeneration(JWT_SECRET, 'another-password-0123'), iat: now, exp: now + 60 }),
      'signature cut': jwt.slice(0, -5),
      empty: '',
    };
    for (const [what, token] of Object.entries(cases)) {
      assert.equal(await setWith(token, `tamper-${what}`), 401, `${what} was accepted`);
      const d = await req(node.httpPort, `/server/?${qs({ cmd: 'getall', token })}`);
      assert.equal(d.json<{ Status: number }>().Status, 401, `${what} was accepted by /server/`);
    }
    const e = await req(node.httpPort, `/data/?${qs({ cmd: 'exist', key: 'tamper-alg none' })}`);
    assert.equal(e.json<{ Status: number }>().Status, 404, 'a refused set stored its key');
  });

  test('a token used from another address is refused', async () => {
    const token = await getToken(node.httpPort);
    assert.equal(await setWith(token, 'other-ip', '127.0.0.2'), 401);
    assert.equal(await setWith(token, 'same-ip'), 200);
  });
});

/** Sends `n` cmd=pass requests at once from `from`; the time each answer took (ms) and its status. */
async function parallelPass(passes: string[], from: string): Promise<{ ms: number; status: number }[]> {
  const t0 = Date.now();
  return Promise.all(
    passes.map(async (pass) => {
      const r = await req(node.httpPort, `/data/?${qs({ cmd: 'pass', pass })}`, { localAddress: from, timeoutMs: 30_000 });
      return { ms: Date.now() - t0, status: r.json<{ Status: number }>().Status };
    }),
  );
}

/** 0 + d + 2d + … : what n attempts from one address wait in all when each failure doubles the delay (d = PassFailDelay). */
const sumOfDelays = (d: number, n: number) => d * (2 ** (n - 1) - 1);

describe('wrong passwords', () => {
  test('each wrong password from one address doubles the wait, from the first failure on', async () => {
    const from = '127.0.0.3';
    const timings: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      const r = await req(node.httpPort, `/data/?${qs({ cmd: 'pass', pass: `wrong-password-${i}` })}`, { localAddress: from });
      timings.push(Date.now() - t0);
      assert.equal(r.json<{ Status: number }>().Status, 401);
    }
    // PassFailDelay 300: then 300, 600, 1200 ms (minimums less what decays meanwhile and timer granularity).
    assert.ok(timings[1]! >= 270, `2nd wrong password answered after ${timings[1]} ms, expected >= 300`);
    assert.ok(timings[2]! >= 540, `3rd wrong password answered after ${timings[2]} ms, expected >= 600`);
    assert.ok(timings[3]! >= 1000, `4th wrong password answered after ${timings[3]} ms, expected >= 1200`);
    // Another address is not slowed down by these failures, and the right password still works.
    const ok = await req(node.httpPort, `/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`, { localAddress: '127.0.0.4' });
    assert.equal(ok.json<{ Status: number }>().Status, 200);
  });

  test('parallel wrong passwords from one address are answered one after another: the last waits the sum of the delays', async () => {
    const n = 5;
    const answers = await parallelPass(
      Array.from({ length: n }, (_, i) => `parallel-wrong-${i}`),
      '127.0.0.5',
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(n).fill(401),
    );
    const last = Math.max(...answers.map((a) => a.ms));
    // 0 + 300 + 600 + 1200 + 2400 = 4500 ms with PassFailDelay 300; 0.7 of it allows for the decay while waiting.
    // Checked in parallel, the slowest would be answered after 600 ms.
    assert.ok(last >= 0.7 * sumOfDelays(300, n), `${n} parallel guesses were all answered within ${last} ms`);
  });

  test('the right password sent while its address is slowed down waits its turn like a wrong one', async () => {
    const from = '127.0.0.6';
    const answers = await parallelPass(['slow-wrong-1', 'slow-wrong-2', 'slow-wrong-3', TEST_PASSWORD], from);
    assert.deepEqual(
      answers.map((a) => a.status),
      [401, 401, 401, 200],
    );
    // Behind 0 + 300 + 600 ms of wrong ones, then its own 1200 ms.
    assert.ok(answers[3]!.ms >= 0.7 * sumOfDelays(300, 4), `the right password was answered after ${answers[3]!.ms} ms`);
  });

  test('RESP AUTH goes through the same guard: parallel AUTHs from one address are answered one after another', async () => {
    const respPort = await freePort();
    const n = await startNode({ settings: { RespPort: respPort, PassFailDelay: 100 } });
    const auth = (pass: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = net.connect(respPort, '127.0.0.1');
        const timer = setTimeout(() => sock.destroy(new Error('no AUTH answer in 15 s')), 15_000);
        let got = '';
        sock.on('data', (d) => {
          got += d.toString('latin1');
          if (got.includes('\r\n')) {
            clearTimeout(timer);
            sock.destroy();
            resolve(got.split('\r\n')[0]!);
          }
        });
        sock.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        sock.write(`*2\r\n$4\r\nAUTH\r\n$${Buffer.byteLength(pass)}\r\n${pass}\r\n`);
      });
    try {
      const t0 = Date.now();
      const replies = await Promise.all([auth('resp-wrong-1'), auth('resp-wrong-2'), auth('resp-wrong-3'), auth('resp-wrong-4')]);
      const elapsed = Date.now() - t0;
      for (const r of replies) assert.match(r, /^-WRONGPASS/);
      assert.ok(elapsed >= 0.7 * sumOfDelays(100, 4), `4 parallel AUTHs were answered within ${elapsed} ms`);
      // And cmd=pass from the same address now waits too (one guard for every password check).
      const t1 = Date.now();
      const r = await request(n.httpPort, `/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`, { timeoutMs: 15_000 });
      assert.equal(r.json<{ Status: number }>().Status, 200);
      assert.ok(Date.now() - t1 >= 0.7 * 800, 'cmd=pass after 4 wrong AUTHs was not slowed down');
    } finally {
      await n.stop();
    }
  });
});

describe('passwords at start, and tokens across a password change', () => {
  test('a weak Pass is refused at start (exit 2), naming the setting and the rule', async () => {
    const weak: [string, RegExp][] = [
      ['short-pw', /at least 10 characters/],
      ['12345678901', /only digits/],
      ['xxxxxxxxxxxx', /one character repeated/],
      ['Password123', /commonest passwords/],
      ['qwertyuiop', /commonest passwords/],
    ];
    for (const [pass, why] of weak) {
      const dir = tempDir();
      const r = await runToExit(['-pass', pass, '-host', '127.0.0.1', '--Httpport=0', '--Tcpport=0', `--DBfile=${join(dir, 'db')}`, '--Logfile='], dir);
      assert.equal(r.code, 2, `${pass}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /Pass/, pass);
      assert.match(r.stderr, why, pass);
      assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
      assert.deepEqual(readdirSync(dir), [], `${pass}: the refused start wrote to its data directory`);
    }
  });

  test('changing Pass revokes every token, even one that never expires', async () => {
    const first = await startNode({ settings: { Tonken_expire_time: 0 } });
    const token = await getToken(first.httpPort);
    const setWithOn = async (port: number, key: string) =>
      (await request(port, `/data/?${qs({ cmd: 'set', key, valuedata: 'v', token })}`)).json<{ Status: number; Results: string }>();
    assert.equal((await setWithOn(first.httpPort, 'before')).Status, 200);
    await first.stop();
    // Same data directory (same token secret), same password: the token still works (control).
    const same = await startNode({ dataDir: first.dataDir, settings: { Tonken_expire_time: 0 } });
    assert.equal((await setWithOn(same.httpPort, 'same-pass')).Status, 200);
    await same.stop();
    const changed = await startNode({ dataDir: first.dataDir, settings: { Tonken_expire_time: 0, Pass: 'another-password-4567' } });
    try {
      const refused = await setWithOn(changed.httpPort, 'after');
      assert.equal(refused.Status, 401);
      assert.equal(refused.Results, 'NOT_PASS');
      const fresh = await getToken(changed.httpPort, 'another-password-4567');
      const ok = await request(changed.httpPort, `/data/?${qs({ cmd: 'set', key: 'after', valuedata: 'v', token: fresh })}`);
      assert.equal(ok.json<{ Status: number }>().Status, 200, 'a token of the new password works');
    } finally {
      await changed.stop();
    }
  });
});

describe('node-to-node traffic', () => {
  test('unauthenticated and stale datagrams and internal HTTP calls are refused and counted in /cluster/status', async () => {
    const g = await startGossipNode([]);
    const token = await tokenOf(g);
    const statusOf = async () => {
      const r = await req(g.httpPort, `/cluster/status?${qs({ token })}`);
      assert.equal(r.status, 200);
      return r.json<{ store: { digest: string }; replication: Record<string, Record<string, number>> }>();
    };
    const dataPort = Number(/data deltas on UDP (\d+)/.exec(g.stdout())![1]);
    const swimPort = Number(g.gossip.split(':').pop());
    const s0 = await statusOf();
    const sock = dgram.createSocket('udp4');
    try {
      const send = (b: Buffer, port: number) => new Promise<void>((r) => sock.send(b, port, '127.0.0.1', () => r()));
      const stale = (purpose: string) =>
        new DatagramSealer(TEST_AUTH_KEY, purpose, { encrypt: false, windowMs: 30_000, now: () => Date.now() - 5 * 60_000 }).seal(Buffer.from('x'));
      const wrongKey = (purpose: string) =>
        new DatagramSealer('wrong-cluster-key-0123456', purpose, { encrypt: false, windowMs: 30_000 }).seal(Buffer.from('x'));
      for (const [port, purpose] of [
        [swimPort, MEMBERSHIP_PURPOSE],
        [dataPort, DATA_GOSSIP_PURPOSE],
      ] as const) {
        await send(Buffer.from('not sealed at all'), port);
        await send(wrongKey(purpose), port);
        await send(stale(purpose), port);
      }
      await waitFor(
        'datagrams to be counted',
        async () => {
          const s = (await statusOf()).replication;
          return s.membership!.rejectedStale! > s0.replication.membership!.rejectedStale! && s.push!.rejectedStale! > s0.replication.push!.rejectedStale!;
        },
        10_000,
        50,
      );
    } finally {
      sock.close();
    }
    const s1 = await statusOf();
    for (const layer of ['membership', 'push'] as const) {
      const a = s0.replication[layer]!;
      const b = s1.replication[layer]!;
      assert.ok(b.rejectedMalformed! > a.rejectedMalformed!, `${layer}: an unsealed datagram was not counted`);
      assert.ok(b.rejectedBadMac! > a.rejectedBadMac!, `${layer}: a wrong-key datagram was not counted`);
      assert.ok(b.rejectedStale! > a.rejectedStale!, `${layer}: a stale datagram was not counted`);
    }
    assert.equal(s1.store.digest, s0.store.digest);

    const self = { self: '127.0.0.1:1' };
    const to = `127.0.0.1:${g.httpPort}`;
    const signer = new RequestSigner(TEST_AUTH_KEY, 30_000, self);
    const staleSigner = new RequestSigner(TEST_AUTH_KEY, 30_000, { ...self, now: () => Date.now() - 5 * 60_000 });
    const calls: [string, Record<string, string>][] = [
      ['none', {}],
      ['malformed', { [AUTH_HEADER]: 'v1 garbage' }],
      ['stale', { [AUTH_HEADER]: staleSigner.sign('GET', to, '/internal/entry?key=a') }],
      ['other key', { [AUTH_HEADER]: new RequestSigner('wrong-cluster-key-0123456', 30_000, self).sign('GET', to, '/internal/entry?key=a') }],
      ["another node's", { [AUTH_HEADER]: signer.sign('GET', '127.0.0.1:1', '/internal/entry?key=a') }],
    ];
    for (const [what, headers] of calls) {
      const r = await req(g.httpPort, '/internal/entry?key=a', { headers });
      assert.equal(r.status, 401, `internal call with ${what} signature: ${r.status}`);
    }
    const valid = signer.sign('GET', to, '/internal/entry?key=a');
    assert.equal((await req(g.httpPort, '/internal/entry?key=a', { headers: { [AUTH_HEADER]: valid } })).status, 404, 'a valid call is answered');
    assert.equal((await req(g.httpPort, '/internal/entry?key=a', { headers: { [AUTH_HEADER]: valid } })).status, 401, 'a replayed call is refused');
    const s2 = (await statusOf()).replication.internalHttp!;
    const i0 = s0.replication.internalHttp!;
    assert.ok(s2.rejectedMalformed! >= i0.rejectedMalformed! + 2, 'missing and malformed signatures counted');
    assert.ok(s2.rejectedStale! > i0.rejectedStale!, 'stale signature counted');
    assert.ok(s2.rejectedBadMac! > i0.rejectedBadMac!, 'wrong-key signature counted');
    assert.ok(s2.rejectedReplay! > i0.rejectedReplay!, 'replay counted');
    // The cluster routes themselves need a token.
    assert.equal((await req(g.httpPort, '/cluster/status')).status, 401);
    assert.equal((await req(g.httpPort, '/cluster/members')).status, 401);
  });
});

describe('passwords and the data directory', () => {
  test('/server/ never sends a password back', async () => {
    const token = await getToken(node.httpPort);
    for (const [i, pass] of SERVER_PASSES.entries()) {
      const r = await req(node.httpPort, `/server/?${qs({ cmd: 'add', address: `127.0.0.1:${20000 + i}`, pass, token })}`);
      assert.equal(r.json<{ Status: number }>().Status, 200);
      await req(node.httpPort, `/server/?${qs({ cmd: 'add', address: `127.0.0.1:${21000 + i}`, pass, token, group_type: 'gossip' })}`);
    }
    const all = await req(node.httpPort, `/server/?${qs({ cmd: 'getall', token })}`);
    const list = all.json<{ Data: { Pass: string }[] }>().Data;
    assert.equal(list.length, SERVER_PASSES.length);
    for (const e of list) assert.equal(e.Pass, '');
    await req(node.httpPort, `/server/?${qs({ cmd: 'get', address: '127.0.0.1:20000', token })}`);
    await req(node.httpPort, `/server/?${qs({ cmd: 'getall', token, group_type: 'gossip' })}`);
    await req(node.httpPort, `/cluster/status?${qs({ token })}`);
    await req(node.httpPort, `/cluster/members?${qs({ token })}`);
    await req(node.httpPort, `/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`);
    await req(node.httpPort, `/data/?${qs({ cmd: 'pass', pass: 'wrong-one-0123456' })}`, { localAddress: '127.0.0.5' });
    await req(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'pw-check', valuedata: 'v', token })}`);
    await req(node.httpPort, '/');
  });

  test('no answer of the session contains the node password or a /server/ password', () => {
    assert.ok(answers.length > 20);
    for (const a of answers) {
      for (const secret of [TEST_PASSWORD, ...SERVER_PASSES]) assert.ok(!a.includes(secret), `an answer contains a password: ${a.slice(0, 300)}`);
    }
  });

  test('every file under the data directory is owner-only (files 0600 or stricter, directories 0700) after writes, /server/ adds and a snapshot on stop', async () => {
    const token = await getToken(node.httpPort);
    for (let i = 0; i < 50; i++) await req(node.httpPort, `/data/?${qs({ cmd: 'set', key: `perm-${i}`, valuedata: `value ${i}`, token })}`);
    assert.equal(await node.stop('SIGTERM'), 0);
    const seen: string[] = [];
    const walk = (dir: string) => {
      const st = statSync(dir);
      assert.equal(st.mode & 0o777, 0o700, `directory ${dir} has mode ${(st.mode & 0o777).toString(8)}`);
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const s = statSync(p);
        if (s.isDirectory()) walk(p);
        else {
          seen.push(name);
          assert.equal(s.mode & 0o077, 0, `${p} has mode ${(s.mode & 0o777).toString(8)}`);
        }
      }
    };
    walk(node.dataDir);
    assert.ok(
      seen.some((n) => n.startsWith('server_group_config')),
      `no server list file among ${seen.join(', ')}`,
    );
    assert.ok(seen.length >= 3, `only ${seen.join(', ')} in the data directory`);
  });
});

describe('token spelling', () => {
  it('a token whose signature differs only in unused base64url bits is refused', async () => {
    const { getToken: tok, qs: q, request: req } = await import('../helpers/node-process.js');
    const n = await (await import('../helpers/node-process.js')).startNode();
    const token = await tok(n.httpPort);
    const jwt = Buffer.from(token, 'base64').toString();
    // A 32-byte HMAC is 43 base64url characters: the last one carries 2 unused bits.
    const last = jwt.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    const altered = jwt.slice(0, -1) + sibling;
    assert.equal(Buffer.from(altered.split('.')[2]!, 'base64url').equals(Buffer.from(jwt.split('.')[2]!, 'base64url')), true, 'same bytes');
    const r = await req(n.httpPort, `/data/?${q({ cmd: 'set', key: 'k', valuedata: 'v', token: altered })}`);
    assert.equal(r.json<{ Status: number }>().Status, 401);
    const ok = await req(n.httpPort, `/data/?${q({ cmd: 'set', key: 'k', valuedata: 'v', token: jwt })}`);
    assert.equal(ok.json<{ Status: number }>().Status, 200);
    await n.stop();
  });

  it('a wrapped token with characters after its padding, or without its padding, is refused', async () => {
    const { getToken: tok, qs: q, request: req, startNode } = await import('../helpers/node-process.js');
    const n = await startNode();
    try {
      // Pad the JWT so its base64 wrapping ends in '=': a decoder stops there and ignores what follows.
      let token = await tok(n.httpPort);
      for (let i = 0; i < 3 && !token.endsWith('='); i++) token = await tok(n.httpPort);
      const spellings = [`${token}A`, token.replace(/=+$/, '')].filter((t) => t !== token);
      for (const t of spellings) {
        const r = await req(n.httpPort, `/data/?${q({ cmd: 'set', key: 'k', valuedata: 'v', token: t })}`);
        assert.equal(r.json<{ Status: number }>().Status, 401, `spelling ${t.slice(-6)}`);
      }
      const ok = await req(n.httpPort, `/data/?${q({ cmd: 'set', key: 'k', valuedata: 'v', token })}`);
      assert.equal(ok.json<{ Status: number }>().Status, 200);
    } finally {
      await n.stop();
    }
  });
});
