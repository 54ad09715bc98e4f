import type { EntryRecord } from './entry.js';

/**
 * Node ids seen in versions, numbered so a stub can hold one as a number. A
 * cluster has few node ids (one per node start), so this stays small.
 */
export class NodeNames {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];

  idOf(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  nameOf(id: number): string {
    return this.names[id]!;
  }
}

/** Numbers per stub: vv.t, vv.c, vv.n, ev.t, ev.c, ev.n, expireAt, flags. */
const STRIDE = 8;
const FLAG_TOMBSTONE = 1;
const MIN_SLOTS = 256;

/**
 * Approximate bytes one stub costs (its slot, its map entry and the key
 * string), for the MaxMemory budget: about 150 bytes besides the key were
 * measured with a million stubs on Node 20.
 */
export function stubSize(key: string): number {
  return 2 * key.length + 144;
}

/**
 * Records without bytes, packed small: the key (as the map key) and a slot of
 * eight numbers in one shared Float64Array, instead of an object graph per
 * record. Insertion order is kept, so the first key is the oldest stub. A stub
 * read back is a fresh EntryRecord: `value` null, `created` 0, `hollow` set
 * unless it is a tombstone.
 */
export class StubTable {
  private readonly slots = new Map<string, number>();
  private cols = new Float64Array(MIN_SLOTS * STRIDE);
  private free: number[] = [];
  private used = 0;
  /** Slots handed out so far (the high-water mark of `cols`). */
  private top = 0;
  private byteCount = 0;

  constructor(private readonly names: NodeNames) {}

  get size(): number {
    return this.slots.size;
  }

  /** What these stubs cost in the MaxMemory budget. */
  get bytes(): number {
    return this.byteCount;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  get(key: string): EntryRecord | undefined {
    const slot = this.slots.get(key);
    return slot === undefined ? undefined : this.read(key, slot);
  }

  /** Stores the versions and expiry of `r` (its bytes, if any, are not kept); the key becomes the newest stub. */
  set(r: EntryRecord): void {
    this.delete(r.key);
    const slot = this.alloc();
    const c = this.cols;
    const at = slot * STRIDE;
    c[at] = r.vv.t;
    c[at + 1] = r.vv.c;
    c[at + 2] = this.names.idOf(r.vv.n);
    c[at + 3] = r.ev.t;
    c[at + 4] = r.ev.c;
    c[at + 5] = this.names.idOf(r.ev.n);
    c[at + 6] = r.expireAt;
    c[at + 7] = r.value === null && !r.hollow ? FLAG_TOMBSTONE : 0;
    this.slots.set(r.key, slot);
    this.byteCount += stubSize(r.key);
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.free.push(slot);
    this.used -= 1;
    this.byteCount -= stubSize(key);
    if (this.top > MIN_SLOTS * 4 && this.used < this.top / 4) this.compact();
    return true;
  }

  /** The oldest stub's key (the first set and not set again since). */
  oldestKey(): string | undefined {
    for (const key of this.slots.keys()) return key;
    return undefined;
  }

  *records(): IterableIterator<EntryRecord> {
    for (const [key, slot] of this.slots) yield this.read(key, slot);
  }

  clear(): void {
    this.slots.clear();
    this.cols = new Float64Array(MIN_SLOTS * STRIDE);
    this.free = [];
    this.used = 0;
    this.top = 0;
    this.byteCount = 0;
  }

  private read(key: string, slot: number): EntryRecord {
    const c = this.cols;
    const at = slot * STRIDE;
    const r: EntryRecord = {
      key,
      value: null,
      created: 0,
      vv: { t: c[at]!, c: c[at + 1]!, n: this.names.nameOf(c[at + 2]!) },
      expireAt: c[at + 6]!,
      ev: { t: c[at + 3]!, c: c[at + 4]!, n: this.names.nameOf(c[at + 5]!) },
    };
    if ((c[at + 7]! & FLAG_TOMBSTONE) === 0) r.hollow = true;
    return r;
  }

  private alloc(): number {
    this.used += 1;
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if ((this.top + 1) * STRIDE > this.cols.length) {
      const grown = new Float64Array(this.cols.length * 2);
      grown.set(this.cols);
      this.cols = grown;
    }
    return this.top++;
  }

  /** After many deletes: copy the stubs into a smaller array so the memory goes back. */
  private compact(): void {
    const slots = Math.max(MIN_SLOTS, this.used * 2);
    const next = new Float64Array(slots * STRIDE);
    let i = 0;
    for (const [key, slot] of this.slots) {
      next.set(this.cols.subarray(slot * STRIDE, slot * STRIDE + STRIDE), i * STRIDE);
      this.slots.set(key, i++);
    }
    this.cols = next;
    this.free = [];
    this.top = i;
  }
}
