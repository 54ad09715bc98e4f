import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort, getToken, qs, request, sleep, startNode, stopAllNodes, waitFor, TEST_PASSWORD, type NodeHandle } from '../helpers/node-process.js';
import { startGossipNode } from '../helpers/cluster.js';

/**
 * Clients that never authenticate, never read, or speak the wrong protocol:
 * each is bounded or refused at once, and the node keeps serving everyone else.
 * Every connection goes to 127.0.0.1 (from 127.0.0.x source addresses where a
 * test needs another client).
 */

/** A raw connection that records what comes back and when it is closed. */
class Raw {
  text = '';
  closed = false;
  readonly closedAt: Promise<void>;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    socket.on('error', () => {});
    this.closedAt = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static open(port: number, localAddress?: string): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => {
        s.off('error', reject);
        resolve(new Raw(s));
      });
      s.once('error', reject);
    });
  }

  send(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Waits until what came back matches (bounded). */
  async until(re: RegExp, timeoutMs = 5000): Promise<string> {
    await waitFor(`${re} (got ${JSON.stringify(this.text.slice(0, 200))})`, () => re.test(this.text), timeoutMs, 10);
    return this.text;
  }

  /** True if the server closed the connection within the time. */
  async closedWithin(ms: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closedAt.then(() => true), new Promise<boolean>((res) => (t = setTimeout(() => res(false), ms)))]);
    clearTimeout(t);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

const opened: Raw[] = [];
async function open(port: number, localAddress?: string): Promise<Raw> {
  const r = await Raw.open(port, localAddress);
  opened.push(r);
  return r;
}

after(async () => {
  for (const r of opened) r.close();
  await stopAllNodes();
});

async function rssOf(node: NodeHandle, token: string): Promise<number> {
  const r = await request(node.httpPort, `/cluster/status?${qs({ token })}`);
  return r.json<{ node: { rssBytes: number } }>().node.rssBytes;
}

const MB = 1024 * 1024;

/**
 * Sends `bytes` on each of four connections that never read, and waits until
 * the node has stopped taking them (our send buffers stop shrinking); `unread`
 * is what our side still holds then.
 */
async function sendUnread(port: number, bytes: Buffer): Promise<{ conns: Raw[]; unread: number }> {
  const conns = await Promise.all(Array.from({ length: 4 }, () => open(port)));
  for (const c of conns) {
    c.socket.pause();
    // In pieces (views of one buffer), so our send buffers shrink as the node reads.
    for (let at = 0; at < bytes.length; at += 64 * 1024) c.send(bytes.subarray(at, at + 64 * 1024));
  }
  let unread = -1;
  await waitFor(
    'the node to stop reading',
    async () => {
      await sleep(1000);
      const now = conns.reduce((n, c) => n + c.socket.writableLength, 0);
      const still = now === unread;
      unread = now;
      return still;
    },
    30_000,
    0,
  );
  return { conns, unread };
}

