import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { qs, request, type NodeHandle } from '../helpers/node-process.js';

/**
 * Shared pieces of the fuzz suite (test/fuzz/*.test.ts): how many cases to run,
 * per-surface case counters printed at the end, generators of hostile input,
 * and the checks every surface ends with (the node still runs, answers, logged
 * nothing unexpected, and kept the data unauthenticated input may not touch).
 *
 * Case counts: every surface has a base count (the short run of `npm test`).
 * FUZZ_RUNS scales them: a value below 1000 is a multiplier (FUZZ_RUNS=5 runs
 * five times as many cases), a larger value is a total to aim for across all
 * surfaces (FUZZ_RUNS=100000), split in proportion to the base counts.
 */

/** Sum of the base counts of every surface in test/fuzz (kept by hand; used to turn a total into a multiplier). */
export const BASE_TOTAL = 19_000;

export function multiplier(): number {
  const raw = Number(process.env.FUZZ_RUNS ?? '');
  if (!Number.isFinite(raw) || raw <= 0) return 1;
  return raw < 1000 ? raw : raw / BASE_TOTAL;
}

/** Cases to run for a surface whose short-run count is `base`. */
export function runs(base: number): number {
  return Math.max(1, Math.round(base * multiplier()));
}

/** fast-check's seed: FUZZ_SEED replays a run; otherwise random (and printed on failure by fast-check). */
export function fcParams(numRuns: number, network = false): fc.Parameters<unknown> {
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  // Against a live node shrinking would resend thousands of requests; report the first failure as found.
  return { numRuns, includeErrorInReport: true, ...(seed === undefined ? {} : { seed }), ...(network ? { endOnFailure: true } : {}) } as fc.Parameters<unknown>;
}

/** Per-surface counters of the cases actually run, printed by `report` in an `after` hook. */
export class CaseCounter {
  readonly counts = new Map<string, number>();
  private readonly started = Date.now();
  constructor(private readonly suite: string) {}

  add(surface: string, n = 1): void {
    this.counts.set(surface, (this.counts.get(surface) ?? 0) + n);
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  report(): void {
    const rows = [...this.counts].map(([s, n]) => `#   ${s.padEnd(34)} ${String(n).padStart(7)}`);
    console.log(
      `# fuzz ${this.suite}: ${this.total()} cases in ${((Date.now() - this.started) / 1000).toFixed(1)} s (FUZZ_RUNS multiplier ${multiplier()})\n${rows.join('\n')}`,
    );
  }
}

/** What a node must never print: unhandled rejections, uncaught errors, internal-error logs, stack frames. */
export const BAD_STDERR = /unhandled rejection|uncaught|\bERROR \[|^\s+at .+:\d+:\d+\)?\s*$/im;

/** The node process still runs, answers ping, and its stderr shows no crash, unhandled rejection or stack trace. */
export async function assertHealthy(node: NodeHandle, what: string, agent?: http.Agent): Promise<void> {
  assert.equal(node.proc.exitCode, null, `${what}: node exited (${node.proc.exitCode}):\n${node.stderr().slice(-4000)}`);
  assert.equal(node.proc.signalCode, null, `${what}: node killed by ${node.proc.signalCode}`);
  const r = await request(node.httpPort, '/data/?cmd=ping', { timeoutMs: 5000, ...(agent ? { agent } : {}) });
  assert.equal(r.status, 200, `${what}: ping answered ${r.status}`);
  assert.equal(r.text, 'PONG', `${what}: ping answered ${JSON.stringify(r.text.slice(0, 200))}`);
  const m = BAD_STDERR.exec(node.stderr());
  assert.equal(m, null, `${what}: the node's stderr shows a problem near ${JSON.stringify(m?.[0])}:\n${node.stderr().slice(-4000)}`);
}

/** A key no generator produces, with a known value; its presence proves unauthenticated input changed nothing. */
export interface Canary {
  key: string;
  value: string;
}

export async function plantCanary(node: NodeHandle, token: string): Promise<Canary> {
  const c: Canary = { key: `canary-${process.pid}-${Math.random().toString(36).slice(2)}`, value: `canary value ${Date.now()}` };
  const r = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: c.key, valuedata: c.value, token })}`, { timeoutMs: 5000 });
  assert.equal(r.json<{ Status: number }>().Status, 200, `planting the canary: ${r.text}`);
  return c;
}

export async function assertCanary(node: NodeHandle, c: Canary, what: string): Promise<void> {
  const r = await request(node.httpPort, `/data/?${qs({ cmd: 'get', key: c.key })}`, { timeoutMs: 5000 });
  assert.equal(r.status, 200, `${what}: the canary is gone`);
  assert.equal(r.text, c.value, `${what}: the canary changed`);
}

/** The store's digest root from /cluster/status. */
export async function digestOf(node: NodeHandle, token: string): Promise<string> {
  const r = await request(node.httpPort, `/cluster/status?${qs({ token })}`, { timeoutMs: 5000 });
  assert.equal(r.status, 200, `/cluster/status: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json<{ store: { digest: string } }>().store.digest;
}

