/**
 * One swim 0.6.0 instance behind a small internal interface: the only place in
 * the project that loads `swim`. swim keeps doing what it does well (probing,
 * indirect probes, suspicion, piggybacked dissemination, member-list sync); its
 * network edges are replaced: it never binds a socket, it sends through the
 * node's UdpTransport (sealed as membership datagrams), and it only receives
 * messages wire.ts has checked.
 */
import { EventEmitter } from 'node:events';
import { logger } from '../../log.js';
import { parseHostPort } from './address.js';
import { installLeftState, installSuspicionTimers, type Fix, type SuspicionTimers } from './patches.js';
import { MalformedError, MessageType, WireState, frame, parseDatagram, type WireMember } from './wire.js';
import { DEFAULTS, type Timings } from './timings.js';
import { loadSwim } from './swim-package.js';
import type { UdpTransport } from '../transport/udp-transport.js';
import type { ProbeRecorder } from './probes.js';
import type { SwimInstance, SwimMemberData, SwimMembership } from './swim-types.js';
import type { MemberMeta } from './types.js';

/** swim's Net events for each message type it handles. */
const NET_EVENTS = new Map<number, string>([
  [MessageType.Ping, 'ping'],
  [MessageType.PingReq, 'pingreq'],
  [MessageType.Ack, 'ack'],
  [MessageType.Sync, 'sync'],
  [MessageType.Update, 'update'],
]);
const log = logger('membership');

export interface SwimAdapterOptions {
  address: string;
  meta: MemberMeta;
  incarnation: number;
  timings: Timings;
  /** largest swim datagram before sealing */
  budget: number;
  transport: UdpTransport;
  disabled: ReadonlySet<Fix>;
  suspicionTimeoutMs: (members: number) => number;
  /** Records direct pings and their acks (round trips, clock offsets). */
  probes?: ProbeRecorder;
  /** Member records (updates, syncs) swim may see; false drops one (force-removed members, see membership.ts). */
  admit?: (record: WireMember) => boolean;
  /** A Left record about this node at its current incarnation or later: another node removed it (see installLeftState). */
  onSelfRemoved?: () => void;
}

export interface SwimAdapterEvents {
  /** any change of any record, the local one included */
  update: [WireMember];
}

function toWire(d: SwimMemberData): WireMember {
  return { host: d.host, state: d.state, incarnation: d.incarnation, meta: d.meta ?? undefined };
}

export class SwimAdapter extends EventEmitter<SwimAdapterEvents> {
  private readonly swim: SwimInstance;
  private readonly m: SwimMembership;
  private readonly timers: SuspicionTimers | null;
  private running = false;

  constructor(private readonly opts: SwimAdapterOptions) {
    super();
    const Swim = loadSwim();
    const t = opts.timings;
    this.swim = new Swim({
      local: { host: opts.address, meta: opts.meta, incarnation: opts.incarnation },
      codec: 'msgpack',
      disseminationFactor: DEFAULTS.disseminationFactor,
      interval: t.probeIntervalMs,
      pingTimeout: t.pingTimeoutMs,
      pingReqTimeout: t.pingReqTimeoutMs,
      pingReqGroupSize: t.pingReqGroupSize,
      suspectTimeout: opts.suspicionTimeoutMs(1),
      udp: { maxDgramSize: opts.budget },
      // A restarted node keeps its new metadata when it hears its old record.
      preferCurrentMeta: true,
    });
    this.m = this.swim.membership;

    // swim's Net made a socket of its own; it is never bound: the UdpTransport owns the port.
    const net = this.swim.net;
    net.udpSocket?.close();
    net.udpSocket = null;
    net.listen = (callback) => callback();
    net.close = () => {};
    net.sendBuffer = (buffer, host) => {
      void opts.transport.send('membership', host, buffer);
    };
    const probes = opts.probes;
    if (probes !== undefined) {
      const send = net.sendMessage.bind(net);
      net.sendMessage = (message, host) => {
        if (message.type === MessageType.Ping) probes.pingSent((message.data as { seq: number }).seq, host);
        send(message, host);
      };
    }

    installLeftState(this.m, (host) => this.timers?.clear(host), opts.onSelfRemoved);
    this.timers = opts.disabled.has('suspicion') ? null : installSuspicionTimers(this.m, () => opts.suspicionTimeoutMs(this.m.size(true)));

    this.m.on('update', (data: SwimMemberData) => this.onSwimUpdate(data));
    // swim's 'error' would throw without a listener; with its socket unused, only join errors remain, and join is ours.
    this.swim.on('error', (err: Error) => log.warn('swim error: %s', err.message));
  }