describe('RESP before AUTH', () => {
  test('a multibulk of more than 10 arguments or a bulk over 16 KiB closes an unauthenticated connection at once; RSS stays bounded', async (t) => {
    const node = await startNode({ settings: { RespPort: await freePort() } });
    const token = await getToken(node.httpPort);
    const before = await rssOf(node, token);

    // `*1048576` of empty arguments cost 133 MB per connection when it was buffered.
    const empties = Buffer.concat([Buffer.from('*1048576\r\n'), Buffer.from('$0\r\n\r\n'.repeat(1024 * 1024))]);
    const floods = await Promise.all([open(node.respPort), open(node.respPort)]);
    for (const c of floods) c.send(empties);
    for (const c of floods) {
      await c.until(/^-ERR Protocol error: unauthenticated multibulk length\r\n/);
      assert.ok(await c.closedWithin(5000), 'the connection was not closed');
    }

    // A 1 MB bulk (well under MaxValueSize) before AUTH: refused at its header.
    const bulk = await open(node.respPort);
    bulk.send(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n'), Buffer.alloc(64 * 1024, 0x61)]));
    await bulk.until(/^-ERR Protocol error: unauthenticated bulk length\r\n/);
    assert.ok(await bulk.closedWithin(5000), 'the connection was not closed');

    const grown = (await rssOf(node, token)) - before;
    t.diagnostic(`node RSS grew by ${Math.round(grown / MB)} MB`);
    assert.ok(grown < 64 * MB, `RSS grew by ${Math.round(grown / MB)} MB`);

    // Once authenticated, the full limits apply on the same connection.
    const authed = await open(node.respPort);
    const args = Array.from({ length: 12 }, (_, i) => `k${i}`);
    const mset = `*13\r\n$4\r\nMSET\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
    const big = 'v'.repeat(100_000);
    authed.send(`*2\r\n$4\r\nAUTH\r\n$${TEST_PASSWORD.length}\r\n${TEST_PASSWORD}\r\n${mset}*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$${big.length}\r\n${big}\r\n`);
    await authed.until(/^\+OK\r\n\+OK\r\n\+OK\r\n$/);
    assert.equal(authed.closed, false);
  });

  test('an idle RESP connection is closed after RespIdleTimeout; an active one is not', async () => {
    const node = await startNode({ settings: { RespPort: await freePort(), RespIdleTimeout: '1' } });
    const idle = await open(node.respPort);
    const busy = await open(node.respPort);
    const started = Date.now();
    for (let i = 0; i < 6; i++) {
      busy.send('PING\r\n');
      await busy.until(new RegExp(`^(\\+PONG\\r\\n){${i + 1}}$`));
      await sleep(300);
    }
    assert.ok(await idle.closedWithin(5000), 'the idle connection was not closed');
    assert.ok(Date.now() - started >= 900);
    assert.equal(busy.closed, false);
  });
});

describe('HTTP bodies before authentication', () => {
  test('a large /data/ body without a token outside it is answered 401 before it is sent', async () => {
    const node = await startNode({ settings: { MaxValueSize: '16mb' } });
    for (const [type, query] of [
      ['application/octet-stream', qs({ cmd: 'set', key: 'k' })],
      ['application/x-www-form-urlencoded', ''],
      ['multipart/form-data; boundary=B', qs({ cmd: 'set', key: 'k', token: 'not-a-token' })],
    ] as const) {
      const c = await open(node.httpPort);
      // 10 MB announced, a few bytes sent: the answer must not wait for the rest.
      c.send(`POST /data/?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\nContent-Length: ${10 * MB}\r\n\r\ncmd=set&key=k&token=x`);
      const text = await c.until(/\r\n\r\n\{.*\}$/s);
      assert.match(text, /^HTTP\/1\.1 401 /, type);
      const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as { Status: number; Message: string };
      assert.equal(body.Status, 401);
      assert.match(body.Message, /larger than \d+ bytes is read only with a valid token in the query string .* or an Authorization: Bearer header/);
      assert.ok(await c.closedWithin(5000), 'the connection was not closed');
    }
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'k' })}`)).status, 404);

    // The same body with the token in the query string or an Authorization header is read and stored.
    const token = await getToken(node.httpPort);
    const value = Buffer.alloc(100_000, 0x62);
    const q = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'q', token })}`, {
      method: 'POST',
      body: value,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    assert.equal(q.json<{ Status: number }>().Status, 200, q.text);
    const h = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'h' })}`, {
      method: 'POST',
      body: value,
      headers: { 'Content-Type': 'application/octet-stream', Authorization: `Bearer ${token}` },
    });
    assert.equal(h.json<{ Status: number }>().Status, 200, h.text);
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'h' })}`)).body.length, value.length);
    // A small form with the token inside it works as in the original.
    const form = await request(node.httpPort, '/data/', {
      method: 'POST',
      body: qs({ cmd: 'set', key: 'f', valuedata: 'small', token }),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.json<{ Status: number }>().Status, 200, form.text);
  });

  test('a refused body still being sent is read to its end: the 401 arrives and the connection stays open', async () => {
    const node = await startNode();
    const c = await open(node.httpPort);
    // Chunked, so its size is unknown: refused once past the unauthenticated limit, while the rest is still to come.
    const chunk = (b: string) => `${Buffer.byteLength(b).toString(16)}\r\n${b}\r\n`;
    c.send(
      `POST /data/?${qs({ cmd: 'set', key: 'k' })} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=B\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    c.send(chunk('x'.repeat(20 * 1024)));
    await sleep(300);
    c.send(chunk('y'.repeat(40 * 1024)));
    await sleep(100);
    c.send('0\r\n\r\n');
    const text = await c.until(/\r\n\r\n\{.*\}$/s);
    assert.match(text, /^HTTP\/1\.1 401 /);
    assert.doesNotMatch(text, /connection: close/i);
    c.send('GET /data/?cmd=ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.match(await c.until(/PONG$/), /PONG$/, 'the same connection answers the next request');
    assert.equal(c.closed, false);
    c.close();
  });

  test('a multipart body that ends inside a file part is refused, with or without a token, and the node keeps serving', async () => {
    const node = await startNode();
    const token = await getToken(node.httpPort);
    // Found by the HTTP fuzz: an empty boundary and a file part cut short; the part's stream failed with no listener and took the process down.
    const body = Buffer.from('--\r\nContent-Disposition: form-data; name="target"; filename="f.bin"\r\n\r\n\x80p\r\n-', 'latin1');
    for (const path of [
      `/server/?${qs({ cmd: 'add', token: 'not-a-token' })}`,
      `/server/?${qs({ cmd: 'add', token })}`,
      `/data/?${qs({ cmd: 'set', key: 'mp', token })}`,
    ]) {
      const r = await request(node.httpPort, path, { method: 'POST', body, headers: { 'Content-Type': 'multipart/form-data; boundary=' } });
      assert.ok(r.status === 200 || r.status >= 400, `${path.slice(0, 20)}: ${r.status}`);
      assert.doesNotMatch(r.body.toString(), /"Status":200/, `${path.slice(0, 20)}: refused`);
    }
    assert.equal(node.proc.exitCode, null, 'still running');
    assert.equal((await request(node.httpPort, '/data/?cmd=ping')).status, 200);
  });

  test('a request Node cannot parse is answered 400 before the close, though the client is still sending', async () => {
    const node = await startNode();
    for (let i = 0; i < 3; i++) {
      // Node's client sends an OPTIONS body without a length: after the request, 64 KiB that do not parse as HTTP.
      const r = await request(node.httpPort, '/data/', {
        method: 'OPTIONS',
        body: Buffer.alloc(64 * 1024 + 1, 0x01),
        headers: { 'Content-Type': 'text/plain' },
      });
      assert.equal(r.status, 400);
      assert.equal(r.headers.connection, 'close');
    }
  });

  test('/internal/sync without a valid signature header is refused before its body is read', async () => {
    const g = await startGossipNode([]);
    for (const header of ['', 'x-owlcache-auth: v1 garbage\r\n', `x-owlcache-auth: v1 ${Date.now() - 10 * 60_000} ${'a'.repeat(24)} ${'b'.repeat(64)}\r\n`]) {
      const c = await open(g.httpPort);
      c.send(`POST /internal/sync HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}Content-Type: application/msgpack\r\nContent-Length: ${20 * MB}\r\n\r\nabc`);
      const text = await c.until(/not authenticated$/);
      assert.match(text, /^HTTP\/1\.1 401 /, `header ${JSON.stringify(header)}`);
      assert.ok(await c.closedWithin(5000), 'the connection was not closed');
    }
  });
});

