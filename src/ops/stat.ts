import type { OpsDeps } from './context.js';
import { dataDirBytes, diskSpace } from './disk.js';
import { askPeer, settleAll } from './peers.js';
import { withTimeout, type ConnectionsAnswer } from './status.js';

/**
 * CubeFS clustermgr's /stat and QED's /info/shards for a leaderless cluster:
 * `leader_host` is null and `leaderId` empty, since no member leads.
 */

const ROOT_TIMEOUT_MS = 1500;
const SHARDS_TIMEOUT_MS = 1500;

export async function stat(deps: OpsDeps): Promise<Record<string, unknown>> {
  const s = deps.store.stats();
  const c = deps.cluster();
  const members = c?.memberList() ?? [];
  const peers = members.filter((m) => !m.local && m.state === 'alive' && m.http !== null);
  const roots = c === null ? [] : await settleAll(peers, (m) => withTimeout(c.rootsEqual(m.http!), ROOT_TIMEOUT_MS));
  const counters = c?.counters() ?? { deltasSent: 0, deltasReceived: 0, lastPushPullAt: 0 };
  const disk = diskSpace(deps.node.dataDir);
  return {
    leader_host: null,
    mode: deps.node.mode,
    node_name: deps.node.name(),
    members:
      c === null
        ? [{ name: deps.node.name(), host: deps.node.httpAddress(), gossip: null, state: 'alive', incarnation: 0, active: true, local: true }]
        : members.map((m) => ({
            name: m.name ?? m.gossip,
            host: m.http,
            gossip: m.gossip,
            state: m.state,
            incarnation: m.incarnation,
            active: m.state === 'alive',
            local: m.local,
          })),
    space_stat: {
      max_memory: s.maxMemory,
      used_memory: s.bytes,
      free_memory: s.maxMemory > 0 ? Math.max(0, s.maxMemory - s.bytes) : null,
      keys: s.keys,
      stubs: s.stubs,
      evictions: s.evictions,
      data_dir_bytes: dataDirBytes(deps.node.dataDir),
      data_dir_free: disk.free,
    },
    sync_stat: {
      digest_root: s.digest,
      peers: peers.length,
      peers_in_sync: roots.filter((r) => r.ok && r.value).length,
      last_push_pull: counters.lastPushPullAt > 0 ? new Date(counters.lastPushPullAt).toISOString() : null,
      deltas_sent: counters.deltasSent,
      deltas_received: counters.deltasReceived,
    },
  };
}

export async function infoShards(deps: OpsDeps): Promise<Record<string, unknown>> {
  const c = deps.cluster();
  const self = deps.node.name();
  const shards: Record<string, Record<string, unknown>> = {
    [self]: {
      nodeId: self,
      httpAddr: deps.node.httpAddress(),
      tcpAddr: deps.node.tcpAddress(),
      respAddr: deps.node.respAddress(),
      gossipAddr: c?.gossipAddress() ?? null,
      state: 'alive',
    },
  };
  if (c !== null) {
    const others = c.memberList().filter((m) => !m.local);
    const live = others.filter((m) => m.state === 'alive' && m.http !== null);
    // The TCP and RESP ports are not in the member records: each live member says its own.
    const answers = await settleAll(live, (m) => askPeer<ConnectionsAnswer>(c, m.http!, { op: 'connections' }, SHARDS_TIMEOUT_MS));
    const byGossip = new Map(live.map((m, i) => [m.gossip, answers[i]!] as const));
    for (const m of others) {
      const name = m.name ?? m.gossip;
      const a = byGossip.get(m.gossip);
      shards[name] = {
        nodeId: name,
        httpAddr: m.http,
        tcpAddr: a?.ok ? a.value.tcp : null,
        respAddr: a?.ok ? a.value.resp : null,
        gossipAddr: m.gossip,
        state: m.state,
      };
    }
  }
  return { nodeId: self, leaderId: '', uriScheme: deps.node.scheme, shards };
}
