import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { withPort } from '../host-port.js';
import { logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { writeFileAtomic } from '../persistence/files.js';
import type { ClusterFlush } from '../store/flush.js';
import { isVersion, type Version } from '../store/hlc.js';
import type { Store } from '../store/store.js';
import type { ListSync } from './antientropy/anti-entropy.js';
import type { ServerEntry } from './groups/server-list.js';
import type { ServerLists } from './groups/lists.js';
import { Membership, type MemberInfo, type MembershipOptions, type MemberState, type ProbeSummary } from './membership/membership.js';
import type { RoundReport } from './antientropy/anti-entropy.js';
import type { Peer, PeerDirectory } from './peers.js';
import { Replication, type ReplicationTask, type ReplicationTuning } from './replication.js';
import { AUTH_HEADER } from './request-signing.js';
import { UdpTransport, type UdpTransportOptions } from './transport/udp-transport.js';
import type { ClusterMembers, ClusterStats } from './view.js';

const log = logger('cluster');

/** Version of the node-to-node protocol, carried in each member's metadata. */
export const PROTOCOL_VERSION = 1;

function readSavedMembers(file: string): string[] {
  try {
    if (!existsSync(file)) return [];
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { format?: number; members?: unknown };
    if (parsed.format !== 1 || !Array.isArray(parsed.members)) throw new Error('not a member list of format 1');
    return parsed.members.filter((m): m is string => typeof m === 'string' && /^[^\s]+:\d{1,5}$/.test(m));
  } catch (err) {
    log.warn('%s cannot be read (%s): ignoring it', file, (err as Error).message);
    return [];
  }
}

/**
 * Gossip mode's cluster: SWIM membership, replication driven by it, and the
 * /server/ lists reconciled between nodes. The rest of the node sees only this
 * facade: live peers, a status view, the internal routes' handlers.
 *
 * Its options come in one slice per part, each built once from the settings
 * (src/compose/cluster-mode.ts): the transport's, membership's, replication's.
 * The membership layer takes its port, key and datagram budget from the
 * transport's, replication its signing key.
 */
export interface GossipClusterOptions {
  store: Store;
  lists: ServerLists;
  /** This node's name (NodeName, or ResponseHost:port). */
  /** The node's flush item, replicated with the lists. */
  flush?: ClusterFlush;
  name: string;
  /** This node's HTTP host:port as the others call it. */
  selfHttp: string;
  /** Where the live member list is kept between runs. */
  membersFile: string;
  /** Counts what membership and replication do (absent = not counted). */
  metrics?: Metrics;
  /** The node's datagram sockets: 'membership' on Gossipport, 'data' on DataGossipPort. */
  transport: UdpTransportOptions;
  membership: MembershipTuning;
  replication: ReplicationTuning;
}

/** Membership's settings beyond what the transport fixes. */
export type MembershipTuning = Pick<
  MembershipOptions,
  'advertiseAddr' | 'probeIntervalMs' | 'pingTimeoutMs' | 'suspicionMult' | 'reapFaultyAfterMs' | 'pushPullIntervalMs' | 'maxClockSkewMs'
>;

function peerOf(m: MemberInfo): Peer | null {
  if (m.local || m.state !== 'alive' || m.meta === null) return null;
  return { name: m.meta.name, http: m.meta.http, data: m.meta.data };
}

/** The /server/ lists as one replicated value (same merge rule as data, per address). */
function listSync(lists: ServerLists): ListSync {
  const both = () => ({ owlcache: lists.owlcache.entriesWithVersions(), gossip: lists.gossip.entriesWithVersions() });
  return {
    digest: () => {
      const h = createHash('sha256');
      for (const list of [lists.owlcache, lists.gossip]) {
        const rows = list.entriesWithVersions().map((e) => `${e.address}|${e.version.t}.${e.version.c}.${e.version.n}|${e.deleted ? 1 : 0}`);
        h.update(rows.sort().join('\n')).update('\u0000');
      }
      return h.digest('hex').slice(0, 16);
    },
    export: both,
    merge: (data) => {
      if (typeof data !== 'object' || data === null) return;
      const d = data as { owlcache?: unknown; gossip?: unknown };
      if (Array.isArray(d.owlcache)) lists.owlcache.merge(d.owlcache as ServerEntry[]);
      if (Array.isArray(d.gossip)) lists.gossip.merge(d.gossip as ServerEntry[]);
    },
  };
}

/** The latest flush (src/store/flush.ts) carried with the lists, so a node that was down during a FLUSHALL gets it by push-pull. */
function withFlush(inner: ListSync, flush: ClusterFlush): ListSync {
  const text = (v: Version) => `${v.t}.${v.c}.${v.n}`;
  return {
    digest: () => (flush.version === null ? inner.digest() : `${inner.digest()}:${text(flush.version)}`),
    export: () => {
      const data = inner.export();
      return flush.version === null ? data : { ...(data as object), flush: flush.version };
    },
    merge: (data) => {
      inner.merge(data);
      const v = typeof data === 'object' && data !== null ? (data as { flush?: unknown }).flush : undefined;
      if (isVersion(v)) flush.apply(v, 'remote');
    },
  };
}

export class GossipCluster implements PeerDirectory {
  /** The node's datagram sockets: membership on gossipPort, deltas on the data-gossip port. */
  readonly transport: UdpTransport;
  readonly membership: Membership;
  readonly replication: Replication;
  private dataPort = 0;
  private saveTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: GossipClusterOptions) {
    const t = opts.transport;
    this.transport = new UdpTransport(t);
    this.membership = new Membership({
      ...opts.membership,
      transport: this.transport,
      bindHost: t.bindHost,
      port: t.ports.membership ?? 0,
      authKey: t.authKey,
      encrypt: t.encrypt,
      macWindowMs: t.macWindowMs,
      maxDatagram: t.maxDatagram,
      meta: { name: opts.name, http: opts.selfHttp, data: '', proto: PROTOCOL_VERSION },
      onClockSkew: (address, offsetMs, skewed) => {
        const name = this.membership.members().find((m) => m.address === address)?.meta?.name ?? address;
        const max = opts.membership.maxClockSkewMs ?? 500;
        if (skewed)
          log.warn(
            "clock of member %s is %d ms off this node's, beyond MaxClockSkew (%d ms): last-writer-wins needs clocks within bounds",
            name,
            offsetMs,
            max,
          );
        else log.info('clock of member %s is back within MaxClockSkew (%d ms off)', name, offsetMs);
      },
      onRemoved: () => log.warn('this node was removed from the cluster (remove_node): it leaves and serves alone until it is restarted'),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
    this.replication = new Replication({
      store: opts.store,
      peers: this,
      transport: this.transport,
      signing: { authKey: t.authKey, macWindowMs: t.macWindowMs },
      selfHttp: opts.selfHttp,
      lists: opts.flush ? withFlush(listSync(opts.lists), opts.flush) : listSync(opts.lists),
      tuning: opts.replication,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
    // A flush made here goes to every live peer at once rather than waiting for the next rounds.
    opts.flush?.onFlush((_v, origin) => {
      if (origin !== 'local') return;
      for (const peer of this.livePeers()) void this.replication.antiEntropy.round(peer).catch(() => {});
    });
  }

  /**
   * Binds the data-gossip and SWIM ports, joins the seeds in the background:
   * `seeds` (the seed file's, kept for good), the saved members, and the
   * gossip list's, followed as it changes.
   */
  async start(seeds: string[]): Promise<void> {
    await this.transport.open();
    this.dataPort = this.transport.port('data');
    this.replication.start();
    this.membership.updateMeta({ name: this.opts.name, http: this.opts.selfHttp, data: this.dataAddress(), proto: PROTOCOL_VERSION });
    const arrived = (m: MemberInfo) => {
      const p = peerOf(m);
      if (p !== null) {
        log.info('member %s (%s) is alive: reconciling', p.name, m.address);
        this.replication.peerArrived(p);
      }
    };
    this.membership.on('join', arrived);
    this.membership.on('alive', arrived);
    this.membership.on('suspect', (m) => log.info('member %s is suspect', m.meta?.name ?? m.address));
    this.membership.on('faulty', (m) => log.warn('member %s is faulty', m.meta?.name ?? m.address));
    this.membership.on('leave', (m) => log.info('member %s left', m.meta?.name ?? m.address));
    for (const event of ['join', 'alive', 'leave', 'faulty'] as const) this.membership.on(event, () => this.saveMembersSoon());
    const saved = readSavedMembers(this.opts.membersFile);
    const gossipList = this.opts.lists.gossip;
    this.membership.setListedSeeds(gossipList.liveAddresses());
    await this.membership.start([...new Set([...seeds, ...saved])]);
    // Seeds added with /server/?group_type=gossip are joined; deleted ones are no longer tried.
    gossipList.onChange(() => this.membership.setListedSeeds(gossipList.liveAddresses()));
  }

  async stop(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    await this.membership.stop();
    await this.replication.stop();
    await this.transport.close();
  }

  /** Saves the live members' addresses a moment after the membership changes. */
  private saveMembersSoon(): void {
    if (this.saveTimer !== null) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      const live = this.membership
        .members()
        .filter((m) => !m.local && m.state === 'alive')
        .map((m) => m.address);
      if (live.length === 0) return; // keep the last known list rather than forget every way back
      try {
        writeFileAtomic(this.opts.membersFile, `${JSON.stringify({ format: 1, members: live.sort() }, null, 2)}\n`);
      } catch (err) {
        log.warn('cannot save %s: %s', this.opts.membersFile, (err as Error).message);
      }
    }, 1000);
    this.saveTimer.unref();
  }

  gossipAddress(): string {
    return this.membership.localAddress();
  }

  dataGossipPort(): number {
    return this.dataPort;
  }

  /** The data-gossip address members send deltas to: the advertised HTTP host, the data port. */
  private dataAddress(): string {
    return withPort(this.opts.selfHttp, this.dataPort);
  }

  livePeers(): Peer[] {
    const out: Peer[] = [];
    for (const m of this.membership.members()) {
      const p = peerOf(m);
      if (p !== null && p.data !== '' && !p.data.endsWith(':0')) out.push(p);
    }
    return out;
  }

  liveHttpAddresses(): string[] {
    return this.livePeers().map((p) => p.http);
  }

  members(): ClusterMembers {
    return {
      node: { name: this.opts.name, http: this.opts.selfHttp, gossip: this.gossipAddress(), data: this.dataAddress() },
      members: this.membership.members().map((m) => ({
        name: m.meta?.name ?? null,
        state: m.state,
        incarnation: m.incarnation,
        gossip: m.address,
        http: m.meta?.http ?? null,
        data: m.meta?.data ?? null,
        proto: m.meta?.proto ?? null,
        local: m.local,
        since: new Date(m.since).toISOString(),
      })),
    };
  }

  stats(): ClusterStats {
    return { membership: this.membership.stats(), ...this.replication.stats() };
  }

  // ---- what the cluster operations use (src/ops/types.ts, OpsCluster) ----

  readonly authHeader = AUTH_HEADER;

  memberList(): { name: string | null; state: MemberState; incarnation: number; gossip: string; http: string | null; local: boolean; since: number }[] {
    return this.membership.members().map((m) => ({
      name: m.meta?.name ?? null,
      state: m.state,
      incarnation: m.incarnation,
      gossip: m.address,
      http: m.meta?.http ?? null,
      local: m.local,
      since: m.since,
    }));
  }

  private memberAt(address: string): ReturnType<GossipCluster['memberList']>[number] | null {
    return this.memberList().find((m) => m.gossip === address) ?? null;
  }

  async join(address: string, timeoutMs: number): Promise<ReturnType<GossipCluster['memberList']>[number] | null> {
    const m = await this.membership.join(address, timeoutMs);
    return m === null ? null : this.memberAt(m.address);
  }

  forceLeave(address: string, from: { incarnation?: number; at?: number } = {}): ReturnType<GossipCluster['memberList']>[number] | null {
    const m = this.membership.forceLeave(address, from);
    if (m !== null) this.saveMembersSoon();
    return m === null ? null : this.memberAt(m.address);
  }

  leaveRemoved(why: string): Promise<void> {
    return this.membership.leaveRemoved(why);
  }

  wasRemoved(): boolean {
    return this.membership.wasRemoved();
  }

  refresh(address: string): void {
    this.membership.refresh(address);
  }

  addSeeds(seeds: string[]): void {
    this.membership.addSeeds(seeds);
  }

  probe(address: string): ProbeSummary | null {
    return this.membership.probeSummary(address);
  }

  lastRoundWith(http: string): RoundReport | undefined {
    return this.replication.lastRoundWith(http);
  }

  rootsEqual(http: string): Promise<boolean> {
    const p = this.livePeers().find((x) => x.http === http);
    if (p === undefined) return Promise.reject(new Error(`${http} is not a live member`));
    return this.replication.rootsEqual(p);
  }

  ask(http: string, body: Buffer): Promise<Buffer | null> {
    return this.replication.client.call(http, 'POST', '/internal/ops', body);
  }

  verify(method: string, path: string, header: string | undefined, body: Buffer): boolean {
    return this.replication.verify(method, path, header, body);
  }

  setTask(task: ReplicationTask, on: boolean): void {
    this.replication.setEnabled(task, on);
  }

  counters(): { deltasSent: number; deltasReceived: number; lastPushPullAt: number } {
    const push = this.replication.disseminator.stats();
    return { deltasSent: push.deltasSent, deltasReceived: push.deltasReceived, lastPushPullAt: this.replication.antiEntropy.counters.lastRoundAt };
  }
}
