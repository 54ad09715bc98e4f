import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Commands } from './api/commands.js';
import { RespServer } from './api/resp/server.js';
import { TcpServer } from './api/tcp/server.js';
import { createHttpApp } from './api/http/app.js';
import type { HttpDeps } from './api/http/context.js';
import { tryFastGet } from './api/http/get-answer.js';
import { HttpServer } from './api/http/server.js';
import { PassGuard, TokenService } from './api/http/tokens.js';
import { clusterRouter, type ClusterView } from './api/http/cluster-route.js';
import { groupDataRouter } from './api/http/group-data-route.js';
import { internalRouter, type InternalApi } from './api/http/internal-route.js';
import { serverRouter } from './api/http/server-route.js';
import { GossipCluster } from './cluster/cluster.js';
import { GroupClient } from './cluster/groups/group-client.js';
import { parseHostPort } from './cluster/membership/address.js';
import { internalLimits } from './cluster/replication.js';
import { AUTH_HEADER } from './cluster/request-signing.js';
import { GroupData, type LiveMembers } from './cluster/groups/group-data.js';
import { openServerLists, type ServerLists } from './cluster/groups/lists.js';
import { checkSeedHosts, loadSeeds, type SeedsLoad } from './cluster/groups/seed-file.js';
import type { Config } from './config/settings.js';
import { unbracketHost } from './host-port.js';
import { logger } from './log.js';
import { loadOrCreateAuthData, saveAuthData } from './persistence/auth-data.js';
import { DataDirLock } from './persistence/dir-lock.js';
import { ensureWritableDir } from './persistence/files.js';
import { GOSSIP_MEMBERS_FILE } from './persistence/layout.js';
import { Persistence, type LoadReport } from './persistence/persistence.js';
import { Store } from './store/store.js';
import { VERSION } from './version.js';
import { envelope } from './api/envelope.js';
import { TcpWriteProtection } from './api/tcp/protection.js';
import { parseNetworks } from './config/values.js';
import { healthRouter } from './api/http/health-route.js';
import { metricsRouter } from './api/http/metrics-route.js';
import { NodeReadiness } from './health.js';
import { Metrics } from './metrics/metrics.js';

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

/**
 * One cache node: composes the store, the front ends and (in gossip mode) the
 * cluster parts, and starts and stops them in order.
 */
export class OwlNode {
  readonly store: Store;
  readonly commands: Commands;
  private http: HttpServer | null = null;
  private tcp: TcpServer | null = null;
  private resp: RespServer | null = null;
  private timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | null = null;
  private persistence: Persistence | null = null;
  private lock: DataDirLock | null = null;
  private groupClient: GroupClient | null = null;
  /** The node lists kept with /server/ (cluster/groups/lists.ts says which file holds which). */
  serverLists: ServerLists | null = null;
  /** Gossip mode: the seeds read at start (for the membership layer). */
  seeds: SeedsLoad | null = null;
  /** Gossip mode: who /group_data/ asks besides this node; to be set from the membership layer once it is wired. */
  liveMembers: LiveMembers = { liveHttpAddresses: () => [] };
  /** Gossip mode: membership and replication. */
  cluster: GossipCluster | null = null;
  /** GET /readyz. */
  readiness: NodeReadiness | null = null;
  private readonly startedAt = Date.now();

  private constructor(
    readonly config: Config,
    readonly dataDir: string,
    private readonly httpDeps: HttpDeps,
    private readonly generatedPassword: string | null,
    /** This node's metrics (GET /metrics); every node has its own, also several in one process. */
    readonly metrics: Metrics,
  ) {
    this.commands = httpDeps.commands;
    this.store = httpDeps.commands.store;
  }