/** /cluster/status as the fuzz checks read it: any field, any depth. */
// biome-ignore lint/suspicious/noExplicitAny: the fuzz checks walk arbitrary fields of the status document
export type ClusterStatusDoc = Record<string, any>;

export async function clusterStatus(node: NodeHandle, token: string): Promise<ClusterStatusDoc> {
  const r = await request(node.httpPort, `/cluster/status?${qs({ token })}`, { timeoutMs: 5000 });
  assert.equal(r.status, 200, `/cluster/status: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json<ClusterStatusDoc>();
}

export function keepAliveAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 4 });
}

/** Signs of an exception leaking onto the wire. */
export const STACK_ON_WIRE = /\n\s+at \S+|\bat (?:async )?[\w.<>]+ \(\/|node:internal|TypeError|ReferenceError|RangeError|SyntaxError: /;

// ---------------------------------------------------------------- generators

/** Bytes with the interesting values over-represented (NUL, CR, LF, %, &, =, +, high bytes, invalid UTF-8). */
export const byteArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 255 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x25, 0x26, 0x3d, 0x2b, 0x3b, 0x23, 0x3f, 0x22, 0x5c, 0x7f, 0x80, 0xc0, 0xc3, 0xef, 0xfe, 0xff),
  },
  { weight: 3, arbitrary: fc.integer({ min: 0x61, max: 0x7a }) },
);

export function bytesArb(maxLength: number, minLength = 0): fc.Arbitrary<Buffer> {
  return fc.array(byteArb, { minLength, maxLength }).map((a) => Buffer.from(a));
}

/** Text of every kind: ASCII, full Unicode, lone surrogates, empty, huge. */
export const textArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('', ' ', '0', '-1', '1e309', 'NaN', 'null', '%', '%%', '%zz', '%e9', '\u0000', 'info', '__proto__', 'constructor', '..', '/'),
  },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** How one parameter's bytes are written into a query or form: encoded, raw, or with broken escapes mixed in. */
export function encodeParamBytes(b: Buffer, style: number): string {
  let out = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    const printable = c > 0x20 && c < 0x7f && c !== 0x23;
    const hex = c.toString(16).padStart(2, '0');
    if (style % 3 === 0 || !printable) out += `%${style % 2 === 0 ? hex.toUpperCase() : hex}`;
    else if (style % 3 === 1) out += String.fromCharCode(c);
    else out += c === 0x25 ? '%' : c === 0x41 ? '%4' : c === 0x42 ? '%G2' : String.fromCharCode(c);
  }
  return out;
}

export const PARAM_NAMES = ['cmd', 'key', 'valuedata', 'exptime', 'token', 'owl_token', 'pass', 'address', 'group_type', 'target'] as const;
export const DATA_CMDS = ['get', 'set', 'expire', 'delete', 'exist', 'ping', 'pass', '', 'GET', 'Set', 'getall', 'add', 'info', 'set\u0000', 'x'] as const;

/** A parameter name: a known one (so commands are reached) or anything. */
export const paramNameArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...PARAM_NAMES) },
  { weight: 1, arbitrary: bytesArb(8).map((b) => b.toString('latin1')) },
);

/** A query string of name=value pairs with duplicates, odd encodings, empty names and stray separators. */
export const rawQueryArb: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      paramNameArb,
      fc.oneof(
        fc.constantFrom(...DATA_CMDS).map((s) => Buffer.from(s)),
        bytesArb(40),
        textArb.map((s) => Buffer.from(s, 'utf8')),
      ),
      fc.nat(5),
      fc.constantFrom('=', '', '==', '=&'),
    ),
    { maxLength: 8 },
  )
  .map((pairs) => pairs.map(([n, v, style, eq]) => `${encodeParamBytes(Buffer.from(n, 'latin1'), 1)}${eq}${encodeParamBytes(v, style)}`).join('&'));

/** Tokens that must never be accepted. */
export function badTokenArb(validToken: string): fc.Arbitrary<string> {
  const jwt = Buffer.from(validToken, 'base64').toString('utf8');
  const [h, p, s] = jwt.split('.') as [string, string, string];
  const b64u = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return fc.oneof(
    textArb,
    fc.constant(`${b64u({ alg: 'none', typ: 'JWT' })}.${p}.`),
    fc.constant(`${h}.${b64u({ ip: '127.0.0.1', iat: 1, exp: 9_999_999_999 })}.${s}`),
    fc.nat({ max: Math.max(0, validToken.length - 1) }).map((i) => validToken.slice(0, i) + (validToken[i] === 'A' ? 'B' : 'A') + validToken.slice(i + 1)),
    fc.nat({ max: Math.max(0, jwt.length - 1) }).map((i) => jwt.slice(0, i) + (jwt[i] === 'a' ? 'b' : 'a') + jwt.slice(i + 1)),
    fc.constant(jwt.slice(0, -2)),
    fc.constant(`${jwt}.`),
    fc.constant(Buffer.from(`${h}.${p}`).toString('base64')),
  );
}

export const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=latin1',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'multipart/form-data; boundary=XYZ',
  'multipart/form-data; boundary="unterminated',
  'application/octet-stream',
  'application/json',
  'text/plain; charset=utf-16',
  '',
  ';;;',
  'MULTIPART/FORM-DATA; BOUNDARY=XYZ',
] as const;

/** A multipart body for boundary XYZ, often broken: missing end, wrong boundary, bad part headers, truncated. */
export const multipartArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.array(
      fc.tuple(paramNameArb, bytesArb(60), fc.boolean(), fc.constantFrom('', 'Content-Type: text/plain\r\n', 'Content-Disposition: nonsense\r\n', 'X: y\r\n')),
      { maxLength: 5 },
    ),
    fc.constantFrom('XYZ', 'XY', 'XYZ ', 'ABC', ''),
    fc.constantFrom('--\r\n', '', '--', '\r\n', '-'),
    fc.nat(300),
    fc.boolean(),
  )
  .map(([parts, boundary, end, cut, truncate]) => {
    const chunks: Buffer[] = [];
    for (const [name, value, asFile, extra] of parts) {
      const fname = asFile ? `; filename="f${value.length}.bin"` : '';
      chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${fname}\r\n${extra}\r\n`, 'latin1'), value, Buffer.from('\r\n'));
    }
    chunks.push(Buffer.from(`--${boundary}${end}`));
    const all = Buffer.concat(chunks);
    return truncate ? all.subarray(0, Math.min(cut, all.length)) : all;
  });

/** Runs `fn` with a deadline; a hang becomes a failure naming `what`. */
export async function bounded<T>(what: string, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (hang)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens a TCP connection, writes `data` (in the pieces given), half-closes, and
 * collects everything the server sends until it closes. A server that neither
 * answers nor closes within `timeoutMs` is a hang (rejects).
 */
export function exchange(port: number, pieces: Buffer[], timeoutMs = 5000, endAfterWrite = true): Promise<{ data: Buffer; reset: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let reset = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `connection to ${port} neither answered nor closed within ${timeoutMs} ms (hang); got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(-300))}`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may cut a connection that keeps sending after it decided to close: a clean refusal, not a crash.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') reset = true;
      else {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), reset });
    });
    socket.on('connect', () => {
      for (const p of pieces) socket.write(p);
      if (endAfterWrite) socket.end();
    });
  });
}
