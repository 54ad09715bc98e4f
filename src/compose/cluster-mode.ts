import { join } from 'node:path';
import type { InternalApi } from '../api/http/internal-route.js';
import { GossipCluster, type GossipClusterOptions } from '../cluster/cluster.js';
import type { GroupNodes } from '../cluster/groups/group-data.js';
import { parseHostPort } from '../cluster/membership/address.js';
import { LIST_FILES, openServerLists, type GroupWorkMode, type ServerLists } from '../cluster/groups/lists.js';
import { checkSeedHosts, loadSeeds } from '../cluster/groups/seed-file.js';
import { internalLimits, type ReplicationTask } from '../cluster/replication.js';
import { AUTH_HEADER } from '../cluster/request-signing.js';
import type { ClusterMembers, ClusterStats } from '../cluster/view.js';
import type { Config } from '../config/settings.js';
import type { OpsCluster } from '../ops/types.js';
import type { ReplicaControl } from '../api/resp/context.js';
import type { ClusterFlush } from '../store/flush.js';
import type { Metrics, MetricSources } from '../metrics/metrics.js';
import type { MembershipEventSource } from '../cluster-page/page-state.js';
import { logger } from '../log.js';
import { GOSSIP_MEMBERS_FILE } from '../persistence/layout.js';
import type { Persistence } from '../persistence/persistence.js';
import type { Store } from '../store/store.js';
import { Late } from './late.js';

const log = logger('node');

/** Who this node is on HTTP: known once its port is bound. */
export interface NodeSelf {
  /** NodeName, or ResponseHost:port. */
  name: string;
  /** ResponseHost:port: how answers name this node. */
  http: string;
  /** The bound HTTP port. */
  httpPort: number;
}

/**
 * What a cluster is, decided once from GroupWorkMode (docs/architecture.md,
 * "Cluster modes"): the one place that knows both modes. The rest of the node
 * asks the mode and never compares mode names.
 */
export interface ClusterMode {
  readonly name: GroupWorkMode;
  /** The /server/ lists, opened from this mode's files (cluster/groups/lists.ts). */
  readonly lists: ServerLists;
  /** Who /group_data/ asks besides this node. */
  readonly groupNodes: GroupNodes;
  /** The node-to-node routes' handlers; null: this mode mounts no /internal/ routes. */
  readonly internal: InternalApi | null;
  /** Runs once every port is bound and the data directory may be written. */
  start(self: NodeSelf): Promise<void>;
  stop(): Promise<void>;
  /** GET /cluster/members. */
  members(self: NodeSelf): ClusterMembers;
  /** /cluster/status's cluster part; null in a mode without one, or before it has started. */
  status(): { members: ClusterMembers; replication: ClusterStats } | null;
  /** The UDP addresses the start-up lines print (gossip mode, once started); null otherwise. */
  udp(): { gossip: string; dataGossipPort: number } | null;
  /** What the cluster operations act on (src/ops/types.ts); null in owlcache mode and before the start. */
  operations(): OpsCluster | null;
  /** Membership events (the cluster page's log); null in owlcache mode and before the start. */
  membershipEvents(): MembershipEventSource | null;
  /** WAIT's view of the peers: how many are live, and a push-pull round with each. */
  readonly replicas: ReplicaControl;
  /** What /metrics reads from the cluster when scraped (members, datagrams, deltas); empty in owlcache mode. */
  readonly observed: MetricSources;
  /** Gossip mode: whether any seed is configured (seed file or the gossip list), for /readyz. */
  seedsConfigured(): boolean;
  /** The members seen (/readyz); null in owlcache mode and before the start. */
  memberStates(): readonly { local: boolean; state: string }[] | null;
}

/** What a mode is built from besides the settings: the loaded store and data directory. */
export interface ModeParts {
  dataDir: string;
  store: Store;
  persistence: Persistence;
  /** The replication tasks' run-time switches, applied when the cluster starts (on by default). */
  tasks?: { isOn(task: ReplicationTask): boolean };
  /** The cluster-wide flush (FLUSHALL), replicated with the /server/ lists in gossip mode. */
  flush?: ClusterFlush;
  /** The node's metrics (GET /metrics), handed to the cluster's parts. */
  metrics?: Metrics;
}

