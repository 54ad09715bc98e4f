/**
 * The node's datagram sockets: the only module that opens UDP sockets (on
 * dgram-as-promised). Membership and dissemination are its two users, as the
 * packet side of memberlist's Transport is for memberlist.
 *
 * Contract:
 * - One purpose, one port, one socket, one key. Membership datagrams use the
 *   gossip port and dissemination's the data-gossip port, as before there was
 *   one transport: the wire is unchanged. Each purpose seals and opens with its
 *   own subkeys of the auth key (../security.ts), so a datagram sealed for one
 *   purpose never opens as the other, even when sent to the other's port.
 * - Whoever builds a transport opens and closes it (the cluster for the node,
 *   a standalone Membership for itself). Users only call onMessage(), send(),
 *   overhead() and stats().
 * - onMessage(purpose, handler): the one handler of a purpose gets the payload
 *   of each datagram that arrived on that purpose's port and opened with its
 *   key, with the sender as `host:port` (an IPv4 peer heard on a udp6 socket by
 *   its IPv4 address). What does not open is dropped and counted by reason;
 *   datagrams arriving while no handler is registered are ignored. A handler
 *   that throws loses that datagram, never the process.
 * - send(purpose, to, payload) seals and sends from the purpose's port. It
 *   never throws for anything the network or a peer's address does: a
 *   datagram that sealed would exceed maxDatagram is refused (never
 *   fragmented), as is a destination that is not `host:port`; both are
 *   counted, as are send errors. The promise resolves once the OS took the
 *   datagram or it was dropped; it never rejects. Sending on a purpose the
 *   transport does not carry is a wiring bug and throws.
 * - Best effort: no ordering, no delivery, no retransmission. Users resend
 *   what matters.
 */
import DgramAsPromised, { type RemoteInfo, type SocketAsPromised } from 'dgram-as-promised';
import { logger } from '../../log.js';
import { formatHostPort, parseHostPort, type HostPort } from '../../host-port.js';
import { DatagramSealer, sealedTime } from '../security.js';
import { udpFamilyFor, udpSendHost, udpSourceHost, type UdpFamily } from '../udp-family.js';

/**
 * A datagram address (and so a member's): `host:port`, `[v6]:port`, or (with
 * defaultPort) a bare host; port 0 allowed (an advertise address's "the port
 * bound"), an IPv6 address without brackets read up to its last colon. Null if invalid.
 */
export function parseDatagramAddress(s: string, defaultPort?: number): HostPort | null {
  const r = parseHostPort(s, { defaultPort, minPort: 0, unbracketedIPv6: 'last-colon', maxLength: 300 });
  return r.ok ? { host: r.host, port: r.port } : null;
}

const log = logger('udp');

export type DatagramPurpose = 'membership' | 'data';

/** HKDF labels of each purpose's subkeys. Part of the wire: a node with other labels opens nothing of ours. */
export const PURPOSE_LABEL: Readonly<Record<DatagramPurpose, string>> = {
  membership: 'owlcache/membership',
  data: 'owlcache/data-gossip',
};

/** Deltas come in bursts after busy moments, faster than one turn of the event loop drains the default buffer. */
const RECV_BUFFER_BYTES: Readonly<Partial<Record<DatagramPurpose, number>>> = { data: 4 * 1024 * 1024 };

/**
 * Why a datagram was dropped. Incoming: `mac` (wrong key, wrong purpose, tampered,
 * other encryption mode), `stale` (outside the clock window), `replay`, `malformed`
 * (not a sealed datagram at all). Outgoing: `oversize` (would exceed maxDatagram
 * once sealed), `address` (destination not `host:port`).
 */
export type DropReason = 'mac' | 'stale' | 'replay' | 'malformed' | 'oversize' | 'address';

export interface ChannelStats {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  /** largest datagram sent, bytes */
  maxDatagramOut: number;
  sendErrors: number;
  dropped: Record<DropReason, number>;
}

