import { LRUCache } from 'lru-cache';
import { Digest } from './digest.js';
import { deathTime, entrySize, isLive, mergeRecords, type EntryRecord } from './entry.js';
import { HybridLogicalClock } from './hlc.js';

export interface StoreOptions {
  /** This node's id: the HLC tie-break of every local write. */
  nodeId: string;
  /** Byte budget for live entries (keys, values, overhead); 0 = no bound. */
  maxMemory?: number;
  /** How long tombstones and expired entries are kept so the fact reaches every node (ms). Default 24 h. */
  tombstoneTtlMs?: number;
  /** Wall clock in ms; injectable for tests. */
  now?: () => number;
}

/** Where a change came from: a client here, a peer's push, a push-pull round, or the data directory at start. */
export type ChangeOrigin = 'local' | 'remote' | 'sync' | 'load';

export interface StoreChange {
  readonly record: EntryRecord;
  readonly previous: EntryRecord | undefined;
  readonly origin: ChangeOrigin;
}

export type ChangeListener = (change: StoreChange) => void;

export class StoreError extends Error {}

export const DEFAULT_TOMBSTONE_TTL_MS = 24 * 60 * 60 * 1000;

/** Wall-clock microseconds: ms from Date.now, sub-ms digits from the monotonic clock. */
function wallMicros(nowMs: number): number {
  return nowMs * 1000 + Number(process.hrtime.bigint() / 1000n % 1000n);
}

/**
 * The key/value map every front end uses (docs/architecture.md). Live entries sit in an
 * LRU bounded by bytes; entries without a readable value (tombstones, expired,
 * evicted) are kept as stubs so their versions keep winning merges until they are
 * collected after `tombstoneTtlMs`. Every change updates the digest and is
 * announced, synchronously, to listeners (append log, replication) before the
 * caller acknowledges it.
 */
export class Store {
  readonly hlc: HybridLogicalClock;
  readonly digest = new Digest();
  readonly maxMemory: number;
  readonly tombstoneTtlMs: number;
  private readonly now: () => number;
  private readonly live: LRUCache<string, EntryRecord>;
  private readonly stubs = new Map<string, EntryRecord>();
  private readonly listeners: ChangeListener[] = [];
  private evictions = 0;
  /** Live entries with an expiry, kept as they come and go so INFO need not walk the store. */
  private expiring = 0;

  constructor(opts: StoreOptions) {
    this.hlc = new HybridLogicalClock(opts.nodeId, opts.now);
    this.now = opts.now ?? Date.now;
    this.maxMemory = opts.maxMemory ?? 0;
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    this.live = new LRUCache<string, EntryRecord>({
      maxSize: this.maxMemory > 0 ? this.maxMemory : Number.MAX_SAFE_INTEGER,
      sizeCalculation: entrySize,
      dispose: (record, key, reason) => {
        if (record.expireAt !== 0) this.expiring -= 1;
        if (reason !== 'evict') return;
        this.evictions += 1;
        this.stubs.set(key, { ...record, value: null, hollow: true });
      },
    });
  }

  get nodeId(): string {
    return this.hlc.nodeId;
  }

  /** Subscribes to every change; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The live entry for key, or undefined if absent, deleted or expired. Counts as a use for the LRU. */
  get(key: string): EntryRecord | undefined {
    const e = this.live.get(key);
    if (e === undefined) return undefined;
    if (e.expireAt !== 0 && e.expireAt <= this.now()) {
      this.hollowOut(e);
      return undefined;
    }
    return e;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Any record held for key, live or not, without touching the LRU order. */
  peek(key: string): EntryRecord | undefined {
    return this.live.peek(key) ?? this.stubs.get(key);
  }

  /** Local write. `ttlMs` 0 = never expires. */
  set(key: string, value: Buffer, ttlMs = 0): EntryRecord {
    const now = this.now();
    const v = this.hlc.now();
    const record: EntryRecord = {
      key,
      value,
      created: wallMicros(now),
      vv: v,
      expireAt: ttlMs > 0 ? now + ttlMs : 0,
      ev: v,
    };
    if (this.maxMemory > 0 && entrySize(record) > this.maxMemory) {
      throw new StoreError(`value of ${value.length} bytes does not fit in MaxMemory (${this.maxMemory} bytes)`);
    }
    this.apply(record, this.peek(key), 'local');
    return record;
  }

  /** Sets a live key's expiry (`ttlMs` 0 = never). Undefined if the key is not live. */
  expire(key: string, ttlMs: number): EntryRecord | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const record: EntryRecord = {
      ...current,
      expireAt: ttlMs > 0 ? this.now() + ttlMs : 0,
      ev: this.hlc.now(),
    };
    this.apply(record, current, 'local');
    return record;
  }

