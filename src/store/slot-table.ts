import { Arena, blockBytes } from './arena.js';
import { releaseBuffer } from './buffer-release.js';
import type { CounterState } from './counter.js';
import type { EntryRecord } from './entry.js';
import type { Version } from './hlc.js';
import { NodeNames } from './node-names.js';
import { utf8Length, writeUtf8 } from './utf8.js';

/**
 * Every record the store holds, one numbered slot each, with no JavaScript
 * object per record (docs/architecture.md, "Store: memory layout"):
 * - the record's numbers in typed-array columns indexed by slot (versions as
 *   time, counter and interned node id; expiry; create time; the links of the
 *   list the slot is on);
 * - its key's UTF-8 bytes followed by its value's bytes in one arena block;
 * - a key index: an open-addressing hash table of slot numbers over a hash of
 *   the key kept per slot, so the keys are not held as strings either.
 * A slot is on one list by its state: live values in LRU order, and hollow
 * stubs, tombstones and guards each in the order they became one (the oldest
 * first). EntryRecord objects are made from slots at the edges only, and their
 * values are copies: an arena block is reused as soon as it is freed.
 *
 * A column more (say a kind byte for a value that is not plain bytes) is one
 * more typed array here, grown with the others, and one more term in SLOT_BYTES.
 */

export const FREE = 0;
export const LIVE = 1;
export const HOLLOW = 2;
export const TOMBSTONE = 3;
export const GUARD = 4;
/**
 * A guard that still holds the value's bytes: a newer expiry write made where
 * the entry had not expired (PERSIST, EXPIRE across a partition) brings it back.
 * Reads, the digest and push-pull treat it as a guard; the budget strips the
 * bytes (it becomes a GUARD) before it evicts any live value.
 */
export const EXPIRED = 5;
export type SlotState = typeof LIVE | typeof HOLLOW | typeof TOMBSTONE | typeof GUARD | typeof EXPIRED;
const STATES = 6;

/** True for both kinds of guard (out of the digest, never read as live). */
export function isGuard(state: number): boolean {
  return state === GUARD || state === EXPIRED;
}

/** States whose slot holds the value's bytes. */
function holdsValue(state: number): boolean {
  return state === LIVE || state === EXPIRED;
}

/** Bytes of columns per slot: loc, vt, et, expireAt, created (f64); vc, ec, vn, en, klen, vlen, hash, prev, next (u32); state (u8). */
export const SLOT_BYTES = 5 * 8 + 9 * 4 + 1;
/** What one record's slot costs: its columns and its arena block (the key index is counted as a whole). */
export function slotCost(keyBytes: number, valueBytes: number): number {
  return SLOT_BYTES + blockBytes(keyBytes + valueBytes);
}

/** Marks a counter too large for its u32 column: the real one is in `bigCounters`. */
const BIG_COUNTER = 0xffffffff;
/**
 * A stub has no create time, so a guard's `created` column says what it
 * guards: a tombstone (read back as one) or a value (read back hollow).
 */
const GUARDS_TOMBSTONE = 1;
const MIN_SLOTS = 16;
const MIN_INDEX_BITS = 6;
const MIN_INDEX = 1 << MIN_INDEX_BITS;

