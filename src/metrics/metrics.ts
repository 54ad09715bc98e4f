import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestOutcome, RequestPort } from './outcome.js';
import { RequestSeries } from './request-series.js';

/**
 * A node's metrics (GET /metrics, README "Metrics"): one instance per node,
 * handed to the parts that count, like the injected clocks. A part given no
 * Metrics counts nothing, so every part stays usable and testable alone.
 *
 * Events are counted where they happen (requests, auth failures, push-pull
 * rounds, membership changes, evictions, fsyncs, snapshots). Counters a part
 * already keeps for its own stats() (the transport's datagrams and drops,
 * dissemination's deltas) are mirrored from those at scrape time, as are the
 * gauges (store size, members by state): a source is asked when Prometheus asks.
 *
 * No key, value or client address ever becomes a label: labels take their
 * values from fixed lists (ports, command tables, outcomes, drop reasons,
 * member states), anything else is "other".
 */

export { outcomeOfStatus, type RequestOutcome, type RequestPort } from './outcome.js';

/** The counters of one datagram purpose, as UdpTransport.stats() gives them. */
export interface DatagramCounts {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  sendErrors: number;
  dropped: Readonly<Record<string, number>>;
}

/** Dissemination's delta counters, as Disseminator.stats() gives them. */
export interface DeltaCounts {
  deltasSent: number;
  deltasReceived: number;
  deltasApplied: number;
  deltasDroppedOld: number;
  deltasMalformed: number;
  queueDropped: number;
}

/** The store's sizes, as Store.sizes() gives them. */
export interface StoreSizes {
  keys: number;
  stubs: number;
  bytes: number;
  maxMemory: number;
}

/** What the gauges and mirrored counters are read from at scrape time; each may say "nothing" (standalone mode, not started). */
export interface MetricSources {
  store?: () => StoreSizes;
  members?: () => readonly { state: string; local: boolean }[];
  datagrams?: () => Readonly<Record<string, DatagramCounts>> | null;
  deltas?: () => DeltaCounts | null;
  /** Gossip mode: each peer's last probe round trip (ms), by the peer's name; null until measured. */
  peerRtts?: () => readonly { peer: string; rttMs: number | null }[];
}

const MEMBER_STATES = ['alive', 'suspect', 'faulty', 'left'] as const;
const DROP_REASONS = ['mac', 'stale', 'replay', 'malformed', 'oversize', 'address'] as const;

