import type { Metrics } from '../metrics/metrics.js';
import { LRUCache } from 'lru-cache';
import { Digest } from './digest.js';
import { deathTime, entrySize, mergeRecords, ownBytes, type EntryRecord } from './entry.js';
import { ExpiryQueue } from './expiry-queue.js';
import { compareVersions, HybridLogicalClock } from './hlc.js';
import { NodeNames, StubTable } from './stub-table.js';
import { logger } from '../log.js';

const log = logger('store');

export interface StoreOptions {
  /** This node's id: the HLC tie-break of every local write. */
  nodeId: string;
  /** Byte budget for live entries and stubs (keys, values, overhead); 0 = no bound. */
  maxMemory?: number;
  /** How long tombstones and expired entries are kept so the fact reaches every node (ms). Default 24 h. */
  tombstoneTtlMs?: number;
  /** Wall clock in ms; injectable for tests. */
  now?: () => number;
  /** Counts evictions and expirations (absent = not counted). */
  metrics?: Metrics;
}

/** Where a change came from: a client here, a peer's push, a push-pull round, or the data directory at start. */
export type ChangeOrigin = 'local' | 'remote' | 'sync' | 'load';

export interface StoreChange {
  readonly record: EntryRecord;
  readonly previous: EntryRecord | undefined;
  readonly origin: ChangeOrigin;
}

export type ChangeListener = (change: StoreChange) => void;

/**
 * Called with the changes about to be made (one, or every change of a
 * setMany), before the store changes. Throwing (a StoreError, e.g. the append
 * log cannot be written) refuses them: nothing changes, no listener hears of them.
 */
export type WriteAheadHook = (changes: readonly StoreChange[]) => void;

/** One entry of Store.setMany. `ttlMs` 0 = never expires. */
export interface SetItem {
  key: string;
  value: Buffer;
  ttlMs?: number;
}

export class StoreError extends Error {}

export const DEFAULT_TOMBSTONE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Share of MaxMemory that hollow (evicted) stubs, and separately expiry guards,
 * may hold past the budget before their oldest are dropped (docs/architecture.md).
 */
export const STUB_SHARE = 1 / 3;

function isExpiredAt(e: EntryRecord, now: number): boolean {
  return e.expireAt !== 0 && e.expireAt <= now;
}

function sameVersions(a: EntryRecord, b: EntryRecord): boolean {
  return compareVersions(a.vv, b.vv) === 0 && compareVersions(a.ev, b.ev) === 0;
}

/** Wall-clock microseconds: ms from Date.now, sub-ms digits from the monotonic clock. */
function wallMicros(nowMs: number): number {
  return nowMs * 1000 + Number(process.hrtime.bigint() / 1000n % 1000n);
}

/**
 * The key/value map every front end uses (docs/architecture.md, "Store").
 * Live entries sit in an LRU; records without a readable value are packed
 * stubs: hollow (evicted for memory), tombstones (deleted), and guards
 * (expired). Live entries, hollow stubs and tombstones make up the digest;
 * an entry leaves the digest at its expiry time, on every node alike, and only
 * a guard stays so older writes keep losing until `tombstoneTtlMs` has passed.
 * Live entries and every stub share the `maxMemory` budget. A change first
 * passes the write-ahead hook (the append log), which may refuse it; only then
 * does it update the map and the digest, and is announced, synchronously, to
 * listeners (replication, the RESP key index) before the caller acknowledges
 * it. Listeners cannot refuse a change that is already made: one that throws
 * is logged and the others still run.
 */
export class Store {
  readonly hlc: HybridLogicalClock;
  readonly maxMemory: number;
  readonly tombstoneTtlMs: number;
  private readonly now: () => number;
  private readonly hashes = new Digest();
  private readonly live: LRUCache<string, EntryRecord>;
  private readonly names = new NodeNames();
  private readonly hollow = new StubTable(this.names);
  private readonly tombstones = new StubTable(this.names);
  private readonly guards = new StubTable(this.names);
  private readonly expiries = new ExpiryQueue();
  private readonly listeners: ChangeListener[] = [];
  private writeAhead: WriteAheadHook | null = null;
  private listenerErrors = 0;
  /** Live entries with an expiry, kept as they come and go so INFO need not walk the store. */
  private expiring = 0;
  /** The latest time seen: expiry never runs backwards when the wall clock does. */
  private clockMs = 0;
  private evictions = 0;
  private stubsDropped = 0;
  private readonly metrics: Metrics | undefined;

