import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterMember, ClusterMembers, ClusterStats, NodeStatus } from '../../src/cluster/view.js';
import {
  TEST_AUTH_KEY,
  freeUdpPort,
  getToken,
  qs,
  request,
  restartNode,
  startNode,
  tempDir,
  waitFor,
  type NodeHandle,
  type StartOptions,
} from './node-process.js';

/** Gossip-mode clusters of real node processes on 127.0.0.1, with timings short enough for tests. */

export const FAST_GOSSIP: Record<string, string | number> = {
  GroupWorkMode: 'gossip',
  GossipDataSyncAuthKey: TEST_AUTH_KEY,
  GossipProbeInterval: '200ms',
  GossipPingTimeout: '100ms',
  GossipSuspicionMult: 3,
  PushPullInterval: '2s',
};

const tokens = new WeakMap<NodeHandle, string>();

/** Writes a seed file (server_group_config.json) into a data directory. */
export function writeSeeds(dataDir: string, seeds: string[]): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(
    join(dataDir, 'server_group_config.json'),
    JSON.stringify(
      seeds.map((Address) => ({ Cmd: '', Address, Pass: '', Token: '' })),
      null,
      2,
    ),
  );
}

/** Starts a gossip node on a fixed gossip port (so restarts keep it) with the given seeds. */
export async function startGossipNode(
  seeds: string[],
  settings: Record<string, string | number> = {},
  opts: StartOptions = {},
): Promise<NodeHandle & { gossip: string }> {
  const gossipPort = Number(settings.Gossipport ?? (await freeUdpPort()));
  const dataDir = opts.dataDir ?? join(tempDir(), 'db');
  writeSeeds(dataDir, seeds);
  const node = await startNode({ ...opts, dataDir, settings: { ...FAST_GOSSIP, Gossipport: gossipPort, ...settings } });
  const m = /local member (\S+)/.exec(node.stdout());
  if (!m) throw new Error(`no "local member" line:\n${node.stdout()}`);
  return Object.assign(node, { gossip: m[1]! });
}

/** n gossip nodes, each seeded with the first one's gossip address. */
export async function startGossipCluster(n: number, settings: Record<string, string | number> = {}): Promise<(NodeHandle & { gossip: string })[]> {
  const first = await startGossipNode([], settings);
  const rest = await Promise.all(Array.from({ length: n - 1 }, () => startGossipNode([first.gossip], settings)));
  return [first, ...rest];
}

export async function restartGossipNode(node: NodeHandle & { gossip: string }): Promise<NodeHandle & { gossip: string }> {
  tokens.delete(node);
  const again = await restartNode(node);
  return Object.assign(again, { gossip: node.gossip });
}

export async function tokenOf(node: NodeHandle): Promise<string> {
  let t = tokens.get(node);
  if (t === undefined) {
    t = await getToken(node.httpPort);
    tokens.set(node, t);
  }
  return t;
}

/** A row of GET /cluster/members (declared in src/cluster/view.ts). */
export type MemberRow = ClusterMember;

export async function members(node: NodeHandle): Promise<MemberRow[]> {
  const r = await request(node.httpPort, `/cluster/members?${qs({ token: await tokenOf(node) })}`, { timeoutMs: 3000 });
  if (r.status !== 200) throw new Error(`/cluster/members: ${r.status} ${r.text}`);
  return r.json<ClusterMembers>().members;
}

export async function stateOf(observer: NodeHandle, gossip: string): Promise<string | undefined> {
  return (await members(observer)).find((m) => m.gossip === gossip)?.state;
}

/** GET /cluster/status of a gossip node whose cluster runs: its replication part is there. */
export type StatusDoc = NodeStatus & { replication: ClusterStats };

export async function status(node: NodeHandle): Promise<StatusDoc> {
  const r = await request(node.httpPort, `/cluster/status?${qs({ token: await tokenOf(node) })}`, { timeoutMs: 5000 });
  if (r.status !== 200) throw new Error(`/cluster/status: ${r.status} ${r.text}`);
  return r.json<StatusDoc>();
}

/** Waits until every node reports the same digest root; returns it. */
export async function waitConverged(nodes: NodeHandle[], timeoutMs = 30_000): Promise<string> {
  const root = await waitFor(
    'digest roots to converge',
    async () => {
      const roots = await Promise.all(nodes.map(async (n) => (await status(n)).store.digest));
      return roots.every((r) => r === roots[0]) ? roots[0] : undefined;
    },
    timeoutMs,
    250,
  );
  return root ?? '';
}

/** HTTP data commands against one node. */
export async function dataCmd(
  node: NodeHandle,
  params: Record<string, string | number | Buffer | undefined>,
  body?: Buffer,
): Promise<{ status: number; body: Buffer; json: <T>() => T }> {
  const needsToken = ['set', 'expire', 'delete'].includes(String(params.cmd));
  const full = needsToken ? { ...params, token: await tokenOf(node) } : params;
  return request(
    node.httpPort,
    `/data/?${qs(full)}`,
    body ? { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' }, timeoutMs: 20_000 } : {},
  );
}
