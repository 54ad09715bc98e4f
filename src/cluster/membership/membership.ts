/**
 * Cluster membership: SWIM failure detection and the member list over the gossip
 * UDP port, built on swim 0.6.0 (see swim-adapter.ts, patches.ts). This class is
 * the whole interface the rest of the project sees:
 *
 *   const m = new Membership(opts);          // MembershipOptions, see types.ts
 *   await m.start(seeds);                    // binds, then joins seeds in the background, retrying forever
 *   m.addSeeds(more);                        // seeds learnt later
 *   m.setListedSeeds(list);                  // the editable seed list, whole; left-out seeds are forgotten
 *   m.localAddress();                        // advertised gossip host:port (after start)
 *   m.members();                             // MemberInfo[], self included (local: true)
 *   m.updateMeta(meta);
 *   m.on('join' | 'suspect' | 'faulty' | 'alive' | 'leave' | 'update', (info: MemberInfo) => ...);
 *   m.stats();                               // MembershipStats
 *   await m.stop();                          // peers see 'left', not 'faulty'
 *
 * Events, per remote member: 'join' when first seen, or seen again after it left
 * or was reaped; 'suspect'; 'faulty'; 'alive' when it comes back from suspect or
 * faulty; 'leave' when it said goodbye; 'update' when its metadata changes and its
 * state does not. Faulty and left members are listed until reaped
 * (reapFaultyAfterMs), then forgotten, so they can join again.
 *
 * Addresses are `host:port` (IPv6 as `[addr]:port`), as advertised by each node.
 * Timing fields left undefined take memberlist-like LAN defaults (timings.ts).
 * Besides SWIM's probing and piggybacked gossip, every pushPullIntervalMs a node
 * exchanges full member lists with one random live member and tries one faulty
 * member again (heals what gossip missed, and partitions).
 *
 * Datagrams go through a UdpTransport (../transport/udp-transport.ts): the node's,
 * given as opts.transport (opened and closed by whoever built it), or, standalone,
 * one of its own on bindHost:port that start() opens and stop() closes. Every
 * datagram is sealed with the membership subkeys of authKey (../security.ts);
 * nodes with another key never see each other. An instance is started once; after
 * stop(), make a new one.
 */
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { logger } from '../../log.js';
import { PURPOSE_LABEL, UdpTransport } from '../transport/udp-transport.js';
import { ProbeRecorder, type ProbeSummary } from './probes.js';
import { firstExternalIPv4, formatHostPort, isWildcard, parseHostPort } from './address.js';
import type { Fix } from './patches.js';
import { Seeds } from './seeds.js';
import { SwimAdapter } from './swim-adapter.js';
import { DEFAULTS, MIN_DATAGRAM, suspicionTimeoutMs, timingsFrom, type Timings } from './timings.js';
import { MalformedError, WireState, metaOf, type WireMember } from './wire.js';
import type { MemberInfo, MemberMeta, MemberState, MembershipEvents, MembershipOptions, MembershipStats } from './types.js';

export type { MemberInfo, MemberMeta, MemberState, MembershipEvents, MembershipOptions, MembershipStats, ProbeSummary } from './types.js';

const log = logger('membership');

/** Purpose label of the membership subkey: other layers derive theirs from the same authKey with another label. */
export const MEMBERSHIP_PURPOSE = PURPOSE_LABEL.membership;

/** Room kept in a datagram beside one member record: compound header, a ping, lengths. */
const RECORD_MARGIN = 64;

const STATE_NAMES: Record<number, MemberState> = {
  [WireState.Alive]: 'alive',
  [WireState.Suspect]: 'suspect',
  [WireState.Faulty]: 'faulty',
  [WireState.Left]: 'left',
};

/** For tests only: switch fixes off to show the swim defect each one removes. */
export interface MembershipTesting {
  disableFixes?: readonly Fix[];
}

function checkedMeta(meta: MemberMeta): MemberMeta {
  try {
    const m = metaOf(meta);
    if (m === undefined) throw new MalformedError('meta is required');
    return m;
  } catch (err) {
    throw new TypeError(`membership: invalid meta: ${(err as Error).message}`);
  }
}

function sameMeta(a: MemberMeta | null, b: MemberMeta | null): boolean {
  if (a === null || b === null) return a === b;
  return a.name === b.name && a.http === b.http && a.data === b.data && a.proto === b.proto;
}

