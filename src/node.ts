import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Commands } from './api/commands.js';
import { clusterRouter, type ClusterView } from './api/http/cluster-route.js';
import { pageRouter } from './api/http/page-route.js';
import { healthRouter } from './api/http/health-route.js';
import { metricsRouter } from './api/http/metrics-route.js';
import { NodeReadiness } from './health.js';
import { Metrics } from './metrics/metrics.js';
import { groupDataRouter } from './api/http/group-data-route.js';
import { internalRouter } from './api/http/internal-route.js';
import { serverRouter } from './api/http/server-route.js';
import type { RespNodeInfo } from './api/resp/context.js';
import type { NodeStatus } from './cluster/view.js';
import { ClusterPage } from './cluster-page/page-state.js';
import { clusterMode, type ClusterMode, type NodeSelf } from './compose/cluster-mode.js';
import { httpServer, respMembers, respServer, tcpProtection, tcpServer } from './compose/front-ends.js';
import { catchUpDigest, startHousekeeping } from './compose/housekeeping.js';
import { Late } from './compose/late.js';
import { applySwitches, backupJobs, operationsRouter, runtimeSwitches, type BoundAddresses } from './compose/operations.js';
import { commandLimits, groupClient, groupData, httpDeps, nodeSelf, persistenceOptions, storeOptions } from './compose/parts.js';
import { StopStack } from './compose/stop-stack.js';
import type { Config } from './config/settings.js';
import { loadOrCreateAuthData, saveAuthData } from './persistence/auth-data.js';
import { DataDirLock } from './persistence/dir-lock.js';
import { ensureWritableDir } from './persistence/files.js';
import { Persistence, type LoadReport } from './persistence/persistence.js';
import { ClusterFlush } from './store/flush.js';
import { Store } from './store/store.js';
import { logger } from './log.js';
import { VERSION } from './version.js';

const log = logger('node');

/** What a started node tells its caller (the CLI prints it; tests read it). */
export interface NodeInfo {
  nodeId: string;
  name: string;
  dataDir: string;
  http: AddressInfo;
  /** The OwlCache TCP text protocol's address (null when CloseTcp is 0). */
  tcp: AddressInfo | null;
  /** Where the TCP port takes writes from, in words (protected mode). */
  tcpWrites: string;
  /** The Redis protocol's address (null when RespPort is 0). */
  resp: AddressInfo | null;
  /** Gossip mode: the SWIM address other nodes put in their seed file. */
  gossip: string | null;
  /** Gossip mode: the data-gossip (delta) UDP port. */
  dataGossipPort: number | null;
  /** Set when the password was generated at this start: shown once. */
  generatedPassword: string | null;
  /** What was loaded from the data directory at start. */
  loaded: LoadReport;
}

/** A bound port's server. */
interface FrontEnd {
  close(): Promise<void>;
}

/**
 * One cache node: the composition root. `start` builds the parts in the order
 * docs/architecture.md ("Composition") explains and pushes each on a stop
 * stack as soon as it holds something; `stop` runs that stack, last part first.
 */
export class OwlNode {
  private constructor(
    readonly store: Store,
    /** The command layer every front end calls; an embedded node's own reads and writes go here (src/embed.ts). */
    readonly commands: Commands,
    private readonly stops: StopStack,
    private readonly statusOf: () => NodeStatus,
    private readonly mode: ClusterMode,
  ) {}

  /**
   * Builds and starts a node; throws with a user-facing message if it cannot (having undone what it did).
   * Aborting `signal` (SIGTERM while a large data directory loads) ends the start before its first write:
   * it rejects with the signal's reason, the lock released and the data directory as it was.
   */
  static async start(config: Config, options: { signal?: AbortSignal } = {}): Promise<{ node: OwlNode; info: NodeInfo }> {
    const dataDir = resolve(config.DBfile);
    ensureWritableDir(dataDir);
    // Before anything else reads or writes the folder: one process per data directory.
    const lock = DataDirLock.acquire(dataDir);
    const stops = new StopStack();
    stops.push('the data directory lock', () => lock.release());
    try {
      return await OwlNode.assemble(config, dataDir, stops, options.signal);
    } catch (err) {
      await stops.run();
      throw err;
    }
  }

