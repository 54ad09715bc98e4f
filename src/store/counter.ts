import type { EntryRecord } from './entry.js';
import { compareVersions, type Version } from './hlc.js';

/**
 * Counters that add up across nodes (docs/architecture.md, "Counters"): a
 * PN-counter per key. Each node keeps its own running totals of increments
 * and decrements since the counter's epoch; merging takes each node's
 * maximum, so increments made on different nodes at the same time, or during
 * a partition, all count once the copies meet.
 *
 * The epoch is the write the counter counts from: a SET, a DEL, an expiry or a
 * flush resets a key, and a counter started after it carries that write's
 * version. Epochs are ordered (by version, then "reborn" after "live"); when
 * two copies have different epochs the later epoch wins whole, so the
 * increments a node made before it learned of a reset are dropped, and those
 * made after it count. A record without a counter (a plain value, a
 * tombstone) is the epoch of its own write, with no increments.
 *
 * The merge of two copies of the same epoch is the per-node maximum, which is
 * commutative, associative and idempotent. The result must also differ, to
 * the digest, from every copy it is not equal to: when a merge makes a state
 * neither side had, it gets a fresh version (`stamp`), greater than both, so
 * anti-entropy sees the change and carries it on.
 */

/** Per node: [node id, increments, decrements], decimal, sorted by node id. */
export type CounterTotals = readonly (readonly [node: string, up: string, down: string])[];

export interface CounterState {
  /** The version of the write this counter counts from. */
  readonly epoch: Version;
  /** Started on a key that was dead (deleted, expired, flushed) at `epoch`, rather than on its live value. */
  readonly reborn: boolean;
  /** The value at the epoch (decimal), or null when reborn (counts from 0). */
  readonly base: string | null;
  readonly totals: CounterTotals;
}

/** Redis's counters are signed 64-bit. */
export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;

/** The epoch of a key that never had a write: equal on every node, below every real write. */
export const FIRST_EPOCH: Version = { t: 0, c: 0, n: '0' };

export interface Epoch {
  readonly v: Version;
  readonly reborn: boolean;
}

/** The write a record's value counts from: its counter's epoch, or its own write. */
export function epochOf(r: EntryRecord): Epoch {
  if (r.counter !== undefined) return { v: r.counter.epoch, reborn: r.counter.reborn };
  return { v: r.vv, reborn: r.value === null && !r.hollow };
}

export function compareEpochs(a: Epoch, b: Epoch): number {
  const c = compareVersions(a.v, b.v);
  if (c !== 0) return c;
  return a.reborn === b.reborn ? 0 : a.reborn ? 1 : -1;
}

/** The counter's value: its base plus every node's increments minus its decrements. */
export function counterValue(s: CounterState): bigint {
  let sum = s.base === null ? 0n : BigInt(s.base);
  for (const [, up, down] of s.totals) sum += BigInt(up) - BigInt(down);
  return sum;
}

/** Redis's integer syntax for a stored value (string2ll): optional '-', no leading zeros, no spaces, within int64. */
export function parseInt64(b: Buffer | string): bigint | null {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  if (!/^(0|-?[1-9][0-9]{0,18})$/.test(s)) return null;
  const n = BigInt(s);
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

function joinTotals(a: CounterTotals, b: CounterTotals): CounterTotals {
  const out: [string, string, string][] = [];
  let i = 0;
  let j = 0;
  const max = (x: string, y: string) => (BigInt(x) >= BigInt(y) ? x : y);
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (y === undefined || (x !== undefined && x[0] < y[0])) {
      out.push([...x!]);
      i++;
    } else if (x === undefined || y[0] < x[0]) {
      out.push([...y]);
      j++;
    } else {
      out.push([x[0], max(x[1], y[1]), max(x[2], y[2])]);
      i++;
      j++;
    }
  }
  return out;
}

function sameTotals(a: CounterTotals, b: CounterTotals): boolean {
  return a.length === b.length && a.every((x, i) => x[0] === b[i]![0] && x[1] === b[i]![1] && x[2] === b[i]![2]);
}

/** Whether a merge of `a` and `b` must use the counter rule (neither is hollow: a hollow stub keeps versions only). */
export function mergesAsCounter(a: EntryRecord, b: EntryRecord): boolean {
  return (a.counter !== undefined || b.counter !== undefined) && !a.hollow && !b.hollow;
}

/** The value register a counter state gives: the sum as decimal text (null only for a reset with no increments). */
function counterRegister(s: CounterState): Buffer | null {
  if (s.totals.length === 0 && s.base === null) return null;
  return Buffer.from(counterValue(s).toString(), 'latin1');
}

/**
 * The merge of two records, at least one a counter and neither hollow: the
 * value register by the counter rule (the later epoch wins whole; the same
 * epoch joins the totals), the expiry register as for any record. Returns
 * `local` itself when `remote` brings nothing new.
 */
export function mergeCounterRecords(local: EntryRecord, remote: EntryRecord, stamp: (newest: Version) => Version): EntryRecord {
  const value = mergeCounterRegisters(local, remote, stamp);
  const expiryFrom = compareVersions(remote.ev, local.ev) > 0 ? remote : local;
  if (expiryFrom === local && compareVersions(value.vv, local.vv) === 0 && value.counter === local.counter) return local;
  const merged: EntryRecord = { key: local.key, value: value.value, created: value.created, vv: value.vv, expireAt: expiryFrom.expireAt, ev: expiryFrom.ev };
  if (value.counter !== undefined) merged.counter = value.counter;
  return merged;
}

