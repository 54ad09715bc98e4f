import { logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import { recordFromArray, recordToArray, RecordFormatError } from '../../store/record-codec.js';
import { GROUPS, LEAVES_PER_GROUP } from '../../store/digest.js';
import type { EntryRecord } from '../../store/entry.js';
import { compareVersions, type Version } from '../../store/hlc.js';
import type { Store } from '../../store/store.js';
import type { InternalClient } from '../internal-client.js';
import { pickRandom, type Peer, type PeerDirectory } from '../peers.js';
import { isHashList, isMeta, packr, parseRequest, type Meta, type SyncRequest } from './sync-messages.js';

const log = logger('antientropy');

/**
 * Push-pull anti-entropy (docs/architecture.md, "Push-pull"). A round with one live peer compares
 * digest roots; where they differ, group hashes, then leaf hashes, then the
 * (key, versions) of the differing leaves; then pulls what the peer holds newer
 * and pushes what this node holds newer — both directions in one exchange. In
 * sync, a round is one small request and answer. Bulk transfer is chunked by
 * leaves and by bytes, so neither side ever holds the whole store in a message.
 *
 * Rounds run every `intervalMs`, at once when a peer joins or comes back, and
 * never two at a time.
 */

/** Replicated node lists (gossip mode's /server/ lists), reconciled in the same round. */
export interface ListSync {
  /** A short hash of the lists' versioned contents. */
  digest(): string;
  export(): unknown;
  /** Merges lists received from a peer; ignores what it cannot read. */
  merge(data: unknown): void;
}

export interface AntiEntropyOptions {
  store: Store;
  peers: PeerDirectory;
  client: InternalClient;
  intervalMs: number;
  lists?: ListSync;
  /** Byte budget of one get/put message. */
  maxMessageBytes?: number;
  /** Keys per leaf-chunk scan (bounds memory of a key exchange). */
  maxKeysPerChunk?: number;
  /** Counts rounds, keys exchanged and durations (absent = not counted). */
  metrics?: Metrics;
  /** Told after each round this node starts, whether it succeeded or not (per-peer status). */
  onRound?: (peer: Peer, report: RoundReport) => void;
}

/** One round this node started with one peer. */
export interface RoundReport {
  at: number;
  ms: number;
  ok: boolean;
  pulled: number;
  pushed: number;
  /** The digest roots were equal when the round began. */
  inSync: boolean;
  error?: string;
}

export interface AntiEntropyStats {
  rounds: number;
  roundsInSync: number;
  roundsFailed: number;
  entriesPulled: number;
  entriesPushed: number;
  lastRoundMs: number;
  lastRoundPeer: string;
  lastRoundPulled: number;
  lastRoundPushed: number;
  lastRoundAt: number;
  requestsServed: number;
  requestsRejected: number;
}

const MAX_KEYS_PER_REQUEST = 20_000;

function versionOf(m: Meta, offset: 1 | 4): Version {
  return { t: m[offset] as number, c: m[offset + 1] as number, n: m[offset + 2] as string };
}

function metaOf(e: EntryRecord): Meta {
  return [e.key, e.vv.t, e.vv.c, e.vv.n, e.ev.t, e.ev.c, e.ev.n, e.hollow ? 1 : 0];
}

/**
 * True if the peer's copy (versions in `m`) has a register newer than this
 * copy. Versions only: a peer holding the bytes of a write this node holds
 * hollow (evicted) is not newer, since eviction is this node's own decision.
 */
function theirsIsNewer(m: Meta, mine: EntryRecord | undefined): boolean {
  if (mine === undefined) return true;
  return compareVersions(versionOf(m, 1), mine.vv) > 0 || compareVersions(versionOf(m, 4), mine.ev) > 0;
}

export class AntiEntropy {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private pending: Peer | null | undefined = undefined;
  private stopped = false;
  readonly counters: AntiEntropyStats = {
    rounds: 0,
    roundsInSync: 0,
    roundsFailed: 0,
    entriesPulled: 0,
    entriesPushed: 0,
    lastRoundMs: 0,
    lastRoundPeer: '',
    lastRoundPulled: 0,
    lastRoundPushed: 0,
    lastRoundAt: 0,
    requestsServed: 0,
    requestsRejected: 0,
  };
  private readonly maxBytes: number;
  private readonly maxKeysPerChunk: number;

  constructor(private readonly opts: AntiEntropyOptions) {
    this.maxBytes = opts.maxMessageBytes ?? 4 * 1024 * 1024;
    this.maxKeysPerChunk = opts.maxKeysPerChunk ?? 20_000;
  }

  start(): void {
    this.timer = setInterval(() => this.trigger(), this.opts.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => {});
  }

  /** Runs a round soon: with `peer` if given (it just joined or came back), else with a random live peer. */
  trigger(peer?: Peer): void {
    if (this.stopped) return;
    if (this.running !== null) {
      // One round at a time; remember that another is wanted (a named peer wins).
      if (peer !== undefined || this.pending === undefined) this.pending = peer ?? null;
      return;
    }
    const target = peer ?? pickRandom(this.opts.peers.livePeers(), 1)[0];
    if (target === undefined) return;
    const started = Date.now();
    this.running = this.round(target)
      .catch((err: unknown) => {
        this.counters.roundsFailed++;
        this.opts.metrics?.pushPullRound('failed', Date.now() - started, 0, 0);
        log.debug('push-pull with %s failed: %s', target.name, (err as Error).message);
        this.opts.onRound?.(target, {
          at: Date.now(),
          ms: Date.now() - started,
          ok: false,
          pulled: 0,
          pushed: 0,
          inSync: false,
          error: (err as Error).message,
        });
      })
      .finally(() => {
        this.running = null;
        const next = this.pending;
        this.pending = undefined;
        if (next !== undefined) this.trigger(next ?? undefined);
      });
  }

  /** Resolves when no round is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running !== null) await this.running.catch(() => {});
  }

  private async call<T>(peer: Peer, req: SyncRequest): Promise<T> {
    const body = await this.opts.client.call(peer.http, 'POST', '/internal/sync', packr.pack(req));
    if (body === null) throw new Error(`${peer.http} has no sync route`);
    return packr.unpack(body) as T;
  }

  /** One push-pull exchange with `peer`. */
  async round(peer: Peer): Promise<void> {
    const started = Date.now();
    const { store } = this.opts;
    let pulled = 0;
    let pushed = 0;
    const lists = this.opts.lists;
    const r1 = await this.call<{ equal?: unknown; groups?: unknown; lists?: unknown }>(peer, {
      op: 'root',
      root: store.digest.root(),
      lists: lists?.digest() ?? '',
    });
    if (r1.lists !== undefined && lists !== undefined) {
      // The lists differ: take the peer's, then give it ours.
      lists.merge(r1.lists);
      await this.call(peer, { op: 'lists', lists: lists.export() });
    }
    if (r1.equal !== true) {
      if (!isHashList(r1.groups, GROUPS)) throw new Error('bad root answer');
      const mine = store.digest.groupHashes();
      const groups = mine.flatMap((h, g) => (h !== (r1.groups as string[])[g] ? [g] : []));
      const r2 = await this.call<{ leaves?: unknown }>(peer, { op: 'leaves', groups });
      if (!Array.isArray(r2.leaves) || r2.leaves.length !== groups.length) throw new Error('bad leaves answer');
      const leaves: number[] = [];
      groups.forEach((g, i) => {
        const theirs = (r2.leaves as unknown[])[i];
        if (!isHashList(theirs, LEAVES_PER_GROUP)) throw new Error('bad leaf hashes');
        store.digest.leafHashes(g).forEach((h, j) => {
          if (h !== theirs[j]) leaves.push(g * LEAVES_PER_GROUP + j);
        });
      });
      // Chunk the differing leaves so one exchange holds at most ~maxKeysPerChunk keys.
      const total = Math.max(1, store.sizes().keys + store.sizes().stubs);
      const perLeaf = total / (GROUPS * LEAVES_PER_GROUP);
      const chunkSize = Math.max(1, Math.floor(this.maxKeysPerChunk / Math.max(1, perLeaf)));
      for (let i = 0; i < leaves.length && !this.stopped; i += chunkSize) {
        const chunk = leaves.slice(i, i + chunkSize);
        const [p, q] = await this.exchangeLeaves(peer, chunk);
        pulled += p;
        pushed += q;
      }
    }
    const c = this.counters;
    c.rounds++;
    if (r1.equal === true && r1.lists === undefined) c.roundsInSync++;
    c.entriesPulled += pulled;
    c.entriesPushed += pushed;
    c.lastRoundMs = Date.now() - started;
    c.lastRoundPeer = peer.name;
    c.lastRoundPulled = pulled;
    c.lastRoundPushed = pushed;
    c.lastRoundAt = Date.now();
    this.opts.onRound?.(peer, { at: c.lastRoundAt, ms: c.lastRoundMs, ok: true, pulled, pushed, inSync: r1.equal === true });
    this.opts.metrics?.pushPullRound(r1.equal === true && r1.lists === undefined ? 'in_sync' : 'synced', c.lastRoundMs, pulled, pushed);
    if (pulled + pushed > 0) log.info('push-pull with %s: pulled %d, pushed %d entries in %d ms', peer.name, pulled, pushed, c.lastRoundMs);
  }

  /** Asks `peer` whether its digest root equals this node's now (one small call, no exchange). */
  async rootsEqual(peer: Peer): Promise<boolean> {
    const r = await this.call<{ equal?: unknown }>(peer, { op: 'root', root: this.opts.store.digest.root(), lists: this.opts.lists?.digest() ?? '' });
    return r.equal === true;
  }

  /** Entries of this store whose keys fall in `leaves` (one pass over the store's key-hash column). */
  private scan(leaves: readonly number[]): Map<string, EntryRecord> {
    const out = new Map<string, EntryRecord>();
    for (const e of this.opts.store.entriesInLeaves(leaves)) out.set(e.key, e);
    return out;
  }

  private async exchangeLeaves(peer: Peer, leaves: number[]): Promise<[number, number]> {
    const r = await this.call<{ metas?: unknown }>(peer, { op: 'keys', leaves });
    if (!Array.isArray(r.metas)) throw new Error('bad keys answer');
    const { store } = this.opts;
    const mine = this.scan(leaves);
    const theirs = new Map<string, Meta>();
    const want: string[] = [];
    const give: EntryRecord[] = [];
    for (const m of r.metas as unknown[]) {
      if (!isMeta(m)) throw new Error('bad key meta');
      theirs.set(m[0], m);
      // A key that expired here is out of the digest, but its guard still outranks a peer's older copy.
      const held = mine.get(m[0]) ?? store.guard(m[0]);
      if (theirsIsNewer(m, held)) want.push(m[0]);
      else if (held !== undefined && !mine.has(m[0]) && theirsIsNewer(metaOf(held), this.asRecord(m))) give.push(held);
    }
    for (const [key, e] of mine) {
      const t = theirs.get(key);
      if (t === undefined || theirsIsNewer(metaOf(e), this.asRecord(t))) give.push(e);
    }
    let pulled = 0;
    let queue = want;
    for (let guard = 0; queue.length > 0 && guard < 10_000 && !this.stopped; guard++) {
      const batch = queue.slice(0, MAX_KEYS_PER_REQUEST);
      const ans = await this.call<{ records?: unknown; rest?: unknown }>(peer, { op: 'get', keys: batch });
      if (!Array.isArray(ans.records) || !Array.isArray(ans.rest)) throw new Error('bad get answer');
      pulled += this.mergeAll(ans.records);
      const rest = (ans.rest as unknown[]).filter((k): k is string => typeof k === 'string');
      if (rest.length === batch.length) throw new Error('peer sent nothing back');
      queue = [...rest, ...queue.slice(batch.length)];
    }
    let pushed = 0;
    let batch: unknown[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const ans = await this.call<{ newer?: unknown }>(peer, { op: 'put', records: batch });
      // Guards the peer holds for what it refused: this node's copy expired there under a newer write.
      if (Array.isArray(ans.newer)) pulled += this.mergeAll(ans.newer);
      pushed += batch.length;
      batch = [];
      bytes = 0;
    };
    for (const e of give) {
      batch.push(recordToArray(e));
      bytes += (e.value?.length ?? 0) + e.key.length + 64;
      if (bytes >= this.maxBytes || batch.length >= MAX_KEYS_PER_REQUEST) await flush();
    }
    await flush();
    return [pulled, pushed];
  }

  /** Merges records that came from the peer; skips those it cannot read. Returns how many changed the store. */
  private mergeAll(records: unknown[]): number {
    let changed = 0;
    for (const a of records) {
      try {
        if (this.opts.store.merge(recordFromArray(a), 'sync')) changed++;
      } catch (err) {
        if (!(err instanceof RecordFormatError)) throw err;
      }
    }
    return changed;
  }

  /** A meta as a versions-only record, for comparisons. */
  private asRecord(m: Meta): EntryRecord {
    const r: EntryRecord = { key: m[0], value: null, created: 0, vv: versionOf(m, 1), expireAt: 0, ev: versionOf(m, 4) };
    if (m[7] === 1) r.hollow = true;
    return r;
  }

  /** The responder's side: answers one step of a peer's round. Throws SyncProtocolError on bad input. */
  handle(body: Buffer): Buffer {
    const req = parseRequest(body, { maxKeys: MAX_KEYS_PER_REQUEST });
    this.counters.requestsServed++;
    const { store } = this.opts;
    const lists = this.opts.lists;
    switch (req.op) {
      case 'root': {
        const equal = req.root === store.digest.root();
        const answer: Record<string, unknown> = { equal };
        if (!equal) answer.groups = store.digest.groupHashes();
        if (lists !== undefined && req.lists !== lists.digest()) answer.lists = lists.export();
        return packr.pack(answer);
      }
      case 'leaves':
        return packr.pack({ leaves: req.groups.map((g) => store.digest.leafHashes(g)) });
      case 'keys':
        return packr.pack({ metas: [...this.scan(req.leaves).values()].map(metaOf) });
      case 'get': {
        const records: unknown[] = [];
        const rest: string[] = [];
        let bytes = 0;
        for (const key of req.keys) {
          const e = store.peek(key);
          if (e === undefined) continue;
          const size = (e.value?.length ?? 0) + key.length + 64;
          if (records.length > 0 && bytes + size > this.maxBytes) {
            rest.push(key);
            continue;
          }
          bytes += size;
          records.push(recordToArray(e));
        }
        return packr.pack({ records, rest });
      }
      case 'put': {
        let applied = 0;
        const newer: unknown[] = [];
        for (const a of req.records) {
          let r: EntryRecord;
          try {
            r = recordFromArray(a);
          } catch (err) {
            if (!(err instanceof RecordFormatError)) throw err;
            continue;
          }
          if (store.merge(r, 'sync')) applied++;
          // Expired here under a newer write: the guard tells the sender its copy is stale.
          const g = store.guard(r.key);
          if (g !== undefined && (compareVersions(g.vv, r.vv) > 0 || compareVersions(g.ev, r.ev) > 0)) newer.push(recordToArray(g));
        }
        return packr.pack(newer.length > 0 ? { applied, newer } : { applied });
      }
      case 'lists':
        lists?.merge(req.lists);
        return packr.pack({});
    }
  }
}
