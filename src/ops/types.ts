import type { RoundReport } from '../cluster/antientropy/anti-entropy.js';
import type { ProbeSummary } from '../cluster/membership/probes.js';
/**
 * What the cluster operations need from the node, as small interfaces: the
 * operations know nothing of SWIM, UDP, Koa or the disk layout beyond these
 * (and the cluster's own report types for probes and rounds, imported as types).
 * src/compose/operations.ts hands them in (GossipCluster implements OpsCluster structurally).
 */

export type MemberState = 'alive' | 'suspect' | 'faulty' | 'left';

export interface OpsMember {
  name: string | null;
  state: MemberState;
  incarnation: number;
  /** Gossip host:port, the member's identity. */
  gossip: string;
  /** HTTP host:port. */
  http: string | null;
  local: boolean;
  /** ms epoch of the last state change seen here. */
  since: number;
}

/** Round trips and clock offset from SWIM probes (membership/probes.ts). */
export type PeerProbe = Pick<ProbeSummary, 'rttLastMs' | 'rttP50Ms' | 'rttP99Ms' | 'samples' | 'clockOffsetMs' | 'clockOffsetErrorMs'>;

/** The last push-pull round this node started with a peer (antientropy/anti-entropy.ts). */
export type PeerRound = RoundReport;

export type ReplicationTask = 'anti_entropy' | 'dissemination';

/** Gossip mode's cluster, as the operations see it. */
export interface OpsCluster {
  gossipAddress(): string;
  memberList(): OpsMember[];
  /** Joins the member at a gossip address now; the member once alive, or as seen when the timeout passed (null: never heard). */
  join(address: string, timeoutMs: number): Promise<OpsMember | null>;
  /** Forces a member out; `from` carries another node's removal of it. Null if unknown here. */
  forceLeave(address: string, from?: { incarnation?: number; at?: number }): OpsMember | null;
  /** This node was removed by another: leave the cluster (the node keeps serving, alone). */
  leaveRemoved(why: string): Promise<void>;
  wasRemoved(): boolean;
  /** Push-pull of member records with one member now (refreshes its metadata). */
  refresh(address: string): void;
  /** Seeds to join (update_node). */
  addSeeds(seeds: string[]): void;
  probe(address: string): PeerProbe | null;
  lastRoundWith(http: string): PeerRound | undefined;
  /** Whether the peer at `http` has the same digest root as this node now. */
  rootsEqual(http: string): Promise<boolean>;
  /** A signed internal call to another node's operations (POST /internal/ops); the answer body. */
  ask(http: string, body: Buffer): Promise<Buffer | null>;
  /** Verifies a signed internal call made to this node. */
  verify(method: string, path: string, header: string | undefined, body: Buffer): boolean;
  readonly authHeader: string;
  setTask(task: ReplicationTask, on: boolean): void;
  counters(): { deltasSent: number; deltasReceived: number; lastPushPullAt: number };
}

/** A server list as the routes operations use it (cluster/groups/server-list.ts fits). */
export interface OpsRouteList {
  liveAddresses(): string[];
  get(address: string): { address: string } | undefined;
  problemWith(address: string): string | null;
  add(address: string, pass: string): { ok: true; address: string } | { ok: false; status: number; message: string };
  remove(address: string): { ok: true; address: string } | { ok: false; status: number; message: string };
}

export interface OpsNodeFacts {
  name(): string;
  id: string;
  version: string;
  mode: 'owlcache' | 'gossip';
  scheme: 'http' | 'https';
  httpAddress(): string;
  tcpAddress(): string | null;
  respAddress(): string | null;
  dataDir: string;
  startedAt: number;
  maxClockSkewMs: number;
}

export interface OpsStoreStats {
  keys: number;
  stubs: number;
  bytes: number;
  maxMemory: number;
  evictions: number;
  digest: string;
}

/** An answer: HTTP status and a JSON body. */
export interface OpsAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}
