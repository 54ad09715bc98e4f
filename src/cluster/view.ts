import type { Persistence } from '../persistence/persistence.js';
import type { Store } from '../store/store.js';
import type { GroupWorkMode } from './groups/lists.js';
import type { MembershipStats, MemberState } from './membership/types.js';
import type { ReplicationStats } from './replication.js';

/**
 * The documents of GET /cluster/members and GET /cluster/status, declared once:
 * the node builds them, the HTTP route serialises them, `owlcache members` /
 * `owlcache status` (src/client.ts) and the tests read them. Types only.
 */

/** This node, as /cluster/members shows it. */
export interface ClusterSelf {
  /** NodeName, or ResponseHost:port. */
  name: string;
  /** The HTTP host:port the others call. */
  http: string;
  /** The SWIM host:port; null in owlcache mode (or before the cluster has started). */
  gossip: string | null;
  /** The data-gossip UDP host:port (gossip mode only). */
  data?: string;
}

/** One member as this node sees it (gossip mode). */
export interface ClusterMember {
  name: string | null;
  state: MemberState;
  incarnation: number;
  /** Its SWIM host:port: the member's identity. */
  gossip: string;
  http: string | null;
  data: string | null;
  proto: number | null;
  /** True for this node's own row. */
  local: boolean;
  /** When this node saw its last state change (ISO 8601). */
  since: string;
}

/** GET /cluster/members: no members in owlcache mode. */
export interface ClusterMembers {
  node: ClusterSelf;
  members: ClusterMember[];
}

/** Gossip mode's counters: membership datagrams, then replication's. */
export type ClusterStats = { membership: MembershipStats } & ReplicationStats;

/** GET /cluster/status: the node at a glance. */
export interface NodeStatus {
  node: {
    name: string;
    id: string;
    version: string;
    mode: GroupWorkMode;
    http: string;
    uptimeSeconds: number;
    rssBytes: number;
  };
  store: ReturnType<Store['stats']>;
  persistence: ReturnType<Persistence['stats']>;
  /** The members (gossip mode, once the cluster runs); null otherwise. */
  cluster: ClusterMembers | null;
  replication: ClusterStats | null;
}
