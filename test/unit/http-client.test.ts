import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HttpCallError, HttpClient } from '../../src/cluster/http-client.js';
import { InternalCallError, InternalClient } from '../../src/cluster/internal-client.js';
import { AUTH_HEADER, RequestSigner } from '../../src/cluster/request-signing.js';

/**
 * The node-to-node HTTP client against a real server on 127.0.0.1: pooling,
 * the body bound, the two kinds of time limit, and the internal client's
 * signing and answers on top of it.
 */

let server: http.Server;
let port = 0;
const connections: number[] = [];
const received: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];

function route(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
  const url = req.url ?? '';
  if (url === '/ok') return void res.end('hello');
  if (url === '/missing') return void res.writeHead(404).end('no such thing, and a long explanation');
  if (url === '/fail') return void res.writeHead(500).end('broken');
  if (url === '/big-declared') return void res.writeHead(200, { 'Content-Length': 100 }).end('x'.repeat(100));
  if (url === '/big-chunked') {
    res.writeHead(200);
    res.write('x'.repeat(40));
    res.end('x'.repeat(40));
    return;
  }
  if (url === '/silent') return; // never answers; the socket is closed at the end
  if (url === '/trickle') {
    // Six bytes, one every 60 ms: never silent for long, but slower than a short deadline.
    res.writeHead(200);
    let n = 0;
    const t = setInterval(() => {
      res.write('t');
      if (++n === 6) {
        clearInterval(t);
        res.end();
      }
    }, 60);
    res.on('close', () => clearInterval(t));
    return;
  }
  res.writeHead(400).end();
}

before(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => route(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (s) => connections.push(s.remotePort ?? 0));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const call = (path: string, over: Partial<Parameters<HttpClient['request']>[0]> = {}) => ({
  scheme: 'http' as const,
  host: '127.0.0.1',
  port,
  method: 'GET' as const,
  path,
  headers: {},
  deadlineMs: 5000,
  ...over,
});

describe('HttpClient', () => {
  it('answers status, headers and body, and reuses the connection', async () => {
    const client = new HttpClient({ maxSockets: 1, insecureSkipVerify: false, maxBodyBytes: 1024 });
    try {
      const before = connections.length;
      const a = await client.request(call('/ok'));
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), 'hello');
      assert.equal(a.headers['content-length'], '5');
      const b = await client.request(call('/missing'));
      assert.equal(b.status, 404, 'any status is an answer');
      assert.match(b.body.toString(), /no such thing/);
      assert.equal(connections.length - before, 1, 'one keep-alive connection for both calls');
    } finally {
      client.close();
    }
  });

  it('drains a body it is told not to read, and still reuses the connection', async () => {
    const client = new HttpClient({ maxSockets: 1, insecureSkipVerify: false, maxBodyBytes: 4 });
    try {
      const before = connections.length;
      const a = await client.request(call('/missing', { readBody: (s) => s === 200 }));
      assert.deepEqual([a.status, a.body.length], [404, 0], 'a 404 body larger than the bound is drained, not refused');
      assert.equal((await client.request(call('/missing', { readBody: () => false }))).status, 404);
      assert.equal(connections.length - before, 1);
    } finally {
      client.close();
    }
  });

  it('refuses a body over the bound, declared or not', async () => {
    const client = new HttpClient({ maxSockets: 4, insecureSkipVerify: false, maxBodyBytes: 64 });
    try {
      for (const path of ['/big-declared', '/big-chunked']) {
        await assert.rejects(client.request(call(path)), (err: unknown) => err instanceof HttpCallError && err.failure === 'too-large', path);
      }
    } finally {
      client.close();
    }
  });

  it('a deadline bounds the whole exchange; an idle timeout only silence', async () => {
    const client = new HttpClient({ maxSockets: 4, insecureSkipVerify: false, maxBodyBytes: 1024 });
    try {
      await assert.rejects(client.request(call('/silent', { deadlineMs: 150 })), (err: unknown) => err instanceof HttpCallError && err.failure === 'deadline');
      await assert.rejects(
        client.request(call('/silent', { deadlineMs: undefined, idleTimeoutMs: 150 })),
        (err: unknown) => err instanceof HttpCallError && err.failure === 'idle',
      );
      await assert.rejects(client.request(call('/trickle', { deadlineMs: 200 })), (err: unknown) => err instanceof HttpCallError && err.failure === 'deadline');
      const slow = await client.request(call('/trickle', { deadlineMs: undefined, idleTimeoutMs: 250 }));
      assert.equal(slow.body.toString(), 'tttttt', 'an answer that keeps moving is not cut by an idle timeout');
    } finally {
      client.close();
    }
  });

  it('passes a network error on as Node raises it', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const client = new HttpClient({ maxSockets: 1, insecureSkipVerify: false, maxBodyBytes: 1024 });
    try {
      await assert.rejects(
        client.request(call('/ok', { port: deadPort })),
        (err: NodeJS.ErrnoException) => !(err instanceof HttpCallError) && err.code === 'ECONNREFUSED',
      );
    } finally {
      client.close();
    }
  });
});

describe('InternalClient over HttpClient', () => {
  const signer = () => new RequestSigner('shared-key-0123456789', 30_000, { self: `127.0.0.1:${port}` });
  const internal = (maxResponseBytes = 1024, timeoutMs = 2000) =>
    new InternalClient({ signer: signer(), timeoutMs, maxResponseBytes, https: false, insecureSkipVerify: false });

  it('signs each call for the receiver and sends the body as msgpack', async () => {
    const client = internal();
    try {
      assert.equal((await client.call(`127.0.0.1:${port}`, 'POST', '/ok', Buffer.from([1, 2, 3])))?.toString(), 'hello');
      const got = received.at(-1)!;
      assert.equal(got.method, 'POST');
      assert.equal(got.headers['content-type'], 'application/msgpack');
      assert.deepEqual([...got.body], [1, 2, 3]);
      assert.equal(signer().verify('POST', '/ok', String(got.headers[AUTH_HEADER]), got.body), true, 'signed for this receiver, path and body');
    } finally {
      client.close();
    }
  });

  it('answers null for 404, and fails with the status or the limit otherwise', async () => {
    const client = internal(64, 150);
    try {
      assert.equal(await client.call(`127.0.0.1:${port}`, 'GET', '/missing'), null);
      await assert.rejects(
        client.call(`127.0.0.1:${port}`, 'GET', '/fail'),
        (e: unknown) => e instanceof InternalCallError && e.status === 500 && /answered 500/.test(e.message),
      );
      await assert.rejects(
        client.call(`127.0.0.1:${port}`, 'GET', '/silent'),
        (e: unknown) => e instanceof InternalCallError && /\/silent timed out after 150 ms/.test(e.message),
      );
      await assert.rejects(client.call('not-an-address', 'GET', '/ok'), InternalCallError);
    } finally {
      client.close();
    }
  });

  it('an answer over the limit fails the call and nothing else (it used to escape as an uncaught exception)', async () => {
    const client = internal(64);
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      await assert.rejects(
        client.call(`127.0.0.1:${port}`, 'GET', '/big-chunked'),
        (e: unknown) => e instanceof InternalCallError && /answer from 127\.0\.0\.1:\d+\/big-chunked larger than 64 bytes/.test(e.message),
      );
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        uncaught.map((e) => e.message),
        [],
      );
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      client.close();
    }
  });
});
