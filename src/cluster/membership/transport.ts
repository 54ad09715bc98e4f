/**
 * The gossip UDP socket. Owns sealing (see ../security.ts) and the datagram
 * budget: nothing larger than maxDatagram leaves this node, and what would is
 * counted, never sent fragmented. swim's own socket is never bound.
 */
import { createSocket, type Socket } from 'node:dgram';
import createDebug from 'debug';
import type { DatagramSealer } from '../security.js';
import { udpFamilyFor, udpSendHost, udpSourceHost, type UdpFamily } from '../udp-family.js';
import { formatHostPort, parseHostPort } from './address.js';

const log = createDebug('owlcache:membership');

export interface TransportStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  droppedOversized: number;
  sendErrors: number;
  maxDatagramOut: number;
  /** unparseable destinations or payloads, counted with the sealer's malformed */
  rejectedMalformed: number;
}

export class Transport {
  readonly stats: TransportStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    droppedOversized: 0,
    sendErrors: 0,
    maxDatagramOut: 0,
    rejectedMalformed: 0,
  };

  private socket: Socket | null = null;
  private closed = false;
  /** udp6 when bound to an IPv6 host (see udp-family.ts). */
  readonly family: UdpFamily;

  constructor(
    private readonly bindHost: string,
    private readonly port: number,
    /** null only when a test switches authentication off to show what it prevents */
    private readonly sealer: DatagramSealer | null,
    private readonly maxDatagram: number,
    private readonly onPayload: (payload: Buffer, from: string) => void,
  ) {
    this.family = udpFamilyFor(bindHost);
  }

  /** Bytes the transport adds to each payload. */
  get overhead(): number {
    return this.sealer?.overhead ?? 0;
  }

  /** Binds and returns the bound port. */
  bind(): Promise<number> {
    const socket = createSocket({ type: this.family, reuseAddr: false });
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.receive(msg, formatHostPort(udpSourceHost(rinfo.address), rinfo.port)));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.socket = null;
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(this.port, this.bindHost, () => {
        socket.removeListener('error', onError);
        // Later errors (ICMP unreachable surfaces on some platforms) must not crash the node.
        socket.on('error', (err) => log('socket error: %s', err.message));
        resolve(socket.address().port);
      });
    });
  }

  private receive(msg: Buffer, from: string): void {
    if (this.closed) return;
    this.stats.datagramsIn++;
    this.stats.bytesIn += msg.length;
    const payload = this.sealer === null ? msg : this.sealer.open(msg);
    if (payload === null) {
      log('dropped datagram from %s (%d bytes): failed authentication', from, msg.length);
      return;
    }
    this.onPayload(payload, from);
  }

  /** Seals and sends; never throws. Resolves once the datagram is handed to the OS (or dropped). */
  send(payload: Buffer, to: string): Promise<void> {
    const socket = this.socket;
    if (socket === null || this.closed) return Promise.resolve();
    const dest = parseHostPort(to);
    if (dest === null || dest.port === 0) {
      this.stats.rejectedMalformed++;
      log('not sending to invalid address %s', to);
      return Promise.resolve();
    }
    const datagram = this.sealer === null ? payload : this.sealer.seal(payload);
    if (datagram.length > this.maxDatagram) {
      this.stats.droppedOversized++;
      log('dropped oversized datagram to %s: %d > %d bytes', to, datagram.length, this.maxDatagram);
      return Promise.resolve();
    }
    this.stats.datagramsOut++;
    this.stats.bytesOut += datagram.length;
    if (datagram.length > this.stats.maxDatagramOut) this.stats.maxDatagramOut = datagram.length;
    return new Promise((resolve) => {
      try {
        socket.send(datagram, dest.port, udpSendHost(this.family, dest.host), (err) => {
          if (err) {
            this.stats.sendErrors++;
            log('send to %s failed: %s', to, err.message);
          }
          resolve();
        });
      } catch (err) {
        this.stats.sendErrors++;
        log('send to %s failed: %s', to, (err as Error).message);
        resolve();
      }
    });
  }

  close(): Promise<void> {
    this.closed = true;
    const socket = this.socket;
    this.socket = null;
    if (socket === null) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
