import { Busboy, type BusboyHeaders, type BusboyInstance } from '@fastify/busboy';
import type { IncomingMessage } from 'node:http';
import getRawBody from 'raw-body';

/**
 * Request parameters from the query string and the body, binary-safe: values
 * are kept as bytes (a percent-encoded 0xFF stays 0xFF), names and text values
 * decode as UTF-8. As in Go's FormValue, body values come before query values
 * and the first value of a repeated name wins.
 */
export class Params {
  constructor(
    private readonly body: Map<string, Buffer[]>,
    private readonly query: Map<string, Buffer[]>,
  ) {}

  bytes(name: string): Buffer | undefined {
    return this.body.get(name)?.[0] ?? this.query.get(name)?.[0];
  }

  str(name: string): string | undefined {
    return this.bytes(name)?.toString('utf8');
  }

  /** The first of several names that is present (aliases such as token / owl_token). */
  strAny(...names: string[]): string | undefined {
    for (const n of names) {
      const v = this.str(n);
      if (v !== undefined) return v;
    }
    return undefined;
  }
}

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
  }
}

/** A body over the unauthenticated read limit, from a request whose token was not checked before its body. */
export class BodyNeedsToken extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes and carries no valid token outside the body`);
  }
}

export class BadBody extends Error {}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Percent-decodes bytes (and `+` as space); malformed escapes are kept literally. */
export function percentDecode(src: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    if (c === 0x2b) {
      out[n++] = 0x20;
    } else if (c === 0x25 && i + 2 < end) {
      const hi = hexVal(src[i + 1]!);
      const lo = hexVal(src[i + 2]!);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
      } else {
        out[n++] = c;
      }
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** Index of byte `c` in `src` at or after `from`; src.length if there is none. */
function indexOrEnd(src: Buffer, c: number, from: number): number {
  const i = src.indexOf(c, from);
  return i === -1 ? src.length : i;
}

/**
 * Parses `a=1&b=2` bytes into name → values. The next `=`, `%` and `+` are
 * each searched for again only once passed, so the form is scanned once
 * however many parts it has, and a part with neither `%` nor `+` (the usual
 * case) is copied as it is instead of decoded byte by byte.
 */
export function parseForm(src: Buffer): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  let nextEq = -1;
  let nextPercent = -1;
  let nextPlus = -1;
  let start = 0;
  while (start <= src.length) {
    const end = indexOrEnd(src, 0x26, start);
    if (end > start) {
      if (nextEq < start) nextEq = indexOrEnd(src, 0x3d, start);
      if (nextPercent < start) nextPercent = indexOrEnd(src, 0x25, start);
      if (nextPlus < start) nextPlus = indexOrEnd(src, 0x2b, start);
      const eq = Math.min(nextEq, end);
      const name = nextPercent < eq || nextPlus < eq ? percentDecode(src, start, eq).toString('utf8') : src.toString('utf8', start, eq);
      let value: Buffer;
      if (eq < end) {
        if (nextPercent <= eq) nextPercent = indexOrEnd(src, 0x25, eq + 1);
        if (nextPlus <= eq) nextPlus = indexOrEnd(src, 0x2b, eq + 1);
        value = nextPercent < end || nextPlus < end ? percentDecode(src, eq + 1, end) : copyOf(src, eq + 1, end);
      } else {
        value = Buffer.alloc(0);
      }
      const list = out.get(name);
      if (list) list.push(value);
      else out.set(name, [value]);
    }
    start = end + 1;
  }
  return out;
}

/** A copy, not a view: a small value kept must not keep the whole request alive. */
function copyOf(src: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  src.copy(out, 0, start, end);
  return out;
}

const EMPTY = new Map<string, Buffer[]>();

export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

export interface BodyLimits {
  /** Largest value accepted (raw or multipart bodies may carry this much, plus `slack`). */
  maxValueSize: number;
  /** Room for the other parameters. */
  slack: number;
  /** Set while the request's token is unchecked: the most bytes read before it is (BodyNeedsToken past it). */
  unauthenticated?: number;
}

/** The body's declared length, NaN if it is streamed. */
const declaredLength = (req: IncomingMessage) => Number(req.headers['content-length'] ?? NaN);

/**
 * Reads the body's parameters. A declared Content-Length over the limit (413)
 * or, unauthenticated, over `limits.unauthenticated` (BodyNeedsToken) is
 * refused before a byte is read; a streamed body is cut off at the limit.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Map<string, Buffer[]>> {
  if (!hasBody(req)) return EMPTY;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return readMultipart(req, limits);
  // Percent-encoding may triple a binary value's size.
  const full = type.startsWith('application/x-www-form-urlencoded') ? 3 * limits.maxValueSize + limits.slack : limits.maxValueSize + limits.slack;
  const limit = checkDeclared(req, full, limits.unauthenticated);
  let raw: Buffer;
  try {
    raw = await getRawBody(req, { limit, length: req.headers['content-length'] });
  } catch (err) {
    const e = err as { type?: string; message?: string };
    if (e.type === 'entity.too.large') throw limit < full ? new BodyNeedsToken(limit) : new BodyTooLarge(full);
    throw new BadBody(e.message ?? 'cannot read the request body');
  }
  if (type.startsWith('application/x-www-form-urlencoded')) return parseForm(raw);
  return new Map([['valuedata', [raw]]]);
}

/**
 * Reads and drops what is left of a refused request's body, up to `maxBytes`
 * more and for at most `maxMs`; true if the request ended within them. A
 * connection closed while the client still sends is reset, and the reset can
 * reach the client before the answer does; one whose body was read to its end
 * is answered cleanly and stays open. A body announced larger than `maxBytes`
 * is not waited for.
 */
export function discardBody(req: IncomingMessage, maxBytes: number, maxMs: number): Promise<boolean> {
  if (req.complete) return Promise.resolve(true);
  if (declaredLength(req) > maxBytes || req.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ended: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done(false);
    };
    const onEnd = () => done(true);
    const onError = () => done(false);
    const timer = setTimeout(() => done(false), maxMs);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.unpipe();
    req.resume();
  });
}

/**
 * Refuses a declared length over the full limit (BodyTooLarge) or over the
 * unauthenticated one (BodyNeedsToken); returns the most bytes to read.
 */
function checkDeclared(req: IncomingMessage, full: number, unauthenticated: number | undefined): number {
  const declared = declaredLength(req);
  if (declared > full) throw new BodyTooLarge(full);
  if (unauthenticated === undefined || unauthenticated >= full) return full;
  if (declared > unauthenticated) throw new BodyNeedsToken(unauthenticated);
  return unauthenticated;
}

function readMultipart(req: IncomingMessage, limits: BodyLimits): Promise<Map<string, Buffer[]>> {
  const full = limits.maxValueSize + limits.slack;
  let limit: number;
  try {
    limit = checkDeclared(req, full, limits.unauthenticated);
  } catch (err) {
    return Promise.reject(err as Error);
  }
  return new Promise((resolve, reject) => {
    const out = new Map<string, Buffer[]>();
    const add = (name: string, value: Buffer) => {
      const list = out.get(name);
      if (list) list.push(value);
      else out.set(name, [value]);
    };
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      req.unpipe();
      req.resume();
      reject(err);
    };
    let parser: BusboyInstance;
    try {
      parser = new Busboy({
        headers: req.headers as BusboyHeaders,
        // Field values decoded as latin1 are the part's exact bytes (Buffer.from(value, 'latin1') below); utf8 would mangle binary and non-ASCII values.
        defCharset: 'latin1',
        limits: { fieldSize: limits.maxValueSize + 1, fileSize: limits.maxValueSize + 1, fields: 200, files: 20, parts: 220, headerPairs: 50 },
      });
    } catch (err) {
      reject(new BadBody((err as Error).message));
      return;
    }
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) fail(limit < full ? new BodyNeedsToken(limit) : new BodyTooLarge(limit));
    });
    parser.on('field', (name: string, value: string, _nameTruncated: boolean, valueTruncated: boolean) => {
      if (valueTruncated) return fail(new BodyTooLarge(limits.maxValueSize));
      add(name, Buffer.from(value, 'latin1'));
    });
    parser.on('file', (name: string, stream: NodeJS.ReadableStream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(new BodyTooLarge(limits.maxValueSize)));
      // A part cut short (the body ends inside it) is an error of the part's stream, not of the parser: unheard, it would end the process.
      stream.on('error', (err: Error) => fail(new BadBody(err.message)));
      stream.on('end', () => add(name, Buffer.concat(chunks)));
    });
    parser.on('partsLimit', () => fail(new BadBody('too many parts')));
    parser.on('filesLimit', () => fail(new BadBody('too many files')));
    parser.on('fieldsLimit', () => fail(new BadBody('too many fields')));
    parser.on('error', (err: Error) => fail(new BadBody(err.message)));
    parser.on('finish', () => {
      if (!failed) resolve(out);
    });
    req.on('error', (err) => fail(new BadBody(err.message)));
    req.pipe(parser);
  });
}

/** Parameters of the query string, as bytes (the URL's bytes arrive as latin1 text). */
export function parseQuery(querystring: string): Map<string, Buffer[]> {
  if (querystring === '') return EMPTY;
  return parseForm(Buffer.from(querystring, 'latin1'));
}
