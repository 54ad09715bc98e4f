import { fnv1a32 } from '../fnv1a.js';

/**
 * What the client knows of the cluster: every node learnt from `/info/shards`
 * (docs/operations.md) and the endpoints it was given, which of them failed
 * lately, and where each request goes. A node that failed is left out of the
 * rotation until a later refresh finds it answering again.
 *
 * A key's requests go to the healthy node that key ranks first (rendezvous
 * hashing): the cluster is eventually consistent, so sending a key's get to
 * the node that took its set gives read-your-writes while the nodes stay up,
 * and the keys still spread over every node. Requests without a key (the
 * cluster operations, most about the node that answers) go to the first
 * healthy node, the endpoints given first, so they keep to one node while it
 * answers.
 */

/** murmur3's finaliser over FNV-1a: FNV alone mixes the last characters (the node's port) too little. */
function rank(key: string, url: string): number {
  let h = fnv1a32(`${key}\u0000${url}`);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface NodeView {
  /** The base URL, `http://host:port`: the node's identity here. */
  url: string;
  /** The node's name from /info/shards; null for an endpoint not (yet) seen there. */
  name: string | null;
  /** The member state /info/shards gave ("alive", "suspect", "faulty", "left"); "alive" for a given endpoint until told otherwise. */
  state: string;
  /** Failed lately (connection error, timeout, 5xx) and not seen answering since. */
  down: boolean;
  /** Requests it answered. */
  served: number;
  failures: number;
}

/** `http://host:port` from `host:port` or a URL (its path dropped). */
export function baseUrl(endpoint: string, scheme = 'http'): string {
  const text = endpoint.trim();
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${scheme}://${text}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`endpoint ${JSON.stringify(endpoint)}: only http and https`);
  return `${url.protocol}//${url.host}`;
}

/** A shard of the /info/shards answer. */
export interface Shard {
  nodeId?: unknown;
  httpAddr?: unknown;
  state?: unknown;
}

export class Topology {
  private readonly nodes = new Map<string, NodeView>();

  constructor(endpoints: readonly string[]) {
    for (const e of endpoints) this.add(baseUrl(e), null, 'alive');
  }

  private add(url: string, name: string | null, state: string): NodeView {
    let n = this.nodes.get(url);
    if (n === undefined) {
      n = { url, name, state, down: false, served: 0, failures: 0 };
      this.nodes.set(url, n);
    } else {
      if (name !== null) n.name = name;
      n.state = state;
    }
    return n;
  }

  /** Takes in an /info/shards answer; returns how many nodes it named. */
  learn(doc: unknown): number {
    if (typeof doc !== 'object' || doc === null) return 0;
    const { uriScheme, shards } = doc as { uriScheme?: unknown; shards?: unknown };
    if (typeof shards !== 'object' || shards === null) return 0;
    const scheme = uriScheme === 'https' ? 'https' : 'http';
    let named = 0;
    for (const [name, s] of Object.entries(shards as Record<string, Shard>)) {
      if (typeof s !== 'object' || s === null || typeof s.httpAddr !== 'string' || s.httpAddr === '') continue;
      let url: string;
      try {
        url = baseUrl(s.httpAddr, scheme);
      } catch {
        continue;
      }
      this.add(url, typeof s.nodeId === 'string' ? s.nodeId : name, typeof s.state === 'string' ? s.state : 'alive');
      named += 1;
    }
    return named;
  }

  failed(url: string): void {
    const n = this.nodes.get(url);
    if (n === undefined) return;
    n.down = true;
    n.failures += 1;
  }

  answered(url: string): void {
    const n = this.nodes.get(url);
    if (n === undefined) return;
    n.down = false;
    n.served += 1;
  }

  /** Seen answering again (a refresh's check of a node marked down). */
  up(url: string): void {
    const n = this.nodes.get(url);
    if (n !== undefined) n.down = false;
  }

  /**
   * Every node in the order to try them: the healthy ones (alive, not down)
   * as `key` ranks them, or without a key the given endpoints first, then the
   * learnt nodes; then the rest (a node the cluster thinks dead may still answer when
   * nothing else does).
   */
  order(key?: string): string[] {
    const all = [...this.nodes.values()];
    const healthy = all.filter((n) => !n.down && n.state === 'alive');
    const rotated =
      key === undefined
        ? healthy
        : healthy
            .map((n) => ({ n, r: rank(key, n.url) }))
            .sort((a, b) => b.r - a.r)
            .map((x) => x.n);
    const rest = all.filter((n) => !healthy.includes(n)).sort((a, b) => Number(a.down) - Number(b.down));
    return [...rotated, ...rest].map((n) => n.url);
  }

  downNodes(): string[] {
    return [...this.nodes.values()].filter((n) => n.down).map((n) => n.url);
  }

  label(url: string): string {
    const n = this.nodes.get(url);
    const host = url.replace(/^https?:\/\//, '');
    return n?.name && n.name !== host ? `${n.name} (${host})` : host;
  }

  view(): NodeView[] {
    return [...this.nodes.values()].map((n) => ({ ...n }));
  }
}
