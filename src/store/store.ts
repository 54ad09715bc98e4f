import type { Metrics } from '../metrics/metrics.js';
import { Digest, keyHash, LEAVES } from './digest.js';
import { deathTime, localRecord, mergeRecords, type EntryRecord, type LiveRead } from './entry.js';
import { ExpiryQueue } from './expiry-queue.js';
import { flushedBy } from './flush.js';
import { compareVersions, HybridLogicalClock, type Version } from './hlc.js';
import { EXPIRED, FREE, GUARD, HOLLOW, isGuard, LIVE, slotCost, SlotTable, TOMBSTONE, type SlotState } from './slot-table.js';
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
  /**
   * Its value may be a view of a larger buffer (a block read from the data
   * directory, a socket read): a listener that keeps the value copies it, or
   * it would pin that buffer (the store copies every value into its arena).
   */
  readonly record: EntryRecord;
  readonly origin: ChangeOrigin;
}

export type ChangeListener = (change: StoreChange) => void;

/**
 * Called with the changes about to be made (one, or every change of a
 * setMany), before the store changes. Throwing (a StoreError, e.g. the append
 * log cannot be written) refuses them: nothing changes, no listener hears of them.
 * Not called for changes of origin 'load': they come from the data directory.
 */
export type WriteAheadHook = (changes: readonly StoreChange[]) => void;

/** One entry of Store.setMany. `ttlMs` 0 = never expires. */
export interface SetItem {
  key: string;
  value: Buffer;
  ttlMs?: number;
}

export class StoreError extends Error {}

/** place()'s caller has not looked the key up (a slot number is ≥ 0, and -1 means absent). */
const NOT_LOOKED_UP = -2;

export const DEFAULT_TOMBSTONE_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Share of MaxMemory that hollow (evicted) stubs, and separately expiry guards,
 * may hold past the budget before their oldest are dropped (docs/architecture.md).
 */
export const STUB_SHARE = 1 / 3;

/** Bytes a queued expiry costs (a double and a small integer in two arrays). */
const EXPIRY_ENTRY_BYTES = 16;
/** Budget bytes per slot for its share of the key index at its fullest. */
const INDEX_SHARE = 8;
/** Frees between two looks at whether the arena has sparse pages to compact. */
const COMPACT_EVERY = 1024;

/** What one record costs in the MaxMemory budget (docs/architecture.md, "Store: memory layout"). */
export function recordCost(r: EntryRecord): number {
  return slotCost(Buffer.byteLength(r.key, 'utf8'), r.value?.length ?? 0) + INDEX_SHARE;
}

/** Keys are held as UTF-8: a lone surrogate would not survive that, so it becomes U+FFFD at the door. */
function wellFormed(key: string): string {
  return (key as unknown as { isWellFormed(): boolean }).isWellFormed() ? key : Buffer.from(key, 'utf8').toString('utf8');
}

/** What the store holds and what it costs (Store.sizes); counts of records and bytes. */
export interface StoreUsage {
  keys: number;
  /** Live keys with an expiry. */
  expires: number;
  /** Hollow stubs, tombstones and expiry guards. */
  stubs: number;
  hollow: number;
  tombstones: number;
  guards: number;
  /** What MaxMemory bounds (Redis's used_memory). */
  bytes: number;
  stubBytes: number;
  /** Keys and values alone. */
  datasetBytes: number;
  /** What the store has allocated, free slots and blocks included. */
  heldBytes: number;
  maxMemory: number;
  evictions: number;
  stubsDropped: number;
}

/**
 * A consistent picture of the store taken in slices: every record as it was
 * when the capture began, handed out a chunk at a time while the store goes on
 * changing. A slot the store is about to change before the capture reached it
 * is copied first (copy on write); slots filled after the start are skipped.
 */
export interface StoreCapture {
  /** Records held when the capture began. */
  readonly size: number;
  /** The next records, about `maxBytes` of keys and values; null once all were handed out. */
  next(maxBytes: number): EntryRecord[] | null;
  /** Stops copying on write (also done once the last records were handed out). */
  close(): void;
}

function isExpiredAt(e: EntryRecord, now: number): boolean {
  return e.expireAt !== 0 && e.expireAt <= now;
}

function sameVersions(a: EntryRecord, b: EntryRecord): boolean {
  return compareVersions(a.vv, b.vv) === 0 && compareVersions(a.ev, b.ev) === 0;
}

