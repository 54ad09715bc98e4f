import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { logger } from '../../log.js';
import { isWordAt } from '../ascii-word.js';
import { closeSocket } from '../listener.js';
import type { FastAnswer, FastRequest, FastSet } from './fast-path.js';

const log = logger('http');

/**
 * The plain-HTTP port's connections start here, not in node:http: the hot
 * requests (fast-path.ts) are parsed from the socket's chunk and answered in
 * place, which costs less than node:http's parser, IncomingMessage and
 * ServerResponse do for each request. At the first request this front does not
 * take (a body, a path Koa serves, a head split across reads unless an answered
 * request came before it in the same read, anything it does not fully
 * understand) the connection is handed to node:http, with that
 * request's bytes put back, and stays there: node:http and Koa answer it, with
 * their own limits and timeouts. So this front only has to recognise a narrow,
 * strict form of request, and anything else is node:http's to accept or refuse.
 *
 * What it takes: `GET` or `HEAD`, a target of printable ASCII, `HTTP/1.1`,
 * header lines of printable ASCII ending in CRLF, exactly one `Host`, no
 * `Transfer-Encoding`, `Expect` or `Upgrade`, `Content-Length` absent or `0`,
 * `Connection` absent, `keep-alive` or `close`; and only if the fast path
 * answers it. The answer is the bytes node:http sends for the same answer
 * (status line, the fast path's headers, then Date, Connection, Keep-Alive),
 * which the unit tests compare. A set is answered at the end of its turn
 * (WireFront).
 */

/** The head of a request the front may answer (it has no body). */
export interface WireHead {
  method: 'GET' | 'HEAD';
  url: string;
  authorization: string | undefined;
  /** The client asked for the connection to close after this answer. */
  close: boolean;
  /** Offset just past the head's empty line: the next request starts there. */
  end: number;
}

/** Most bytes of a head looked at (node:http's default maxHeaderSize); a longer head is node:http's to refuse. */
const MAX_HEAD_BYTES = 16 * 1024;

/** Bytes of answers queued for a client that does not read, past which its requests are not read either. */
const MAX_QUEUED_BYTES = 1024 * 1024;

const HTTP11 = Buffer.from(' HTTP/1.1\r\n', 'latin1');
const END_OF_HEAD = Buffer.from('\r\n\r\n', 'latin1');

/** RFC 9110 token characters (header names). */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN[c.charCodeAt(0)] = 1;

/**
 * The head of the request at b[at]; null when the front does not take it (see
 * the module's comment); undefined when b ends before the head does (an empty
 * line ends it within MAX_HEAD_BYTES), so more bytes are needed to tell.
 */
export function parseWireHead(b: Buffer, at: number): WireHead | null | undefined {
  const headEnd = b.indexOf(END_OF_HEAD, at);
  if (headEnd === -1) return b.length - at < MAX_HEAD_BYTES ? undefined : null;
  if (headEnd - at >= MAX_HEAD_BYTES) return null;
  // The head's last CRLF: every line below ends at or before it.
  const limit = headEnd + 2;
  let method: 'GET' | 'HEAD';
  let i = at;
  if (b[i] === 0x47 && b[i + 1] === 0x45 && b[i + 2] === 0x54 && b[i + 3] === 0x20) {
    method = 'GET';
    i += 4;
  } else if (b[i] === 0x48 && b[i + 1] === 0x45 && b[i + 2] === 0x41 && b[i + 3] === 0x44 && b[i + 4] === 0x20) {
    method = 'HEAD';
    i += 5;
  } else {
    return null;
  }
  const urlStart = i;
  if (b[i] !== 0x2f) return null;
  while (i < limit) {
    const c = b[i]!;
    if (c < 0x21 || c > 0x7e) break;
    i++;
  }
  if (i + HTTP11.length > limit || b.compare(HTTP11, 0, HTTP11.length, i, i + HTTP11.length) !== 0) return null;
  const url = b.toString('latin1', urlStart, i);
  i += HTTP11.length;
  let hosts = 0;
  let authorization: string | undefined;
  let connection: 'keep-alive' | 'close' | undefined;
  let contentLength = false;
  while (i < limit) {
    const nameStart = i;
    while (i < limit && b[i]! < 0x80 && TOKEN[b[i]!] === 1) i++;
    if (i === nameStart || i >= limit || b[i] !== 0x3a) return null;
    const nameEnd = i;
    i++;
    while (i < limit && (b[i] === 0x20 || b[i] === 0x09)) i++;
    const valueStart = i;
    while (i < limit) {
      const c = b[i]!;
      if ((c < 0x20 && c !== 0x09) || c > 0x7e) break;
      i++;
    }
    if (i + 1 >= limit || b[i] !== 0x0d || b[i + 1] !== 0x0a) return null;
    let valueEnd = i;
    while (valueEnd > valueStart && (b[valueEnd - 1] === 0x20 || b[valueEnd - 1] === 0x09)) valueEnd--;
    i += 2;
    switch (nameEnd - nameStart) {
      case 4:
        if (isWordAt(b, nameStart, nameEnd, 'host')) hosts++;
        break;
      case 6:
        if (isWordAt(b, nameStart, nameEnd, 'expect')) return null;
        break;
      case 7:
        if (isWordAt(b, nameStart, nameEnd, 'upgrade')) return null;
        break;
      case 10:
        if (isWordAt(b, nameStart, nameEnd, 'connection')) {
          if (connection !== undefined) return null;
          if (isWordAt(b, valueStart, valueEnd, 'close')) connection = 'close';
          else if (isWordAt(b, valueStart, valueEnd, 'keep-alive')) connection = 'keep-alive';
          else return null;
        }
        break;
      case 13:
        if (isWordAt(b, nameStart, nameEnd, 'authorization')) {
          if (authorization !== undefined) return null;
          authorization = b.toString('latin1', valueStart, valueEnd);
        }
        break;
      case 14:
        if (isWordAt(b, nameStart, nameEnd, 'content-length')) {
          if (contentLength || valueEnd - valueStart !== 1 || b[valueStart] !== 0x30) return null;
          contentLength = true;
        }
        break;
      case 17:
        if (isWordAt(b, nameStart, nameEnd, 'transfer-encoding')) return null;
        break;
    }
  }
  if (i !== limit || hosts !== 1) return null;
  return { method, url, authorization, close: connection === 'close', end: limit + 2 };
}

