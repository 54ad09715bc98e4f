import { LRUCache } from 'lru-cache';
import { endpointKey, endpointOf, resolvedEndpoint } from './address.js';
import type { FetchedCopy, Target } from './group-client.js';
import { goTimeStringNs, rfc3339NanoNs } from '../../go-time.js';
import type { GroupCopy } from '../../group-copy.js';

/**
 * /group_data/'s work: ask every node of the cluster for one key, in parallel,
 * and collect the copies (docs/protocol.md, "HTTP `/group_data/`").
 *
 * Which nodes: `nodes`, which the cluster mode gives (src/compose/cluster-mode.ts:
 * the owlcache list's live entries, or the live members' HTTP addresses). This
 * node always takes part: when one of
 * the listed addresses is this node's own HTTP port (ResponseHost, Host,
 * 127.0.0.1, localhost or ::1 with this node's port and scheme) it is read from
 * the local store under that listed address; when none is, this node is added
 * first under `ResponseHost:port`. Addresses reaching the same port are asked
 * once (the first listed wins). An address without a scheme is asked with this
 * node's own scheme (https when Open_Https is 1): clusters are homogeneous.
 *
 * `target` narrows the question to one of those nodes (matched by host and
 * port); a target that is not one of them is not asked at all, so /group_data/
 * cannot be used to make this node fetch from arbitrary hosts.
 */

/** The cluster's nodes /group_data/ asks, as HTTP addresses (this node may be among them). */
export interface GroupNodes {
  httpAddresses(): string[];
}

/** This node's own copy of a key. */
export interface LocalCopies {
  /** The live value and its create time in µs, or undefined. */
  get(key: string): { value: Buffer; created: number } | undefined;
}

/** Who this node is on HTTP. */
export interface SelfAddress {
  scheme: 'http' | 'https';
  /** `ResponseHost:port`: how this node appears when it is not listed. */
  address(): string;
  port(): number;
  /** Host names and IPs that mean this node (lower-case, IPv6 without brackets). */
  hosts(): string[];
}

export interface GroupDataOptions {
  nodes: GroupNodes;
  local: LocalCopies;
  self: SelfAddress;
  client: { getKey(target: Target, key: string, timeoutMs: number): Promise<FetchedCopy | null> };
  /** HttpClientRequestTimeout (ms). */
  timeoutMs: number;
  /** HttpClientRequestLocalCacheLifeTime (ms); 0 = no cache. */
  cacheLifeMs: number;
  /** Bytes of values the answer cache may hold (default 64 MiB). */
  cacheMaxBytes?: number;
}

interface Candidate {
  address: string;
  target: Target;
  local: boolean;
}

export class GroupData {
  private readonly cache: LRUCache<string, GroupCopy[]> | null;
  private readonly inflight = new Map<string, Promise<GroupCopy[]>>();

  constructor(private readonly opts: GroupDataOptions) {
    this.cache =
      opts.cacheLifeMs > 0
        ? new LRUCache<string, GroupCopy[]>({
            max: 10_000,
            maxSize: opts.cacheMaxBytes ?? 64 * 1024 * 1024,
            sizeCalculation: (copies) => copies.reduce((n, c) => n + c.value.length + c.address.length + 64, 64),
            ttl: opts.cacheLifeMs,
          })
        : null;
  }

  /** The copies of `key` on the cluster's nodes (or on `target` only), in list order; [] if none holds it. */
  lookup(key: string, target?: string): Promise<GroupCopy[]> {
    if (key === '') return Promise.resolve([]);
    if (this.cache === null) return this.ask(key, target);
    const cacheKey = `${target ?? ''}\n${key}`;
    const hit = this.cache.get(cacheKey);
    if (hit !== undefined) return Promise.resolve(hit);
    let p = this.inflight.get(cacheKey);
    if (p === undefined) {
      p = this.ask(key, target).then(
        (copies) => {
          this.inflight.delete(cacheKey);
          this.cache!.set(cacheKey, copies);
          return copies;
        },
        (err: unknown) => {
          this.inflight.delete(cacheKey);
          throw err;
        },
      );
      this.inflight.set(cacheKey, p);
    }
    return p;
  }

  /** The nodes /group_data/ asks, this node included, duplicates removed. */
  candidates(): Candidate[] {
    const { self } = this.opts;
    const listed = this.opts.nodes.httpAddresses();
    const selfHosts = new Set(self.hosts());
    const seen = new Set<string>();
    const out: Candidate[] = [];
    for (const address of listed) {
      const e = endpointOf(address);
      if (e === null) continue;
      const target = resolvedEndpoint(e, self.scheme);
      const k = endpointKey(target);
      if (seen.has(k)) continue;
      seen.add(k);
      const local = target.scheme === self.scheme && target.port === self.port() && selfHosts.has(target.host);
      out.push({ address, target, local });
    }
    if (!out.some((c) => c.local)) {
      out.unshift({ address: self.address(), target: { scheme: self.scheme, host: '127.0.0.1', port: self.port() }, local: true });
    }
    return out;
  }

  private async ask(key: string, target: string | undefined): Promise<GroupCopy[]> {
    let nodes = this.candidates();
    if (target !== undefined) {
      const e = endpointOf(target);
      if (e === null) return [];
      const t = resolvedEndpoint(e, this.opts.self.scheme);
      // Host and port decide; a target written with or without a scheme names the same node.
      nodes = nodes.filter((c) => c.target.host === t.host && c.target.port === t.port).slice(0, 1);
    }
    const answers = await Promise.all(nodes.map((c) => this.askOne(c, key)));
    return answers.filter((a): a is GroupCopy => a !== null);
  }

  private async askOne(c: Candidate, key: string): Promise<GroupCopy | null> {
    let value: Buffer;
    let createdNs: bigint | null;
    if (c.local) {
      const mine = this.opts.local.get(key);
      if (mine === undefined) return null;
      value = mine.value;
      createdNs = mine.created > 0 ? BigInt(Math.round(mine.created)) * 1000n : null;
    } else {
      const got = await this.opts.client.getKey(c.target, key, this.opts.timeoutMs);
      if (got === null || got.status !== 200) return null;
      value = got.value;
      createdNs = got.createdNs;
    }
    return { address: c.address, value, createdNs, keyCreateTime: rfc3339NanoNs(createdNs), keyCreateTimeGo: goTimeStringNs(createdNs) };
  }
}