/**
 * A member removed with forceLeave: its records are refused below `floor`
 * (the removal time), which a restarted node's incarnation (taken from the
 * clock at start) exceeds, and refutations of the running node (its old
 * incarnation + 1) never reach.
 */
interface Removal {
  floor: number;
  until: number;
}

const MAX_REMOVALS = 10_000;

function localIPs(): Set<string> {
  const ips = new Set(['127.0.0.1', '::1', 'localhost']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ips.add(a.address);
  return ips;
}

export class Membership extends EventEmitter<MembershipEvents> {
  private readonly opts: MembershipOptions;
  private readonly timings: Timings;
  private readonly maxDatagram: number;
  private readonly disabled: ReadonlySet<Fix>;
  private readonly probes: ProbeRecorder;
  private readonly removals = new Map<string, Removal>();
  /** Another node removed this one: it left and lists only itself until restarted. */
  private removed = false;
  private meta: MemberMeta;
  private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  private readonly transport: UdpTransport;
  /** true when the transport is this instance's own (standalone), false when it is the node's */
  private readonly ownsTransport: boolean;
  private stopReceiving: (() => void) | null = null;
  private adapter: SwimAdapter | null = null;
  private seeds: Seeds | null = null;
  private address = '';
  private boundPort = 0;
  private malformed = 0;
  private readonly table = new Map<string, MemberInfo>();
  private self: MemberInfo | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pendingSeeds: string[] = [];
  private pendingListedSeeds: string[] | null = null;
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;

  constructor(opts: MembershipOptions, testing: MembershipTesting = {}) {
    super();
    if (typeof opts.authKey !== 'string' || opts.authKey.length === 0) throw new TypeError('membership: authKey is required');
    if (typeof opts.bindHost !== 'string') throw new TypeError('membership: bindHost is required');
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new RangeError(`membership: bad port ${String(opts.port)}`);
    const maxDatagram = opts.transport?.maxDatagram ?? opts.maxDatagram ?? DEFAULTS.maxDatagram;
    if (!Number.isInteger(maxDatagram) || maxDatagram < MIN_DATAGRAM || maxDatagram > 65507) {
      throw new RangeError(`membership: maxDatagram must be an integer in [${MIN_DATAGRAM}, 65507], got ${String(maxDatagram)}`);
    }
    if (opts.incarnationStart !== undefined && (!Number.isSafeInteger(opts.incarnationStart) || opts.incarnationStart < 0)) {
      throw new RangeError('membership: incarnationStart must be a non-negative integer');
    }
    if (opts.advertiseAddr !== undefined && parseHostPort(opts.advertiseAddr, 0) === null) {
      throw new RangeError(`membership: advertiseAddr is not host[:port]: ${opts.advertiseAddr}`);
    }
    this.opts = opts;
    this.timings = timingsFrom(opts);
    this.disabled = new Set(testing.disableFixes ?? []);
    this.meta = checkedMeta(opts.meta);
    this.ownsTransport = opts.transport === undefined;
    if (!this.ownsTransport && this.disabled.has('auth')) throw new TypeError("membership: the 'auth' fix can only be switched off on an own transport");
    this.transport =
      opts.transport ??
      new UdpTransport({
        bindHost: opts.bindHost,
        ports: { membership: opts.port },
        authKey: opts.authKey,
        encrypt: opts.encrypt === true,
        macWindowMs: opts.macWindowMs ?? DEFAULTS.macWindowMs,
        maxDatagram,
        ...(this.disabled.has('auth') ? { unsealed: ['membership'] as const } : {}),
      });
    this.maxDatagram = this.transport.maxDatagram;
    this.probes = new ProbeRecorder({
      maxClockSkewMs: opts.maxClockSkewMs ?? 500,
      ...(opts.onClockSkew ? { onSkew: opts.onClockSkew } : {}),
    });
  }

  /** Binds the gossip port, then joins the seeds in the background (never fails for unreachable seeds). */
  start(seeds: string[]): Promise<void> {
    if (this.phase !== 'new') return Promise.reject(new Error(`membership: cannot start when ${this.phase}`));
    this.phase = 'starting';
    this.starting = this.startInner(seeds).catch(async (err: unknown) => {
      this.phase = 'stopped';
      await this.releaseTransport();
      throw err;
    });
    return this.starting;
  }

  private async startInner(seedList: string[]): Promise<void> {
    const t = this.timings;
    const seeds = new Seeds(
      {
        isLive: (a) => {
          const s = this.table.get(a)?.state;
          return s === 'alive' || s === 'suspect';
        },
        isSelf: (a) => this.isSelf(a),
        sync: (a) => this.adapter?.sync(a),
      },
      t.seedBackoffMs,
      t.seedMaxBackoffMs,
    );
    seeds.add([...seedList, ...this.pendingSeeds]);

    const transport = this.transport;
    if (this.ownsTransport) await transport.open();
    this.stopReceiving = transport.onMessage('membership', (payload, from, sentAt) => {
      if (this.adapter !== null && !this.adapter.deliver(payload, from, sentAt)) this.malformed++;
    });
    this.boundPort = transport.port('membership');
    this.address = this.advertised();

    const budget = this.disabled.has('budget') ? this.maxDatagram : this.maxDatagram - transport.overhead('membership');
    const incarnation = this.disabled.has('incarnation') ? 0 : (this.opts.incarnationStart ?? Date.now());
    const adapter = new SwimAdapter({
      address: this.address,
      meta: this.meta,
      incarnation,
      timings: t,
      budget,
      transport,
      disabled: this.disabled,
      suspicionTimeoutMs: (n) => suspicionTimeoutMs(t, n),
      probes: this.probes,
      admit: (r) => this.admits(r),
      // Removal is judged by incarnations taken from the clock (see installLeftState).
      ...(this.disabled.has('incarnation') ? {} : { onSelfRemoved: () => this.leaveRemoved('a Left record at its own incarnation') }),
    });
    this.checkRecordFits(adapter, this.meta, budget);
    this.adapter = adapter;
    const now = Date.now();
    this.self = { address: this.address, state: 'alive', incarnation, meta: this.meta, since: now, local: true };
    adapter.on('update', (w) => this.onRecord(w));
    await adapter.start();
    this.phase = 'running';
    log.info('%s started (incarnation %d, bound %s:%d)', this.address, incarnation, this.opts.bindHost, this.boundPort);

    this.every(t.reapCheckMs, () => this.reap());
    if (t.pushPullIntervalMs > 0) this.every(t.pushPullIntervalMs, () => this.pushPull());
    // Seeds given while the port was being bound.
    seeds.add(this.pendingSeeds);
    if (this.pendingListedSeeds !== null) seeds.setListed(this.pendingListedSeeds);
    this.seeds = seeds;
    seeds.start();
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private advertised(): string {
    const adv = this.opts.advertiseAddr;
    if (adv !== undefined) {
      const hp = parseHostPort(adv, this.boundPort)!;
      return formatHostPort(hp.host, hp.port === 0 ? this.boundPort : hp.port);
    }
    const host = isWildcard(this.opts.bindHost) ? firstExternalIPv4() : this.opts.bindHost;
    return formatHostPort(host, this.boundPort);
  }

  private isSelf(address: string): boolean {
    if (address === this.address) return true;
    const hp = parseHostPort(address);
    return hp !== null && hp.port === this.boundPort && (hp.host === this.opts.bindHost || localIPs().has(hp.host));
  }

  private checkRecordFits(adapter: SwimAdapter, meta: MemberMeta, budget: number): void {
    const size = adapter.recordSize(meta);
    if (size + RECORD_MARGIN > budget) {
      throw new RangeError(`membership: metadata too large: a member record takes ${size} bytes, the datagram budget leaves ${budget - RECORD_MARGIN}`);
    }
  }

  addSeeds(seeds: string[]): void {
    if (this.seeds !== null) this.seeds.add(seeds);
    else if (this.phase === 'new' || this.phase === 'starting') this.pendingSeeds.push(...seeds);
  }

  /** The seeds of the editable gossip list, whole, each time it changes: a seed left out is no longer tried (see Seeds). */
  setListedSeeds(seeds: string[]): void {
    if (this.seeds !== null) this.seeds.setListed(seeds);
    else if (this.phase === 'new' || this.phase === 'starting') this.pendingListedSeeds = [...seeds];
  }

  localAddress(): string {
    if (this.address === '') throw new Error('membership: not started');
    return this.address;
  }

  members(): MemberInfo[] {
    const out: MemberInfo[] = [];
    if (this.self !== null) out.push({ ...this.self });
    if (this.removed) return out;
    for (const info of this.table.values()) out.push({ ...info });
    return out;
  }

  /** Push-pull of member records with one member now (its current record, metadata included, comes back). */
  refresh(address: string): void {
    if (this.phase === 'running') this.adapter?.sync(address);
  }

  /** Round trips and clock offset of a member from SWIM's probes, or null before its first ack. */
  probeSummary(address: string): ProbeSummary | null {
    return this.probes.summary(address);
  }

  /** True once another node removed this one (it left and stays out until restarted). */
  wasRemoved(): boolean {
    return this.removed;
  }

  /**
   * Joins the member at `address` now (serf's join): push-pulls with it every
   * few probe intervals until it is alive here or `timeoutMs` passes. Lifts a
   * forced removal of that address: an operator adding it means it. Resolves
   * with the member as this node sees it, or null if it never answered.
   */
  async join(address: string, timeoutMs: number): Promise<MemberInfo | null> {
    if (this.phase !== 'running' || this.adapter === null) throw new Error('membership: not running');
    if (this.isSelf(address)) throw new RangeError(`${address} is this node`);
    this.removals.delete(address);
    const deadline = Date.now() + Math.max(0, timeoutMs);
    const every = Math.max(50, Math.min(500, this.timings.probeIntervalMs));
    for (let i = 0; i < 100_000; i++) {
      const info = this.table.get(address);
      if (info?.state === 'alive') return { ...info };
      if (Date.now() >= deadline || this.phase !== 'running') break;
      if (i % 4 === 0) this.adapter.sync(address);
      await new Promise((r) => setTimeout(r, Math.min(every / 4, Math.max(1, deadline - Date.now()))));
    }
    const info = this.table.get(address);
    return info === undefined ? null : { ...info };
  }

  /**
   * Forces a member out (serf's force-leave): it is recorded as left at a
   * higher incarnation, which spreads like a goodbye, and its records below
   * the removal time are refused from now on, so neither stale peers nor the
   * running node's refutations bring it back; the node itself, hearing its
   * removal, leaves (see leaveRemoved). A restart takes a new incarnation from
   * the clock, above the removal time: a node restarted on purpose joins again.
   * `incarnation` and `at` carry another node's removal of the same member, so
   * every node refuses from the same floor. Null if the member is unknown here.
   */
  forceLeave(address: string, from: { incarnation?: number; at?: number } = {}): MemberInfo | null {
    const adapter = this.adapter;
    if (adapter === null || this.phase !== 'running') throw new Error('membership: not running');
    if (this.isSelf(address)) throw new RangeError(`${address} is this node`);
    const record = adapter.record(address);
    const now = Date.now();
    const floor = Math.min(now, from.at ?? now);
    if (this.removals.size >= MAX_REMOVALS) this.removals.delete(this.removals.keys().next().value!);
    this.removals.set(address, { floor, until: now + this.timings.reapFaultyAfterMs });
    if (record === undefined) return null;
    adapter.markLeft(address, Math.max(record.incarnation + 1, from.incarnation ?? 0));
    const info = this.table.get(address);
    return info === undefined ? null : { ...info };
  }

  /** Leaves because another node removed this one; the node keeps serving, alone, until it is restarted. */
  leaveRemoved(why: string): Promise<void> {
    if (this.removed || this.phase !== 'running') return this.stopping ?? Promise.resolve();
    this.removed = true;
    log.info('%s removed from the cluster (%s): leaving', this.address, why);
    try {
      this.opts.onRemoved?.();
    } catch {
      // The listener's failure does not keep this node in.
    }
    // Not from inside swim's handling of the datagram that said so.
    return new Promise<void>((r) => setImmediate(r)).then(() => this.stop());
  }

  private admits(r: WireMember): boolean {
    const removal = this.removals.get(r.host);
    if (removal === undefined || r.state === WireState.Left || r.state === WireState.Faulty) return true;
    return r.incarnation >= removal.floor;
  }

  updateMeta(meta: MemberMeta): void {
    const m = checkedMeta(meta);
    if (this.adapter !== null && this.phase === 'running') {
      this.checkRecordFits(this.adapter, m, this.maxDatagram - this.transport.overhead('membership'));
      this.meta = m;
      this.adapter.updateMeta(m);
    } else {
      this.meta = m;
      if (this.self !== null) this.self = { ...this.self, meta: m };
    }
  }

  stats(): MembershipStats {
    const t = this.transport.stats().membership;
    return {
      datagramsIn: t.datagramsIn,
      datagramsOut: t.datagramsOut,
      bytesIn: t.bytesIn,
      bytesOut: t.bytesOut,
      rejectedBadMac: t.dropped.mac,
      rejectedStale: t.dropped.stale,
      rejectedReplay: t.dropped.replay,
      // unparseable datagrams, payloads wire.ts refused, and destinations that are not host:port
      rejectedMalformed: t.dropped.malformed + t.dropped.address + this.malformed,
      droppedOversized: t.dropped.oversize,
      sendErrors: t.sendErrors,
      maxDatagramOut: t.maxDatagramOut,
    };
  }

  /** Leaves gracefully: peers record this node as 'left'. */
  stop(): Promise<void> {
    this.stopping ??= this.stopInner();
    return this.stopping;
  }

  private async stopInner(): Promise<void> {
    if (this.phase === 'starting') await this.starting?.catch(() => {});
    if (this.phase !== 'running') {
      this.phase = 'stopped';
      return;
    }
    this.phase = 'stopping';
    this.seeds?.stop();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    try {
      await this.adapter?.leave();
    } finally {
      await this.releaseTransport();
      if (this.self !== null) this.self = { ...this.self, state: 'left', since: Date.now() };
      this.phase = 'stopped';
      log.info('%s stopped', this.address);
    }
  }

  /** Stops taking datagrams; closes the transport only if it is this instance's own. */
  private async releaseTransport(): Promise<void> {
    this.stopReceiving?.();
    this.stopReceiving = null;
    if (this.ownsTransport) await this.transport.close();
  }

  private onRecord(w: WireMember): void {
    const state = STATE_NAMES[w.state]!;
    const meta = w.meta ?? null;
    if (w.host === this.address) {
      if (this.self !== null) this.self = { ...this.self, incarnation: w.incarnation, meta: meta ?? this.self.meta };
      return;
    }
    const now = Date.now();
    const prev = this.table.get(w.host);
    if (prev === undefined) {
      // swim only reports faulty or left for members it holds, and a reaped one is no longer held.
      if (state === 'faulty' || state === 'left') return;
      const info: MemberInfo = { address: w.host, state, incarnation: w.incarnation, meta, since: now, local: false };
      this.table.set(w.host, info);
      this.opts.metrics?.memberEntered(state);
      log.debug('%s: %s joined (%s)', this.address, w.host, state);
      this.emitInfo('join', info);
      if (state === 'suspect') this.emitInfo('suspect', info);
      return;
    }
    const changed = prev.state !== state;
    const info: MemberInfo = { address: w.host, state, incarnation: w.incarnation, meta, since: changed ? now : prev.since, local: false };
    this.table.set(w.host, info);
    if (!changed) {
      if (!sameMeta(prev.meta, meta)) this.emitInfo('update', info);
      return;
    }
    this.opts.metrics?.memberEntered(state);
    log.debug('%s: %s %s -> %s (incarnation %d)', this.address, w.host, prev.state, state, w.incarnation);
    switch (state) {
      case 'alive':
        this.emitInfo(prev.state === 'left' ? 'join' : 'alive', info);
        break;
      case 'suspect':
        if (prev.state === 'left') this.emitInfo('join', info);
        this.emitInfo('suspect', info);
        break;
      case 'faulty':
        this.emitInfo('faulty', info);
        break;
      case 'left':
        this.emitInfo('leave', info);
        break;
    }
  }

  private emitInfo(event: keyof MembershipEvents, info: MemberInfo): void {
    try {
      this.emit(event, { ...info });
    } catch (err) {
      // A listener's bug must not break swim's bookkeeping mid-update.
      log.error('%s listener failed: %s', event, (err as Error).stack ?? String(err));
    }
  }

  private reap(): void {
    const adapter = this.adapter;
    if (adapter === null) return;
    const now = Date.now();
    const limit = now - this.timings.reapFaultyAfterMs;
    for (const [host, r] of this.removals) if (r.until <= now) this.removals.delete(host);
    for (const [host, info] of this.table) {
      if ((info.state === 'faulty' || info.state === 'left') && info.since <= limit) {
        adapter.reap(host);
        this.probes.forget(host);
        this.table.delete(host);
        log.info('%s: reaped %s (%s since %s)', this.address, host, info.state, new Date(info.since).toISOString());
      }
    }
  }

  /** memberlist's push-pull with one live member, and serf's reconnect attempt to one faulty member. */
  private pushPull(): void {
    const adapter = this.adapter;
    if (adapter === null || this.phase !== 'running') return;
    const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)];
    const live = pick(adapter.liveHosts());
    if (live !== undefined) adapter.sync(live);
    const down = pick(adapter.downHosts().filter((d) => d.state === WireState.Faulty));
    if (down !== undefined) adapter.sync(down.host);
  }
}