/** The one decision: GroupWorkMode (or GroupDataSync 1, folded in by the conf loader) picks the mode. */
export function clusterMode(config: Config, parts: ModeParts): ClusterMode {
  return config.GroupWorkMode === 'gossip' ? gossipMode(config, parts) : owlcacheMode(parts);
}

function openLists(dataDir: string, mode: GroupWorkMode, store: Store): ServerLists {
  const lists = openServerLists(dataDir, LIST_FILES[mode], store.hlc);
  for (const p of new Set([...lists.owlcache.problems, ...lists.gossip.problems])) log.warn('server list: %s', p);
  return lists;
}

function selfOnly(self: NodeSelf): ClusterMembers {
  return { node: { name: self.name, http: self.http, gossip: null }, members: [] };
}

/** owlcache mode: the explicit owlcache list, writes stay where they were made, no UDP, no internal routes. */
export function owlcacheMode(parts: Pick<ModeParts, 'dataDir' | 'store'>): ClusterMode {
  const lists = openLists(parts.dataDir, 'owlcache', parts.store);
  return {
    name: 'owlcache',
    lists,
    groupNodes: { httpAddresses: () => lists.owlcache.liveAddresses() },
    internal: null,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    members: selfOnly,
    status: () => null,
    udp: () => null,
    operations: () => null,
    membershipEvents: () => null,
    replicas: { count: () => 0, confirm: () => [] },
    observed: {},
    seedsConfigured: () => false,
    memberStates: () => null,
  };
}

/** The settings gossip mode reads: its slice of Config. */
export type GossipSettings = Pick<
  Config,
  | 'Host'
  | 'ResponseHost'
  | 'Gossipport'
  | 'DataGossipPort'
  | 'GossipAdvertiseAddr'
  | 'GossipDataSyncAuthKey'
  | 'GossipEncrypt'
  | 'GossipMemberSyncInterval'
  | 'MaxClockSkew'
  | 'GossipMacWindow'
  | 'GossipMaxDatagram'
  | 'GossipProbeInterval'
  | 'GossipPingTimeout'
  | 'GossipSuspicionMult'
  | 'ReapFaultyAfter'
  | 'GossipFanout'
  | 'RetransmitMult'
  | 'PushPullInterval'
  | 'GossipHttpClientRequestTimeout'
  | 'Open_Https'
  | 'HttpsClient_InsecureSkipVerify'
  | 'MaxValueSize'
  | 'TombstoneTTL'
>;

/** The HTTP host:port the other members call: GossipAdvertiseAddr's host (else ResponseHost) with the bound HTTP port. */
function advertisedHttp(c: GossipSettings, httpPort: number): string {
  // An invalid advertise address is refused by the membership layer, with its own message.
  const advertiseHost = parseHostPort(c.GossipAdvertiseAddr.trim(), 0)?.host ?? c.ResponseHost;
  return `${advertiseHost}:${httpPort}`;
}

/** The gossip cluster's options, each part's slice built here once from the settings. */
export function gossipClusterOptions(c: GossipSettings, parts: { store: Store; lists: ServerLists; dataDir: string }, self: NodeSelf): GossipClusterOptions {
  const advertise = c.GossipAdvertiseAddr.trim();
  return {
    store: parts.store,
    lists: parts.lists,
    name: self.name,
    selfHttp: advertisedHttp(c, self.httpPort),
    membersFile: join(parts.dataDir, GOSSIP_MEMBERS_FILE),
    transport: {
      bindHost: c.Host,
      ports: { data: c.DataGossipPort, membership: c.Gossipport },
      authKey: c.GossipDataSyncAuthKey,
      encrypt: c.GossipEncrypt,
      macWindowMs: c.GossipMacWindow,
      maxDatagram: c.GossipMaxDatagram,
    },
    membership: {
      ...(advertise !== '' ? { advertiseAddr: advertise } : {}),
      probeIntervalMs: c.GossipProbeInterval,
      pingTimeoutMs: c.GossipPingTimeout,
      suspicionMult: c.GossipSuspicionMult,
      reapFaultyAfterMs: c.ReapFaultyAfter,
      pushPullIntervalMs: c.GossipMemberSyncInterval,
      maxClockSkewMs: c.MaxClockSkew,
    },
    replication: {
      fanout: c.GossipFanout,
      retransmitMult: c.RetransmitMult,
      pushPullIntervalMs: c.PushPullInterval,
      httpTimeoutMs: c.GossipHttpClientRequestTimeout,
      https: c.Open_Https,
      insecureSkipVerify: c.HttpsClient_InsecureSkipVerify,
      maxValueSize: c.MaxValueSize,
    },
  };
}

