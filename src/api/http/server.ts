import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type Koa from 'koa';
import { logger } from '../../log.js';
import { ConnectionLimiter, closeSocket, listenOn, overCapMessage, type ConnectionCaps } from '../listener.js';
import { WireFront, type WireFrontOptions } from './wire-front.js';

const log = logger('http');

export interface HttpServerOptions {
  host: string;
  port: number;
  https?: { certFile: string; keyFile: string };
  /** Answers a request before the app if it can (the read hot path); false = let the app answer. */
  fastPath?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /**
   * The same fast path for the wire front (wire-front.ts), which answers plain-HTTP
   * connections' hot requests before node:http parses them; absent (or under TLS) = node:http parses every request.
   */
  wire?: Pick<WireFrontOptions, 'answer' | 'storeSets'>;
  /** MaxConnections / MaxConnectionsPerClient for this port. */
  caps?: ConnectionCaps;
  /** The JSON body of the 503 sent to a connection over a cap. */
  overCapBody?: (message: string) => string;
}

/** Opens the HTTP(S) port for a Koa app; `close` stops accepting and waits for requests in flight. */
export class HttpServer {
  private server: http.Server | https.Server | null = null;
  private wire: WireFront | null = null;

  constructor(
    private readonly app: Koa,
    private readonly opts: HttpServerOptions,
  ) {}

  async listen(): Promise<AddressInfo> {
    const appHandler = this.app.callback();
    const fast = this.opts.fastPath;
    /** Connections over a cap: already answered 503 and closing; their requests get nothing more. */
    const refused = new WeakSet<Socket>();
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (refused.has(req.socket)) return;
      if (fast === undefined) return void appHandler(req, res);
      let handled: boolean;
      try {
        handled = fast(req, res);
      } catch (err) {
        log.error('%s %s failed: %s', req.method, req.url, (err as Error)?.stack ?? String(err));
        if (!res.headersSent) res.statusCode = 500;
        res.end();
        return;
      }
      if (!handled) void appHandler(req, res);
    };
    let server: http.Server | https.Server;
    if (this.opts.https) {
      let cert: Buffer;
      let key: Buffer;
      try {
        cert = readFileSync(this.opts.https.certFile);
        key = readFileSync(this.opts.https.keyFile);
      } catch (err) {
        throw new Error(`Open_Https is 1 but the certificate or key cannot be read: ${(err as Error).message}`);
      }
      server = https.createServer({ cert, key }, handler);
    } else {
      server = http.createServer(handler);
    }
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 120_000;
    const wireOptions = this.opts.wire;
    const [httpConnection, ...others] = server.listeners('connection') as ((socket: Socket) => void)[];
    if (wireOptions !== undefined && !this.opts.https && httpConnection !== undefined && others.length === 0) {
      // node:http's own connection listener, called for the connections the wire front hands over.
      server.removeListener('connection', httpConnection);
      const wire = new WireFront({ ...wireOptions, keepAliveMs: server.keepAliveTimeout, handOff: (socket) => httpConnection.call(server, socket) });
      server.on('connection', (socket: Socket) => {
        if (!refused.has(socket)) wire.accept(socket);
      });
      this.wire = wire;
    }
    const caps = this.opts.caps;
    if (caps !== undefined && (caps.perPort > 0 || caps.perClient > 0)) {
      const limiter = new ConnectionLimiter(caps);
      const https = this.opts.https !== undefined;
      // Before the HTTP layer's own listener: an over-cap connection is answered without parsing anything it sends.
      server.prependListener('connection', (socket: Socket) => {
        const over = limiter.admit(socket);
        if (over === null) return;
        refused.add(socket);
        socket.on('error', () => {});
        const message = overCapMessage(over, caps);
        log.debug('refusing a connection from %s: %s', socket.remoteAddress, message);
        if (https) {
          // Under TLS there is no cheap way to answer before the handshake.
          socket.destroy();
          return;
        }
        const body = this.opts.overCapBody?.(message) ?? message;
        socket.write(
          `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8;\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
        closeSocket(socket);
      });
    }
    // A request Node cannot parse: its answer as Node gives it, then a close that reads and drops
    // what the client still sends (Node's own destroys the socket, and the reset that unread
    // bytes cause can reach the client before the answer does).
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.write(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
      closeSocket(socket);
    });
    this.server = server;
    return listenOn(server, this.opts.port, this.opts.host);
  }

  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  /** Stops accepting connections, lets requests in flight finish, closes idle keep-alive sockets. */
  async close(graceMs = 5000): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const wire = this.wire;
    this.wire = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    wire?.closeIdle();
    const timer = setTimeout(() => {
      server.closeAllConnections();
      wire?.destroyAll();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }
}
