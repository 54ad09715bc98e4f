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

/** "host:port" → [host, port]; null when malformed. */
export function splitHostPort(addr: string): [string, number] | null {
  const i = addr.lastIndexOf(':');
  if (i <= 0) return null;
  const port = Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
  return [addr.slice(0, i).replace(/^\[|\]$/g, ''), port];
}
