import type { Socket } from 'node:net';

/**
 * Collects a connection's RESP2 replies and writes them in as few socket writes
 * as possible: the replies to a pipelined batch go out together, small ones
 * joined into one buffer. Text pieces are ASCII by construction (protocol
 * markers, numbers, error texts are sanitised), so they are written as latin1.
 */

const CRLF = '\r\n';
/** Batches up to this size are joined into one buffer; larger ones are written piece by piece (corked). */
const JOIN_LIMIT = 64 * 1024;

export const OK = '+OK\r\n';
export const NIL = '$-1\r\n';
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

export class ReplyWriter {
  private parts: (string | Buffer)[] = [];
  /** Bytes collected and not yet flushed. */
  size = 0;
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

  bulk(value: Buffer | string | null): void {
    if (value === null) {
      this.raw(NIL);
      return;
    }
    const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (b.length <= 256) {
      // Small values: one piece; latin1 maps every byte to one character and back.
      this.raw(`$${b.length}${CRLF}${b.toString('latin1')}${CRLF}`);
      return;
    }
    this.raw(`$${b.length}${CRLF}`);
    this.parts.push(b);
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