export class SlotTable {
  readonly names = new NodeNames();
  readonly arena = new Arena();
  /** Arena handle of the slot's block: key bytes, then value bytes. */
  loc = new Float64Array(MIN_SLOTS);
  vt = new Float64Array(MIN_SLOTS);
  et = new Float64Array(MIN_SLOTS);
  expireAt = new Float64Array(MIN_SLOTS);
  created = new Float64Array(MIN_SLOTS);
  vc = new Uint32Array(MIN_SLOTS);
  ec = new Uint32Array(MIN_SLOTS);
  vn = new Uint32Array(MIN_SLOTS);
  en = new Uint32Array(MIN_SLOTS);
  klen = new Uint32Array(MIN_SLOTS);
  vlen = new Uint32Array(MIN_SLOTS);
  hash = new Uint32Array(MIN_SLOTS);
  prev = new Int32Array(MIN_SLOTS);
  next = new Int32Array(MIN_SLOTS);
  state = new Uint8Array(MIN_SLOTS);
  /** Counters beyond 2^32 - 1 (only a peer can send one): [vc, ec] by slot. */
  private readonly bigCounters = new Map<number, [number, number]>();
  /**
   * Counter state (PN-counter totals, src/store/counter.ts) of the live slots that hold a counter:
   * counters are few beside plain values, so they sit beside the columns, not in one.
   */
  private readonly counters = new Map<number, CounterState>();
  /** Slot + 1 per table entry, 0 = empty. Linear probing; deletes shift back, so there are no tombstones. */
  private index = new Int32Array(MIN_INDEX);
  private indexShift = 32 - MIN_INDEX_BITS;
  /** Slots ever handed out (the columns' high-water mark). */
  top = 0;
  /** First free slot (a list through `next`), -1 if none. */
  private freeHead = -1;
  private readonly heads = new Int32Array(STATES).fill(-1);
  private readonly tails = new Int32Array(STATES).fill(-1);
  /** Slots per state. */
  readonly counts = new Float64Array(STATES);
  /** Budget bytes per state (slotCost of each slot). */
  readonly bytes = new Float64Array(STATES);
  /** Key and value bytes held (the dataset, without overhead). */
  payloadBytes = 0;
  /** LIVE slots with an expiry (INFO's `expires`), kept as slots come and go. */
  expiringLive = 0;
  private scratch = Buffer.allocUnsafeSlow(1024);
  private readonly moved = (owner: number, handle: number): void => {
    this.loc[owner] = handle;
  };

  get size(): number {
    return this.counts[LIVE]! + this.counts[HOLLOW]! + this.counts[TOMBSTONE]! + this.counts[GUARD]! + this.counts[EXPIRED]!;
  }

  /** Bytes of the key index (held whatever the load). */
  get indexBytes(): number {
    return this.index.byteLength;
  }

  /** The slot holding `key` (hash `h`, from keyHash), or -1. */
  find(key: string, h: number): number {
    const index = this.index;
    const mask = index.length - 1;
    for (let i = Math.imul(h, 0x9e3779b1) >>> this.indexShift; ; i = (i + 1) & mask) {
      const s = index[i]! - 1;
      if (s < 0) return -1;
      if (this.hash[s] === h && this.keyEquals(s, key)) return s;
    }
  }

  /** A new slot for `key` (absent), in `state`, holding `r`'s versions (and value if LIVE or EXPIRED). */
  add(key: string, h: number, r: EntryRecord, state: SlotState): number {
    const s = this.allocSlot();
    this.hash[s] = h;
    const klen = utf8Length(key);
    this.klen[s] = klen;
    this.loc[s] = this.writeBlock(s, klen, holdsValue(state) ? r.value : null, key, -1);
    this.setFields(s, r, state);
    this.link(s, state);
    this.insertIndex(s, h);
    return s;
  }

  /** Replaces what slot `s` holds by `r` in `state` (same key). */
  replace(s: number, r: EntryRecord, state: SlotState): void {
    this.unlink(s);
    const old = this.loc[s]!;
    this.loc[s] = this.writeBlock(s, this.klen[s]!, holdsValue(state) ? r.value : null, null, old);
    this.arena.free(old);
    this.setFields(s, r, state);
    this.link(s, state);
  }

  /** Moves slot `s` to another state, keeping its versions; the value's bytes go unless the new state holds them. */
  changeState(s: number, state: SlotState): void {
    const was = this.state[s]!;
    this.unlink(s);
    if (holdsValue(was) && !holdsValue(state)) {
      const old = this.loc[s]!;
      this.loc[s] = this.writeBlock(s, this.klen[s]!, null, null, old);
      this.arena.free(old);
      this.vlen[s] = 0;
    }
    if (state !== LIVE) this.counters.delete(s);
    if (!holdsValue(state)) this.created[s] = state === GUARD && was === TOMBSTONE ? GUARDS_TOMBSTONE : 0;
    this.link(s, state);
  }

  /** Forgets slot `s` entirely. */
  remove(s: number): void {
    this.unlink(s);
    this.removeIndex(s);
    this.arena.free(this.loc[s]!);
    if (this.vc[s] === BIG_COUNTER || this.ec[s] === BIG_COUNTER) this.bigCounters.delete(s);
    this.counters.delete(s);
    this.state[s] = FREE;
    this.next[s] = this.freeHead;
    this.freeHead = s;
  }

