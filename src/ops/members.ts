import { OpsError, fieldError } from './errors.js';
import { optInt, optString, type Input } from './fields.js';
import type { OpsDeps } from './context.js';
import { askPeer, settleAll } from './peers.js';
import type { OpsCluster, OpsMember } from './types.js';

/**
 * Growing and shrinking a gossip cluster: add_node (serf join), update_node
 * (Kunlun: re-read the seeds), remove_node (serf force-leave, made to stick:
 * see Membership.forceLeave), and Kunlun's get_node listing.
 */

const PEER_TIMEOUT_MS = 2000;
export const DEFAULT_JOIN_TIMEOUT_MS = 5000;

function gossipCluster(deps: OpsDeps): OpsCluster {
  const c = deps.cluster();
  if (c === null)
    throw new OpsError(
      409,
      'membership operations need gossip mode (GroupWorkMode gossip); in owlcache mode edit the leaf routes (cluster_set_routes) or /server/',
    );
  return c;
}

export function memberView(m: OpsMember): Record<string, unknown> {
  return {
    node_name: m.name ?? m.gossip,
    state: m.state,
    incarnation: m.incarnation,
    gossip: m.gossip,
    http: m.http,
    local: m.local,
    since: new Date(m.since).toISOString(),
  };
}

/** The member named by `node_name`/`name` (its name, gossip or HTTP address) or `host`. */
function findMember(c: OpsCluster, input: Input): { wanted: string; member: OpsMember | undefined } {
  const wanted = optString(input, 'node_name') ?? optString(input, 'name') ?? optString(input, 'host');
  if (wanted === undefined || wanted.trim() === '') {
    if (input.peer_id !== undefined) throw fieldError('peer_id', 'members have no numeric ids here: give node_name (or host, the gossip host:port)');
    throw fieldError('node_name', "is required (a member's name, gossip host:port or HTTP host:port)");
  }
  const w = wanted.trim();
  const members = c.memberList();
  return { wanted: w, member: members.find((m) => m.name === w) ?? members.find((m) => m.gossip === w || m.http === w) };
}

export interface AddNodeArgs {
  address: string;
  timeoutMs: number;
}

/** `{host: "h:p"}` (CubeFS), `{host, port}` (HarperDB), or `{node_name}` of a known member or a gossip host:port. */
export function parseAddNode(input: Input, deps: OpsDeps): AddNodeArgs {
  const timeoutMs = optInt(input, 'timeout', 0, 60_000) ?? DEFAULT_JOIN_TIMEOUT_MS;
  const host = optString(input, 'host');
  const port = optInt(input, 'port', 1, 65535);
  const name = optString(input, 'node_name');
  let address: string;
  let field: string;
  if (host !== undefined && host.trim() !== '') {
    field = 'host';
    const h = host.trim();
    address = port === undefined ? h : `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${port}`;
  } else if (name !== undefined && name.trim() !== '') {
    field = 'node_name';
    const known = deps
      .cluster()
      ?.memberList()
      .find((m) => m.name === name.trim());
    address = known?.gossip ?? name.trim();
  } else {
    throw fieldError('host', 'is required: the gossip host:port of the node to join (or node_name of a member known here)');
  }
  const bad = deps.lists.hub.problemWith(address);
  if (bad !== null) throw fieldError(field, bad);
  return { address, timeoutMs };
}

export async function addNode(deps: OpsDeps, args: AddNodeArgs): Promise<Record<string, unknown>> {
  const c = gossipCluster(deps);
  if (args.address === c.gossipAddress()) throw fieldError('host', `${args.address} is this node`);
  let m: OpsMember | null;
  try {
    m = await c.join(args.address, args.timeoutMs);
  } catch (err) {
    throw new OpsError(400, (err as Error).message);
  }
  if (m?.state === 'alive') {
    deps.log.info('add_node: %s (%s) joined', m.name ?? m.gossip, m.gossip);
    return { message: `Successfully added '${m.name ?? m.gossip}' to the cluster`, ...memberView(m) };
  }
  throw new OpsError(504, `${args.address} did not become an alive member within ${args.timeoutMs} ms`, {
    gossip: args.address,
    state: m?.state ?? 'unknown',
  });
}

