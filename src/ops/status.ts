import type { OpsDeps } from './context.js';
import { askPeer, settleAll } from './peers.js';
import { getRoutes, type Route } from './routes.js';
import type { OpsCluster, OpsMember } from './types.js';

/**
 * HarperDB's cluster_status and cluster_network on a gossip cluster: the
 * "connections" are the other members; latency and clock offset come from
 * SWIM's probes, the sync columns from anti-entropy.
 */

/** How long cluster_status waits for each peer's digest root. */
const ROOT_TIMEOUT_MS = 1500;

/** HarperDB's uptime form: "30d 1h 18m 8s". */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;
}

function portOf(hostPort: string | null): number | null {
  if (hostPort === null) return null;
  const p = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return Number.isInteger(p) && p > 0 ? p : null;
}

export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function connection(deps: OpsDeps, c: OpsCluster, m: OpsMember, now: number): Promise<Record<string, unknown>> {
  const probe = c.probe(m.gossip);
  const round = m.http === null ? undefined : c.lastRoundWith(m.http);
  let inSync: boolean | null = null;
  let inSyncError: string | undefined;
  if (m.state === 'alive' && m.http !== null) {
    try {
      inSync = await withTimeout(c.rootsEqual(m.http), ROOT_TIMEOUT_MS);
    } catch (err) {
      inSyncError = (err as Error).message;
    }
  }
  const limit = deps.node.maxClockSkewMs;
  const offset = probe?.clockOffsetMs ?? null;
  const row: Record<string, unknown> = {
    node_name: m.name ?? m.gossip,
    status: m.state === 'alive' ? 'open' : 'closed',
    state: m.state,
    ports: { clustering: portOf(m.gossip), operations_api: portOf(m.http) },
    http: m.http,
    gossip: m.gossip,
    latency_ms: probe?.rttLastMs ?? null,
    latency: probe === null ? null : { last_ms: probe.rttLastMs, p50_ms: probe.rttP50Ms, p99_ms: probe.rttP99Ms, samples: probe.samples },
    uptime: m.state === 'alive' ? formatUptime(now - m.since) : null,
    uptime_seconds: m.state === 'alive' ? Math.floor((now - m.since) / 1000) : null,
    since: new Date(m.since).toISOString(),
    last_anti_entropy:
      round === undefined
        ? null
        : {
            at: new Date(round.at).toISOString(),
            ms: round.ms,
            ok: round.ok,
            keys_exchanged: round.pulled + round.pushed,
            pulled: round.pulled,
            pushed: round.pushed,
            in_sync_at_start: round.inSync,
            ...(round.error !== undefined ? { error: round.error } : {}),
          },
    in_sync: inSync,
    clock_offset_ms: offset,
    clock_offset_error_ms: probe?.clockOffsetErrorMs ?? null,
    clock_skew_exceeded: offset !== null && limit > 0 && Math.abs(offset) > limit,
  };
  if (inSyncError !== undefined) row.in_sync_error = inSyncError;
  return row;
}

export async function clusterStatus(deps: OpsDeps): Promise<Record<string, unknown>> {
  const c = deps.cluster();
  const base = { node_name: deps.node.name(), mode: deps.node.mode, max_clock_skew_ms: deps.node.maxClockSkewMs };
  if (c === null) {
    return { ...base, is_enabled: false, connections: [], message: 'owlcache mode: no gossip connections (the leaf routes are the node list)' };
  }
  const now = Date.now();
  const members = c.memberList();
  const rows = await Promise.all(members.filter((m) => !m.local).map((m) => connection(deps, c, m, now)));
  // The log gets a line when a member's clock goes beyond MaxClockSkew (cluster.ts), not one per status call.
  const skewed = rows.filter((r) => r.clock_skew_exceeded === true);
  return {
    ...base,
    is_enabled: !c.wasRemoved(),
    gossip: c.gossipAddress(),
    http: deps.node.httpAddress(),
    connections: rows,
    clock_skew_warnings: skewed.map((r) => ({ node_name: r.node_name, clock_offset_ms: r.clock_offset_ms })),
  };
}

/** What this node tells another's cluster_network and /info/shards. */
export interface ConnectionsAnswer {
  name: string;
  http: string;
  gossip: string | null;
  tcp: string | null;
  resp: string | null;
  connected_nodes: string[];
  routes: Route[];
}

export function localConnections(deps: OpsDeps): ConnectionsAnswer {
  const c = deps.cluster();
  const connected =
    c === null
      ? []
      : c
          .memberList()
          .filter((m) => !m.local && m.state === 'alive')
          .map((m) => m.name ?? m.gossip);
  return {
    name: deps.node.name(),
    http: deps.node.httpAddress(),
    gossip: c?.gossipAddress() ?? null,
    tcp: deps.node.tcpAddress(),
    resp: deps.node.respAddress(),
    connected_nodes: connected.sort(),
    routes: getRoutes(deps.lists).hub,
  };
}

export const DEFAULT_NETWORK_TIMEOUT_MS = 2000;

/**
 * cluster_network: every live (or suspect) member is asked for its own view,
 * at once, each within `timeoutMs`. HarperDB's `connected_nodes: true` and
 * `routes: true` leave those fields out.
 */
export async function clusterNetwork(
  deps: OpsDeps,
  args: { timeoutMs: number; omitConnected: boolean; omitRoutes: boolean },
): Promise<{ nodes: Record<string, unknown>[] }> {
  const shape = (a: ConnectionsAnswer, ms: number): Record<string, unknown> => ({
    name: a.name,
    response_time: ms,
    responding: true,
    ...(args.omitConnected ? {} : { connected_nodes: a.connected_nodes }),
    ...(args.omitRoutes ? {} : { routes: a.routes }),
  });
  const nodes = [shape(localConnections(deps), 0)];
  const c = deps.cluster();
  if (c === null) return { nodes };
  const others = c.memberList().filter((m) => !m.local);
  const asked = others.filter((m) => (m.state === 'alive' || m.state === 'suspect') && m.http !== null);
  const results = await settleAll(asked, async (m) => {
    const t0 = Date.now();
    const a = await askPeer<ConnectionsAnswer>(c, m.http!, { op: 'connections' }, args.timeoutMs);
    return shape(a, Date.now() - t0);
  });
  asked.forEach((m, i) => {
    const r = results[i]!;
    nodes.push(r.ok ? r.value : { name: m.name ?? m.gossip, response_time: null, responding: false, state: m.state, error: r.error });
  });
  for (const m of others) {
    if (asked.includes(m)) continue;
    nodes.push({ name: m.name ?? m.gossip, response_time: null, responding: false, state: m.state, error: `not asked: the member is ${m.state}` });
  }
  return { nodes };
}