  /** Builds and starts a node; throws with a user-facing message if it cannot. */
  static async start(config: Config): Promise<{ node: OwlNode; info: NodeInfo }> {
    const dataDir = resolve(config.DBfile);
    ensureWritableDir(dataDir);
    // Before anything else reads or writes the folder: one process per data directory.
    const lock = DataDirLock.acquire(dataDir);
    try {
      return await OwlNode.startLocked(config, dataDir, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /*
   * Start order: lock, then load (reads only), then bind HTTP/TCP/RESP, then
   * the first writes (auth.json, a new log generation, moving damaged files
   * aside). Loading before binding means no client ever sees an empty store;
   * binding before writing means a process that cannot serve (EADDRINUSE)
   * leaves the data directory exactly as it found it. Between the first bind
   * and Persistence.begin() clients' writes are refused, not lost.
   */
  private static async startLocked(config: Config, dataDir: string, lock: DataDirLock): Promise<{ node: OwlNode; info: NodeInfo }> {
    const auth = loadOrCreateAuthData(dataDir, config.Pass === '', config.Tonken_jwt_secret === '', false);
    const metrics = new Metrics();
    const store = new Store({
      metrics,
      nodeId: auth.data.nodeId,
      maxMemory: config.MaxMemory,
      tombstoneTtlMs: config.TombstoneTTL,
    });
    // Before anything can change the store: load the data directory; begin() below logs every change.
    const persistence = Persistence.load({
      dataDir,
      store,
      appendLog: config.AppendLog,
      fsync: config.AppendFsync,
      snapshotEveryMs: config.Task_DataBackup,
      metrics,
    });
    const limits = { maxKeyLength: config.MaxKeyLength, maxValueSize: config.MaxValueSize };
    const commands = new Commands(store, limits);
    let httpPort = config.Httpport;
    const deps: HttpDeps = {
      commands,
      tokens: new TokenService(config.Tonken_jwt_secret || auth.data.jwtSecret!, config.Pass || auth.data.password!, config.Tonken_expire_time),
      passGuard: new PassGuard({ baseDelayMs: config.PassFailDelay, checksPerSecond: config.PassChecksPerSecond, metrics }),
      password: config.Pass || auth.data.password!,
      responseHost: () => `${config.ResponseHost}:${httpPort}`,
      limits,
      cors: { enabled: config.Cors, origin: config.Access_Control_Allow_Origin },
      metrics,
    };
    const node = new OwlNode(config, dataDir, deps, auth.generatedPassword ? auth.data.password! : null, metrics);
    node.persistence = persistence;
    node.lock = lock;
    try {
      const lists = openServerLists(dataDir, config.GroupWorkMode, store.hlc);
      node.serverLists = lists;
      for (const p of new Set([...lists.owlcache.problems, ...lists.gossip.problems])) log.warn('server list: %s', p);
      if (config.GroupWorkMode === 'gossip') {
        const seeds = loadSeeds(dataDir);
        node.seeds = seeds;
        for (const p of seeds.problems) if (!lists.gossip.problems.includes(p)) log.warn('gossip seeds: %s', p);
        if (seeds.seeds.length > 0) log.info('gossip seeds: %s', seeds.seeds.join(', '));
        void checkSeedHosts(seeds).then((problems) => {
          for (const p of problems) log.warn('%s', p);
        });
      }
      node.groupClient = new GroupClient({ insecureSkipVerify: config.HttpsClient_InsecureSkipVerify, maxBodyBytes: config.MaxValueSize });
      const selfHosts = ['127.0.0.1', 'localhost', '::1', config.ResponseHost, config.Host]
        .map((h) => unbracketHost(h.trim().toLowerCase()))
        .filter((h) => h !== '' && h !== '0.0.0.0' && h !== '::');
      const groupData = new GroupData({
        mode: config.GroupWorkMode,
        owlcacheList: lists.owlcache,
        liveMembers: { liveHttpAddresses: () => node.liveMembers.liveHttpAddresses() },
        local: {
          get: (key) => {
            const e = commands.get(key);
            return e === undefined || e.value === null ? undefined : { value: e.value, created: e.created };
          },
        },
        self: {
          scheme: config.Open_Https ? 'https' : 'http',
          address: () => deps.responseHost(),
          port: () => httpPort,
          hosts: () => selfHosts,
        },
        client: node.groupClient,
        timeoutMs: config.HttpClientRequestTimeout,
        cacheLifeMs: config.HttpClientRequestLocalCacheLifeTime,
      });
      const clusterView: ClusterView = {
        members: () => node.cluster?.members() ?? { node: { name: config.NodeName || deps.responseHost(), http: deps.responseHost(), gossip: null }, members: [] },
        status: () => node.status(),
      };
      // Metrics and health: gauges and mirrored counters are read from the parts when scraped.
      metrics.watch({
        store: () => store.stats(),
        members: () => node.cluster?.membership.members() ?? [],
        datagrams: () => node.cluster?.transport.stats() ?? null,
        deltas: () => node.cluster?.replication.disseminator.stats() ?? null,
      });
      node.readiness = new NodeReadiness({
        gossip: config.GroupWorkMode === 'gossip',
        seedsConfigured: () => (node.seeds?.fixed.length ?? 0) > 0 || lists.gossip.liveAddresses().length > 0,
        members: () => node.cluster?.membership.members() ?? null,
        keys: () => store.stats().keys,
      });
      const routers = [serverRouter(deps, lists), groupDataRouter(deps, groupData), clusterRouter(deps, clusterView),
        metricsRouter(deps, metrics, config.MetricsAuth), healthRouter(node.readiness)];
      if (config.GroupWorkMode === 'gossip') {
        // Mounted before the port opens; the cluster itself needs the port, so it is looked up per call.
        const internal: InternalApi = {
          authHeader: AUTH_HEADER,
          maxBodyBytes: internalLimits(config.MaxValueSize).body,
          screen: (header) => node.cluster?.replication.screen(header) ?? false,
          verify: (method, path, header, body) => node.cluster?.replication.verify(method, path, header, body) ?? false,
          entry: (key) => node.cluster?.replication.entry(key) ?? null,
          sync: (body) => {
            if (node.cluster === null) throw new Error('the cluster is not started yet');
            return node.cluster.replication.sync(body);
          },
        };
        routers.push(internalRouter(internal));
      }
      const app = createHttpApp(deps, routers);
      const caps = { perPort: config.MaxConnections, perClient: config.MaxConnectionsPerClient };
      node.http = new HttpServer(app, {
        host: config.Host,
        port: config.Httpport,
        fastPath: (req, res) => tryFastGet(deps, req, res),
        caps,
        overCapBody: (message) => JSON.stringify(envelope('', 503, '', null, deps.responseHost(), 0, message)),
        ...(config.Open_Https ? { https: { certFile: config.Https_CertFile, keyFile: config.Https_KeyFile } } : {}),
      });
      const address = await node.http.listen();
      httpPort = address.port;
      const nodeName = config.NodeName || `${config.ResponseHost}:${httpPort}`;
      let tcpAddress: AddressInfo | null = null;
      const networks = parseNetworks(config.TcpTrustedNetworks);
      // The conf loader has checked the list; a string here is a bug, not a user error.
      if (typeof networks === 'string') throw new Error(`TcpTrustedNetworks: ${networks}`);
      const protection = new TcpWriteProtection(config.TcpProtectedMode, networks);
      if (config.CloseTcp) {
        node.tcp = new TcpServer(commands, {
          host: config.Host,
          port: config.Tcpport,
          maxLine: config.TcpMaxLine,
          idleTimeoutMs: config.TcpIdleTimeout,
          responseHost: config.ResponseHost,
          protection,
          caps,
          metrics,
        });
        tcpAddress = await node.tcp.listen();
      }
      let respAddress: AddressInfo | null = null;
      if (config.RespPort > 0) {
        node.resp = new RespServer({
          host: config.Host,
          port: config.RespPort,
          commands,
          password: deps.password,
          passGuard: deps.passGuard,
          maxMemory: config.MaxMemory,
          idleTimeoutMs: config.RespIdleTimeout,
          caps,
          metrics,
          node: () => ({
            version: VERSION,
            nodeId: store.nodeId,
            nodeName,
            mode: config.GroupWorkMode,
            httpAddress: deps.responseHost(),
            members: () =>
              node.cluster?.membership.members().map((m) => ({ name: m.meta?.name ?? m.address, address: m.meta?.http ?? m.address, state: m.state })) ??
              [{ name: nodeName, address: deps.responseHost(), state: 'alive' }],
          }),
        });
        respAddress = await node.resp.listen();
      }
      // Every port is bound: from here on the data directory may be written.
      if (auth.unsaved) saveAuthData(dataDir, auth.data);
      persistence.begin();
      node.readiness.loaded();
      await persistence.moveDamagedAside().catch(() => {
        // Logged by the snapshot; the damaged files stay in place for the next one.
      });
      persistence.start();
      if (config.GroupWorkMode === 'gossip') {
        await node.startCluster(nodeName, httpPort, persistence.loaded.savedAt);
      }
      node.startTimers();
      return {
        node,
        info: {
          nodeId: store.nodeId,
          name: nodeName,
          dataDir,
          http: address,
          tcp: tcpAddress,
          tcpWrites: protection.describe(),
          resp: respAddress,
          gossip: node.cluster?.gossipAddress() ?? null,
          dataGossipPort: node.cluster?.dataGossipPort() ?? null,
          generatedPassword: node.generatedPassword,
          loaded: persistence.loaded,
        },
      };
    } catch (err) {
      await node.stop();
      throw err;
    }
  }

  /** Gossip mode: membership from the seeds, replication with the live members. */
  private async startCluster(nodeName: string, httpPort: number, savedAt: number): Promise<void> {
    const c = this.config;
    if (savedAt > 0 && Date.now() - savedAt > c.TombstoneTTL) {
      // Deletes older than the tombstone TTL are forgotten by the others: this copy could resurrect them.
      log.warn('the data directory is older than TombstoneTTL (%d s): discarding it and pulling from peers', Math.round(c.TombstoneTTL / 1000));
      this.store.clear();
      await this.persistence?.snapshot();
    }
    const advertise = c.GossipAdvertiseAddr.trim();
    // An invalid advertise address is refused by the membership layer, with its own message.
    const advertiseHost = parseHostPort(advertise, 0)?.host ?? c.ResponseHost;
    const cluster = new GossipCluster({
      store: this.store,
      lists: this.serverLists!,
      name: nodeName,
      selfHttp: `${advertiseHost}:${httpPort}`,
      bindHost: c.Host,
      gossipPort: c.Gossipport,
      advertiseAddr: advertise,
      authKey: c.GossipDataSyncAuthKey,
      encrypt: c.GossipEncrypt,
      macWindowMs: c.GossipMacWindow,
      probeIntervalMs: c.GossipProbeInterval,
      pingTimeoutMs: c.GossipPingTimeout,
      suspicionMult: c.GossipSuspicionMult,
      reapFaultyAfterMs: c.ReapFaultyAfter,
      maxDatagram: c.GossipMaxDatagram,
      membersFile: join(this.dataDir, GOSSIP_MEMBERS_FILE),
      metrics: this.metrics,
      replication: {
        dataPort: c.DataGossipPort,
        fanout: c.GossipFanout,
        retransmitMult: c.RetransmitMult,
        pushPullIntervalMs: c.PushPullInterval,
        httpTimeoutMs: c.GossipHttpClientRequestTimeout,
        https: c.Open_Https,
        insecureSkipVerify: c.HttpsClient_InsecureSkipVerify,
        maxValueSize: c.MaxValueSize,
      },
    });
    this.cluster = cluster;
    this.liveMembers = cluster;
    await cluster.start(this.seeds?.fixed ?? []);
  }

  /** One line for the log every Task_MemoryInfoToLog. */
  memoryReport(): string {
    const m = process.memoryUsage();
    const s = this.store.stats();
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
    const budget = s.maxMemory > 0 ? ` of MaxMemory ${mb(s.maxMemory)}` : '';
    return `memory: rss ${mb(m.rss)}, heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, external ${mb(m.external)}; store ${s.keys} keys, ${mb(s.bytes)}${budget}, ${s.stubs} stubs, ${s.evictions} evictions`;
  }

  /** The node at a glance: what it is, its store, its cluster (GET /cluster/status). */
  status(): Record<string, unknown> {
    return {
      node: {
        name: this.config.NodeName || this.httpDeps.responseHost(),
        id: this.store.nodeId,
        version: VERSION,
        mode: this.config.GroupWorkMode,
        http: this.httpDeps.responseHost(),
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        rssBytes: process.memoryUsage().rss,
      },
      store: this.store.stats(),
      persistence: this.persistence?.stats() ?? null,
      cluster: this.cluster?.members() ?? null,
      replication: this.cluster?.stats() ?? null,
    };
  }

  private startTimers(): void {
    if (this.config.Task_MemoryInfoToLog > 0) {
      const t = setInterval(() => log.info('%s', this.memoryReport()), this.config.Task_MemoryInfoToLog);
      t.unref();
      this.timers.push(t);
    }
    if (this.config.Task_ServerListBackup > 0 && this.serverLists !== null) {
      // Changes are saved at once; this retries a save that failed (disk full, permissions).
      const lists = this.serverLists;
      const t = setInterval(() => {
        lists.owlcache.flush();
        lists.gossip.flush();
      }, this.config.Task_ServerListBackup);
      t.unref();
      this.timers.push(t);
    }
    if (this.config.Task_ClearExpireData > 0) {
      const t = setInterval(() => {
        const n = this.store.sweep();
        if (n > 0) log.debug('sweep: %d entries expired or collected', n);
        // Deleted /server/ entries are remembered as long as deleted keys, then forgotten.
        this.serverLists?.owlcache.collectTombstones(this.config.TombstoneTTL);
        this.serverLists?.gossip.collectTombstones(this.config.TombstoneTTL);
      }, this.config.Task_ClearExpireData);
      t.unref();
      this.timers.push(t);
    }
  }

  /** Stops accepting, finishes requests in flight, stops the parts. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Draining: /readyz answers 503 while the ports still serve, for ShutdownDrain, then the stop proper.
      const serving = this.readiness?.serving ?? false;
      this.readiness?.drain();
      if (serving && this.config.ShutdownDrain > 0) await new Promise((r) => setTimeout(r, this.config.ShutdownDrain));
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      // First tell the peers this node leaves (they record 'left', not 'faulty').
      await this.cluster?.stop().catch((err: unknown) => log.warn('stopping the cluster: %s', (err as Error).message));
      await Promise.all([this.http?.close(), this.tcp?.close(), this.resp?.close()]);
      this.groupClient?.close();
      // Last, once nothing can change the store any more: the final snapshot.
      await this.persistence?.close();
      this.lock?.release();
    })();
    return this.stopping;
  }
}