  /** Deletes a live key (leaves a tombstone). Undefined if the key is not live. */
  delete(key: string): EntryRecord | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const record: EntryRecord = {
      key,
      value: null,
      created: 0,
      vv: this.hlc.now(),
      expireAt: current.expireAt,
      ev: current.ev,
    };
    this.apply(record, current, 'local');
    return record;
  }

  /**
   * Merges a record from another node or from disk by the merge rule (docs/architecture.md).
   * Returns true if the store changed. Records dead for longer than the
   * tombstone TTL are not taken in, so collected deletes cannot come back.
   */
  merge(remote: EntryRecord, origin: Exclude<ChangeOrigin, 'local'> = 'remote'): boolean {
    this.hlc.observe(remote.vv);
    this.hlc.observe(remote.ev);
    const local = this.peek(remote.key);
    const now = this.now();
    let next: EntryRecord;
    if (local === undefined) {
      if (deathTime(remote, now) + this.tombstoneTtlMs <= now) return false;
      next = { ...remote };
    } else {
      next = mergeRecords(local, remote);
      if (next === local) return false;
    }
    if (next.value !== null && this.maxMemory > 0 && entrySize(next) > this.maxMemory) {
      next = { ...next, value: null, hollow: true };
      if (local !== undefined && local.hollow && next.vv === local.vv && next.ev === local.ev) return false;
    }
    this.apply(next, local, origin);
    return true;
  }

  /** Every record held, live or not (for snapshots and anti-entropy). Does not touch the LRU order. */
  *entries(): IterableIterator<EntryRecord> {
    for (const e of this.live.values()) yield e;
    yield* this.stubs.values();
  }

  /**
   * Drops the bytes of expired values and collects tombstones and expired
   * entries older than the tombstone TTL. Returns how many entries it touched.
   * `expired: false` / `tombstones: false` skip one half (the run-time switches).
   */
  sweep(what: { expired?: boolean; tombstones?: boolean } = {}): number {
    const now = this.now();
    let touched = 0;
    for (const e of what.expired === false ? [] : [...this.live.values()]) {
      if (e.expireAt !== 0 && e.expireAt <= now) {
        this.hollowOut(e);
        touched += 1;
      }
    }
    for (const [key, e] of what.tombstones === false ? [] : this.stubs) {
      if (deathTime(e, now) + this.tombstoneTtlMs <= now) {
        this.stubs.delete(key);
        this.digest.update(e, undefined);
        touched += 1;
      }
    }
    return touched;
  }

  /** Forgets everything (a node too long away discards its copy and pulls: the TombstoneTTL rule). */
  clear(): void {
    this.live.clear();
    this.stubs.clear();
    this.digest.clear();
  }

  stats(): { keys: number; expires: number; stubs: number; bytes: number; maxMemory: number; evictions: number; digest: string } {
    return {
      keys: this.live.size,
      expires: this.expiring,
      stubs: this.stubs.size,
      bytes: this.live.calculatedSize ?? 0,
      maxMemory: this.maxMemory,
      evictions: this.evictions,
      digest: this.digest.root(),
    };
  }

  private apply(record: EntryRecord, previous: EntryRecord | undefined, origin: ChangeOrigin): void {
    if (isLive(record, this.now())) {
      this.stubs.delete(record.key);
      const replaced = this.live.peek(record.key);
      this.live.set(record.key, record);
      // Every entry that leaves the LRU passes through dispose, which counts it out.
      if (record.expireAt !== 0 && replaced !== record && this.live.peek(record.key) === record) this.expiring += 1;
    } else {
      this.live.delete(record.key);
      const stored = record.value !== null ? { ...record, value: null, hollow: true as const } : record;
      this.stubs.set(record.key, stored);
    }
    this.digest.update(previous, record);
    for (const listener of this.listeners) listener({ record, previous, origin });
  }

  /** Expired: free the bytes, keep the versions (the digest does not change). */
  private hollowOut(e: EntryRecord): void {
    this.live.delete(e.key);
    this.stubs.set(e.key, { ...e, value: null, hollow: true });
  }
}