/** Wall-clock microseconds: ms from Date.now, sub-ms digits from the monotonic clock. */
function wallMicros(nowMs: number): number {
  return nowMs * 1000 + Number((process.hrtime.bigint() / 1000n) % 1000n);
}

/**
 * The key/value map every front end uses (docs/architecture.md, "Store").
 * Every record is a slot of a SlotTable (typed-array columns, key and value
 * bytes in an arena, no object per record); live entries are in LRU order,
 * and records without a readable value are stubs: hollow (evicted for
 * memory), tombstones (deleted), and guards (expired). Live entries, hollow stubs and tombstones make up the digest;
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
  private readonly slots = new SlotTable();
  private readonly expiries = new ExpiryQueue();
  private readonly listeners: ChangeListener[] = [];
  private writeAhead: WriteAheadHook | null = null;
  /** Slots below this are in the digest; Infinity unless deferDigest() left the ones above out. */
  private digestUpTo = Infinity;
  private listenerErrors = 0;
  /** The latest time seen: expiry never runs backwards when the wall clock does. */
  private clockMs = 0;
  private evictions = 0;
  private stubsDropped = 0;
  private untilCompact = COMPACT_EVERY;
  private captures: SlotCapture[] = [];
  /** The latest flush (FLUSHALL): records that count from before it are gone and refused (src/store/flush.ts). */
  private flushFloor: Version | null = null;
  private readonly metrics: Metrics | undefined;

  constructor(opts: StoreOptions) {
    this.hlc = new HybridLogicalClock(opts.nodeId, opts.now);
    this.now = opts.now ?? Date.now;
    this.maxMemory = opts.maxMemory ?? 0;
    this.tombstoneTtlMs = opts.tombstoneTtlMs ?? DEFAULT_TOMBSTONE_TTL_MS;
    this.metrics = opts.metrics;
  }

  /** The digest of every record that has not expired (expired ones are taken out first; a deferred part is hashed first). */
  get digest(): Digest {
    this.tick();
    if (this.digestUpTo !== Infinity) this.catchUpDigest(Infinity);
    return this.hashes;
  }

  /**
   * Leaves the digest out of the writes to come until catchUpDigest() adds
   * them: a load of the data directory places a million records without
   * hashing each, and the node answers clients while the digest catches up in
   * slices. Only for an empty store. Anything asking for the digest meanwhile
   * (anti-entropy, status) gets it complete: the rest is hashed then.
   */
  deferDigest(): void {
    if (this.slots.size === 0) this.digestUpTo = 0;
  }

  /**
   * Adds up to `maxSlots` more slots to a deferred digest; true once the digest
   * holds every record. Slots below the mark are hashed as they change, the
   * ones above it when the mark reaches them, so each is counted once.
   */
  catchUpDigest(maxSlots: number): boolean {
    const t = this.slots;
    const end = Math.min(t.top, this.digestUpTo + maxSlots);
    for (let s = this.digestUpTo; s < end; s++) {
      const st = t.state[s]!;
      if (st !== FREE && !isGuard(st)) this.toggleSlot(s, t.keyOf(s));
    }
    this.digestUpTo = end >= t.top ? Infinity : end;
    return this.digestUpTo === Infinity;
  }

  get nodeId(): string {
    return this.hlc.nodeId;
  }

  /**
   * Makes room for `more` records beyond those held (a load that knows its
   * count): the columns and the key index are sized once instead of growing
   * step by step. Changes nothing else; a wrong guess costs only memory.
   */
  reserve(more: number): void {
    let n = Math.max(0, Math.floor(more));
    // No more slots than the budget could hold, however many the caller expects.
    if (this.maxMemory > 0) n = Math.min(n, Math.floor(this.maxMemory / slotCost(1, 0)));
    this.slots.reserve(this.slots.size + n);
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
    key = wellFormed(key);
    const s = this.slots.find(key, keyHash(key));
    if (s < 0 || this.slots.state[s] !== LIVE) return undefined;
    this.slots.touch(s);
    return this.slots.record(s, key);
  }

  /**
   * What a read answers, without an EntryRecord: false where get() gives
   * undefined, else true with `into` filled. `into.value` is a view of the
   * store's arena, not a copy: it holds the value only until the store next
   * changes, so a caller copies what it keeps (a reply) before any other store
   * call. Counts as a use for the LRU.
   */
  readLive(key: string, into: LiveRead): boolean {
    this.tick();
    key = wellFormed(key);
    const t = this.slots;
    const s = t.find(key, keyHash(key));
    if (s < 0 || t.state[s] !== LIVE) return false;
    t.touch(s);
    into.value = t.valueView(s);
    into.created = t.created[s]!;
    return true;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Any record held for key, live or not (an expiry guard too), without touching the LRU order. */
  peek(key: string): EntryRecord | undefined {
    this.tick();
    key = wellFormed(key);
    const s = this.slots.find(key, keyHash(key));
    return s < 0 ? undefined : this.slots.record(s, key);
  }

  /** The expiry guard held for key: versions of an entry that expired here, not yet collected. */
  guard(key: string): EntryRecord | undefined {
    this.tick();
    key = wellFormed(key);
    const s = this.slots.find(key, keyHash(key));
    return s < 0 || !isGuard(this.slots.state[s]!) ? undefined : this.slots.record(s, key);
  }

  /**
   * The versions of the record held for key, without copying its value:
   * `value` is true for a live entry or one evicted for memory (hollow), false
   * for a delete or an expiry. Undefined when nothing is held. Does not touch the LRU order.
   */
  versionsOf(key: string): { vv: Version; ev: Version; value: boolean } | undefined {
    this.tick();
    key = wellFormed(key);
    const t = this.slots;
    const s = t.find(key, keyHash(key));
    if (s < 0) return undefined;
    const st = t.state[s]!;
    return {
      vv: { t: t.vt[s]!, c: t.vcOf(s), n: t.names.nameOf(t.vn[s]!) },
      ev: { t: t.et[s]!, c: t.ecOf(s), n: t.names.nameOf(t.en[s]!) },
      value: st === LIVE || st === HOLLOW,
    };
  }

  /** Local write. `ttlMs` 0 = never expires. */
  set(key: string, value: Buffer, ttlMs = 0): EntryRecord {
    const record = this.newRecord(wellFormed(key), value, ttlMs);
    this.apply(record, 'local');
    return record;
  }

  /**
   * Several local writes, all or nothing: the write-ahead hook sees them
   * together (one append-log write) and either all are made or none.
   */
  setMany(items: readonly SetItem[]): EntryRecord[] {
    const changes: StoreChange[] = new Array(items.length);
    for (let i = 0; i < items.length; i++) {
      const { key, value, ttlMs } = items[i]!;
      changes[i] = { record: this.newRecord(wellFormed(key), value, ttlMs ?? 0), origin: 'local' };
    }
    this.writeAhead?.(changes);
    for (const c of changes) this.commit(c);
    return changes.map((c) => c.record);
  }

  /**
   * Deletes the keys that are live (tombstones, as delete()), all or nothing:
   * the write-ahead hook sees the deletes together (one append-log write).
   * Returns the tombstones made; keys not live are left alone.
   */
  deleteMany(keys: readonly string[]): EntryRecord[] {
    this.tick();
    const t = this.slots;
    const changes: StoreChange[] = [];
    const seen = new Set<string>();
    for (let key of keys) {
      key = wellFormed(key);
      const s = t.find(key, keyHash(key));
      if (s < 0 || t.state[s] !== LIVE || seen.has(key)) continue;
      seen.add(key);
      // As delete(): a new value version, the expiry register kept.
      const ev: Version = { t: t.et[s]!, c: t.ecOf(s), n: t.names.nameOf(t.en[s]!) };
      changes.push({ record: { key, value: null, created: 0, vv: this.hlc.now(), expireAt: t.expireAt[s]!, ev }, origin: 'local' });
    }
    if (changes.length === 0) return [];
    this.writeAhead?.(changes);
    for (const c of changes) this.commit(c);
    return changes.map((c) => c.record);
  }

  /**
   * A local write computed from the key's current record in one step (an
   * increment): `make` gets any record held for the key (live or not) and
   * whether it is live, a fresh version and the time, and returns the record
   * to write, or throws to write nothing.
   */
  update(key: string, make: (current: EntryRecord | undefined, live: boolean, version: Version, nowMicros: number) => EntryRecord): EntryRecord {
    const now = this.tick();
    key = wellFormed(key);
    const s = this.slots.find(key, keyHash(key));
    const current = s < 0 ? undefined : this.slots.record(s, key);
    const live = s >= 0 && this.slots.state[s] === LIVE;
    const record = make(current, live, this.hlc.now(), wallMicros(now));
    if (this.maxMemory > 0 && recordCost(record) > this.maxMemory) {
      throw new StoreError(`value of ${record.value?.length ?? 0} bytes does not fit in MaxMemory (${this.maxMemory} bytes)`);
    }
    this.apply(record, 'local');
    return record;
  }

  /** The latest flush this store applied, or null. */
  get floor(): Version | null {
    return this.flushFloor;
  }

  /**
   * Applies a flush: every record that counts from before `v` leaves the store
   * and the digest (no tombstones: the flush itself stands for them), and such
   * records are refused from then on. Listeners hear nothing per key; the
   * flush's owner (src/store/flush.ts) announces it. Returns how many records
   * went, or -1 when `v` is not newer than the flush already applied.
   */
  flush(v: Version): number {
    if (this.flushFloor !== null && compareVersions(v, this.flushFloor) <= 0) return -1;
    this.hlc.observe(v);
    this.flushFloor = v;
    this.tick();
    const t = this.slots;
    let dropped = 0;
    for (let s = 0; s < t.top; s++) {
      const st = t.state[s]!;
      if (st === FREE) continue;
      const r = t.record(s);
      if (!flushedBy(r, v)) continue;
      this.beforeChange(s);
      if (!isGuard(st)) this.toggleDigest(s, r.key);
      t.remove(s);
      dropped++;
    }
    if (dropped > 0) this.compactSoon(true);
    return dropped;
  }

  private newRecord(key: string, value: Buffer, ttlMs: number): EntryRecord {
    const now = this.tick();
    const v = this.hlc.now();
    // The bytes are copied into the store's arena when placed: a view into a socket read pins nothing.
    const record = localRecord(key, value, wallMicros(now), v, ttlMs > 0 ? now + ttlMs : 0);
    if (this.maxMemory > 0 && recordCost(record) > this.maxMemory) {
      throw new StoreError(`value of ${value.length} bytes does not fit in MaxMemory (${this.maxMemory} bytes)`);
    }
    return record;
  }

  /** Sets a live key's expiry (`ttlMs` 0 = never; `atMs`, when given, is the absolute time instead). Undefined if the key is not live. */
  expire(key: string, ttlMs: number, atMs?: number): EntryRecord | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const record: EntryRecord = {
      ...current,
      expireAt: atMs !== undefined ? atMs : ttlMs > 0 ? this.clockMs + ttlMs : 0,
      ev: this.hlc.now(),
    };
    this.apply(record, 'local');
    return record;
  }

  /** Deletes a live key (leaves a tombstone). Undefined if the key is not live. */
  delete(key: string): EntryRecord | undefined {
    const current = this.get(key);
    if (current === undefined) return undefined;
    const record: EntryRecord = {
      key: current.key,
      value: null,
      created: 0,
      vv: this.hlc.now(),
      expireAt: current.expireAt,
      ev: current.ev,
    };
    this.apply(record, 'local');
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
    this.tick();
    if (this.flushFloor !== null && flushedBy(remote, this.flushFloor)) return false;
    const key = wellFormed(remote.key);
    if (key !== remote.key) remote = { ...remote, key };
    const h = keyHash(key);
    const s = this.slots.find(key, h);
    // Most merges bring nothing new (a push-pull of a store in sync, a replayed log): decide that from the columns.
    if (s >= 0 && this.bringsNothing(s, remote)) return false;
    const local = s < 0 ? undefined : this.slots.record(s, key);
    const now = this.clockMs;
    let next: EntryRecord;
    if (local === undefined) {
      if (deathTime(remote, now) + this.tombstoneTtlMs <= now) return false;
      // The store keeps no record object (place() copies the fields into its slot), so the caller's is used as is.
      next = remote;
    } else {
      // An expired entry whose bytes are still held merges as the entry it was: a newer expiry write
      // (PERSIST, EXPIRE made where it had not expired yet) gives the value back.
      const mine = this.slots.state[s]! === EXPIRED ? this.slots.expiredEntry(s, key) : local;
      next = mergeRecords(mine, remote, () => this.hlc.now());
      if (next === mine) return false;
      // Only an eviction is kept: an expiry guard whose expiry a newer write cancels (PERSIST, EXPIRE)
      // takes the bytes back, or the cancelled expiry would still hide the value here.
      if (origin !== 'load' && this.slots.state[s]! === HOLLOW && next.value !== null && compareVersions(next.vv, local.vv) === 0) {
        next = { ...next, value: null, hollow: true };
      }
    }
    if (next.value !== null && this.maxMemory > 0 && recordCost(next) > this.maxMemory) {
      next = { ...next, value: null, hollow: true };
    }
    if (local !== undefined && sameVersions(next, local) && next.hollow === local.hollow && (next.value === null) === (local.value === null)) {
      return false;
    }
    this.apply(next, origin, s, h, now);
    return true;
  }

  /** True when `remote` is older or the same in both registers, and is not the bytes of a write held hollow here. */
  private bringsNothing(s: number, remote: EntryRecord): boolean {
    // A counter merges by its per-node totals (counter.ts): an older version may still bring increments.
    if (remote.counter !== undefined) return false;
    const t = this.slots;
    const valueCmp = compareColumns(remote.vv, t.vt[s]!, t.vcOf(s), t.names.nameOf(t.vn[s]!));
    if (valueCmp > 0) return false;
    if (valueCmp === 0 && t.state[s] !== LIVE && t.state[s] !== TOMBSTONE) return false;
    return compareColumns(remote.ev, t.et[s]!, t.ecOf(s), t.names.nameOf(t.en[s]!)) <= 0;
  }

  /**
   * Every record that is part of the digest: live entries, hollow stubs and
   * tombstones, never an expired one (for scans). Does not touch the LRU order.
   */
  *entries(): IterableIterator<EntryRecord> {
    this.tick();
    const t = this.slots;
    for (let s = 0; s < t.top; s++) {
      const st = t.state[s]!;
      if (st !== FREE && !isGuard(st)) yield t.record(s);
    }
  }

  /**
   * The keys holding a value now that begin with `prefix` and that `match`
   * accepts (every one without them), in slot order: KEYS and index builds
   * walk the store without making a record per entry, and a key outside the
   * prefix is passed over without decoding it. Does not touch the LRU order.
   */
  liveKeys(match?: (key: string) => boolean, prefix = ''): string[] {
    this.tick();
    const t = this.slots;
    const start = Buffer.from(wellFormed(prefix), 'utf8');
    const out: string[] = [];
    for (let s = 0; s < t.top; s++) {
      if (t.state[s] !== LIVE || (start.length > 0 && !t.keyStartsWith(s, start))) continue;
      const key = t.keyOf(s);
      if (match === undefined || match(key)) out.push(key);
    }
    return out;
  }

  /** `entries()` and the expiry guards: what a snapshot keeps so a restart still refuses older writes. */
  *allRecords(): IterableIterator<EntryRecord> {
    this.tick();
    const t = this.slots;
    for (let s = 0; s < t.top; s++) if (t.state[s] !== FREE) yield t.record(s);
  }

  /**
   * The records of `entries()` whose keys fall in the given digest leaves
   * (push-pull's scan): one pass over the key-hash column, records made only
   * for the keys that match.
   */
  entriesInLeaves(leaves: Iterable<number>): EntryRecord[] {
    this.tick();
    const wanted = new Uint8Array(LEAVES);
    for (const l of leaves) if (l >= 0 && l < LEAVES) wanted[l] = 1;
    const t = this.slots;
    const out: EntryRecord[] = [];
    const { state, hash } = t;
    for (let s = 0; s < t.top; s++) {
      const st = state[s]!;
      if (st !== FREE && !isGuard(st) && wanted[hash[s]! % LEAVES] === 1) out.push(t.record(s));
    }
    return out;
  }

  /**
   * The live keys last written (value and expiry) before version `v`, looked
   * for in slots `from` to `from + maxSlots` (a scan in slices): the keys, and
   * the slot to go on from, -1 once every slot was looked at. A key keeps its
   * slot while it is held, so a scan sees every key held throughout it once.
   */
  liveKeysWrittenBefore(v: Version, from: number, maxSlots: number): { keys: string[]; next: number } {
    this.tick();
    const t = this.slots;
    const end = Math.min(t.top, from + maxSlots);
    const keys: string[] = [];
    for (let s = Math.max(0, from); s < end; s++) {
      if (t.state[s] !== LIVE) continue;
      if (compareColumns(v, t.vt[s]!, t.vcOf(s), t.names.nameOf(t.vn[s]!)) > 0 && compareColumns(v, t.et[s]!, t.ecOf(s), t.names.nameOf(t.en[s]!)) > 0) {
        keys.push(t.keyOf(s));
      }
    }
    return { keys, next: end >= t.top ? -1 : end };
  }

  /**
   * Starts a consistent capture of `allRecords()` as of now, handed out in
   * slices (a snapshot writes one chunk, awaits the disk, takes the next):
   * the store is never walked whole in one turn of the event loop.
   */
  capture(): StoreCapture {
    this.tick();
    const c = new SlotCapture(this.slots, (done) => {
      // The same array, changed in place: a new one (filter) would be a new elements kind each
      // snapshot, and place() and its inlined loops over captures would deoptimize each time.
      const i = this.captures.indexOf(done);
      if (i >= 0) this.captures.splice(i, 1);
    });
    this.captures.push(c);
    return c;
  }

  /**
   * Takes out what expired and collects tombstones and guards older than the
   * tombstone TTL. Returns how many entries it touched. Entries also leave at
   * their expiry on any read of the store; `expired: false` only stops this
   * sweep from draining the expiry queue, and `tombstones: false` skips the
   * collection (the run-time switches of the operations API).
   */
  sweep(what: { expired?: boolean; tombstones?: boolean } = {}): number {
    const t = this.slots;
    const before = t.counts[LIVE]! + t.counts[HOLLOW]! + t.counts[TOMBSTONE]!;
    const now = what.expired === false ? this.clockMs : this.tick();
    let touched = before - (t.counts[LIVE]! + t.counts[HOLLOW]! + t.counts[TOMBSTONE]!);
    if (what.tombstones === false) return touched;
    const ttl = this.tombstoneTtlMs;
    for (let s = t.oldest(TOMBSTONE); s >= 0; ) {
      const next = t.next[s]!;
      if (t.vt[s]! + ttl <= now) {
        const key = t.keyOf(s);
        this.beforeChange(s);
        this.toggleDigest(s, key);
        t.remove(s);
        touched += 1;
      }
      s = next;
    }
    for (const kind of [EXPIRED, GUARD] as const) {
      for (let s = t.oldest(kind); s >= 0; ) {
        const next = t.next[s]!;
        const e = t.record(s);
        if (deathTime(e, now) + ttl <= now) {
          this.beforeChange(s);
          t.remove(s);
          touched += 1;
        }
        s = next;
      }
    }
    if (touched > 0) this.compactSoon(true);
    return touched;
  }

  /** Forgets everything (a node too long away discards its copy and pulls: the TombstoneTTL rule). */
  clear(): void {
    const t = this.slots;
    for (const c of this.captures) for (let s = 0; s < t.top; s++) c.save(s);
    t.clear();
    this.expiries.clear();
    this.hashes.clear();
    this.digestUpTo = Infinity;
  }

  /**
   * Bytes the store holds, the way Redis's used_memory counts its data: every
   * record's columns and its arena block at its size class, the key index and
   * the expiry queue. This is what MaxMemory bounds. Free slots (at most a
   * fifth of the columns, which grow by a quarter) and free blocks in arena
   * pages are held too: `heldBytes` in stats() counts them.
   */
  private usedBytes(): number {
    const t = this.slots;
    const b = t.bytes;
    return b[LIVE]! + b[HOLLOW]! + b[TOMBSTONE]! + b[GUARD]! + b[EXPIRED]! + t.indexBytes + this.expiries.size * EXPIRY_ENTRY_BYTES;
  }

  /** What the store holds and its memory (what stats() gives but the digest): cheap, and it leaves a deferred digest deferred. */
  sizes(): StoreUsage {
    this.tick();
    const t = this.slots;
    const guards = t.counts[GUARD]! + t.counts[EXPIRED]!;
    const stubBytes = t.bytes[HOLLOW]! + t.bytes[TOMBSTONE]! + t.bytes[GUARD]! + t.bytes[EXPIRED]!;
    return {
      keys: t.counts[LIVE]!,
      expires: t.expiringLive,
      stubs: t.counts[HOLLOW]! + t.counts[TOMBSTONE]! + guards,
      hollow: t.counts[HOLLOW]!,
      tombstones: t.counts[TOMBSTONE]!,
      guards,
      bytes: this.usedBytes(),
      stubBytes,
      datasetBytes: t.payloadBytes,
      heldBytes: t.columnBytes + t.indexBytes + t.arena.heldBytes + this.expiries.size * EXPIRY_ENTRY_BYTES,
      maxMemory: this.maxMemory,
      evictions: this.evictions,
      stubsDropped: this.stubsDropped,
    };
  }

  /** sizes() and the digest's root; asked while a load's digest is deferred, it completes the digest first. */
  stats(): StoreUsage & { digest: string } {
    return { ...this.sizes(), digest: this.digest.root() };
  }

  /**
   * `s`, `h`, `now`: the key's slot (-1: none), its hash and the time, when the
   * caller (merge) just found them, so place() need not again; s = NOT_LOOKED_UP otherwise.
   */
  private apply(record: EntryRecord, origin: ChangeOrigin, s = NOT_LOOKED_UP, h = 0, now = 0): void {
    const change: StoreChange = { record, origin };
    if (origin !== 'load') this.writeAhead?.([change]);
    this.commit(change, s, h, now);
  }

  /** Makes a change the write-ahead hook accepted, then tells every listener. */
  private commit(change: StoreChange, s = NOT_LOOKED_UP, h = 0, now = 0): void {
    const { record } = change;
    this.place(record, s, h, now);
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.listenerErrors += 1;
        // A listener failing on every change must not flood the log.
        if (this.listenerErrors === 1 || this.listenerErrors % 1000 === 0) {
          log.error(
            'a change listener failed on key %j (%d failures so far; the change is made and the other listeners ran): %s',
            record.key,
            this.listenerErrors,
            (err as Error).stack ?? String(err),
          );
        }
      }
    }
  }

  /** Puts `record` in its key's slot (live, a stub, or a guard once expired), keeps the digest, then the budget. */
  private place(record: EntryRecord, found = NOT_LOOKED_UP, foundHash = 0, foundAt = 0): void {
    const looked = found !== NOT_LOOKED_UP;
    const now = looked ? foundAt : this.tick();
    const t = this.slots;
    const key = record.key;
    // tick() only changes slots' states, never which slot holds a key: a lookup made before it still holds.
    const h = looked ? foundHash : keyHash(key);
    let s = looked ? found : t.find(key, h);
    if (s >= 0) {
      this.beforeChange(s);
      const st = t.state[s]!;
      if (!isGuard(st)) this.toggleDigest(s, key);
    }
    const has = record.value !== null;
    const state: SlotState = isExpiredAt(record, now) ? (has ? EXPIRED : GUARD) : has ? LIVE : record.hollow ? HOLLOW : TOMBSTONE;
    if (s >= 0) {
      t.replace(s, record, state);
    } else {
      s = t.add(key, h, record, state);
      for (const c of this.captures) c.skip(s);
    }
    if (!isGuard(state)) {
      if (record.expireAt !== 0) this.queueExpiry(record.expireAt, s);
      if (s < this.digestUpTo) this.hashes.toggle(h % LEAVES, key, record.vv.t, record.vv.c, record.vv.n, record.ev.t, record.ev.c, record.ev.n);
    }
    this.keepBudget();
  }

  /** Adds or removes slot `s`'s versions in the digest, unless a deferred digest has not reached it yet. */
  private toggleDigest(s: number, key: string): void {
    if (s < this.digestUpTo) this.toggleSlot(s, key);
  }

  /** Adds or removes slot `s`'s versions in the digest. */
  private toggleSlot(s: number, key: string): void {
    const t = this.slots;
    this.hashes.toggle(t.hash[s]! % LEAVES, key, t.vt[s]!, t.vcOf(s), t.names.nameOf(t.vn[s]!), t.et[s]!, t.ecOf(s), t.names.nameOf(t.en[s]!));
  }

  /** Slot `s` is about to change or go: a capture that has not reached it yet copies it first. */
  private beforeChange(s: number): void {
    for (const c of this.captures) c.save(s);
  }

  private queueExpiry(at: number, s: number): void {
    this.expiries.push(at, s);
    // Rewritten keys leave stale queue entries; rebuild before they outnumber the records.
    const t = this.slots;
    const held = t.counts[LIVE]! + t.counts[HOLLOW]! + t.counts[TOMBSTONE]!;
    if (this.expiries.size > 2 * held + 64) {
      this.expiries.clear();
      for (let i = 0; i < t.top; i++) {
        const st = t.state[i]!;
        if (st !== FREE && !isGuard(st) && t.expireAt[i] !== 0) this.expiries.push(t.expireAt[i]!, i);
      }
    }
  }

  /** The time now (never earlier than before), with everything due by then expired. */
  private tick(): number {
    const t = this.now();
    if (t > this.clockMs) this.clockMs = t;
    const now = this.clockMs;
    if (this.expiries.next <= now) this.expiries.popDue(now, (s) => this.expireSlot(s, now));
    return now;
  }

  /** A slot reached its expiry: it leaves the digest, and only its guard stays. */
  private expireSlot(s: number, now: number): void {
    const t = this.slots;
    const st = t.state[s]!;
    const at = t.expireAt[s]!;
    if (st === FREE || isGuard(st) || at === 0 || at > now) return;
    this.beforeChange(s);
    this.toggleDigest(s, t.keyOf(s));
    t.changeState(s, st === LIVE ? EXPIRED : GUARD);
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
    const t = this.slots;
    const share = max * STUB_SHARE;
    let freed = false;
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (this.usedBytes() <= max) break;
      freed = true;
      const noLive = t.counts[LIVE] === 0;
      // An expired value's bytes are worth less than any live value: they go first.
      const expired = t.oldest(EXPIRED);
      if (expired >= 0) {
        this.beforeChange(expired);
        t.changeState(expired, GUARD);
        continue;
      }
      if ((t.bytes[HOLLOW]! > share || noLive) && this.dropOldest(HOLLOW, true)) continue;
      if ((t.bytes[GUARD]! > share || noLive) && this.dropOldest(GUARD, false)) continue;
      if (noLive) break;
      const s = t.oldest(LIVE);
      this.beforeChange(s);
      t.changeState(s, HOLLOW);
      this.evictions += 1;
      this.metrics?.evicted();
    }
    if (freed) this.compactSoon(false);
  }

  private dropOldest(state: SlotState, inDigest: boolean): boolean {
    const t = this.slots;
    const s = t.oldest(state);
    if (s < 0) return false;
    this.beforeChange(s);
    if (inDigest) this.toggleDigest(s, t.keyOf(s));
    t.remove(s);
    this.stubsDropped += 1;
    return true;
  }

  /**
   * Blocks freed by eviction and deletes are reused by later writes of their
   * size; when sizes shift, sparse arena pages are compacted now and then
   * (a bounded number of moves each time), so held memory follows what is used.
   */
  private compactSoon(now: boolean): void {
    if (!now && --this.untilCompact > 0) return;
    this.untilCompact = COMPACT_EVERY;
    const arena = this.slots.arena;
    if (arena.slackBytes > Math.max(1 << 20, arena.usedBytes / 8)) this.slots.compact(now ? 100_000 : 4096);
  }
}