describe('connection caps', () => {
  test('MaxConnectionsPerClient and MaxConnections refuse further connections at once on HTTP, TCP and RESP', async () => {
    const node = await startNode({ settings: { RespPort: await freePort(), MaxConnections: 3, MaxConnectionsPerClient: 2 } });
    const ping = 'GET /data/?cmd=ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    const ports = [
      {
        name: 'HTTP',
        port: node.httpPort,
        admitted: async (c: Raw) => {
          c.send(ping);
          return c.until(/PONG$/);
        },
        refused: /^HTTP\/1\.1 503 [\s\S]*"Status":503[\s\S]*"Message":"max number of (clients|connections from one address) reached/,
      },
      {
        name: 'TCP',
        port: node.tcpPort,
        admitted: (c: Raw) => c.until(/^Owlcache TCP Link Success/),
        refused: /^\{"Cmd":"","Status":503,[\s\S]*max number of (clients|connections from one address) reached/,
      },
      {
        name: 'RESP',
        port: node.respPort,
        admitted: async (c: Raw) => {
          c.send('PING\r\n');
          return c.until(/\+PONG\r\n$/);
        },
        refused: /^-ERR max number of (clients|connections from one address) reached/,
      },
    ];
    for (const p of ports) {
      const a = await open(p.port);
      const b = await open(p.port);
      await p.admitted(a);
      await p.admitted(b);
      const third = await open(p.port);
      assert.match(await third.until(p.refused), /MaxConnectionsPerClient 2/, `${p.name}: per client`);
      assert.ok(await third.closedWithin(5000), `${p.name}: the refused connection was not closed`);

      // Another client address still gets in, up to the port's cap.
      const other = await open(p.port, '127.0.0.2');
      await p.admitted(other);
      const fourth = await open(p.port, '127.0.0.3');
      assert.match(await fourth.until(p.refused), /MaxConnections 3/, `${p.name}: per port`);
      assert.ok(await fourth.closedWithin(5000));

      // A closed connection frees its place.
      a.close();
      await waitFor(
        `${p.name}: a place to free up`,
        async () => {
          const again = await open(p.port);
          try {
            await p.admitted(again);
            return true;
          } catch {
            return false;
          } finally {
            again.close();
          }
        },
        10_000,
        100,
      );
      b.close();
      other.close();
    }
  });
});

