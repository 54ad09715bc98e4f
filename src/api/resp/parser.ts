/**
 * Incremental parser of Redis requests (RESP2): multibulk frames
 * (`*N\r\n$len\r\nbytes\r\n…`) and inline commands (`SET a b\r\n`, as typed in
 * telnet or sent by some tools). Works on Buffers with indexes: arguments that
 * arrive whole in one chunk are views of that chunk (callers copy what they keep),
 * and a bulk split across chunks is gathered piece by piece and joined once.
 *
 * Memory is bounded before it is spent: a declared bulk length, argument count
 * or a command's total size over the limits is a protocol error, raised as soon
 * as the header is read, never after allocating what it asks for. Until the
 * connection has authenticated (when a password is set), the limits are those
 * Redis 7 applies to an unauthenticated client: a handful of arguments and
 * small bulks, so a stranger cannot make the node hold megabytes.
 */

export class RespProtocolError extends Error {}

/**
 * What `next()` returns for a command one of whose bulks was longer than
 * `maxBulk` but within Redis's own bulk limit (512 MB): its bytes were read and
 * dropped as they came, never held, so the connection can answer an error and
 * go on (a client storing a too-big value is not a protocol failure).
 */
export const OVERSIZED_COMMAND: Buffer[] = Object.freeze([]) as unknown as Buffer[];
/** Redis's proto-max-bulk-len: past it a bulk is garbage, not a big value. */
const SKIPPABLE_BULK = 512 * 1024 * 1024;

export interface RespParserLimits {
  /** Largest bulk argument, bytes. */
  maxBulk: number;
  /** Most arguments in one command. */
  maxArgs: number;
  /** Longest inline command line, bytes. */
  maxInline: number;
  /** Most bytes one command may hold (arguments plus a per-argument overhead). */
  maxCommandBytes: number;
}

export const DEFAULT_LIMITS: RespParserLimits = {
  maxBulk: 512 * 1024 * 1024,
  maxArgs: 1024 * 1024,
  maxInline: 64 * 1024,
  maxCommandBytes: 1024 * 1024 * 1024,
};

/** What an unauthenticated client may send in one command (Redis 7's limits; AUTH needs three short arguments). */
export const UNAUTHENTICATED_LIMITS = { maxArgs: 10, maxBulk: 16 * 1024 } as const;

/** What one argument costs beyond its bytes (the Buffer object and array slot), for maxCommandBytes. */
const ARG_OVERHEAD = 64;
/** `*`/`$` header lines are short; a longer one is garbage. */
const MAX_HEADER_LINE = 64;

/** What nextPlain() found at the head of the bytes held. */
export const NOT_PLAIN = 0;
export const PLAIN_GET = 1;
export const PLAIN_SET = 2;
/** Longest key nextPlain() takes; a longer one is read by next(). */
const PLAIN_KEY_MAX = 256;

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
const EMPTY = Buffer.alloc(0);

export class RespParser {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Arguments still expected in the current multibulk; 0 = between commands. */
  private argsLeft = 0;
  private args: Buffer[] = [];
  private commandBytes = 0;
  /** Payload bytes (plus CRLF) still expected for the bulk being read; -1 = none. */
  private bulkLeft = -1;
  private bulkParts: Buffer[] = [];
  private bulkLen = 0;
  private failed: RespProtocolError | null = null;
  /** The bulk being read is dropped as it arrives (over maxBulk). */
  private discarding = false;
  /** The current command had a dropped bulk. */
  private oversized = false;

  /** `authenticated` false: UNAUTHENTICATED_LIMITS hold until `authenticate()`. */
  constructor(
    readonly limits: RespParserLimits = DEFAULT_LIMITS,
    private authenticated = true,
  ) {}

  /** Lifts the unauthenticated limits (the connection has passed AUTH); commands after this one get the full limits. */
  authenticate(): void {
    this.authenticated = true;
  }

  /** The key of the command nextPlain() last took, and a SET's value: a view of the bytes pushed (callers copy what they keep). */
  plainKey = '';
  plainValue: Buffer = EMPTY;
  /** Where the length lengthAt() last read ends (after its CRLF). */
  private scanned = 0;

