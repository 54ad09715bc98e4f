import { CounterError, FIRST_EPOCH, incremented } from '../store/counter.js';
import { StoreError, type SetItem, type Store } from '../store/store.js';
import type { EntryRecord, LiveRead } from '../store/entry.js';
import type { Status } from './envelope.js';

/**
 * The command layer every front end (HTTP, TCP, RESP) calls, so a command means
 * the same thing on every port. It validates arguments and applies OwlCache's
 * rules; authentication and wire formats belong to the front ends.
 */

export interface Limits {
  maxKeyLength: number;
  maxValueSize: number;
}

export interface Outcome {
  status: Status;
  key: string;
  /** The entry written or found, when there is one. */
  record?: EntryRecord;
  /** Why it failed, for errors. */
  message?: string;
}

/** Largest expiry accepted: 100 years, far past any cache's needs, far below overflow. */
const MAX_EXPTIME_SECONDS = 100 * 365 * 24 * 3600;

/**
 * OwlCache's exptime: whole seconds; a non-numeric value counts as 0 (forever),
 * as in the original; a negative one is an error.
 */
export function parseExptime(text: string | undefined): { ok: true; ms: number } | { ok: false; message: string } {
  const t = (text ?? '').trim();
  if (!/^[+-]?\d+$/.test(t)) return { ok: true, ms: 0 };
  const n = Number(t);
  if (n < 0) return { ok: false, message: 'exptime must not be negative' };
  if (n > MAX_EXPTIME_SECONDS) return { ok: false, message: `exptime must be at most ${MAX_EXPTIME_SECONDS} seconds` };
  return { ok: true, ms: n * 1000 };
}

const NO_VALUE = Buffer.alloc(0);

export class Commands {
  /** Why client writes are refused (read-only mode, the `accept_writes` switch), or null when they are accepted. */
  private writesRefusedBecause: string | null = null;
  /** Reads answered so far (every front end's get): the cluster page's operation rate. */
  reads = 0;
  /** readCopy()'s read, filled and emptied within the call. */
  private readonly lent: LiveRead = { value: NO_VALUE, created: 0 };

  constructor(
    readonly store: Store,
    readonly limits: Limits,
  ) {}

  /**
   * Read-only mode: every client write on every port (HTTP, TCP, RESP) fails
   * with `reason` while reads go on; replication from peers still applies.
   * null accepts writes again.
   */
  refuseWrites(reason: string | null): void {
    this.writesRefusedBecause = reason;
  }

  /** Why writes are refused now, or null. */
  writesRefused(): string | null {
    return this.writesRefusedBecause;
  }

  /** An error message if the key cannot be used, else null. */
  checkKey(key: string): string | null {
    if (key === '') return 'key is required';
    // A UTF-16 code unit is at most 3 bytes of UTF-8: a short key needs no counting.
    if (key.length * 3 > this.limits.maxKeyLength && Buffer.byteLength(key) > this.limits.maxKeyLength)
      return `key is longer than ${this.limits.maxKeyLength} bytes`;
    return null;
  }

  /** An error message if the key/value pair cannot be stored (status 500 or 413), else null. */
  checkWrite(key: string, value: Buffer): { status: 413 | 500; message: string } | null {
    const bad = this.checkKey(key);
    if (bad !== null) return { status: 500, message: bad };
    if (value.length > this.limits.maxValueSize) {
      return { status: 413, message: `value is larger than MaxValueSize (${this.limits.maxValueSize} bytes)` };
    }
    return null;
  }

  /** OwlCache's set: `exptime` in whole seconds as text (see parseExptime). */
  set(key: string, value: Buffer, exptime: string | undefined): Outcome {
    const ttl = parseExptime(exptime);
    if (!ttl.ok) {
      const bad = this.checkWrite(key, value);
      return { status: bad?.status ?? 500, key, message: bad?.message ?? ttl.message };
    }
    return this.setMs(key, value, ttl.ms);
  }

  /** Set with a TTL in milliseconds (0 = forever): the Redis front end's PX. */
  setMs(key: string, value: Buffer, ttlMs: number): Outcome {
    const bad = this.checkWrite(key, value);
    if (bad !== null) return { status: bad.status, key, message: bad.message };
    return this.write(key, () => this.store.set(key, value, ttlMs));
  }

  /**
   * Several sets, all or nothing (Redis's MSET): every pair is checked first,
   * then all are written to the append log in one write and made together, or
   * none is. The outcome's key is the first failing key, or the first key.
   */
  setManyMs(pairs: readonly { key: string; value: Buffer; ttlMs?: number }[]): Outcome {
    for (const { key, value } of pairs) {
      const bad = this.checkWrite(key, value);
      if (bad !== null) return { status: bad.status, key, message: bad.message };
    }
    const first = pairs[0]?.key ?? '';
    try {
      this.store.setMany(pairs);
      return { status: 200, key: first };
    } catch (err) {
      if (err instanceof StoreError) return { status: 500, key: first, message: err.message };
      throw err;
    }
  }