export interface UdpTransportOptions {
  bindHost: string;
  /** The purposes this transport carries and the port each binds (0 = any free port). Bound in this order. */
  ports: Readonly<Partial<Record<DatagramPurpose, number>>>;
  /** GossipDataSyncAuthKey */
  authKey: string;
  /** AES-256-GCM instead of HMAC (all nodes must agree) */
  encrypt: boolean;
  /** accepted clock difference and replay window */
  macWindowMs: number;
  /** no datagram larger than this is sent */
  maxDatagram: number;
  /** Test only: purposes sent and taken in unsealed, to show what sealing prevents. */
  unsealed?: readonly DatagramPurpose[];
}

/** `sentAt`: the sender's clock when it sealed the datagram (ms since the epoch; 0 for an unsealed one). */
export type DatagramHandler = (payload: Buffer, from: string, sentAt: number) => void;

class Channel {
  socket: SocketAsPromised | null = null;
  port = 0;
  handler: DatagramHandler | null = null;
  readonly counters = { datagramsIn: 0, bytesIn: 0, datagramsOut: 0, bytesOut: 0, maxDatagramOut: 0, sendErrors: 0, oversize: 0, address: 0 };

  constructor(
    readonly purpose: DatagramPurpose,
    readonly requestedPort: number,
    /** null only for a test's unsealed purpose */
    readonly sealer: DatagramSealer | null,
  ) {}

  stats(): ChannelStats {
    const { oversize, address, ...c } = this.counters;
    const s = this.sealer?.stats;
    return {
      ...c,
      dropped: {
        mac: s?.rejectedBadMac ?? 0,
        stale: s?.rejectedStale ?? 0,
        replay: s?.rejectedReplay ?? 0,
        malformed: s?.rejectedMalformed ?? 0,
        oversize,
        address,
      },
    };
  }
}

const NO_TRAFFIC: ChannelStats = new Channel('membership', 0, null).stats();

export class UdpTransport {
  /** udp6 when bound to an IPv6 host (see ../udp-family.ts). */
  readonly family: UdpFamily;
  readonly maxDatagram: number;
  private readonly channels = new Map<DatagramPurpose, Channel>();
  private phase: 'new' | 'opening' | 'open' | 'closed' = 'new';