  private onSwimUpdate(data: SwimMemberData): void {
    // swim's own path (fix 1 off) reads suspectTimeout when it suspects: keep it in step with the member count.
    this.m.suspectTimeout = this.opts.suspicionTimeoutMs(this.m.size(true));
    if (this.timers !== null && !this.m.isLocal(data.host)) {
      if (data.state === WireState.Suspect && this.m.hostToMember[data.host]?.state === WireState.Suspect) {
        this.timers.ensure(data.host);
      } else if (data.state === WireState.Faulty || data.state === WireState.Left) {
        this.timers.clear(data.host);
      }
    }
    this.emit('update', toWire(data));
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.swim.bootstrap([], (err) => {
        if (err) reject(err);
        else {
          this.running = true;
          resolve();
        }
      });
    });
  }

  /**
   * Hands a datagram's payload to swim; false (nothing delivered) if it is
   * malformed. `sentAt` is the sender's clock sealed in the datagram (0 if unknown).
   */
  deliver(payload: Buffer, from: string, sentAt = 0): boolean {
    if (!this.running) return true;
    if (this.opts.disabled.has('parse')) {
      // Test only: swim's own reader, to show what wire.ts protects against.
      const rinfo = parseHostPort(from)!;
      (this.swim.net as unknown as { onMessage(b: Buffer, rinfo: { address: string; port: number }): void }).onMessage(payload, {
        address: rinfo.host,
        port: rinfo.port,
      });
      return true;
    }
    let messages;
    try {
      messages = parseDatagram(payload, (b) => this.swim.codec.decode(b));
    } catch (err) {
      log.debug('malformed datagram from %s: %s', from, err instanceof MalformedError ? err.message : String(err));
      return false;
    }
    const net = this.swim.net;
    for (const msg of messages) {
      if (msg.type === MessageType.Ack) this.opts.probes?.ackReceived(msg.data.seq, from, sentAt);
      if ((msg.type === MessageType.Update || msg.type === MessageType.Sync) && this.opts.admit?.(msg.data) === false) continue;
      try {
        const event = NET_EVENTS.get(msg.type);
        if (event !== undefined) net.emit(event, msg.data, from);
      } catch (err) {
        // A swim bug must not take the node down with it.
        log.warn('swim failed on a message from %s: %s', from, (err as Error).stack ?? String(err));
      }
    }
    return true;
  }

  /** Push-pull with one host: our records out (Sync first), all of its records back. */
  sync(host: string): void {
    if (this.running) this.m.sync([host]);
  }

  local(): WireMember {
    return toWire(this.m.local.data());
  }

  /** Members swim probes: alive and suspect. */
  liveHosts(): string[] {
    return Object.keys(this.m.hostToMember);
  }

  /** Members set aside: faulty and left. */
  downHosts(): Array<{ host: string; state: number }> {
    return Object.values(this.m.hostToFaulty).map((r) => ({ host: r.host, state: r.state }));
  }

  /** The record swim holds for a remote member (alive, suspect, faulty or left), or undefined. */
  record(host: string): WireMember | undefined {
    const r = this.m.hostToMember[host] ?? this.m.hostToFaulty[host];
    return r === undefined ? undefined : toWire(r.data());
  }

  /**
   * Records a member as Left at `incarnation` (a forced removal): it stops
   * being probed, and the record spreads like a goodbye. Works whatever state
   * swim holds it in; false if swim does not know the member.
   */
  markLeft(host: string, incarnation: number): boolean {
    const cur = this.m.hostToMember[host] ?? this.m.hostToFaulty[host];
    if (cur === undefined) return false;
    this.m.onUpdate({ host, state: WireState.Left, incarnation: Math.max(incarnation, cur.incarnation), meta: cur.meta });
    return true;
  }

  /** Forgets a faulty or left member, so it can join again at any incarnation. */
  reap(host: string): boolean {
    if (this.m.hostToFaulty[host] === undefined) return false;
    delete this.m.hostToFaulty[host];
    return true;
  }

  updateMeta(meta: MemberMeta): void {
    this.m.updateMeta(meta);
  }

  /** Bytes of the largest message this node's own record makes (Update and Sync frames are the same size). */
  recordSize(meta: MemberMeta): number {
    const d = this.m.local.data();
    return frame(MessageType.Update, this.swim.codec.encode({ meta, host: d.host, state: WireState.Left, incarnation: Number.MAX_SAFE_INTEGER })).length;
  }

  /**
   * Stops swim. Unless fix 3 is off, first says goodbye: a Left record at a higher
   * incarnation, sent straight to every member swim probes (twice, as separate
   * datagrams, against a lost one); each receiver also piggybacks it onwards.
   */
  async leave(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (!this.opts.disabled.has('leave')) {
      const local = this.m.local;
      local.incarnation += 1;
      const goodbye = frame(
        MessageType.Update,
        this.swim.codec.encode({ meta: local.meta, host: local.host, state: WireState.Left, incarnation: local.incarnation }),
      );
      const hosts = this.liveHosts();
      for (let round = 0; round < 2; round++) {
        await Promise.all(hosts.map((h) => this.opts.transport.send('membership', h, goodbye)));
      }
      log.info('%s left: told %d members', local.host, hosts.length);
    }
    this.swim.leave();
    for (const host of Object.keys(this.m.hostToSuspectTimeout)) {
      clearTimeout(this.m.hostToSuspectTimeout[host]);
      delete this.m.hostToSuspectTimeout[host];
    }
  }
}
