import type { Server } from 'node:http';
import net, { type AddressInfo, type Server as NetServer, type Socket } from 'node:net';

/** What the socket front ends (HTTP, TCP, RESP) share: opening a port and ending connections cleanly. */

/** Listens on host:port; rejects with the system error (EADDRINUSE, EACCES) instead of emitting it. */
export function listenOn(server: NetServer | Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
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

  constructor(
    private readonly where: { host: string; port: number },
    private readonly onServerError: (err: Error) => void,
  ) {}

  async listen(): Promise<AddressInfo> {
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
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

  /** Called once the port is open. */
  protected listening(_address: AddressInfo): void {}

  /** Called once every connection is gone. */
  protected closed(): void {}
}
