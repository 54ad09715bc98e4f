import net, { type AddressInfo } from 'node:net';
import { clientAddress } from '../client-address.js';
import { SocketServer, closeSocket } from '../listener.js';
import type { Commands } from '../commands.js';
import { envelope } from '../envelope.js';
import { logger } from '../../log.js';
import { handleLine, type TcpHandlerDeps } from './handler.js';
import { LineSplitter } from './lines.js';

const log = logger('tcp');

export const GREETING = 'Owlcache TCP Link Success...\n';

/** Answers queued in a socket past this many bytes stop the reading of further commands until they drain. */
export const WRITE_HIGH_WATER = 1024 * 1024;

export interface TcpServerOptions {
  host: string;
  port: number;
  /** Longest command line in bytes (TcpMaxLine). */
  maxLine: number;
  /** Idle connections are closed after this many ms; 0 = never (TcpIdleTimeout). */
  idleTimeoutMs: number;
  /** The host part of ResponseHost; the port is the one this server listens on. */
  responseHost: string;
}

/** The OwlCache TCP text protocol's listener (no authentication, as in the original). */
export class TcpServer extends SocketServer {
  private port = 0;
  private readonly deps: TcpHandlerDeps;

  constructor(
    commands: Commands,
    private readonly opts: TcpServerOptions,
  ) {
    super(opts, (err) => log.error('TCP server error: %s', err.message));
    this.deps = { commands, responseHost: () => `${opts.responseHost}:${this.port}` };
  }

  protected override listening(address: AddressInfo): void {
    this.port = address.port;
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
    const lines = new LineSplitter(this.opts.maxLine);
    let waitingForDrain = false;

    const work = () => {
      socket.cork();
      try {
        for (;;) {
          if (socket.writableEnded) return;
          if (socket.writableLength > WRITE_HIGH_WATER) {
            // The client is not reading its answers: stop reading its commands until it does.
            waitingForDrain = true;
            socket.pause();
            return;
          }
          const line = lines.next();
          if (line === null) return;
          if (line === 'overflow') {
            const e = envelope('', 500, '', null, this.deps.responseHost(), 0, `line longer than TcpMaxLine (${this.opts.maxLine} bytes)`);
            socket.write(`${JSON.stringify(e)}\n`);
            closeSocket(socket);
            return;
          }
          let answer;
          try {
            answer = handleLine(this.deps, line);
          } catch (err) {
            log.error('TCP command failed: %s', (err as Error).stack ?? String(err));
            answer = [Buffer.from(`${JSON.stringify(envelope('', 500, '', null, this.deps.responseHost(), 0, 'internal error'))}\n`)];
          }
          for (const piece of answer) socket.write(piece);
        }
      } finally {
        socket.uncork();
      }
    };

    socket.on('data', (chunk: Buffer) => {
      lines.push(chunk);
      if (!waitingForDrain) work();
    });
    socket.on('drain', () => {
      if (!waitingForDrain) return;
      waitingForDrain = false;
      socket.resume();
      work();
    });
    socket.write(GREETING);
  }
}