  /** Marks slot `s` as just used (the newest of its list). */
  touch(s: number): void {
    const st = this.state[s]!;
    if (this.tails[st] === s) return;
    this.unlinkOnly(s, st);
    this.appendOnly(s, st);
  }

  /** The oldest slot of a state's list, or -1. */
  oldest(state: SlotState): number {
    return this.heads[state]!;
  }

  /** What slot `s` costs in the budget. */
  cost(s: number): number {
    return slotCost(this.klen[s]!, holdsValue(this.state[s]!) ? this.vlen[s]! : 0);
  }

  /** Whether slot `s`'s key bytes begin with `prefix`, read where they lie (no key string made). */
  keyStartsWith(s: number, prefix: Uint8Array): boolean {
    const n = prefix.length;
    if (this.klen[s]! < n) return false;
    const h = this.loc[s]!;
    const buf = this.arena.bufferOf(h);
    const at = this.arena.offsetOf(h);
    for (let i = 0; i < n; i++) if (buf[at + i] !== prefix[i]) return false;
    return true;
  }

  keyOf(s: number): string {
    const h = this.loc[s]!;
    const at = this.arena.offsetOf(h);
    return this.arena.bufferOf(h).toString('utf8', at, at + this.klen[s]!);
  }

  /** A copy of slot `s`'s value bytes (LIVE and EXPIRED slots only). */
  /** Slot `s`'s value bytes where they lie in the arena: valid only until the table next changes. */
  valueView(s: number): Buffer {
    const h = this.loc[s]!;
    const at = this.arena.offsetOf(h) + this.klen[s]!;
    return this.arena.bufferOf(h).subarray(at, at + this.vlen[s]!);
  }

  valueOf(s: number): Buffer {
    const h = this.loc[s]!;
    const at = this.arena.offsetOf(h) + this.klen[s]!;
    const n = this.vlen[s]!;
    const out = Buffer.allocUnsafe(n);
    this.arena.bufferOf(h).copy(out, 0, at, at + n);
    return out;
  }

  vcOf(s: number): number {
    const c = this.vc[s]!;
    return c === BIG_COUNTER ? (this.bigCounters.get(s)?.[0] ?? c) : c;
  }

  ecOf(s: number): number {
    const c = this.ec[s]!;
    return c === BIG_COUNTER ? (this.bigCounters.get(s)?.[1] ?? c) : c;
  }

  /**
   * Slot `s` as a record (its value a copy). Stubs read back with `created` 0;
   * hollow ones with `hollow` set. `key` saves decoding it when the caller has it.
   */
  record(s: number, key?: string): EntryRecord {
    const st = this.state[s]!;
    const vv: Version = { t: this.vt[s]!, c: this.vcOf(s), n: this.names.nameOf(this.vn[s]!) };
    const et = this.et[s]!;
    const ec = this.ecOf(s);
    const en = this.en[s]!;
    const ev: Version = et === vv.t && ec === vv.c && en === this.vn[s] ? vv : { t: et, c: ec, n: this.names.nameOf(en) };
    const r: EntryRecord = {
      key: key ?? this.keyOf(s),
      value: st === LIVE ? this.valueOf(s) : null,
      created: st === LIVE ? this.created[s]! : 0,
      vv,
      expireAt: this.expireAt[s]!,
      ev,
    };
    if (st === HOLLOW || st === EXPIRED || (st === GUARD && this.created[s] !== GUARDS_TOMBSTONE)) r.hollow = true;
    const counter = st === LIVE ? this.counters.get(s) : undefined;
    if (counter !== undefined) r.counter = counter;
    return r;
  }

  /** An EXPIRED slot as the entry it was (value, create time): what a merge that cancels the expiry takes back. */
  expiredEntry(s: number, key?: string): EntryRecord {
    const r = this.record(s, key);
    delete r.hollow;
    r.value = this.valueOf(s);
    r.created = this.created[s]!;
    return r;
  }

  /** After many frees: moves blocks out of sparse arena pages (at most `maxMoves`). */
  compact(maxMoves: number): number {
    return this.arena.compact(maxMoves, this.moved);
  }

  /** Forgets every slot and gives the memory back. */
  clear(): void {
    this.arena.clear();
    this.bigCounters.clear();
    this.counters.clear();
    releaseBuffer(this.index.buffer);
    this.index = new Int32Array(MIN_INDEX);
    this.indexShift = 32 - MIN_INDEX_BITS;
    this.top = 0;
    this.freeHead = -1;
    this.heads.fill(-1);
    this.tails.fill(-1);
    this.counts.fill(0);
    this.bytes.fill(0);
    this.payloadBytes = 0;
    this.expiringLive = 0;
    this.resize(MIN_SLOTS);
  }

