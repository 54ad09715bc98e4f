import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { withPort } from '../host-port.js';
import { logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { writeFileAtomic } from '../persistence/files.js';
import type { Store } from '../store/store.js';
import type { ListSync } from './antientropy/anti-entropy.js';
import type { ServerEntry } from './groups/server-list.js';
import type { ServerLists } from './groups/lists.js';
import { Membership, type MemberInfo } from './membership/membership.js';
import type { Peer, PeerDirectory } from './peers.js';
import { Replication, type ReplicationOptions } from './replication.js';
import { UdpTransport } from './transport/udp-transport.js';

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
 */
export interface GossipClusterOptions {
  store: Store;
  lists: ServerLists;
  name: string;
  selfHttp: string;
  bindHost: string;
  gossipPort: number;
  advertiseAddr: string;
  authKey: string;
  encrypt: boolean;
  macWindowMs: number;
  probeIntervalMs: number;
  pingTimeoutMs: number;
  suspicionMult: number;
  reapFaultyAfterMs: number;
  maxDatagram: number;
  /** Where the live member list is kept between runs. */
  membersFile: string;
  /** Counts what membership and replication do (absent = not counted). */
  metrics?: Metrics;
  replication: Omit<ReplicationOptions, 'store' | 'peers' | 'authKey' | 'macWindowMs' | 'transport' | 'selfHttp' | 'lists' | 'metrics'> & {
    /** the data-gossip UDP port (0 = any free port) */
    dataPort: number;
  };
}

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

export class GossipCluster implements PeerDirectory {
  /** The node's datagram sockets: membership on gossipPort, deltas on the data-gossip port. */
  readonly transport: UdpTransport;
  readonly membership: Membership;
  readonly replication: Replication;
  private dataPort = 0;
  private saveTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: GossipClusterOptions) {
    const { dataPort, ...replication } = opts.replication;
    this.transport = new UdpTransport({
      bindHost: opts.bindHost,
      ports: { data: dataPort, membership: opts.gossipPort },
      authKey: opts.authKey,
      encrypt: opts.encrypt,
      macWindowMs: opts.macWindowMs,
      maxDatagram: opts.maxDatagram,
    });
    this.membership = new Membership({
      transport: this.transport,
      bindHost: opts.bindHost,
      port: opts.gossipPort,
      ...(opts.advertiseAddr ? { advertiseAddr: opts.advertiseAddr } : {}),
      authKey: opts.authKey,
      encrypt: opts.encrypt,
      meta: { name: opts.name, http: opts.selfHttp, data: '', proto: PROTOCOL_VERSION },
      probeIntervalMs: opts.probeIntervalMs,
      pingTimeoutMs: opts.pingTimeoutMs,
      suspicionMult: opts.suspicionMult,
      maxDatagram: opts.maxDatagram,
      reapFaultyAfterMs: opts.reapFaultyAfterMs,
      macWindowMs: opts.macWindowMs,
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
    this.replication = new Replication({
      ...replication,
      store: opts.store,
      peers: this,
      authKey: opts.authKey,
      macWindowMs: opts.macWindowMs,
      transport: this.transport,
      selfHttp: opts.selfHttp,
      lists: listSync(opts.lists),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
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
      const live = this.membership.members().filter((m) => !m.local && m.state === 'alive').map((m) => m.address);
      if (live.length === 0) return; // keep the last known list rather than forget every way back
      try {
        writeFileAtomic(this.opts.membersFile, JSON.stringify({ format: 1, members: live.sort() }, null, 2) + '\n');
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

  members(): unknown {
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

  stats(): Record<string, unknown> {
    return { membership: this.membership.stats(), ...this.replication.stats() };
  }
}