  /** Adds received bytes. Call `next` until it returns null before pushing again, or data is copied. */
  push(chunk: Buffer): void {
    if (this.failed !== null || chunk.length === 0) return;
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      // Only a partial header or inline line (or unread commands, if the caller stopped early) is left.
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  /** Unparsed bytes held (not counting a bulk being gathered). */
  get pending(): number {
    return this.buf.length - this.pos;
  }

  /**
   * The next complete command's arguments, or null if more bytes are needed.
   * Throws RespProtocolError on a malformed frame; the connection must then be
   * closed (the parser stays failed).
   */
  next(): Buffer[] | null {
    if (this.failed !== null) throw this.failed;
    try {
      return this.parse();
    } catch (err) {
      if (err instanceof RespProtocolError) {
        this.failed = err;
        this.buf = EMPTY;
        this.pos = 0;
        this.args = [];
        this.bulkParts = [];
      }
      throw err;
    }
  }

  /**
   * The pipeline's fast path: a `GET key` or `SET key value` in the multibulk
   * form clients send (`*2\r\n$3\r\nGET\r\n$…`), wholly within the bytes held,
   * with an ASCII key of at most PLAIN_KEY_MAX bytes, is taken where it lies:
   * no argument array, the key straight to a string, a SET's value one view.
   * Anything else (another command, a frame split across reads, a longer or
   * non-ASCII key, a value over maxBulk, an unauthenticated connection, a frame
   * next() would refuse) is NOT_PLAIN, nothing is consumed, and next() reads it.
   */
  nextPlain(): number {
    if (this.argsLeft !== 0 || this.bulkLeft >= 0 || this.failed !== null || !this.authenticated) return NOT_PLAIN;
    const b = this.buf;
    const p = this.pos;
    if (b.length - p < 16 || b[p] !== STAR || b[p + 2] !== CR || b[p + 3] !== LF || b[p + 4] !== DOLLAR || b[p + 5] !== 0x33) return NOT_PLAIN;
    if (b[p + 6] !== CR || b[p + 7] !== LF || b[p + 11] !== CR || b[p + 12] !== LF || b[p + 13] !== DOLLAR) return NOT_PLAIN;
    if ((b[p + 9]! | 0x20) !== 0x65 || (b[p + 10]! | 0x20) !== 0x74) return NOT_PLAIN;
    const letter = b[p + 8]! | 0x20;
    const kind = b[p + 1] === 0x32 && letter === 0x67 ? PLAIN_GET : b[p + 1] === 0x33 && letter === 0x73 ? PLAIN_SET : NOT_PLAIN;
    if (kind === NOT_PLAIN || this.limits.maxArgs < kind + 1) return NOT_PLAIN;
    const keyLen = this.lengthAt(p + 14, PLAIN_KEY_MAX);
    if (keyLen < 0) return NOT_PLAIN;
    const ks = this.scanned;
    const ke = ks + keyLen;
    if (ke + 2 > b.length || b[ke] !== CR || b[ke + 1] !== LF) return NOT_PLAIN;
    for (let i = ks; i < ke; i++) if (b[i]! >= 0x80) return NOT_PLAIN;
    let end = ke + 2;
    let value: Buffer = EMPTY;
    if (kind === PLAIN_SET) {
      if (b[end] !== DOLLAR) return NOT_PLAIN;
      const valueLen = this.lengthAt(end + 1, this.limits.maxBulk);
      if (valueLen < 0 || keyLen + valueLen + 3 + 3 * ARG_OVERHEAD > this.limits.maxCommandBytes) return NOT_PLAIN;
      const vs = this.scanned;
      const ve = vs + valueLen;
      if (ve + 2 > b.length || b[ve] !== CR || b[ve + 1] !== LF) return NOT_PLAIN;
      value = b.subarray(vs, ve);
      end = ve + 2;
    }
    this.plainKey = b.toString('latin1', ks, ke);
    this.plainValue = value;
    this.pos = end;
    return kind;
  }

  /** A bulk length `<digits>\r\n` at `at`, at most `max`, with its end in `scanned`; -1 if it is not one wholly held. */
  private lengthAt(at: number, max: number): number {
    const b = this.buf;
    let n = 0;
    let i = at;
    for (; i < b.length && i - at < 11; i++) {
      const d = b[i]! - 0x30;
      if (d < 0 || d > 9) break;
      n = n * 10 + d;
    }
    if (i === at || n > max || i + 1 >= b.length || b[i] !== CR || b[i + 1] !== LF) return -1;
    this.scanned = i + 2;
    return n;
  }

  private parse(): Buffer[] | null {
    for (;;) {
      if (this.bulkLeft >= 0) {
        if (!this.readBulkPayload()) return null;
        if (this.argsLeft === 0) return this.finish();
        continue;
      }
      if (this.pos >= this.buf.length) return null;
      if (this.argsLeft === 0) {
        if (this.buf[this.pos] !== STAR) {
          const inline = this.readInline();
          if (inline === null) return null;
          if (inline.length === 0) continue;
          return inline;
        }
        const n = this.readHeader(STAR);
        if (n === null) return null;
        if (n > this.limits.maxArgs) throw new RespProtocolError('Protocol error: invalid multibulk length');
        if (!this.authenticated && n > UNAUTHENTICATED_LIMITS.maxArgs) throw new RespProtocolError('Protocol error: unauthenticated multibulk length');
        // `*0` and `*-1` carry no command; Redis skips them.
        if (n <= 0) continue;
        this.argsLeft = n;
        this.args = [];
        this.commandBytes = 0;
        continue;
      }
      if (this.buf[this.pos] !== DOLLAR) {
        throw new RespProtocolError(`Protocol error: expected '$', got '${String.fromCharCode(this.buf[this.pos]!)}'`);
      }
      const len = this.readHeader(DOLLAR);
      if (len === null) return null;
      if (len < 0 || len > SKIPPABLE_BULK) throw new RespProtocolError('Protocol error: invalid bulk length');
      if (!this.authenticated && len > UNAUTHENTICATED_LIMITS.maxBulk) throw new RespProtocolError('Protocol error: unauthenticated bulk length');
      if (len > this.limits.maxBulk) {
        this.argsLeft -= 1;
        this.oversized = true;
        this.discarding = true;
        this.bulkLen = 0;
        this.bulkLeft = len + 2;
        continue;
      }
      this.commandBytes += len + ARG_OVERHEAD;
      if (this.commandBytes > this.limits.maxCommandBytes) throw new RespProtocolError('Protocol error: command too large');
      this.argsLeft -= 1;
      const end = this.pos + len;
      if (end + 2 <= this.buf.length) {
        if (this.buf[end] !== CR || this.buf[end + 1] !== LF) throw new RespProtocolError('Protocol error: bulk not followed by CRLF');
        this.args.push(this.buf.subarray(this.pos, end));
        this.pos = end + 2;
        if (this.argsLeft === 0) return this.finish();
        continue;
      }
      this.bulkLen = len;
      this.bulkLeft = len + 2;
      this.bulkParts = [];
    }
  }

  private finish(): Buffer[] {
    const args = this.args;
    this.args = [];
    this.commandBytes = 0;
    if (this.oversized) {
      this.oversized = false;
      return OVERSIZED_COMMAND;
    }
    return args;
  }

  /** Gathers a split bulk's payload; true once it is complete (and pushed to args). */
  private readBulkPayload(): boolean {
    const avail = this.buf.length - this.pos;
    if (this.discarding) {
      const used = Math.min(avail, this.bulkLeft);
      this.pos += used;
      this.bulkLeft -= used;
      if (this.bulkLeft > 0) return false;
      this.bulkLeft = -1;
      this.discarding = false;
      return true;
    }
    if (avail < this.bulkLeft) {
      if (avail > 0) this.bulkParts.push(this.buf.subarray(this.pos));
      this.bulkLeft -= avail;
      this.pos = this.buf.length;
      return false;
    }
    this.bulkParts.push(this.buf.subarray(this.pos, this.pos + this.bulkLeft));
    this.pos += this.bulkLeft;
    this.bulkLeft = -1;
    const whole = Buffer.concat(this.bulkParts, this.bulkLen + 2);
    this.bulkParts = [];
    if (whole[this.bulkLen] !== CR || whole[this.bulkLen + 1] !== LF) throw new RespProtocolError('Protocol error: bulk not followed by CRLF');
    this.args.push(whole.subarray(0, this.bulkLen));
    return true;
  }

  /** Reads `<prefix><integer>\r\n` at pos; null if the line is not complete yet. */
  private readHeader(prefix: number): number | null {
    const buf = this.buf;
    const nl = buf.indexOf(LF, this.pos + 1);
    if (nl === -1) {
      if (buf.length - this.pos > MAX_HEADER_LINE) throw this.badHeader(prefix);
      return null;
    }
    const end = buf[nl - 1] === CR ? nl - 1 : nl;
    if (end - this.pos > MAX_HEADER_LINE) throw this.badHeader(prefix);
    let i = this.pos + 1;
    let negative = false;
    if (buf[i] === 0x2d) {
      negative = true;
      i += 1;
    }
    if (i >= end) throw this.badHeader(prefix);
    let n = 0;
    for (; i < end; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) throw this.badHeader(prefix);
      n = n * 10 + d;
      // Past every limit already; stop before the number loses precision.
      if (n > Number.MAX_SAFE_INTEGER / 10) throw this.badHeader(prefix);
    }
    this.pos = nl + 1;
    return negative ? -n : n;
  }

