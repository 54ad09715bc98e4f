import type { Socket } from 'node:net';

/**
 * Collects a connection's replies, in RESP2 or RESP3 as the connection chose
 * with HELLO (`proto`): the RESP3 types (null, map, set, double, boolean,
 * verbatim text) are written as their RESP2 equivalents on a RESP2
 * connection, as Redis does. Replies and writes them in as few socket writes
 * as possible: the replies to a pipelined batch go out together, small ones
 * joined into one buffer. Text pieces are ASCII by construction (protocol
 * markers, numbers, error texts are sanitised), so they are written as latin1.
 */

const CRLF = '\r\n';
/** Batches up to this size are joined into one buffer; larger ones are written piece by piece (corked). */
const JOIN_LIMIT = 64 * 1024;

export const OK = '+OK\r\n';
export const QUEUED = '+QUEUED\r\n';
export const EMPTY_ARRAY = '*0\r\n';
export const PONG = '+PONG\r\n';

/** Error text as Redis sends it: one line, no CR/LF. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

/** Non-ASCII characters become `?`, so every text piece is one byte per character. */
function ascii(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text : text.replace(/[^\x00-\x7f]/g, '?');
}

/** Redis's text for a double: integral values without a fraction, the others with 17 significant digits, inf and -inf. */
export function doubleText(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (Number.isInteger(x) && Math.abs(x) < 1e17) return String(x);
  return String(Number(x.toPrecision(17)));
}

export type Protocol = 2 | 3;

export class ReplyWriter {
  private parts: (string | Buffer)[] = [];
  /** Bytes collected and not yet flushed. */
  size = 0;
  /** The connection's protocol version (HELLO). */
  proto: Protocol = 2;
  /** Error replies written so far, and the last one's code word (for the request counter). */
  errors = 0;
  lastErrorCode = '';

  private raw(s: string): void {
    this.parts.push(s);
    this.size += s.length;
  }

  simple(text: string): void {
    this.raw(`+${ascii(oneLine(text))}${CRLF}`);
  }

  /** `text` is the whole message including its code word, e.g. `ERR syntax error`. */
  error(text: string): void {
    this.errors += 1;
    const space = text.indexOf(' ');
    this.lastErrorCode = space === -1 ? text : text.slice(0, space);
    this.raw(`-${ascii(oneLine(text))}${CRLF}`);
  }

  integer(n: number): void {
    this.raw(`:${n}${CRLF}`);
  }

  /** The null reply: RESP2's null bulk string, RESP3's null. */
  nil(): void {
    this.raw(this.proto === 3 ? '_\r\n' : '$-1\r\n');
  }

  /** A null where an array was expected (EXEC of an aborted transaction): RESP2's null array. */
  nilArray(): void {
    this.raw(this.proto === 3 ? '_\r\n' : '*-1\r\n');
  }

  /** A map of `n` key/value pairs follows (RESP2: an array of 2n items). */
  mapHeader(n: number): void {
    this.raw(this.proto === 3 ? `%${n}${CRLF}` : `*${2 * n}${CRLF}`);
  }

  /** A set of `n` items follows (RESP2: an array). */
  setHeader(n: number): void {
    this.raw(this.proto === 3 ? `~${n}${CRLF}` : `*${n}${CRLF}`);
  }

  double(x: number): void {
    const text = doubleText(x);
    if (this.proto === 3) this.raw(`,${text}${CRLF}`);
    else this.bulk(text);
  }

  /** RESP3's boolean; RESP2 has none and gets 1 or 0. */
  boolean(b: boolean): void {
    this.raw(this.proto === 3 ? (b ? '#t\r\n' : '#f\r\n') : `:${b ? 1 : 0}${CRLF}`);
  }

  /** Text meant for people (INFO, CLIENT LIST): RESP3's verbatim string, RESP2's bulk string. */
  verbatim(text: string): void {
    if (this.proto !== 3) return this.bulk(text);
    const b = Buffer.from(`txt:${text}`, 'utf8');
    this.raw(`=${b.length}${CRLF}`);
    this.parts.push(b);
    this.size += b.length;
    this.raw(CRLF);
  }

  /** A map of text fields to values, each a string (bulk), a number (integer) or null. */
  map(fields: readonly (readonly [string, string | number | Buffer | null])[]): void {
    this.mapHeader(fields.length);
    for (const [k, v] of fields) {
      this.bulk(k);
      if (typeof v === 'number') this.integer(v);
      else this.bulk(v);
    }
  }

  bulk(value: Buffer | string | null): void {
    if (value === null) {
      this.nil();
      return;
    }
    this.bulkBytes(typeof value === 'string' ? Buffer.from(value, 'utf8') : value, false);
  }

  /** A bulk string of bytes that are only lent (a view of the store's arena): they are copied now. */
  bulkCopy(view: Buffer): void {
    this.bulkBytes(view, true);
  }

  private bulkBytes(b: Buffer, lent: boolean): void {
    if (b.length <= 256) {
      // Small values: one piece; latin1 maps every byte to one character and back.
      this.raw(`$${b.length}${CRLF}${b.toString('latin1')}${CRLF}`);
      return;
    }
    this.raw(`$${b.length}${CRLF}`);
    this.parts.push(lent ? Buffer.from(b) : b);
    this.size += b.length;
    this.raw(CRLF);
  }

  arrayHeader(n: number): void {
    this.raw(`*${n}${CRLF}`);
  }

  array(items: readonly (Buffer | string | null)[]): void {
    this.arrayHeader(items.length);
    for (const item of items) this.bulk(item);
  }

  /** A prebuilt reply (OK, NIL, …). */
  constant(text: string): void {
    this.raw(text);
  }

  /** Writes what was collected. Returns false if the socket's buffer is over its mark. */
  flush(socket: Socket): boolean {
    const parts = this.parts;
    if (parts.length === 0) return true;
    const size = this.size;
    this.parts = [];
    this.size = 0;
    if (parts.length === 1) {
      const p = parts[0]!;
      return typeof p === 'string' ? socket.write(p, 'latin1') : socket.write(p);
    }
    if (size <= JOIN_LIMIT) {
      const out = Buffer.allocUnsafe(size);
      let at = 0;
      for (const p of parts) at += typeof p === 'string' ? out.write(p, at, 'latin1') : p.copy(out, at);
      return socket.write(out);
    }
    socket.cork();
    let ok = true;
    for (const p of parts) ok = (typeof p === 'string' ? socket.write(p, 'latin1') : socket.write(p)) && ok;
    socket.uncork();
    return ok;
  }
}
