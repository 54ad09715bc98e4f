import { parseHostPort } from '../host-port.js';

/**
 * What the replication layer needs to know about the cluster: who is alive
 * and where to reach them. GossipCluster (cluster.ts) implements it from the membership layer, so
 * replication never sees SWIM.
 */
export interface Peer {
  /** Node name (for logs). */
  name: string;
  /** HTTP host:port (internal routes: value fetch, push-pull). */
  http: string;
  /** Data-gossip UDP host:port (deltas). */
  data: string;
}

export interface PeerDirectory {
  /** Live peers, this node excluded. */
  livePeers(): Peer[];
}

/** Up to n distinct random elements of xs. */
export function pickRandom<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  const a = [...xs];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (a.length - i));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

/** A peer's "host:port" (IPv6 with or without brackets) → [host, port]; null when malformed. */
export function splitHostPort(addr: string): [string, number] | null {
  const r = parseHostPort(addr, { minPort: 1, unbracketedIPv6: 'last-colon' });
  return r.ok ? [r.host, r.port] : null;
}