describe('TCP clients that never read', () => {
  test('pipelined gets whose answers are never read: the node stops reading and its RSS stays bounded', async (t) => {
    const node = await startNode();
    const token = await getToken(node.httpPort);
    const before = await rssOf(node, token);
    // 2 M one-byte answers per connection (a miss is an empty line): far past a 1 MB mark that counted only bytes.
    const count = 2 * 1024 * 1024;
    const lines = Buffer.from('get a\n'.repeat(count));
    const { conns, unread } = await sendUnread(node.tcpPort, lines);
    assert.ok(unread > 0, 'the node read everything: nothing was held back');
    assert.ok(unread < conns.length * lines.length, 'the node read nothing');
    const grown = (await rssOf(node, token)) - before;
    t.diagnostic(`node RSS grew by ${Math.round(grown / MB)} MB for ${conns.length} connections`);
    assert.ok(grown < 64 * MB, `RSS grew by ${Math.round(grown / MB)} MB for ${conns.length} connections`);

    // Reading again: every answer arrives, in order, and the connection still works.
    const c = conns[0]!;
    c.text = '';
    c.socket.resume();
    // The greeting may have been read before the pause (then it is gone with the reset) or not (then it leads the text).
    const answers = () => c.text.replace(/^Owlcache TCP Link Success\.\.\.\n/, '').length;
    await waitFor('every answer', () => answers() >= count, 120_000, 50);
    c.send('ping done\n');
    await c.until(/done\n$/, 10_000);
  });
});