/** gossip mode: SWIM membership from the seeds, every write replicated, internal routes for push-pull and value fetches. */
export function gossipMode(config: GossipSettings, parts: ModeParts): ClusterMode {
  const { dataDir, store, persistence } = parts;
  const lists = openLists(dataDir, 'gossip', store);
  const seeds = loadSeeds(dataDir);
  for (const p of seeds.problems) if (!lists.gossip.problems.includes(p)) log.warn('gossip seeds: %s', p);
  if (seeds.seeds.length > 0) log.info('gossip seeds: %s', seeds.seeds.join(', '));
  void checkSeedHosts(seeds).then((problems) => {
    for (const p of problems) log.warn('%s', p);
  });
  // The internal routes are mounted before the HTTP port opens; the cluster needs that port, so it comes later.
  const cluster = new Late<GossipCluster>('the gossip cluster');
  const internal: InternalApi = {
    authHeader: AUTH_HEADER,
    maxBodyBytes: internalLimits(config.MaxValueSize).body,
    // Until the cluster runs, every call is refused as unauthenticated (nothing could verify it);
    // entry and sync are reached only past verify, so only once it runs.
    screen: (header) => cluster.isSet && cluster.get().replication.screen(header),
    verify: (method, path, header, body) => cluster.isSet && cluster.get().replication.verify(method, path, header, body),
    entry: (key) => cluster.get().replication.entry(key),
    sync: (body) => cluster.get().replication.sync(body),
  };
  return {
    name: 'gossip',
    lists,
    groupNodes: { httpAddresses: () => (cluster.isSet ? cluster.get().liveHttpAddresses() : []) },
    internal,
    async start(self) {
      const savedAt = persistence.loaded.savedAt;
      if (savedAt > 0 && Date.now() - savedAt > config.TombstoneTTL) {
        // Deletes older than the tombstone TTL are forgotten by the others: this copy could resurrect them.
        log.warn('the data directory is older than TombstoneTTL (%d s): discarding it and pulling from peers', Math.round(config.TombstoneTTL / 1000));
        store.clear();
        await persistence.snapshot();
      }
      const c = new GossipCluster({
        ...gossipClusterOptions(config, { store, lists, dataDir }, self),
        ...(parts.flush ? { flush: parts.flush } : {}),
        ...(parts.metrics ? { metrics: parts.metrics } : {}),
      });
      for (const task of ['anti_entropy', 'dissemination'] as const) c.setTask(task, parts.tasks?.isOn(task) ?? true);
      cluster.set(c);
      await c.start(seeds.fixed);
    },
    stop: () => (cluster.isSet ? cluster.get().stop() : Promise.resolve()),
    members: (self) => (cluster.isSet ? cluster.get().members() : selfOnly(self)),
    status: () => (cluster.isSet ? { members: cluster.get().members(), replication: cluster.get().stats() } : null),
    udp: () => (cluster.isSet ? { gossip: cluster.get().gossipAddress(), dataGossipPort: cluster.get().dataGossipPort() } : null),
    operations: () => (cluster.isSet ? cluster.get() : null),
    membershipEvents: () => (cluster.isSet ? cluster.get().membership : null),
    observed: {
      members: () => (cluster.isSet ? cluster.get().membership.members() : []),
      datagrams: () => (cluster.isSet ? cluster.get().transport.stats() : null),
      deltas: () => (cluster.isSet ? cluster.get().replication.disseminator.stats() : null),
      peerRtts: () => {
        if (!cluster.isSet) return [];
        const c = cluster.get();
        return c
          .memberList()
          .filter((m) => !m.local)
          .map((m) => ({ peer: m.name ?? m.gossip, rttMs: c.probe(m.gossip)?.rttLastMs ?? null }));
      },
    },
    seedsConfigured: () => seeds.fixed.length > 0 || lists.gossip.liveAddresses().length > 0,
    memberStates: () => (cluster.isSet ? cluster.get().membership.members() : null),
    replicas: {
      count: () => (cluster.isSet ? cluster.get().livePeers().length : 0),
      confirm: () =>
        cluster.isSet
          ? cluster
              .get()
              .livePeers()
              .map((p) => cluster.get().replication.antiEntropy.round(p))
          : [],
    },
  };
}
