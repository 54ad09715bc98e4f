import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { getToken, qs, request, startNode, stopAllNodes, waitFor, type NodeHandle } from '../helpers/node-process.js';

/** A raw TCP client that reads answer lines (bounded waits, always closed in finally). */
class LineClient {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {});
  }

  static connect(port: number): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve(new LineClient(s));
      });
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next line's bytes (without \n). */
  async lineBytes(timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl !== -1) {
        const line = this.buf.subarray(0, nl);
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      if (this.ended) throw new Error(`connection closed; pending: ${this.buf.toString()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms; pending: ${this.buf.toString().slice(0, 200)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async line(timeoutMs?: number): Promise<string> {
    return (await this.lineBytes(timeoutMs)).toString('utf8');
  }

  async json(timeoutMs?: number): Promise<Record<string, unknown>> {
    const l = await this.line(timeoutMs);
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      throw new Error(`not JSON: ${l}`);
    }
  }

  /** Resolves true if the server closed the connection within the time. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closed.then(() => true), new Promise<boolean>((resolve) => (t = setTimeout(() => resolve(false), timeoutMs)))]);
    clearTimeout(t);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const ENVELOPE_FIELDS = ['Cmd', 'Status', 'Results', 'Key', 'Data', 'ResponseHost', 'KeyCreateTime'];

function assertEnvelope(e: Record<string, unknown>, cmd: string, status: number, results: string, key: string, host: string): void {
  assert.deepEqual(Object.keys(e).slice(0, ENVELOPE_FIELDS.length), ENVELOPE_FIELDS, JSON.stringify(e));
  assert.equal(e.Cmd, cmd, JSON.stringify(e));
  assert.equal(e.Status, status, JSON.stringify(e));
  assert.equal(e.Results, results, JSON.stringify(e));
  assert.equal(e.Key, key, JSON.stringify(e));
  assert.equal(e.ResponseHost, host);
}

describe('TCP text protocol', () => {
  let node: NodeHandle;
  let host: string;

  before(async () => {
    node = await startNode({ settings: { TcpMaxLine: '4kb' } });
    host = `127.0.0.1:${node.tcpPort}`;
  });
  after(stopAllNodes);

  test('the node says where TCP listens', () => {
    assert.match(node.stdout(), new RegExp(`TCP listening on 127\\.0\\.0\\.1:${node.tcpPort}`));
  });

  test('every row of the protocol table', async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      assert.equal(await c.line(), 'Owlcache TCP Link Success...');

      // set K V…: everything after the key, spaces included, is the value.
      c.send('set greeting hello  wide world \n');
      const set = await c.json();
      assertEnvelope(set, 'set', 200, 'SUCCESS', 'greeting', host);
      assert.equal(set.Data, '');
      assert.notEqual(set.KeyCreateTime, ZERO_TIME);
      assert.match(String(set.KeyCreateTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

      c.send('get greeting\r\n');
      assert.equal(await c.line(), 'hello  wide world ');

      c.send('get greeting info\n');
      const info = await c.json();
      assertEnvelope(info, 'get', 200, 'SUCCESS', 'greeting', host);
      assert.equal(Buffer.from(String(info.Data), 'base64').toString(), 'hello  wide world ');

      c.send('get nothing-here\n');
      assert.equal(await c.line(), '');
      c.send('get nothing-here info\n');
      const missingInfo = await c.json();
      assertEnvelope(missingInfo, 'get', 404, 'NOT_FOUND', 'nothing-here', host);
      assert.equal(missingInfo.Data, null);

      c.send('exist greeting\n');
      const exist = await c.json();
      assertEnvelope(exist, 'exist', 200, 'SUCCESS', 'greeting', host);
      assert.equal(exist.Data, null);
      assert.equal(exist.KeyCreateTime, ZERO_TIME);
      c.send('exist nothing-here\n');
      assertEnvelope(await c.json(), 'exist', 404, 'NOT_FOUND', 'nothing-here', host);

      c.send('expire greeting 100\n');
      assertEnvelope(await c.json(), 'expire', 200, 'SUCCESS', 'greeting', host);
      c.send('expire nothing-here 100\n');
      assertEnvelope(await c.json(), 'expire', 404, 'NOT_FOUND', 'nothing-here', host);
      c.send('expire greeting -1\n');
      assertEnvelope(await c.json(), 'expire', 500, 'ERROR', 'greeting', host);
      c.send('expire greeting 0\n');
      assertEnvelope(await c.json(), 'expire', 200, 'SUCCESS', 'greeting', host);

      c.send('delete greeting\n');
      assertEnvelope(await c.json(), 'delete', 200, 'SUCCESS', 'greeting', host);
      c.send('delete greeting\n');
      assertEnvelope(await c.json(), 'delete', 404, 'NOT_FOUND', 'greeting', host);
      c.send('get greeting\n');
      assert.equal(await c.line(), '');

      c.send('ping\n');
      assert.equal(await c.line(), 'PONG');
      c.send('ping hello there\n');
      assert.equal(await c.line(), 'hello there');

      // Anything else, or a command without its arguments: 501 with an empty Cmd.
      for (const bad of ['foo bar', 'GETX k', '', 'get', 'set', 'set onlykey', 'expire k', 'delete', 'exist']) {
        c.send(`${bad}\n`);
        const e = await c.json();
        assertEnvelope(e, '', 501, 'UNKNOWN_COMMAND', '', host);
        assert.equal(e.Data, null);
      }

      // An empty value is a value.
      c.send('set empty \n');
      assertEnvelope(await c.json(), 'set', 200, 'SUCCESS', 'empty', host);
      c.send('exist empty\n');
      assertEnvelope(await c.json(), 'exist', 200, 'SUCCESS', 'empty', host);
    } finally {
      c.close();
    }
  });

  test('an expiry set over TCP takes effect', async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      await c.line();
      c.send('set short-lived x\nexpire short-lived 1\n');
      assert.equal((await c.json()).Status, 200);
      assert.equal((await c.json()).Status, 200);
      await waitFor(
        'the key to expire',
        async () => {
          c.send('get short-lived\n');
          return (await c.line()) === '';
        },
        5000,
        200,
      );
    } finally {
      c.close();
    }
  });

  test("values are bytes: a line's bytes after the key are stored as sent", async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      await c.line();
      const value = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x20, 0xc3, 0x28, 0x7f]);
      c.send(Buffer.concat([Buffer.from('set bin '), value, Buffer.from('\n')]));
      assert.equal((await c.json()).Status, 200);
      c.send('get bin\n');
      assert.deepEqual(await c.lineBytes(), value);
      const r = await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'bin' })}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, value);
      c.send('get bin info\n');
      assert.deepEqual(Buffer.from(String((await c.json()).Data), 'base64'), value);
    } finally {
      c.close();
    }
  });

  test('a set over TCP is visible over HTTP, and the other way round', async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      await c.line();
      c.send('set from-tcp tcp value\n');
      assert.equal((await c.json()).Status, 200);
      const r = await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'from-tcp' })}`);
      assert.equal(r.status, 200);
      assert.equal(r.text, 'tcp value');

      const token = await getToken(node.httpPort);
      const w = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'from-http', valuedata: 'http value', token })}`);
      assert.equal(w.json().Status, 200);
      c.send('get from-http\n');
      assert.equal(await c.line(), 'http value');
      c.send('exist from-http\n');
      assert.equal((await c.json()).Status, 200);

      c.send('delete from-tcp\n');
      assert.equal((await c.json()).Status, 200);
      const gone = await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: 'from-tcp' })}`);
      assert.equal(gone.status, 404);
    } finally {
      c.close();
    }
  });

  test('1 000 pipelined commands in one write are answered in order', async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      await c.line();
      const lines: string[] = [];
      for (let i = 0; i < 500; i++) lines.push(`set pipe-${i} value ${i}`, `get pipe-${i}`);
      c.send(`${lines.join('\n')}\n`);
      for (let i = 0; i < 500; i++) {
        const e = await c.json();
        assert.equal(e.Key, `pipe-${i}`);
        assert.equal(e.Status, 200);
        assert.equal(await c.line(), `value ${i}`);
      }
    } finally {
      c.close();
    }
  });

  test('a get in a pipelined batch answers the value it read, though later sets of the batch reuse its memory', async () => {
    const c = await LineClient.connect(node.tcpPort);
    try {
      await c.line();
      const lines: string[] = [];
      const sizes = [3, 300, 4000];
      for (let round = 0; round < 10; round++) {
        for (const n of sizes) {
          const letter = String.fromCharCode(97 + round);
          lines.push(`set lent-${n} ${letter.repeat(n)}`, `get lent-${n}`, `delete lent-${n}`, `set lent-other-${n} ${'Z'.repeat(n)}`);
        }
      }
      c.send(`${lines.join('\n')}\n`);
      for (let round = 0; round < 10; round++) {
        for (const n of sizes) {
          assert.equal((await c.json()).Status, 200);
          assert.equal(await c.line(), String.fromCharCode(97 + round).repeat(n), `round ${round}, ${n} bytes`);
          assert.equal((await c.json()).Status, 200);
          assert.equal((await c.json()).Status, 200);
        }
      }
    } finally {
      c.close();
    }
  });

  test('an over-long line closes that connection; the node keeps serving others', async () => {
    const other = await LineClient.connect(node.tcpPort);
    const c = await LineClient.connect(node.tcpPort);
    try {
      await other.line();
      await c.line();
      c.send(`set big ${'x'.repeat(10_000)}\n`);
      const e = await c.json();
      assert.equal(e.Status, 500);
      assert.match(String(e.Message), /TcpMaxLine/);
      assert.ok(await c.waitClosed(5000), 'the connection was not closed');

      // Without a newline at all: closed as soon as the limit is passed.
      const open = await LineClient.connect(node.tcpPort);
      try {
        await open.line();
        open.send(`set big ${'y'.repeat(10_000)}`);
        assert.equal((await open.json()).Status, 500);
        assert.ok(await open.waitClosed(5000), 'the connection was not closed');
      } finally {
        open.close();
      }

      other.send('ping still here\n');
      assert.equal(await other.line(), 'still here');
      const fresh = await LineClient.connect(node.tcpPort);
      try {
        assert.equal(await fresh.line(), 'Owlcache TCP Link Success...');
        fresh.send('ping\n');
        assert.equal(await fresh.line(), 'PONG');
      } finally {
        fresh.close();
      }
    } finally {
      c.close();
      other.close();
    }
  });
});

describe('TCP idle timeout and CloseTcp', () => {
  after(stopAllNodes);

  test('an idle connection is closed after TcpIdleTimeout; an active one is not', async () => {
    const node = await startNode({ settings: { TcpIdleTimeout: '1' } });
    const idle = await LineClient.connect(node.tcpPort);
    const busy = await LineClient.connect(node.tcpPort);
    try {
      await idle.line();
      await busy.line();
      const started = Date.now();
      // Keep one connection busy for longer than the timeout.
      for (let i = 0; i < 6; i++) {
        busy.send('ping\n');
        assert.equal(await busy.line(), 'PONG');
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(await idle.waitClosed(5000), 'the idle connection was not closed');
      assert.ok(Date.now() - started >= 900);
      assert.equal(busy.ended, false);
    } finally {
      idle.close();
      busy.close();
    }
  });

  test('CloseTcp 0 turns the TCP service off', async () => {
    const node = await startNode({ settings: { CloseTcp: 0 } });
    assert.doesNotMatch(node.stdout(), /TCP listening/);
    await assert.rejects(LineClient.connect(node.tcpPort));
  });
});