describe('HTTP clients that never read', () => {
  test('pipelined gets whose answers are never read: the node stops reading and its RSS stays bounded', async (t) => {
    const node = await startNode();
    const token = await getToken(node.httpPort);
    const before = await rssOf(node, token);
    // A miss answers about 230 bytes: 46 MB per connection if every answer were queued.
    const count = 200_000;
    const requests = Buffer.from('GET /data/?cmd=get&key=absent HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'.repeat(count));
    const { conns, unread } = await sendUnread(node.httpPort, requests);
    assert.ok(unread > 0, 'the node read everything: nothing was held back');
    const grown = (await rssOf(node, token)) - before;
    t.diagnostic(`node RSS grew by ${Math.round(grown / MB)} MB for ${conns.length} connections`);
    assert.ok(grown < 64 * MB, `RSS grew by ${Math.round(grown / MB)} MB for ${conns.length} connections`);

    // Reading again: every answer arrives, and the connection still works.
    const c = conns[0]!;
    c.socket.removeAllListeners('data');
    const end = Buffer.from('\r\n\r\n');
    let answers = 0;
    let tail = Buffer.alloc(0);
    c.socket.on('data', (d: Buffer) => {
      // Each miss's answer has one empty line and an empty body; a line may be cut between reads.
      const b = Buffer.concat([tail, d]);
      let i = b.indexOf(end);
      let from = 0;
      while (i !== -1) {
        answers++;
        from = i + end.length;
        i = b.indexOf(end, from);
      }
      tail = b.subarray(Math.max(from, b.length - 3));
    });
    c.socket.resume();
    await waitFor('every answer', () => answers >= count, 120_000, 50);
    assert.equal(answers, count);
    c.text = '';
    c.socket.on('data', (d: Buffer) => (c.text += d.toString('latin1')));
    c.send('GET /data/?cmd=get&key=absent HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await c.until(/^HTTP\/1\.1 404 Not Found\r\n[\s\S]*Connection: close\r\n\r\n$/, 10_000);
  });
});

describe('TCP protected mode', () => {
  test('by default TCP writes come only from 127.0.0.1 and ::1; others get an error line saying how to allow them', async () => {
    const node = await startNode();
    assert.match(node.stdout(), /TCP accepts reads from any address and writes only from 127\.0\.0\.1\/32, ::1\/128 \(protected mode/);
    const stranger = await open(node.tcpPort, '127.0.0.2');
    await stranger.until(/Link Success\.\.\.\n$/);
    stranger.send('set pm-k v\nexpire pm-k 10\ndelete pm-k\nget pm-k\nping\n');
    const text = await stranger.until(/\nPONG\n$/);
    const answers = text
      .split('\n')
      .slice(1, 4)
      .map((l) => JSON.parse(l) as { Cmd: string; Status: number; Message: string });
    assert.deepEqual(
      answers.map((a) => [a.Cmd, a.Status]),
      [
        ['set', 401],
        ['expire', 401],
        ['delete', 401],
      ],
    );
    assert.match(answers[0]!.Message, /protected mode.*127\.0\.0\.2 is not in them.*TcpTrustedNetworks.*TcpProtectedMode 0/);
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'pm-k' })}`)).status, 404, 'nothing was stored');

    const local = await open(node.tcpPort);
    await local.until(/Link Success\.\.\.\n$/);
    local.send('set pm-k v\n');
    await local.until(/"Status":200/);
  });

  test('TcpTrustedNetworks replaces the default list; TcpProtectedMode 0 lets every address write', async () => {
    const listed = await startNode({ settings: { TcpTrustedNetworks: '10.0.0.0/8' } });
    assert.match(listed.stdout(), /writes only from 10\.0\.0\.0\/8 /);
    const c = await open(listed.tcpPort);
    c.send('set k v\n');
    await c.until(/"Status":401/);

    const open0 = await startNode({ settings: { TcpProtectedMode: 0 } });
    assert.match(open0.stdout(), /writes from any address \(TcpProtectedMode 0\)/);
    const s = await open(open0.tcpPort, '127.0.0.2');
    s.send('set k v\n');
    await s.until(/"Status":200/);
  });

  test('a line that starts like HTTP closes the TCP connection before any later line runs', async () => {
    const node = await startNode();
    for (const first of ['POST / HTTP/1.1', 'GET /?x HTTP/1.1', 'Host: 127.0.0.1']) {
      const c = await open(node.tcpPort);
      await c.until(/Link Success\.\.\.\n$/);
      c.text = '';
      c.send(`${first}\r\nContent-Type: text/plain\r\n\r\nset cross-k v\n`);
      assert.ok(await c.closedWithin(5000), `${first}: the connection was not closed`);
      assert.equal(c.text, '', `${first}: answered ${JSON.stringify(c.text)}`);
    }
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'cross-k' })}`)).status, 404);
  });
});