type ValueRegister = Pick<EntryRecord, 'value' | 'created' | 'vv' | 'counter'>;

function registerOf(r: EntryRecord): ValueRegister {
  return { value: r.value, created: r.created, vv: r.vv, counter: r.counter };
}

/** A record seen as a counter's start: its counter, or a plain write as an epoch with its value (if an integer) and no increments. */
function startOf(r: EntryRecord): CounterState {
  if (r.counter !== undefined) return r.counter;
  const e = epochOf(r);
  const base = r.value === null ? null : parseInt64(r.value);
  return { epoch: e.v, reborn: e.reborn, base: base === null ? null : base.toString(), totals: [] };
}

function sameState(x: CounterState, y: CounterState): boolean {
  return compareVersions(x.epoch, y.epoch) === 0 && x.reborn === y.reborn && x.base === y.base && sameTotals(x.totals, y.totals);
}

/** The value register of merging `a` and `b`; see mergeCounterRecords. */
export function mergeCounterRegisters(a: EntryRecord, b: EntryRecord, stamp: (newest: Version) => Version): ValueRegister {
  const order = compareEpochs(epochOf(a), epochOf(b));
  const newer = compareVersions(a.vv, b.vv) >= 0 ? a : b;
  const older = newer === a ? b : a;
  let state: CounterState;
  if (order !== 0) state = startOf(order > 0 ? a : b);
  else {
    const sa = startOf(a);
    const sb = startOf(b);
    state = { ...sa, base: sa.base ?? sb.base, totals: joinTotals(sa.totals, sb.totals) };
  }
  // The state is the newer side's own (or both versions are equal and it is the other's): that register, unchanged.
  if (sameState(state, startOf(newer))) return registerOf(newer);
  if (compareVersions(a.vv, b.vv) === 0 && sameState(state, startOf(older))) return registerOf(older);
  // A state the newest version does not stand for: a fresh version, so the digest tells the copies apart.
  const plain = order !== 0 ? (order > 0 ? a : b) : null;
  const value = plain !== null && plain.counter === undefined ? plain.value : counterRegister(state);
  return { value, created: Math.max(a.created, b.created), vv: stamp(newer.vv), counter: state };
}

export class CounterError extends Error {}

export const ERR_NOT_INTEGER = 'value is not an integer or out of range';
export const ERR_OVERFLOW = 'increment or decrement would overflow';

/**
 * The record of an increment by `delta` made on node `nodeId`, from the key's
 * current record (`current`: live, a tombstone, an expired guard, or none)
 * under a fresh `version`. A live value that is not an integer is refused
 * (CounterError), as Redis refuses it; a dead key counts from 0 in a new
 * epoch (the dead record's version, or `fresh` for a key with none); a live
 * key keeps its TTL, as in Redis.
 */
export function incremented(
  key: string,
  current: EntryRecord | undefined,
  live: boolean,
  nodeId: string,
  delta: bigint,
  version: Version,
  nowMicros: number,
  fresh: Version,
): EntryRecord {
  let state: CounterState;
  if (current !== undefined && live) {
    state = startOf(current);
    if (state.totals.length === 0 && (current.value === null || parseInt64(current.value) === null)) throw new CounterError(ERR_NOT_INTEGER);
  } else {
    // Dead (deleted, expired) or never written: from 0, in the epoch after that death, the same on every node that saw it.
    state = { epoch: current === undefined ? fresh : epochOf(current).v, reborn: true, base: null, totals: [] };
  }
  const total = counterValue(state) + delta;
  if (total < INT64_MIN || total > INT64_MAX) throw new CounterError(ERR_OVERFLOW);
  const mine = state.totals.find((t) => t[0] === nodeId) ?? [nodeId, '0', '0'];
  const up = delta > 0n ? (BigInt(mine[1]) + delta).toString() : mine[1];
  const down = delta < 0n ? (BigInt(mine[2]) - delta).toString() : mine[2];
  const totals = [...state.totals.filter((t) => t[0] !== nodeId), [nodeId, up, down] as const].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const next: CounterState = { ...state, totals };
  const keepTtl = current !== undefined && live;
  return {
    key,
    value: Buffer.from(total.toString(), 'latin1'),
    created: nowMicros,
    vv: version,
    expireAt: keepTtl ? current.expireAt : 0,
    ev: keepTtl ? current.ev : version,
    counter: next,
  };
}

/** Validates a counter state that came from outside (disk, network). */
export function isCounterState(c: unknown): c is CounterState {
  if (typeof c !== 'object' || c === null) return false;
  const o = c as Record<string, unknown>;
  const decimal = (x: unknown) => typeof x === 'string' && /^(0|[1-9][0-9]{0,39})$/.test(x);
  const signed = (x: unknown) => typeof x === 'string' && /^(0|-?[1-9][0-9]{0,18})$/.test(x);
  if (!(typeof o.reborn === 'boolean' && (o.base === null || signed(o.base)) && Array.isArray(o.totals) && o.totals.length <= 10_000)) return false;
  const ep = o.epoch as Record<string, unknown> | null;
  if (typeof ep !== 'object' || ep === null || !Number.isSafeInteger(ep.t) || !Number.isSafeInteger(ep.c) || typeof ep.n !== 'string') return false;
  let last = '';
  for (const t of o.totals as unknown[]) {
    if (!Array.isArray(t) || t.length !== 3 || typeof t[0] !== 'string' || !(t[0] > last || last === '') || !decimal(t[1]) || !decimal(t[2])) return false;
    last = t[0];
  }
  return true;
}