export async function updateNode(deps: OpsDeps, input: Input): Promise<Record<string, unknown>> {
  const c = gossipCluster(deps);
  if (optString(input, 'node_name') !== undefined || optString(input, 'name') !== undefined) {
    const { wanted, member } = findMember(c, input);
    if (member === undefined || member.local) throw new OpsError(404, `no other member is named ${JSON.stringify(wanted)}`, { field: 'node_name' });
    c.refresh(member.gossip);
    return { message: `Successfully updated '${member.name ?? member.gossip}'`, ...memberView(member) };
  }
  const { seeds, problems } = deps.reloadSeeds();
  c.addSeeds(seeds);
  for (const s of seeds) c.refresh(s);
  return { message: `Successfully re-read the seed files and re-joined ${seeds.length} seed(s)`, seeds, problems };
}

export async function removeNode(deps: OpsDeps, input: Input): Promise<Record<string, unknown>> {
  const c = gossipCluster(deps);
  const { wanted, member } = findMember(c, input);
  if (member === undefined) throw new OpsError(404, `no member is named ${JSON.stringify(wanted)}`, { field: 'node_name' });
  if (member.local)
    throw new OpsError(400, 'node_name: this is the node answering; stop it (SIGTERM), which leaves gracefully, or remove it from another node', {
      field: 'node_name',
    });
  const at = Date.now();
  const left = c.forceLeave(member.gossip, { at });
  if (left === null) throw new OpsError(404, `no member is named ${JSON.stringify(wanted)}`, { field: 'node_name' });
  const name = member.name ?? member.gossip;
  deps.log.warn('remove_node: %s (%s) removed from the cluster', name, member.gossip);
  // The member itself is told to leave, the others to refuse it from the same floor.
  const told: Record<string, string> = {};
  const others = c.memberList().filter((m) => !m.local && m.gossip !== member.gossip && m.state === 'alive' && m.http !== null);
  const targets = [
    ...(member.http !== null ? [{ m: member, req: { op: 'leave' as const, by: deps.node.name() } }] : []),
    ...others.map((m) => ({ m, req: { op: 'forget' as const, gossip: member.gossip, incarnation: left.incarnation, at } })),
  ];
  const results = await settleAll(targets, (t) => askPeer(c, t.m.http!, t.req, PEER_TIMEOUT_MS));
  targets.forEach((t, i) => {
    const r = results[i]!;
    told[t.m.name ?? t.m.gossip] = r.ok ? (t.req.op === 'leave' ? 'left' : 'ok') : `not told: ${r.error}`;
  });
  return {
    message: `Successfully removed '${name}' from the cluster`,
    node_name: name,
    gossip: member.gossip,
    state: left.state,
    incarnation: left.incarnation,
    told,
  };
}

/** Kunlun's get_node: every member is a cache node; filters by node_type, node_ip0…, state, name. */
export function getNode(deps: OpsDeps, input: Input): Record<string, unknown> {
  const nodeType = optString(input, 'node_type');
  const state = optString(input, 'state');
  const name = optString(input, 'node_name') ?? optString(input, 'name');
  const ips: string[] = [];
  for (let i = 0; i < 64; i++) {
    const ip = optString(input, `node_ip${i}`);
    if (ip !== undefined) ips.push(ip.trim().toLowerCase());
  }
  const c = deps.cluster();
  const members: OpsMember[] = c?.memberList() ?? [
    { name: deps.node.name(), state: 'alive', incarnation: 0, gossip: '', http: deps.node.httpAddress(), local: true, since: deps.node.startedAt },
  ];
  const hostOf = (a: string | null) =>
    a === null || a === ''
      ? ''
      : a
          .slice(0, a.lastIndexOf(':'))
          .replace(/^\[|\]$/g, '')
          .toLowerCase();
  const nodes = members
    .filter((_m) => nodeType === undefined || nodeType === 'cache_node')
    .filter((m) => state === undefined || m.state === state)
    .filter((m) => name === undefined || m.name === name)
    .filter((m) => ips.length === 0 || ips.includes(hostOf(m.http)) || ips.includes(hostOf(m.gossip)))
    .map((m) => ({ node_type: 'cache_node', node_ip: hostOf(m.http) || hostOf(m.gossip), ...memberView(m) }));
  return { nodes };
}