/** Request latencies: a cache answers in microseconds to milliseconds. */
const REQUEST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const FSYNC_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const SLOW_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Process facts (CPU, memory, GC, event-loop lag, handles) are one per process,
 * however many nodes it runs: collected once into a registry of their own and
 * merged into each node's answer, so a node started and stopped many times
 * (tests, an embedded node) adds no GC observer or loop monitor per start.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources = {};
  private readonly requests = new RequestSeries(
    'owlcache_requests_total',
    'Client requests answered, by port (http, tcp, resp), command (from the port\'s command list, else "other") and outcome.',
    'owlcache_request_duration_seconds',
    "Time from a request's parsed command to its answer, by port, command and outcome.",
    REQUEST_BUCKETS,
  );
  private readonly authFailures = new Counter({
    name: 'owlcache_auth_failures_total',
    help: 'Password checks that failed (cmd=pass, AUTH): reason "wrong" (checked, wrong) or "busy" (refused unchecked: too many waiting).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly authSlowdowns = new Counter({
    name: 'owlcache_auth_slowdowns_total',
    help: "Password checks made to wait (an address's delay after wrong passwords, or the global checks-per-second budget).",
    registers: [this.registry],
  });
  private readonly authSlowdownSeconds = new Counter({
    name: 'owlcache_auth_slowdown_seconds_total',
    help: 'Seconds password checks were made to wait, in all.',
    registers: [this.registry],
  });
  private readonly evictions = new Counter({
    name: 'owlcache_store_evictions_total',
    help: 'Values evicted to stay within MaxMemory (the key stays as a hollow stub).',
    registers: [this.registry],
  });
  private readonly expirations = new Counter({
    name: 'owlcache_store_expirations_total',
    help: 'Entries that reached their expiry time and left the store.',
    registers: [this.registry],
  });
  private readonly pushPullRounds = new Counter({
    name: 'owlcache_pushpull_rounds_total',
    help: 'Push-pull anti-entropy rounds this node started, by outcome: in_sync (digests equal), synced (differences exchanged), failed.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly pushPullKeys = new Counter({
    name: 'owlcache_pushpull_keys_total',
    help: 'Entries exchanged by push-pull rounds this node started, by direction (pulled, pushed).',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  private readonly pushPullSeconds = new Histogram({
    name: 'owlcache_pushpull_duration_seconds',
    help: 'Duration of push-pull rounds this node started (failed ones included).',
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });
  private readonly memberChanges = new Counter({
    name: 'owlcache_member_state_changes_total',
    help: 'Other members seen entering a state (alive also counts a first sighting).',
    labelNames: ['state'],
    registers: [this.registry],
  });
  private readonly suspicions = new Counter({
    name: 'owlcache_member_suspicions_total',
    help: 'Times another member was suspected of failure.',
    registers: [this.registry],
  });
  private readonly appendLogBytes = new Counter({
    name: 'owlcache_appendlog_bytes_total',
    help: 'Bytes written to the append log.',
    registers: [this.registry],
  });
  private readonly fsyncSeconds = new Histogram({
    name: 'owlcache_appendlog_fsync_duration_seconds',
    help: "Duration of the append log's fsyncs (AppendFsync).",
    buckets: FSYNC_BUCKETS,
    registers: [this.registry],
  });
  private readonly snapshotSeconds = new Histogram({
    name: 'owlcache_snapshot_duration_seconds',
    help: 'Duration of snapshot writes, by outcome (ok, failed).',
    labelNames: ['outcome'],
    buckets: SLOW_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    const self = this;
    // Registered by hand: the registry serialises any metric with a name, help, type and get().
    for (const metric of this.requests.metrics()) this.registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
    new Gauge({
      name: 'owlcache_store_keys',
      help: 'Live keys in the store.',
      registers: [this.registry],
      collect() {
        this.set(self.sources.store?.().keys ?? 0);
      },
    });
    new Gauge({
      name: 'owlcache_store_stubs',
      help: 'Tombstones, hollow (evicted) stubs and expiry guards held.',
      registers: [this.registry],
      collect() {
        this.set(self.sources.store?.().stubs ?? 0);
      },
    });
    new Gauge({
      name: 'owlcache_store_bytes',
      help: 'Bytes the store counts against MaxMemory (values, keys, stubs).',
      registers: [this.registry],
      collect() {
        this.set(self.sources.store?.().bytes ?? 0);
      },
    });
    new Gauge({
      name: 'owlcache_store_max_bytes',
      help: 'MaxMemory in bytes (0 = no bound).',
      registers: [this.registry],
      collect() {
        this.set(self.sources.store?.().maxMemory ?? 0);
      },
    });
    new Gauge({
      name: 'owlcache_members',
      help: 'Members this node knows, itself included, by state (gossip mode).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const counts = new Map<string, number>(MEMBER_STATES.map((s) => [s, 0]));
        for (const m of self.sources.members?.() ?? []) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'owlcache_peer_rtt_seconds',
      help: "Round trip of this node's last SWIM probe of each peer (gossip mode), by peer name.",
      labelNames: ['peer'],
      registers: [this.registry],
      collect() {
        // A peer that left drops out of the answer rather than keep its last value.
        this.reset();
        for (const p of self.sources.peerRtts?.() ?? []) if (p.rttMs !== null) this.set({ peer: p.peer }, p.rttMs / 1000);
      },
    });
    // Mirrored counters: reset, then set to the source's running totals.
    const datagrams = (name: string, help: string, pick: (c: DatagramCounts) => [string, number][], label: string) =>
      new Counter({
        name,
        help,
        labelNames: ['purpose', label],
        registers: [this.registry],
        collect() {
          this.reset();
          const all = self.sources.datagrams?.();
          if (all === null || all === undefined) return;
          for (const [purpose, c] of Object.entries(all)) for (const [value, n] of pick(c)) this.inc({ purpose, [label]: value }, n);
        },
      });
    datagrams(
      'owlcache_datagrams_total',
      'UDP datagrams by purpose (membership, data) and direction (sent, received; received counts every datagram that arrived, dropped ones too).',
      (c) => [
        ['sent', c.datagramsOut],
        ['received', c.datagramsIn],
      ],
      'direction',
    );
    datagrams(
      'owlcache_datagram_bytes_total',
      'UDP bytes by purpose and direction (sealed sizes).',
      (c) => [
        ['sent', c.bytesOut],
        ['received', c.bytesIn],
      ],
      'direction',
    );
    datagrams(
      'owlcache_datagrams_dropped_total',
      'UDP datagrams dropped, by purpose and reason: mac (wrong key, tampered), stale (outside GossipMacWindow), replay, malformed; ' +
        'outgoing: oversize (over GossipMaxDatagram sealed), address (not host:port), send_error.',
      (c) => [...DROP_REASONS.map((r): [string, number] => [r, c.dropped[r] ?? 0]), ['send_error', c.sendErrors]],
      'reason',
    );
    new Counter({
      name: 'owlcache_deltas_total',
      help: 'Replication deltas (one changed record each), by event: sent (to one peer), received, applied, stale (older than what is held), malformed, queue_dropped (sending queue full).',
      labelNames: ['event'],
      registers: [this.registry],
      collect() {
        this.reset();
        const d = self.sources.deltas?.();
        if (d === null || d === undefined) return;
        const rows: [string, number][] = [
          ['sent', d.deltasSent],
          ['received', d.deltasReceived],
          ['applied', d.deltasApplied],
          ['stale', d.deltasDroppedOld],
          ['malformed', d.deltasMalformed],
          ['queue_dropped', d.queueDropped],
        ];
        for (const [event, n] of rows) this.inc({ event }, n);
      },
    });
  }

  /** Where the gauges and mirrored counters are read from (the node sets them once its parts exist). */
  watch(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** A start time for request(): `performance.now()`. */
  static now(): number {
    return performance.now();
  }

  /** One answered request; `command` must come from the port's fixed command list (callers map anything else to "other"). */
  request(port: RequestPort, command: string, outcome: RequestOutcome, startedAt: number): void {
    this.requests.observe(port, command, outcome, (performance.now() - startedAt) / 1000);
  }

  authFailed(reason: 'wrong' | 'busy'): void {
    this.authFailures.inc({ reason });
  }

  authSlowedDown(ms: number): void {
    this.authSlowdowns.inc();
    this.authSlowdownSeconds.inc(ms / 1000);
  }

  evicted(): void {
    this.evictions.inc();
  }

  expired(): void {
    this.expirations.inc();
  }

  pushPullRound(outcome: 'in_sync' | 'synced' | 'failed', ms: number, pulled: number, pushed: number): void {
    this.pushPullRounds.inc({ outcome });
    this.pushPullSeconds.observe(ms / 1000);
    if (pulled > 0) this.pushPullKeys.inc({ direction: 'pulled' }, pulled);
    if (pushed > 0) this.pushPullKeys.inc({ direction: 'pushed' }, pushed);
  }

  memberEntered(state: 'alive' | 'suspect' | 'faulty' | 'left'): void {
    this.memberChanges.inc({ state });
    if (state === 'suspect') this.suspicions.inc();
  }

  appendLogWritten(bytes: number): void {
    this.appendLogBytes.inc(bytes);
  }

  fsynced(ms: number): void {
    this.fsyncSeconds.observe(ms / 1000);
  }

  snapshotWritten(ok: boolean, ms: number): void {
    this.snapshotSeconds.observe({ outcome: ok ? 'ok' : 'failed' }, ms / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text format: this node's metrics and the process's. */
  text(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}