  constructor(opts: StoreOptions) {
    this.hlc = new HybridLogicalClock(opts.nodeId, opts.now);
    this.now = opts.now ?? Date.now;
    this.maxMemory = opts.maxMemory ?? 0;
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    this.metrics = opts.metrics;
    this.live = new LRUCache<string, EntryRecord>({
      maxSize: this.maxMemory > 0 ? this.maxMemory : Number.MAX_SAFE_INTEGER,
      sizeCalculation: entrySize,
      dispose: (record, _key, reason) => {
        // Every entry that leaves the LRU passes through here, which counts it out.
        if (record.expireAt !== 0) this.expiring -= 1;
        if (reason !== 'evict') return;
        this.evictions += 1;
        this.metrics?.evicted();
        this.hollow.set(record);
      },
    });
  }

  /** The digest of every record that has not expired (expired ones are taken out first). */
  get digest(): Digest {
    this.tick();
    return this.hashes;
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

  /** Sets (or with null removes) the one write-ahead hook: persistence's append log. */
  setWriteAhead(hook: WriteAheadHook | null): void {
    this.writeAhead = hook;
  }

  /** The live entry for key, or undefined if absent, deleted or expired. Counts as a use for the LRU. */
  get(key: string): EntryRecord | undefined {
    this.tick();
    return this.live.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Any record held for key, live or not (an expiry guard too), without touching the LRU order. */
  peek(key: string): EntryRecord | undefined {
    this.tick();
    return this.live.peek(key) ?? this.hollow.get(key) ?? this.tombstones.get(key) ?? this.guards.get(key);
  }

  /** The expiry guard held for key: versions of an entry that expired here, not yet collected. */
  guard(key: string): EntryRecord | undefined {
    this.tick();
    return this.guards.get(key);
  }

  /** Local write. `ttlMs` 0 = never expires. */
  set(key: string, value: Buffer, ttlMs = 0): EntryRecord {
    const record = this.newRecord(key, value, ttlMs);
    this.apply(record, this.peek(key), 'local');
    return record;
  }

  /**
   * Several local writes, all or nothing: the write-ahead hook sees them
   * together (one append-log write) and either all are made or none.
   */
  setMany(items: readonly SetItem[]): EntryRecord[] {
    const staged = new Map<string, EntryRecord>();
    const changes: StoreChange[] = [];
    for (const { key, value, ttlMs } of items) {
      const record = this.newRecord(key, value, ttlMs ?? 0);
      changes.push({ record, previous: staged.get(key) ?? this.peek(key), origin: 'local' });
      staged.set(key, record);
    }
    this.writeAhead?.(changes);
    for (const c of changes) this.commit(c);
    return changes.map((c) => c.record);
  }

  private newRecord(key: string, value: Buffer, ttlMs: number): EntryRecord {
    const now = this.tick();
    const v = this.hlc.now();
    const record: EntryRecord = {
      key,
      value: ownBytes(value),
      created: wallMicros(now),
      vv: v,
      expireAt: ttlMs > 0 ? now + ttlMs : 0,
      ev: v,
    };
    if (this.maxMemory > 0 && entrySize(record) > this.maxMemory) {
      throw new StoreError(`value of ${value.length} bytes does not fit in MaxMemory (${this.maxMemory} bytes)`);
    }
    return record;
  }

  /** Sets a live key's expiry (`ttlMs` 0 = never). Undefined if the key is not live. */
  expire(key: string, ttlMs: number): EntryRecord | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const record: EntryRecord = {
      ...current,
      expireAt: ttlMs > 0 ? this.clockMs + ttlMs : 0,
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
   * The bytes of a value this node holds hollow are taken only from disk: an
   * eviction is this node's decision, and a peer's copy of the same write does
   * not undo it (only a newer write brings bytes back).
   */
  merge(remote: EntryRecord, origin: Exclude<ChangeOrigin, 'local'> = 'remote'): boolean {
    this.hlc.observe(remote.vv);
    this.hlc.observe(remote.ev);
    const local = this.peek(remote.key);
    const now = this.clockMs;
    let next: EntryRecord;
    if (local === undefined) {
      if (deathTime(remote, now) + this.tombstoneTtlMs <= now) return false;
      next = { ...remote };
    } else {
      next = mergeRecords(local, remote);
      if (next === local) return false;
      if (origin !== 'load' && local.hollow && next.value !== null && compareVersions(next.vv, local.vv) === 0) {
        next = { ...next, value: null, hollow: true };
      }
    }
    if (next.value !== null && this.maxMemory > 0 && entrySize(next) > this.maxMemory) {
      next = { ...next, value: null, hollow: true };
    }
    if (next.value !== null && next.value !== local?.value) next = { ...next, value: ownBytes(next.value) };
    if (local !== undefined && sameVersions(next, local) && next.hollow === local.hollow && (next.value === null) === (local.value === null)) {
      return false;
    }
    this.apply(next, local, origin);
    return true;
  }

  /**
   * Every record that is part of the digest: live entries, hollow stubs and
   * tombstones, never an expired one (for anti-entropy and scans). Does not
   * touch the LRU order.
   */
  *entries(): IterableIterator<EntryRecord> {
    this.tick();
    yield* this.live.values();
    yield* this.hollow.records();
    yield* this.tombstones.records();
  }

  /** `entries()` and the expiry guards: what a snapshot keeps so a restart still refuses older writes. */
  *allRecords(): IterableIterator<EntryRecord> {
    yield* this.entries();
    yield* this.guards.records();
  }

  /**
   * Takes out what expired and collects tombstones and guards older than the
   * tombstone TTL. Returns how many entries it touched.
   */
  sweep(): number {
    const before = this.live.size + this.hollow.size + this.tombstones.size;
    const now = this.tick();
    let touched = before - (this.live.size + this.hollow.size + this.tombstones.size);
    for (const e of [...this.tombstones.records()]) {
      if (deathTime(e, now) + this.tombstoneTtlMs <= now) {
        this.tombstones.delete(e.key);
        this.hashes.update(e, undefined);
        touched += 1;
      }
    }
    for (const e of [...this.guards.records()]) {
      if (deathTime(e, now) + this.tombstoneTtlMs <= now) {
        this.guards.delete(e.key);
        touched += 1;
      }
    }
    return touched;
  }

  /** Forgets everything (a node too long away discards its copy and pulls: the TombstoneTTL rule). */
  clear(): void {
    this.live.clear();
    this.hollow.clear();
    this.tombstones.clear();
    this.guards.clear();
    this.expiries.clear();
    this.hashes.clear();
  }

  stats(): {
    keys: number; expires: number; stubs: number; hollow: number; tombstones: number; guards: number;
    bytes: number; stubBytes: number; maxMemory: number; evictions: number; stubsDropped: number; digest: string;
  } {
    this.tick();
    const stubBytes = this.hollow.bytes + this.tombstones.bytes + this.guards.bytes;
    return {
      keys: this.live.size,
      expires: this.expiring,
      stubs: this.hollow.size + this.tombstones.size + this.guards.size,
      hollow: this.hollow.size,
      tombstones: this.tombstones.size,
      guards: this.guards.size,
      bytes: (this.live.calculatedSize ?? 0) + stubBytes,
      stubBytes,
      maxMemory: this.maxMemory,
      evictions: this.evictions,
      stubsDropped: this.stubsDropped,
      digest: this.hashes.root(),
    };
  }

  private apply(record: EntryRecord, previous: EntryRecord | undefined, origin: ChangeOrigin): void {
    const change: StoreChange = { record, previous, origin };
    this.writeAhead?.([change]);
    this.commit(change);
  }

  /** Makes a change the write-ahead hook accepted, then tells every listener. */
  private commit(change: StoreChange): void {
    const { record } = change;
    this.place(record);
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.listenerErrors += 1;
        // A listener failing on every change must not flood the log.
        if (this.listenerErrors === 1 || this.listenerErrors % 1000 === 0) {
          log.error('a change listener failed on key %j (%d failures so far; the change is made and the other listeners ran): %s',
            record.key, this.listenerErrors, (err as Error).stack ?? String(err));
        }
      }
    }
  }

  /** Puts `record` where it belongs (LRU, a stub table, or a guard once expired), keeps the digest, then the budget. */
  private place(record: EntryRecord): void {
    const now = this.tick();
    const key = record.key;
    const counted = this.live.peek(key) ?? this.hollow.get(key) ?? this.tombstones.get(key);
    this.hollow.delete(key);
    this.tombstones.delete(key);
    this.guards.delete(key);
    let after: EntryRecord | undefined = record;
    if (isExpiredAt(record, now)) {
      this.live.delete(key);
      this.guards.set(record);
      after = undefined;
    } else if (record.value !== null) {
      const replaced = this.live.peek(key);
      this.live.set(key, record);
      if (record.expireAt !== 0 && replaced !== record && this.live.peek(key) === record) this.expiring += 1;
    } else {
      this.live.delete(key);
      if (record.hollow) this.hollow.set(record);
      else this.tombstones.set(record);
    }
    if (after !== undefined && record.expireAt !== 0) this.queueExpiry(record.expireAt, key);
    this.hashes.update(counted, after);
    this.keepBudget();
  }

  private queueExpiry(at: number, key: string): void {
    this.expiries.push(at, key);
    // Rewritten keys leave stale queue entries; rebuild before they outnumber the records.
    const held = this.live.size + this.hollow.size + this.tombstones.size;
    if (this.expiries.size > 2 * held + 4096) {
      this.expiries.clear();
      for (const e of this.entriesUnticked()) if (e.expireAt !== 0) this.expiries.push(e.expireAt, e.key);
    }
  }

  private *entriesUnticked(): IterableIterator<EntryRecord> {
    yield* this.live.values();
    yield* this.hollow.records();
    yield* this.tombstones.records();
  }

  /** The time now (never earlier than before), with everything due by then expired. */
  private tick(): number {
    const t = this.now();
    if (t > this.clockMs) this.clockMs = t;
    const now = this.clockMs;
    if (this.expiries.next <= now) this.expiries.popDue(now, (key) => this.expireKey(key, now));
    return now;
  }

  /** An entry reached its expiry: it leaves the store and the digest, and only its guard stays. */
  private expireKey(key: string, now: number): void {
    const e = this.live.peek(key) ?? this.hollow.get(key) ?? this.tombstones.get(key);
    if (e === undefined || !isExpiredAt(e, now)) return;
    this.live.delete(key);
    this.hollow.delete(key);
    this.tombstones.delete(key);
    this.guards.set(e);
    this.hashes.update(e, undefined);
    this.metrics?.expired();
  }

  /**
   * Live entries and stubs together stay within MaxMemory. Past the budget,
   * hollow stubs holding more than their share go first, oldest first (the key
   * then leaves the store and the digest), then expiry guards past their share;
   * otherwise the least recently used value is evicted (and becomes a hollow
   * stub). Tombstones are never dropped for memory: they keep deletes winning.
   */
  private keepBudget(): void {
    const max = this.maxMemory;
    if (max <= 0) return;
    const share = max * STUB_SHARE;
    for (let guard = 0; guard < 1_000_000; guard++) {
      if ((this.live.calculatedSize ?? 0) + this.hollow.bytes + this.tombstones.bytes + this.guards.bytes <= max) return;
      const noLive = this.live.size === 0;
      if ((this.hollow.bytes > share || noLive) && this.dropOldest(this.hollow, true)) continue;
      if ((this.guards.bytes > share || noLive) && this.dropOldest(this.guards, false)) continue;
      if (noLive) return;
      this.live.pop();
    }
  }

  private dropOldest(table: StubTable, inDigest: boolean): boolean {
    const key = table.oldestKey();
    if (key === undefined) return false;
    if (inDigest) this.hashes.update(table.get(key), undefined);
    table.delete(key);
    this.stubsDropped += 1;
    return true;
  }
}