  /**
   * Room for `n` records in all, so a load of that many grows neither the
   * columns nor the index step by step (each step copies every column).
   */
  reserve(n: number): void {
    if (n > this.state.length) this.resize(Math.ceil(n / MIN_SLOTS) * MIN_SLOTS);
    let bits = 32 - this.indexShift;
    while (n * 4 > 2 ** bits * 3 && bits < 31) bits++;
    if (bits > 32 - this.indexShift) this.rebuildIndex(bits);
  }

  /** Bytes of the columns as allocated (the part of them never written is not resident). */
  get columnBytes(): number {
    return this.state.length * SLOT_BYTES;
  }

  private setFields(s: number, r: EntryRecord, state: SlotState): void {
    if (state === LIVE && r.counter !== undefined) this.counters.set(s, r.counter);
    else this.counters.delete(s);
    const big = this.vc[s] === BIG_COUNTER || this.ec[s] === BIG_COUNTER;
    this.vt[s] = r.vv.t;
    this.et[s] = r.ev.t;
    this.vn[s] = this.names.idOf(r.vv.n);
    this.en[s] = r.ev.n === r.vv.n ? this.vn[s]! : this.names.idOf(r.ev.n);
    this.expireAt[s] = r.expireAt;
    const vc = r.vv.c;
    const ec = r.ev.c;
    if (vc >= BIG_COUNTER || ec >= BIG_COUNTER) {
      this.bigCounters.set(s, [vc, ec]);
      this.vc[s] = Math.min(vc, BIG_COUNTER);
      this.ec[s] = Math.min(ec, BIG_COUNTER);
    } else {
      if (big) this.bigCounters.delete(s);
      this.vc[s] = vc;
      this.ec[s] = ec;
    }
    if (holdsValue(state)) {
      this.vlen[s] = r.value!.length;
      this.created[s] = r.created;
    } else {
      this.vlen[s] = 0;
      this.created[s] = state === GUARD && r.value === null && !r.hollow ? GUARDS_TOMBSTONE : 0;
    }
  }

  /** A block holding the key (from `key`, or copied from the block `from`) and then `value`. */
  private writeBlock(s: number, klen: number, value: Buffer | null, key: string | null, from: number): number {
    const vlen = value?.length ?? 0;
    const h = this.arena.alloc(klen + vlen, s);
    const buf = this.arena.bufferOf(h);
    const at = this.arena.offsetOf(h);
    if (key !== null) {
      writeUtf8(key, klen, buf, at);
    } else {
      const fromAt = this.arena.offsetOf(from);
      this.arena.bufferOf(from).copy(buf, at, fromAt, fromAt + klen);
    }
    if (value !== null) buf.set(value, at + klen);
    return h;
  }

