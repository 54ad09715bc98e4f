import { isCounterState, mergeCounterRecords, mergesAsCounter, type CounterState } from './counter.js';
import { compareVersions, isVersion, type Version } from './hlc.js';

/**
 * One key's replicated state: two last-writer-wins registers (docs/architecture.md,
 * "Versions and the merge rule").
 * - value register: `value` + `created`, stamped `vv`; `value === null` with
 *   `hollow` unset is a tombstone (delete).
 * - expiry register: `expireAt`, stamped `ev`.
 * This is the unit the store merges, the append log writes, snapshots hold and
 * replication ships; it is plain data.
 */
export interface EntryRecord {
  key: string;
  /** The value's bytes; null for a tombstone, or when `hollow`. */
  value: Buffer | null;
  /** When the value was written, microseconds since the epoch (OwlCache's KeyCreateTime). */
  created: number;
  /** Version of the value register. */
  vv: Version;
  /** Absolute expiry, milliseconds since the epoch; 0 = never. */
  expireAt: number;
  /** Version of the expiry register. */
  ev: Version;
  /**
   * The value's bytes are not held here: evicted to stay within MaxMemory (or
   * an expired entry's guard). The versions are kept, so the digest does not
   * change, anti-entropy does not pull the value back, and an older write
   * cannot return.
   */
  hollow?: true;
  /**
   * The key is a counter (src/store/counter.ts): per-node totals since its
   * epoch; `value` is their sum as decimal text. Absent on every other record.
   */
  counter?: CounterState;
}

/**
 * A record made by a local write: every one comes from this constructor, so
 * all share one hidden class whatever other code builds records. Object
 * literals of the record's shape share V8's maps, and a literal elsewhere that
 * stores a float where an integer was (a slot read back, its expiry from a
 * Float64Array) deprecates them: from then on each record an older literal
 * made was born with the old map and migrated at its first read, and the
 * functions reading them stayed unoptimized (docs/benchmarks.md, "fast
 * paths"). Still plain data: no methods, and spread, JSON and the record codec
 * see the same own fields.
 */
class LocalEntry implements EntryRecord {
  declare key: string;
  declare value: Buffer;
  declare created: number;
  declare vv: Version;
  declare expireAt: number;
  declare ev: Version;
  constructor(key: string, value: Buffer, created: number, version: Version, expireAt: number) {
    this.key = key;
    this.value = value;
    this.created = created;
    this.vv = version;
    this.expireAt = expireAt;
    this.ev = version;
  }
}

/** The record of a local write: both registers stamped with `version`. */
export function localRecord(key: string, value: Buffer, created: number, version: Version, expireAt: number): EntryRecord {
  return new LocalEntry(key, value, created, version, expireAt);
}

/** A version after `newest`, for a merge that makes a state neither side had, where no clock is at hand (the store passes its HLC). */
const nextVersion = (newest: Version): Version => ({ t: newest.t, c: newest.c + 1, n: newest.n });

/** The moment an entry stopped holding a live value (ms), or Infinity while it can still be read. */
export function deathTime(e: EntryRecord, now: number): number {
  if (e.value === null && !e.hollow) return e.vv.t;
  if (e.expireAt !== 0 && e.expireAt <= now) return e.expireAt;
  return Infinity;
}

/** True if the entry has a value that is not expired at `now`. */
export function isLive(e: EntryRecord, now: number): boolean {
  return e.value !== null && (e.expireAt === 0 || e.expireAt > now);
}

/**
 * The merge rule: each register independently takes the newer version.
 * Commutative, associative and idempotent. Returns `local` itself when `remote`
 * brings nothing new, so callers can detect a no-op by identity.
 */
export function mergeRecords(local: EntryRecord, remote: EntryRecord, stamp: (newest: Version) => Version = nextVersion): EntryRecord {
  if (mergesAsCounter(local, remote)) return mergeCounterRecords(local, remote, stamp);
  let valueCmp = compareVersions(remote.vv, local.vv);
  // Same write, but only the remote copy still has the bytes: holding them is "more".
  if (valueCmp === 0 && local.hollow && !remote.hollow && remote.value !== null) valueCmp = 1;
  const expiryCmp = compareVersions(remote.ev, local.ev);
  if (valueCmp <= 0 && expiryCmp <= 0) return local;
  const valueFrom = valueCmp > 0 ? remote : local;
  const expiryFrom = expiryCmp > 0 ? remote : local;
  const merged: EntryRecord = {
    key: local.key,
    value: valueFrom.value,
    created: valueFrom.created,
    vv: valueFrom.vv,
    expireAt: expiryFrom.expireAt,
    ev: expiryFrom.ev,
  };
  if (valueFrom.hollow) merged.hollow = true;
  else if (valueFrom.counter !== undefined) merged.counter = valueFrom.counter;
  return merged;
}

/** Validates a record that came from outside (disk, network). */
export function isEntryRecord(r: unknown): r is EntryRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return (
    typeof o.key === 'string' &&
    (o.value === null || o.value instanceof Uint8Array) &&
    Number.isSafeInteger(o.created) &&
    (o.created as number) >= 0 &&
    isVersion(o.vv) &&
    isVersion(o.ev) &&
    Number.isSafeInteger(o.expireAt) &&
    (o.expireAt as number) >= 0 &&
    (o.hollow === undefined || o.hollow === true) &&
    !(o.hollow === true && o.value !== null) &&
    (o.counter === undefined || isCounterState(o.counter))
  );
}

/** A read filled in place (Store.readLive): the value lent as a view, and its create time (µs). */
export interface LiveRead {
  value: Buffer;
  created: number;
}
