/** The membership layer's public types: all the rest of the project sees of it (no `swim` type leaks). */
import type { UdpTransport } from '../transport/udp-transport.js';
import type { Metrics } from '../../metrics/metrics.js';

export type MemberState = 'alive' | 'suspect' | 'faulty' | 'left';

/** What each node tells the others about itself. */
export interface MemberMeta {
  /** node name */
  name: string;
  /** HTTP host:port */
  http: string;
  /** data-gossip host:port */
  data: string;
  /** protocol version */
  proto: number;
}

export interface MemberInfo {
  /** gossip host:port, the member's identity */
  address: string;
  state: MemberState;
  incarnation: number;
  meta: MemberMeta | null;
  /** ms epoch of the last state change seen by this node */
  since: number;
  local: boolean;
}

/** Timing and size fields left undefined take the defaults in timings.ts (noted below). */
export interface MembershipOptions {
  bindHost: string;
  /** 0 = pick a free port */
  port: number;
  /** host[:port] the others should use; default bindHost (or the first external IPv4 when bound to a wildcard) and the bound port */
  advertiseAddr?: string;
  /** GossipDataSyncAuthKey; required, non-empty */
  authKey: string;
  /** AES-256-GCM on every datagram (all nodes must agree) */
  encrypt: boolean;
  meta: MemberMeta;
  /** default 1000 */
  probeIntervalMs?: number;
  /** default 500 */
  pingTimeoutMs?: number;
  /** default 4: suspicion timeout = mult × max(1, log10(N)) × probe interval */
  suspicionMult?: number;
  /** default 1400: no datagram sent is larger */
  maxDatagram?: number;
  /** default 24 h */
  reapFaultyAfterMs?: number;
  /** accepted clock skew and replay window, default 30 s */
  macWindowMs?: number;
  /** default: the clock in ms, so it grows across restarts */
  incarnationStart?: number;
  /** full member-list exchange with one random live member, and a reconnect attempt to one faulty member, this often; default 30 s, 0 = off */
  pushPullIntervalMs?: number;
  /**
   * The node's transport, open and carrying 'membership' (its port, key and maxDatagram then
   * take the place of port, authKey, encrypt, macWindowMs and maxDatagram); default: one of
   * this instance's own, opened by start() and closed by stop()
   */
  transport?: UdpTransport;
  /** a member whose clock (estimated from probes, see probes.ts) is further off than this is reported to onClockSkew; default 500, 0 = never */
  maxClockSkewMs?: number;
  /** a member's clock went beyond maxClockSkewMs (skewed) or came back within it */
  onClockSkew?: (address: string, offsetMs: number, skewed: boolean) => void;
  /** another node removed this one from the cluster (remove_node): it has left, and stays out until restarted */
  onRemoved?: () => void;
  /** Counts state changes (absent = not counted). */
  metrics?: Metrics;
}

/** What SWIM's probes say about one member (probes.ts). */
export type { ProbeSummary } from './probes.js';

export interface MembershipStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  rejectedBadMac: number;
  rejectedStale: number;
  rejectedReplay: number;
  rejectedMalformed: number;
  /** datagrams not sent because they would exceed maxDatagram (0 unless something is wrong) */
  droppedOversized: number;
  sendErrors: number;
  /** largest datagram sent, bytes */
  maxDatagramOut: number;
}

export interface MembershipEvents {
  /** first seen, or seen again after it left or was reaped */
  join: [MemberInfo];
  suspect: [MemberInfo];
  faulty: [MemberInfo];
  /** came back from suspect or faulty */
  alive: [MemberInfo];
  /** left gracefully */
  leave: [MemberInfo];
  /** metadata changed, state unchanged */
  update: [MemberInfo];
}