  private badHeader(prefix: number): RespProtocolError {
    return new RespProtocolError(prefix === STAR ? 'Protocol error: invalid multibulk length' : 'Protocol error: invalid bulk length');
  }

  /** An inline command line split into arguments; null if incomplete. */
  private readInline(): Buffer[] | null {
    const nl = this.buf.indexOf(LF, this.pos);
    if (nl === -1) {
      if (this.buf.length - this.pos > this.limits.maxInline) throw new RespProtocolError('Protocol error: too big inline request');
      return null;
    }
    if (nl - this.pos > this.limits.maxInline) throw new RespProtocolError('Protocol error: too big inline request');
    const end = nl > this.pos && this.buf[nl - 1] === CR ? nl - 1 : nl;
    const line = this.buf.subarray(this.pos, end);
    this.pos = nl + 1;
    return splitInline(line);
  }
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === CR || c === LF || c === 0x0b || c === 0x0c;
const hexVal = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

/**
 * Splits an inline command the way redis-cli and Redis read one: words separated
 * by blanks, "double quotes" with \n \r \t \b \a \\ \" \xHH escapes, 'single
 * quotes' with only \' escaped. Unbalanced quotes are a protocol error.
 */
export function splitInline(line: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) break;
    const q = line[i];
    if (q !== 0x22 && q !== 0x27) {
      const start = i;
      while (i < n && !isSpace(line[i]!)) i++;
      out.push(line.subarray(start, i));
      continue;
    }
    const bytes: number[] = [];
    i++;
    let closed = false;
    while (i < n) {
      const c = line[i]!;
      if (c === q) {
        closed = true;
        i++;
        break;
      }
      if (c === 0x5c && i + 1 < n) {
        const e = line[i + 1]!;
        if (q === 0x27) {
          if (e === 0x27) {
            bytes.push(0x27);
            i += 2;
            continue;
          }
        } else if (e === 0x78 && i + 3 < n && hexVal(line[i + 2]!) >= 0 && hexVal(line[i + 3]!) >= 0) {
          bytes.push(hexVal(line[i + 2]!) * 16 + hexVal(line[i + 3]!));
          i += 4;
          continue;
        } else {
          const map: Record<number, number> = { 110: 0x0a, 114: 0x0d, 116: 0x09, 98: 0x08, 97: 0x07 };
          bytes.push(map[e] ?? e);
          i += 2;
          continue;
        }
      }
      bytes.push(c);
      i++;
    }
    // A closing quote must be followed by a blank or the end, as in Redis.
    if (!closed || (i < n && !isSpace(line[i]!))) throw new RespProtocolError('Protocol error: unbalanced quotes in request');
    out.push(Buffer.from(bytes));
  }
  return out;
}