  /*
   * Start order: lock (above), then the parts (reading small files only), then
   * bind HTTP, then load the data directory (reads only, in slices: meanwhile
   * HTTP answers /healthz and /readyz and refuses the rest with 503), then bind
   * TCP/RESP, then the first writes (auth.json, a new log generation, moving
   * damaged files aside), then the cluster. No client ever sees a partly
   * loaded store; binding before writing means a process that cannot serve
   * (EADDRINUSE) leaves the data directory exactly as it found it.
   */
  private static async assemble(
    config: Config,
    dataDir: string,
    stops: StopStack,
    signal: AbortSignal | undefined,
  ): Promise<{ node: OwlNode; info: NodeInfo }> {
    // 1. The parts: the data directory is only read.
    const auth = loadOrCreateAuthData(dataDir, config.Pass === '', config.Tonken_jwt_secret === '', false);
    // Every node has its own metrics, also several in one process (GET /metrics).
    const metrics = new Metrics();
    const store = new Store({ ...storeOptions(config, auth.data.nodeId), metrics });
    // The kept flush first, so the records it removed are refused while the data directory loads.
    const opened = ClusterFlush.open(store, dataDir);
    if (opened.problem !== null) log.warn('flush: %s', opened.problem);
    const flush = opened.flush;
    // Loaded once HTTP is bound (step 3); clients' writes are refused until begin().
    const persistence = new Persistence({ ...persistenceOptions(config, dataDir, store), metrics });
    const startedAt = Date.now();
    // Last, once nothing can change the store any more: the final snapshot.
    stops.push('persistence', () => persistence.close());
    const limits = commandLimits(config);
    const commands = new Commands(store, limits);
    // Applied before any port opens; the cluster's own tasks when it starts.
    const switches = runtimeSwitches(dataDir);
    const mode: ClusterMode = clusterMode(config, { dataDir, store, persistence, flush, metrics, tasks: switches });
    applySwitches(switches, { commands, persistence, mode });
    const bound: BoundAddresses = { tcp: null, resp: null };
    const self = new Late<NodeSelf>("this node's HTTP address");
    const deps = httpDeps(config, { commands, limits, auth: auth.data, self, metrics });
    const client = groupClient(config);
    stops.push('the group_data client', () => client.close());
    const status = (): NodeStatus => nodeStatus({ store, persistence, mode, self: self.get(), startedAt });
    const view: ClusterView = { members: () => mode.members(self.get()), status };
    // The cluster page's collector (/ui/): rates, replication lag, membership events.
    const page = new ClusterPage({
      status,
      reads: () => commands.reads,
      onChange: (l) => store.onChange(l),
      // What this node measured of each peer: SWIM probes and its last push-pull round with it.
      peerFacts: (m) => {
        const cluster = mode.operations();
        if (cluster === null) return undefined;
        const probe = cluster.probe(m.gossip);
        const round = m.http === null ? undefined : cluster.lastRoundWith(m.http);
        return {
          rttMs: probe?.rttLastMs ?? null,
          clockOffsetMs: probe?.clockOffsetMs ?? null,
          inSync: round === undefined || !round.ok ? null : round.inSync,
        };
      },
    });

    // The HTTP routes, in one list: a new router is one more line here.
    // Metrics and health: gauges and mirrored counters are read from the parts when scraped.
    metrics.watch({ store: () => store.sizes(), ...mode.observed });
    const readiness = new NodeReadiness({
      gossip: mode.name === 'gossip',
      seedsConfigured: () => mode.seedsConfigured(),
      members: () => mode.memberStates(),
      keys: () => store.sizes().keys,
      loadProgress: () => persistence.progress(),
    });
    const jobs = backupJobs(config.BackupDir, dataDir, store, persistence);
    const routers = [
      metricsRouter(deps, metrics, config.MetricsAuth),
      healthRouter(readiness),
      serverRouter(deps, mode.lists),
      groupDataRouter(deps, groupData(config, { commands, nodes: mode.groupNodes, client, self })),
      clusterRouter(deps, view),
      operationsRouter(config, { dataDir, store, deps, mode, switches, self, bound, startedAt, jobs }),
      pageRouter(deps, page),
      ...(mode.internal === null ? [] : [internalRouter(mode.internal)]),
    ];

    // 2. Bind HTTP; the ports close together, before the final snapshot. Until the node is
    // ready to serve, HTTP answers /healthz and /readyz only, and 503 to everything else.
    const frontEnds: FrontEnd[] = [];
    stops.push('the front ends', () => Promise.all(frontEnds.map((f) => f.close())));
    const http = httpServer(config, deps, routers, () => readiness.loading);
    frontEnds.push(http);
    const httpAddress = await http.listen();
    self.set(nodeSelf(config, httpAddress.port));
    log.info('HTTP listening on %s:%d while the data directory loads (GET /readyz says how far)', httpAddress.address, httpAddress.port);

    // 3. Load the data directory, in slices of the event loop: nothing else runs on the store meanwhile.
    // The loaded records are hashed into the digest after step 5, while the node serves (Store.deferDigest).
    store.deferDigest();
    await persistence.load(signal === undefined ? {} : { signal });

    // 4. TCP and RESP open on the loaded store.
    const protection = tcpProtection(config);
    const tcp = tcpServer(config, commands, protection, metrics);
    if (tcp !== null) frontEnds.push(tcp);
    const tcpAddress = tcp === null ? null : await tcp.listen();
    bound.tcp = tcpAddress;
    const respInfo = (): RespNodeInfo => {
      const me = self.get();
      return { version: VERSION, nodeId: store.nodeId, nodeName: me.name, mode: mode.name, httpAddress: me.http, members: () => respMembers(mode.members(me)) };
    };
    const snapshots = { save: () => persistence.snapshot(), lastSaveAt: () => persistence.lastSnapshotAt() ?? startedAt };
    const resp = respServer(config, deps, respInfo, { flush, snapshots, replicas: mode.replicas, metrics });
    if (resp !== null) frontEnds.push(resp);
    const respAddress = resp === null ? null : await resp.listen();
    bound.resp = respAddress;

    // 5. Every port is bound: from here on the data directory may be written (unless the start was called off).
    signal?.throwIfAborted();
    if (auth.unsaved) saveAuthData(dataDir, auth.data);
    persistence.begin();
    readiness.loaded();
    stops.push('the digest catch-up', catchUpDigest(store));
    await persistence.moveDamagedAside().catch(() => {
      // Logged by the snapshot; the damaged files stay in place for the next one.
    });
    persistence.start();

    // 6. The cluster: first to stop, so the peers record 'left', not 'faulty'.
    stops.push('the cluster', () => mode.stop());
    await mode.start(self.get());
    const membership = mode.membershipEvents();
    if (membership !== null) page.watch(membership);
    stops.push('the cluster page', () => page.close());
    // Pushed last, so it runs first on stop: /readyz answers 503 while every port still serves, for ShutdownDrain.
    stops.push('draining', async () => {
      const serving = readiness.serving;
      readiness.drain();
      if (serving && config.ShutdownDrain > 0) await new Promise((r) => setTimeout(r, config.ShutdownDrain));
    });
    stops.push('the periodic tasks', startHousekeeping(config, { store, lists: mode.lists, tasks: switches }));

    const udp = mode.udp();
    return {
      node: new OwlNode(store, commands, stops, status, mode),
      info: {
        nodeId: store.nodeId,
        name: self.get().name,
        dataDir,
        http: httpAddress,
        tcp: tcpAddress,
        tcpWrites: protection.describe(),
        resp: respAddress,
        gossip: udp?.gossip ?? null,
        dataGossipPort: udp?.dataGossipPort ?? null,
        generatedPassword: auth.generatedPassword ? auth.data.password! : null,
        loaded: persistence.loaded,
      },
    };
  }