/** Negative if version `a` is older than the one in columns (t, c, n), positive if newer, 0 if the same. */
function compareColumns(a: Version, t: number, c: number, n: string): number {
  if (a.t !== t) return a.t < t ? -1 : 1;
  if (a.c !== c) return a.c < c ? -1 : 1;
  if (a.n === n) return 0;
  return a.n < n ? -1 : 1;
}

class SlotCapture implements StoreCapture {
  readonly size: number;
  private cursor = 0;
  private readonly top: number;
  /** Slots already handed out by copy, or filled after the start: the scan skips them. */
  private readonly done: Uint8Array;
  private pending: EntryRecord[] = [];
  private closed = false;

  constructor(
    private readonly slots: SlotTable,
    private readonly onClose: (c: SlotCapture) => void,
  ) {
    this.top = slots.top;
    this.size = slots.size;
    this.done = new Uint8Array(this.top);
  }

  /** Slot `s` is about to change: keep it as it is now, unless the scan is past it. */
  save(s: number): void {
    if (s < this.cursor || s >= this.top || this.done[s] === 1) return;
    this.done[s] = 1;
    if (this.slots.state[s] !== FREE) this.pending.push(this.slots.record(s));
  }

  /** Slot `s` was free and is filled now: not part of the picture. */
  skip(s: number): void {
    if (s >= this.cursor && s < this.top) this.done[s] = 1;
  }

  next(maxBytes: number): EntryRecord[] | null {
    if (this.closed) return null;
    const out = this.pending;
    this.pending = [];
    let bytes = 0;
    for (const r of out) bytes += r.key.length + (r.value?.length ?? 0) + 48;
    const t = this.slots;
    while (this.cursor < this.top && bytes < maxBytes) {
      const s = this.cursor++;
      if (this.done[s] === 1 || t.state[s] === FREE) continue;
      const r = t.record(s);
      bytes += r.key.length + (r.value?.length ?? 0) + 48;
      out.push(r);
    }
    if (out.length === 0 && this.cursor >= this.top) {
      this.close();
      return null;
    }
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.onClose(this);
  }
}
