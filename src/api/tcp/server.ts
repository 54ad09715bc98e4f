import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { clientAddress } from '../client-address.js';
import { SocketServer, closeSocket, type ConnectionCaps } from '../listener.js';
import type { Commands } from '../commands.js';
import { envelopeJson } from '../envelope.js';
import { logger } from '../../log.js';
import { handleLine, type Answer, type TcpHandlerDeps } from './handler.js';
import type { Metrics } from '../../metrics/metrics.js';
import { LineSplitter } from './lines.js';
import { looksLikeHttp, type TcpWriteProtection } from './protection.js';

const log = logger('tcp');

export const GREETING = 'Owlcache TCP Link Success...\n';

/** Answers queued in a socket past this many bytes stop the reading of further commands until they drain. */
export const WRITE_HIGH_WATER = 1024 * 1024;
/** Answers queued past this many (however small) stop the reading of further commands until they drain. */
export const MAX_QUEUED_ANSWERS = 64 * 1024;
/** Answer pieces up to this size are copied into one buffer per batch; larger ones (values) are written as they are. */
const JOIN_BELOW = 16 * 1024;

export interface TcpServerOptions {
  host: string;
  port: number;
  /** Longest command line in bytes (TcpMaxLine). */
  maxLine: number;
  /** Idle connections are closed after this many ms; 0 = never (TcpIdleTimeout). */
  idleTimeoutMs: number;
  /** The host part of ResponseHost; the port is the one this server listens on. */
  responseHost: string;
  /** Who may write (protected mode). */
  protection: TcpWriteProtection;
  /** MaxConnections / MaxConnectionsPerClient. */
  caps?: ConnectionCaps;
  /** Counts commands (absent = not counted). */
  metrics?: Metrics;
}

/**
 * The answers to one batch of lines, written to the socket in as few writes as
 * possible: every write costs memory beyond its bytes, so a client that
 * pipelines one-byte answers must not get one write each.
 */
class AnswerBatch {
  private pieces: Buffer[] = [];
  private small: Buffer[] = [];
  private smallBytes = 0;
  bytes = 0;
  answers = 0;

  add(answer: Answer): void {
    for (const p of answer) {
      if (p.length < JOIN_BELOW) {
        this.small.push(p);
        this.smallBytes += p.length;
        if (this.smallBytes >= JOIN_BELOW) this.joinSmall();
      } else {
        this.joinSmall();
        this.pieces.push(p);
      }
      this.bytes += p.length;
    }
    this.answers += 1;
  }

  private joinSmall(): void {
    if (this.small.length === 0) return;
    this.pieces.push(this.small.length === 1 ? this.small[0]! : Buffer.concat(this.small, this.smallBytes));
    this.small = [];
    this.smallBytes = 0;
  }

  /** Writes the batch; `written` is called once the socket has handed it to the kernel (or failed). */
  flush(socket: net.Socket, written: () => void): void {
    this.joinSmall();
    const pieces = this.pieces;
    this.pieces = [];
    this.bytes = 0;
    this.answers = 0;
    if (pieces.length === 0) return written();
    socket.cork();
    for (let i = 0; i < pieces.length; i++) socket.write(pieces[i]!, i === pieces.length - 1 ? () => written() : undefined);
    socket.uncork();
  }
}

/** The OwlCache TCP text protocol's listener (no authentication, as in the original; writes only from trusted networks). */
export class TcpServer extends SocketServer {
  private port = 0;
  private readonly deps: TcpHandlerDeps;
  /** Cross-protocol attempts since the last warning in the log. */
  private httpLines = 0;
  private httpWarnedAt = 0;

  constructor(
    commands: Commands,
    private readonly opts: TcpServerOptions,
  ) {
    super(opts, (err) => log.error('TCP server error: %s', err.message));
    this.deps = { commands, responseHost: () => `${opts.responseHost}:${this.port}`, ...(opts.metrics ? { metrics: opts.metrics } : {}) };
  }

  protected override listening(address: AddressInfo): void {
    this.port = address.port;
  }

  protected refusal(message: string): string {
    return this.refusalLine(message, 503);
  }

  /** Logs cross-protocol attempts at most once a minute, with how many there were. */
  private noteHttpLine(address: string): void {
    this.httpLines += 1;
    if (Date.now() - this.httpWarnedAt < 60_000) return;
    log.warn('possible cross-protocol attack: %d HTTP request line(s) sent to the TCP port (last from %s); connections closed', this.httpLines, address);
    this.httpLines = 0;
    this.httpWarnedAt = Date.now();
  }

  protected accept(socket: net.Socket): void {
    this.connections.add(socket);
    socket.on('error', (err) => log.debug('connection error: %s', err.message));
    if (this.opts.idleTimeoutMs > 0) {
      socket.setTimeout(this.opts.idleTimeoutMs, () => {
        log.debug('closing idle connection from %s', clientAddress(socket));
        closeSocket(socket);
      });
    }
    const address = clientAddress(socket);
    const writeRefusal = this.opts.protection.allowsWrites(address) ? null : this.opts.protection.refusal(address);
    const lines = new LineSplitter(this.opts.maxLine);
    const batch = new AnswerBatch();
    /** Answers handed to the socket and not yet to the kernel. */
    let queuedAnswers = 0;
    let waitingForDrain = false;
    let closing = false;

    const flush = () => {
      const n = batch.answers;
      queuedAnswers += n;
      batch.flush(socket, () => {
        queuedAnswers -= n;
      });
    };
    const close = () => {
      closing = true;
      flush();
      closeSocket(socket);
    };

    const work = () => {
      for (;;) {
        if (closing || socket.writableEnded) return;
        if (socket.writableLength + batch.bytes > WRITE_HIGH_WATER || queuedAnswers + batch.answers > MAX_QUEUED_ANSWERS) {
          // The client is not reading its answers: stop reading its commands until it does.
          flush();
          waitingForDrain = true;
          socket.pause();
          // Over either mark the socket is past its own high-water mark, so 'drain' comes; if not, carry on next turn.
          if (!socket.writableNeedDrain) setImmediate(resume);
          return;
        }
        const line = lines.next();
        if (line === null) break;
        if (line === 'overflow') {
          batch.add([Buffer.from(this.refusalLine(`line longer than TcpMaxLine (${this.opts.maxLine} bytes)`, 500))]);
          return close();
        }
        if (looksLikeHttp(line)) {
          // A web page driving this port cross-protocol: nothing after its request line is run.
          this.noteHttpLine(address);
          return close();
        }
        let answer: Answer;
        try {
          answer = handleLine(this.deps, line, writeRefusal);
        } catch (err) {
          log.error('TCP command failed: %s', (err as Error).stack ?? String(err));
          answer = [Buffer.from(this.refusalLine('internal error', 500))];
        }
        batch.add(answer);
      }
      flush();
    };

    function resume(): void {
      if (!waitingForDrain || closing || socket.destroyed) return;
      waitingForDrain = false;
      socket.resume();
      work();
    }

    socket.on('data', (chunk: Buffer) => {
      lines.push(chunk);
      if (!waitingForDrain) work();
    });
    socket.on('drain', resume);
    socket.write(GREETING);
  }

  private refusalLine(message: string, status: 500 | 503): string {
    return `${envelopeJson('', status, '', null, this.deps.responseHost(), 0, message)}\n`;
  }
}