  /** Gossip mode: more seeds to join, tried like the seed file's (an embedded node's `seeds` option). */
  addSeeds(seeds: string[]): void {
    const cluster = this.mode.operations();
    if (cluster === null) throw new Error('seeds are for gossip mode (GroupWorkMode gossip)');
    cluster.addSeeds(seeds);
  }

  /** The node at a glance: what it is, its store, its cluster (GET /cluster/status). */
  status(): NodeStatus {
    return this.statusOf();
  }

  /** Stops the timers and the cluster, closes the ports (requests in flight finish), snapshots, unlocks. Safe to call twice. */
  stop(): Promise<void> {
    return this.stops.run();
  }
}

function nodeStatus(parts: { store: Store; persistence: Persistence; mode: ClusterMode; self: NodeSelf; startedAt: number }): NodeStatus {
  const { store, mode, self } = parts;
  const cluster = mode.status();
  return {
    node: {
      name: self.name,
      id: store.nodeId,
      version: VERSION,
      mode: mode.name,
      http: self.http,
      uptimeSeconds: Math.round((Date.now() - parts.startedAt) / 1000),
      rssBytes: process.memoryUsage().rss,
    },
    store: store.stats(),
    persistence: parts.persistence.stats(),
    cluster: cluster?.members ?? null,
    replication: cluster?.replication ?? null,
  };
}
