import type { Server } from 'node:http';
import net, { type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { clientAddress } from './client-address.js';

/**
 * What the socket front ends (HTTP, TCP, RESP) share: opening a port, ending
 * connections cleanly, and bounding how many connections one port and one
 * client address may hold.
 */

/** Caps on open connections (MaxConnections, MaxConnectionsPerClient); 0 = no cap. */
export interface ConnectionCaps {
  perPort: number;
  perClient: number;
}

/**
 * Counts a port's open connections, in total and per client address, and says
 * whether one more may be admitted. An admitted connection is released when it
 * closes; a refused one is never counted.
 */
export class ConnectionLimiter {
  private total = 0;
  private readonly perClient = new Map<string, number>();
  /** Connections refused since the start (INFO, logs). */
  refused = 0;

  constructor(private readonly caps: ConnectionCaps) {}

  /** 'port' or 'client' when the connection is over a cap (it is not counted), null when admitted. */
  admit(socket: Socket): 'port' | 'client' | null {
    const address = clientAddress(socket);
    const mine = this.perClient.get(address) ?? 0;
    const over = this.caps.perPort > 0 && this.total >= this.caps.perPort ? 'port' : this.caps.perClient > 0 && mine >= this.caps.perClient ? 'client' : null;
    if (over !== null) {
      this.refused += 1;
      return over;
    }
    this.total += 1;
    this.perClient.set(address, mine + 1);
    socket.once('close', () => {
      this.total -= 1;
      const n = (this.perClient.get(address) ?? 1) - 1;
      if (n <= 0) this.perClient.delete(address);
      else this.perClient.set(address, n);
    });
    return null;
  }
}

/** What an over-cap refusal says (logs and the refusal's own answer). */
export function overCapMessage(over: 'port' | 'client', caps: ConnectionCaps): string {
  return over === 'port'
    ? `max number of clients reached (MaxConnections ${caps.perPort})`
    : `max number of connections from one address reached (MaxConnectionsPerClient ${caps.perClient})`;
}

/** Listens on host:port; rejects with the system error (EADDRINUSE, EACCES) instead of emitting it. */
export function listenOn(server: NetServer | Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // Exclusive: in a node:cluster worker (an embedded node) the port is this process's own, not shared through the primary.
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** How long a closing connection may take to flush before it is cut. */
export const CLOSE_GRACE_MS = 2000;

/**
 * Ends a connection cleanly: answers already queued are flushed, further input
 * is read and dropped (so the peer gets our FIN rather than a reset), and the
 * connection is cut if that does not finish in time.
 */
export function closeSocket(socket: Socket): void {
  if (socket.destroyed) return;
  socket.removeAllListeners('data');
  socket.resume();
  socket.end();
  const timer = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The open connections of a socket server, so a stop can end them all. */
export class Connections {
  private readonly sockets = new Set<Socket>();

  get size(): number {
    return this.sockets.size;
  }

  add(socket: Socket, onClose?: () => void): void {
    this.sockets.add(socket);
    socket.on('close', () => {
      this.sockets.delete(socket);
      onClose?.();
    });
  }

  /** Stops the server accepting, ends every connection, resolves when the server has closed. */
  async closeServer(server: NetServer): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) closeSocket(s);
    await closed;
  }
}

/**
 * A TCP listener of one socket protocol (the OwlCache text protocol, RESP):
 * subclasses say what to do with each connection; opening and closing the port
 * are the same for both.
 */
export abstract class SocketServer {
  private server: NetServer | null = null;
  protected readonly connections = new Connections();
  protected readonly limiter: ConnectionLimiter;

  constructor(
    private readonly where: { host: string; port: number; caps?: ConnectionCaps },
    private readonly onServerError: (err: Error) => void,
  ) {
    this.limiter = new ConnectionLimiter(where.caps ?? { perPort: 0, perClient: 0 });
  }

  async listen(): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.on('error', () => {});
      const over = this.limiter.admit(socket);
      if (over !== null) {
        // Refused at once, with one line in the protocol's own form; the peer's input is never parsed.
        socket.write(this.refusal(overCapMessage(over, this.where.caps!)));
        closeSocket(socket);
        return;
      }
      this.accept(socket);
    });
    server.on('error', this.onServerError);
    this.server = server;
    const address = await listenOn(server, this.where.port, this.where.host);
    this.listening(address);
    return address;
  }

  /** Stops accepting, ends every connection (cut after a short grace), resolves when all are gone. */
  async close(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    await this.connections.closeServer(server);
    this.closed();
  }

  protected abstract accept(socket: Socket): void;

  /** The line sent to a connection refused because a connection cap is reached. */
  protected abstract refusal(message: string): string;

  /** Called once the port is open. */
  protected listening(_address: AddressInfo): void {}

  /** Called once every connection is gone. */
  protected closed(): void {}
}