  private keyEquals(s: number, key: string): boolean {
    const n = this.klen[s]!;
    const h = this.loc[s]!;
    const buf = this.arena.bufferOf(h);
    const at = this.arena.offsetOf(h);
    if (n === key.length) {
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c >= 0x80) break;
        if (buf[at + i] !== c) return false;
      }
      if (i === n) return true;
    }
    if (this.scratch.length < key.length * 3) this.scratch = Buffer.allocUnsafeSlow(key.length * 3);
    const m = this.scratch.write(key, 0, 'utf8');
    return m === n && this.scratch.compare(buf, at, at + n, 0, m) === 0;
  }

  private allocSlot(): number {
    if (this.freeHead >= 0) {
      const s = this.freeHead;
      this.freeHead = this.next[s]!;
      return s;
    }
    if (this.top === this.state.length) this.grow();
    return this.top++;
  }

  /**
   * By a quarter, not double: a buffer the allocator carves from its heap is
   * zeroed there, so its pages are resident whether used or not, and a
   * doubling could hold half again as much as the slots need.
   */
  private grow(): void {
    this.resize(Math.ceil((this.state.length * 1.25) / MIN_SLOTS) * MIN_SLOTS);
  }

  /**
   * Columns of `n` slots (a multiple of MIN_SLOTS), keeping the first
   * min(n, top). All of them are views of one buffer: a column of its own
   * per array would be freed at every growth in pieces smaller than the
   * next allocations, and glibc then serves those from its heap, where the
   * freed generations stay resident as holes (40 B per entry at 1 M
   * entries). One buffer larger than any freed before is mapped on its own
   * and unmapped when the next replaces it.
   */
  private resize(n: number): void {
    const keep = Math.min(n, this.top);
    const buffer = new ArrayBuffer(n * SLOT_BYTES);
    let at = 0;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(buffer, at, n);
      at += n * 8;
      b.set(a.subarray(0, keep));
      return b;
    };
    const u32 = (a: Uint32Array) => {
      const b = new Uint32Array(buffer, at, n);
      at += n * 4;
      b.set(a.subarray(0, keep));
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(buffer, at, n);
      at += n * 4;
      b.set(a.subarray(0, keep));
      return b;
    };
    this.loc = f64(this.loc);
    this.vt = f64(this.vt);
    this.et = f64(this.et);
    this.expireAt = f64(this.expireAt);
    this.created = f64(this.created);
    this.vc = u32(this.vc);
    this.ec = u32(this.ec);
    this.vn = u32(this.vn);
    this.en = u32(this.en);
    this.klen = u32(this.klen);
    this.vlen = u32(this.vlen);
    this.hash = u32(this.hash);
    this.prev = i32(this.prev);
    this.next = i32(this.next);
    const state = new Uint8Array(buffer, at, n);
    state.set(this.state.subarray(0, keep));
    const old = this.state.buffer;
    this.state = state;
    releaseBuffer(old);
  }

  private link(s: number, state: SlotState): void {
    this.state[s] = state;
    this.appendOnly(s, state);
    this.counts[state]! += 1;
    this.bytes[state]! += this.cost(s);
    this.payloadBytes += this.klen[s]! + this.vlen[s]!;
    if (state === LIVE && this.expireAt[s] !== 0) this.expiringLive += 1;
  }

  private unlink(s: number): void {
    const st = this.state[s]!;
    if (st === FREE) return;
    this.unlinkOnly(s, st);
    this.counts[st]! -= 1;
    this.bytes[st]! -= this.cost(s);
    this.payloadBytes -= this.klen[s]! + this.vlen[s]!;
    if (st === LIVE && this.expireAt[s] !== 0) this.expiringLive -= 1;
  }

  private appendOnly(s: number, st: number): void {
    const tail = this.tails[st]!;
    this.prev[s] = tail;
    this.next[s] = -1;
    if (tail >= 0) this.next[tail] = s;
    else this.heads[st] = s;
    this.tails[st] = s;
  }

  private unlinkOnly(s: number, st: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[st] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[st] = p;
  }

  private insertIndex(s: number, h: number): void {
    if ((this.size + 1) * 4 > this.index.length * 3) this.growIndex();
    this.place(s, h);
  }

  private place(s: number, h: number): void {
    const index = this.index;
    const mask = index.length - 1;
    let i = Math.imul(h, 0x9e3779b1) >>> this.indexShift;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = s + 1;
  }

  private growIndex(): void {
    this.rebuildIndex(33 - this.indexShift);
  }

  /** An index of 2^bits entries holding every slot the current one holds. */
  private rebuildIndex(bits: number): void {
    const old = this.index;
    this.index = new Int32Array(2 ** bits);
    this.indexShift = 32 - bits;
    for (let i = 0; i < old.length; i++) {
      const s = old[i]! - 1;
      if (s >= 0) this.place(s, this.hash[s]!);
    }
    releaseBuffer(old.buffer);
  }

  /** Takes slot `s` out of the index, shifting back the entries after it so no probe chain breaks. */
  private removeIndex(s: number): void {
    const index = this.index;
    const mask = index.length - 1;
    const shift = this.indexShift;
    let i = Math.imul(this.hash[s]!, 0x9e3779b1) >>> shift;
    while (index[i] !== s + 1) i = (i + 1) & mask;
    let hole = i;
    for (let j = (hole + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = Math.imul(this.hash[index[j]! - 1]!, 0x9e3779b1) >>> shift;
      // Entry j may fill the hole if its home is not in (hole, j] (cyclically).
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        index[hole] = index[j]!;
        hole = j;
      }
    }
    index[hole] = 0;
  }
}