  /**
   * Several sets, each with the outcome a lone setMs would have, made with one
   * append-log write: the clients' sets of one event-loop turn. The ones that
   * may be stored are stored together; if that write is refused as a whole
   * (the log cannot be written, values too big together for MaxMemory), each
   * is tried alone, so each gets its own outcome.
   */
  setEach(items: readonly SetItem[]): Outcome[] {
    const outcomes: Outcome[] = new Array(items.length);
    const taken: SetItem[] = [];
    const at: number[] = [];
    items.forEach((item, i) => {
      const bad = this.checkWrite(item.key, item.value);
      if (bad !== null) outcomes[i] = { status: bad.status, key: item.key, message: bad.message };
      else if (this.writesRefusedBecause !== null) outcomes[i] = { status: 500, key: item.key, message: this.writesRefusedBecause };
      else {
        taken.push(item);
        at.push(i);
      }
    });
    if (taken.length === 0) return outcomes;
    let records: EntryRecord[] | null = null;
    try {
      records = this.store.setMany(taken);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
    }
    taken.forEach((item, j) => {
      const record = records?.[j];
      outcomes[at[j]!] = record !== undefined ? { status: 200, key: item.key, record } : this.setMs(item.key, item.value, item.ttlMs ?? 0);
    });
    return outcomes;
  }

  /** The live entry, or undefined (also for unusable keys). */
  get(key: string): EntryRecord | undefined {
    this.reads += 1;
    if (this.checkKey(key) !== null) return undefined;
    return this.store.get(key);
  }

  /** get() without an EntryRecord (Store.readLive): false for a miss, else `into` holds a view of the value, valid only until the store next changes. */
  readLive(key: string, into: LiveRead): boolean {
    this.reads += 1;
    if (this.checkKey(key) !== null) return false;
    return this.store.readLive(key, into);
  }

  /** The live value as a copy of its own, with its create time (µs), or undefined: for a reply sent later than the store's next change. */
  readCopy(key: string): { value: Buffer; created: number } | undefined {
    const lent = this.lent;
    if (!this.readLive(key, lent)) return undefined;
    const value = Buffer.from(lent.value);
    // Not kept: the view would hold an arena page that compaction may drop.
    lent.value = NO_VALUE;
    return { value, created: lent.created };
  }

  expire(key: string, exptime: string | undefined): Outcome {
    const ttl = parseExptime(exptime);
    if (!ttl.ok) return { status: 500, key, message: this.checkKey(key) ?? ttl.message };
    return this.expireMs(key, ttl.ms);
  }

  /** Expire with a TTL in milliseconds (0 = never expires), or at the absolute time `atMs` (Redis's EXPIREAT). */
  expireMs(key: string, ttlMs: number, atMs?: number): Outcome {
    const bad = this.checkKey(key);
    if (bad !== null) return { status: 500, key, message: bad };
    return this.write(key, () => this.store.expire(key, ttlMs, atMs));
  }

  delete(key: string): Outcome {
    const bad = this.checkKey(key);
    if (bad !== null) return { status: 500, key, message: bad };
    return this.write(key, () => this.store.delete(key));
  }

  /**
   * Adds `delta` to the key's counter (src/store/counter.ts): increments made
   * on different nodes add up. The outcome's record holds the new value; a
   * value that is not an integer, or a sum past 64 bits, is a 500 with
   * Redis's reason.
   */
  incrementBy(key: string, delta: bigint): Outcome {
    const bad = this.checkKey(key);
    if (bad !== null) return { status: 500, key, message: bad };
    const { store } = this;
    try {
      return this.write(key, () =>
        store.update(key, (current, live, version, micros) =>
          incremented(key, current, live, store.nodeId, delta, version, micros, store.floor ?? FIRST_EPOCH),
        ),
      );
    } catch (err) {
      if (err instanceof CounterError) return { status: 500, key, message: err.message };
      throw err;
    }
  }

  /** Runs a store write; a refused or unsaved write (StoreError, e.g. the append log failed) is a 500 with its reason. */
  private write(key: string, op: () => EntryRecord | undefined): Outcome {
    if (this.writesRefusedBecause !== null) return { status: 500, key, message: this.writesRefusedBecause };
    try {
      const record = op();
      return record === undefined ? { status: 404, key } : { status: 200, key, record };
    } catch (err) {
      if (err instanceof StoreError) return { status: 500, key, message: err.message };
      throw err;
    }
  }

  exist(key: string): Outcome {
    const record = this.get(key);
    return record === undefined ? { status: 404, key } : { status: 200, key, record };
  }
}