  constructor(private readonly opts: UdpTransportOptions) {
    if (!Number.isInteger(opts.maxDatagram) || opts.maxDatagram < 1 || opts.maxDatagram > 65507) {
      throw new RangeError(`udp transport: maxDatagram must be an integer in [1, 65507], got ${String(opts.maxDatagram)}`);
    }
    this.family = udpFamilyFor(opts.bindHost);
    this.maxDatagram = opts.maxDatagram;
    const unsealed = new Set(opts.unsealed ?? []);
    for (const [purpose, port] of Object.entries(opts.ports) as [DatagramPurpose, number][]) {
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`udp transport: bad ${purpose} port ${String(port)}`);
      const sealer = unsealed.has(purpose)
        ? null
        : new DatagramSealer(opts.authKey, PURPOSE_LABEL[purpose], { encrypt: opts.encrypt, windowMs: opts.macWindowMs });
      this.channels.set(purpose, new Channel(purpose, port, sealer));
    }
    if (this.channels.size === 0) throw new RangeError('udp transport: no purpose to carry');
  }

  /** Binds every purpose's port. Once; on failure nothing stays bound. */
  async open(): Promise<void> {
    if (this.phase !== 'new') throw new Error(`udp transport: cannot open when ${this.phase}`);
    this.phase = 'opening';
    try {
      for (const ch of this.channels.values()) {
        const recvBufferSize = RECV_BUFFER_BYTES[ch.purpose];
        const socket = DgramAsPromised.createSocket({ type: this.family, reuseAddr: false, ...(recvBufferSize === undefined ? {} : { recvBufferSize }) });
        ch.socket = socket;
        socket.socket.on('message', (msg, rinfo) => this.receive(ch, msg, rinfo));
        // Exclusive: in a node:cluster worker (an embedded node) the socket is this process's own, not shared through the primary.
        const bound = await socket.bind({ port: ch.requestedPort, address: this.opts.bindHost, exclusive: true });
        // Later errors (ICMP unreachable surfaces on some platforms) must not crash the node.
        socket.socket.on('error', (err) => log.debug('%s socket error: %s', ch.purpose, err.message));
        ch.port = bound.port;
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    if (this.phase === 'opening') this.phase = 'open';
  }

  /** The port `purpose` is bound to (after open()). */
  port(purpose: DatagramPurpose): number {
    const ch = this.channel(purpose);
    if (ch.port === 0) throw new Error(`udp transport: ${purpose} port not bound`);
    return ch.port;
  }

  /** Bytes sealing adds to each payload of `purpose`. */
  overhead(purpose: DatagramPurpose): number {
    return this.channel(purpose).sealer?.overhead ?? 0;
  }

  /** Registers the handler of `purpose`'s opened datagrams (replacing any); returns its removal. */
  onMessage(purpose: DatagramPurpose, handler: DatagramHandler): () => void {
    const ch = this.channel(purpose);
    ch.handler = handler;
    return () => {
      if (ch.handler === handler) ch.handler = null;
    };
  }

  /** Seals and sends (see the contract above); never rejects. */
  send(purpose: DatagramPurpose, to: string, payload: Buffer): Promise<void> {
    const ch = this.channel(purpose);
    const socket = ch.socket;
    if (socket === null || this.phase !== 'open') return Promise.resolve();
    const dest = parseDatagramAddress(to);
    if (dest === null || dest.port === 0) {
      ch.counters.address++;
      log.debug('not sending %s to invalid address %s', purpose, to);
      return Promise.resolve();
    }
    const size = payload.length + this.overhead(purpose);
    if (size > this.maxDatagram) {
      ch.counters.oversize++;
      log.debug('dropped oversized %s datagram to %s: %d > %d bytes', purpose, to, size, this.maxDatagram);
      return Promise.resolve();
    }
    const datagram = ch.sealer === null ? payload : ch.sealer.seal(payload);
    const c = ch.counters;
    c.datagramsOut++;
    c.bytesOut += datagram.length;
    if (datagram.length > c.maxDatagramOut) c.maxDatagramOut = datagram.length;
    return socket.send(datagram, dest.port, udpSendHost(this.family, dest.host)).then(
      () => undefined,
      (err: Error) => {
        c.sendErrors++;
        log.debug('%s send to %s failed: %s', purpose, to, err.message);
      },
    );
  }

  /** Counters of every purpose (zeros for one not carried). */
  stats(): Record<DatagramPurpose, ChannelStats> {
    const of = (p: DatagramPurpose): ChannelStats => this.channels.get(p)?.stats() ?? structuredClone(NO_TRAFFIC);
    return { membership: of('membership'), data: of('data') };
  }

  /** Releases every port; later sends are dropped, later datagrams never reach a handler. */
  async close(): Promise<void> {
    this.phase = 'closed';
    const sockets: SocketAsPromised[] = [];
    for (const ch of this.channels.values()) {
      if (ch.socket !== null) sockets.push(ch.socket);
      ch.socket = null;
    }
    // An unbound or already closed socket throws from close(): either way it holds no port.
    await Promise.all(sockets.map((s) => s.close().catch(() => {})));
  }

  private channel(purpose: DatagramPurpose): Channel {
    const ch = this.channels.get(purpose);
    if (ch === undefined) throw new Error(`udp transport: does not carry ${purpose} datagrams`);
    return ch;
  }

  private receive(ch: Channel, msg: Buffer, rinfo: RemoteInfo): void {
    if (ch.socket === null) return;
    ch.counters.datagramsIn++;
    ch.counters.bytesIn += msg.length;
    const handler = ch.handler;
    // Not opened without a handler: it would only spend a replay-cache entry.
    if (handler === null) return;
    const from = formatHostPort(udpSourceHost(rinfo.address), rinfo.port);
    const payload = ch.sealer === null ? msg : ch.sealer.open(msg);
    if (payload === null) {
      log.debug('dropped a %s datagram from %s (%d bytes) that does not open', ch.purpose, from, msg.length);
      return;
    }
    try {
      handler(payload, from, ch.sealer === null ? 0 : sealedTime(msg));
    } catch (err) {
      log.warn('%s handler failed on a datagram from %s: %s', ch.purpose, from, (err as Error).stack ?? String(err));
    }
  }
}