/** The Date header's value, as node:http makes it: one string per second. */
let dateSecond = -1;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** One answer's bytes: what node:http writes for writeHead(status, headers) and end(body) (HEAD: no body). */
export function wireAnswer(method: 'GET' | 'HEAD', answer: FastAnswer, close: boolean, keepAliveSeconds: number): Buffer {
  let head = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'unknown'}\r\n`;
  const h = answer.headers;
  for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
  head += close
    ? `Date: ${httpDate()}\r\nConnection: close\r\n\r\n`
    : `Date: ${httpDate()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n\r\n`;
  const bodyLength = method === 'HEAD' ? 0 : answer.body.length;
  const out = Buffer.allocUnsafe(head.length + bodyLength);
  out.write(head, 0, 'latin1');
  if (bodyLength > 0) answer.body.copy(out, head.length);
  return out;
}

export interface WireFrontOptions {
  /** The fast path: an answer, a set to store with the turn's others, or null to leave the request to node:http. */
  answer: (req: FastRequest) => FastAnswer | FastSet | null;
  /** Stores one turn's sets together (one append-log write) and says what to answer each, in order. */
  storeSets: (sets: readonly FastSet[]) => FastAnswer[];
  /** Gives a connection to node:http; the request it has not answered is back in the socket's buffer. */
  handOff: (socket: Socket) => void;
  /** node:http's keepAliveTimeout: an idle connection is closed after it. */
  keepAliveMs: number;
}

/**
 * The connections the front holds (not yet handed to node:http), and the sets
 * they wait on. A connection whose request is a set stops there: the set joins
 * the turn's others, and at the end of the turn (setImmediate: after the poll
 * phase has handed every ready socket its data) all are stored with one
 * append-log write, before any is answered. Then each connection answers and
 * goes on with what it had read after the set, so a connection's requests keep
 * their order.
 */
export class WireFront {
  private readonly held = new Set<WireConnection>();
  private waiting: { conn: WireConnection; set: FastSet }[] = [];
  readonly keepAliveSeconds: number;
  /** The server is closing: a connection is ended once its waiting set is answered. */
  closing = false;

  constructor(readonly opts: WireFrontOptions) {
    this.keepAliveSeconds = Math.floor(opts.keepAliveMs / 1000);
  }

  get size(): number {
    return this.held.size;
  }

  accept(socket: Socket): void {
    this.held.add(new WireConnection(this, socket));
  }

  release(conn: WireConnection): void {
    this.held.delete(conn);
  }

  join(conn: WireConnection, set: FastSet): void {
    if (this.waiting.length === 0) setImmediate(this.storeTurn);
    this.waiting.push({ conn, set });
  }

  private readonly storeTurn = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    let answers: FastAnswer[];
    try {
      answers = this.opts.storeSets(waiting.map((w) => w.set));
    } catch (err) {
      // Outside any connection's handler: never left to crash the process. Whether they were stored is unknown, so no answer.
      log.error('answering %d sets failed: %s', waiting.length, (err as Error)?.stack ?? String(err));
      for (const w of waiting) w.conn.socket.destroy();
      return;
    }
    waiting.forEach((w, i) => {
      w.conn.stored(answers[i]!);
    });
  };

  /** Ends every held connection but those waiting on a set, which end once it is answered. */
  closeIdle(): void {
    this.closing = true;
    for (const c of this.held) {
      if (c.waitingOn !== null) continue;
      closeSocket(c.socket);
      this.held.delete(c);
    }
  }

  destroyAll(): void {
    for (const c of this.held) c.socket.destroy();
    this.held.clear();
  }
}

const ignore = (): void => {};

function isSet(a: FastAnswer | FastSet): a is FastSet {
  return (a as FastSet).ttlMs !== undefined;
}

class WireConnection {
  /** The start of a head the last read cut off. */
  private partial: Buffer | null = null;
  /** The head of the set this connection waits on, and what it read after it; null when not waiting. */
  waitingOn: { readonly head: WireHead; rest: Buffer } | null = null;
  /** The client ended its side while a set was waiting. */
  private ended = false;
  /** The connection is node:http's now. */
  private handedOff = false;

  constructor(
    private readonly front: WireFront,
    readonly socket: Socket,
  ) {
    for (const [event, listener] of this.listeners()) socket.on(event, listener);
    socket.setTimeout(front.opts.keepAliveMs);
  }

  /** The front's listeners on the socket, added when it takes the connection and removed when it hands it over. */
  private listeners(): [event: string, listener: Parameters<Socket['removeListener']>[1]][] {
    return [
      ['data', this.onData],
      ['end', this.onEnd],
      ['error', ignore],
      ['timeout', this.onTimeout],
      ['drain', this.onDrain],
      ['close', this.onClose],
    ];
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.waitingOn !== null) {
      // Read in the same turn as a set that waits: served after it (at most one read a turn).
      this.waitingOn.rest = this.waitingOn.rest.length === 0 ? chunk : Buffer.concat([this.waitingOn.rest, chunk]);
      return;
    }
    const b = this.partial === null ? chunk : Buffer.concat([this.partial, chunk]);
    this.partial = null;
    this.serve(b);
  };

  /** Answers the requests in b, in order, until b ends, a set must wait, or the connection goes to node:http. */
  private serve(b: Buffer): void {
    const socket = this.socket;
    let at = 0;
    let corked = false;
    while (at < b.length) {
      const head = parseWireHead(b, at);
      if (head === undefined && at > 0) {
        // A pipeline's last head, cut by the read: kept for the next read. Only after an answer
        // in this read, so a head sent a few bytes at a time goes to node:http and its timeouts.
        this.partial = Buffer.from(b.subarray(at));
        break;
      }
      let answer: FastAnswer | FastSet | null = null;
      if (head) {
        try {
          answer = this.front.opts.answer({ method: head.method, url: head.url, authorization: head.authorization, socket });
        } catch (err) {
          // node:http's handler runs the fast path again and answers a failure there (server.ts).
          log.error('%s %s failed: %s', head.method, head.url, (err as Error)?.stack ?? String(err));
        }
      }
      if (!head || answer === null) {
        if (corked) socket.uncork();
        this.handOff(b.subarray(at));
        return;
      }
      if (isSet(answer)) {
        if (corked) socket.uncork();
        // What follows the set waits until it is stored and answered (stored()).
        this.waitingOn = { head, rest: b.subarray(head.end) };
        this.front.join(this, answer);
        return;
      }
      if (!corked && head.end < b.length) {
        // More requests in this read (a pipeline): their answers leave in one write.
        socket.cork();
        corked = true;
      }
      if (!this.send(head, answer)) return;
      at = head.end;
    }
    if (corked) socket.uncork();
    // A client that sends without reading its answers is not read until it does.
    if (socket.writableLength > MAX_QUEUED_BYTES) socket.pause();
  }

  /** Writes one answer; false when the connection is closing after it. */
  private send(head: WireHead, answer: FastAnswer): boolean {
    this.socket.write(wireAnswer(head.method, answer, head.close, this.front.keepAliveSeconds));
    if (!head.close && !this.front.closing) return true;
    this.socket.uncork();
    this.front.release(this);
    closeSocket(this.socket);
    return false;
  }

  /** The waiting set is stored (or refused): answer it and go on with what was read after it. */
  stored(answer: FastAnswer): void {
    const waiting = this.waitingOn;
    this.waitingOn = null;
    if (waiting === null || this.socket.destroyed) return;
    if (!this.send(waiting.head, answer)) return;
    this.serve(waiting.rest);
    // The client has ended its side: once what it sent is answered, so is the connection.
    if (this.ended && this.waitingOn === null && !this.handedOff && !this.socket.writableEnded) this.socket.end();
  }

  private readonly onDrain = (): void => {
    if (this.socket.isPaused()) this.socket.resume();
  };

  private readonly onEnd = (): void => {
    // Every request read has been answered but a waiting set: nothing is left to send but what is queued.
    if (this.waitingOn !== null) this.ended = true;
    else this.socket.end();
  };

  private readonly onTimeout = (): void => {
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.front.release(this);
  };

  private handOff(rest: Buffer): void {
    const socket = this.socket;
    for (const [event, listener] of this.listeners()) socket.removeListener(event, listener);
    socket.setTimeout(0);
    this.handedOff = true;
    this.front.release(this);
    socket.pause();
    if (rest.length > 0) socket.unshift(rest);
    this.front.opts.handOff(socket);
    socket.resume();
  }
}
