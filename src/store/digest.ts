import { fnv1a32 } from '../fnv1a.js';
import type { EntryRecord } from './entry.js';

/**
 * Incremental digest of a store (docs/architecture.md, "Push-pull"). The key space is hashed into
 * LEAVES buckets under GROUPS groups; each bucket holds the XOR of a 64-bit hash
 * of (key, value version, expiry version) over its entries. XOR makes every
 * update O(1): remove the old entry's hash, add the new one's. Equal roots mean
 * equal stores (up to hash collisions).
 *
 * 64-bit hashes are kept as two uint32 halves to stay off BigInt on the write path.
 */
export const GROUPS = 64;
export const LEAVES_PER_GROUP = 64;
export const LEAVES = GROUPS * LEAVES_PER_GROUP;

/** FNV-1a of the key (src/fnv1a.ts): picks its leaf here and its place in the store's key index. */
export function keyHash(key: string): number {
  return fnv1a32(key);
}

/** Which leaf a key belongs to: depends on the key only, never on its versions. */
export function leafOf(key: string): number {
  return keyHash(key) % LEAVES;
}

export function groupOf(leaf: number): number {
  return Math.floor(leaf / LEAVES_PER_GROUP);
}

/**
 * A 64-bit hash (two 32-bit lanes, murmur3-style mixing) of (key, value
 * version, expiry version), without building a string or calling into native
 * code: it runs on every write. Cryptographic strength is not needed: versions
 * come from the nodes' clocks, so a client cannot choose colliding inputs.
 * Changing it changes every digest, so it is part of the node-to-node protocol.
 */
// The two lanes never mix with each other until the end, so each is a pure
// function of its own state and the input (FieldHasher runs them side by side).
function mixA(a: number, x: number): number {
  a = Math.imul(a ^ x, 0xcc9e2d51);
  a = (a << 15) | (a >>> 17);
  return Math.imul(a, 0x1b873593);
}

function mixB(b: number, x: number): number {
  b = Math.imul(b ^ x, 0x85ebca6b);
  b = (b << 13) | (b >>> 19);
  return (Math.imul(b, 0xc2b2ae35) + 0xe6546b64) | 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const SEED_A = 0x9747b28c;
const SEED_B = 0x2f6d4a1b;

/**
 * The hash as it runs: both lanes over each string in one pass (each lane is
 * still a pure function of its own state and the input, so the result is the
 * one of hashing each lane alone), and the lanes' state after the key kept for
 * the next call: a change removes the old versions of a key and adds the new
 * ones, and so hashes the key once instead of twice.
 */
class FieldHasher {
  private lastKey: string | null = null;
  private keyA = 0;
  private keyB = 0;
  private a = 0;
  private b = 0;

  /** The 64-bit hash of the fields into out[0] (high) and out[1] (low). */
  hash(key: string, vt: number, vc: number, vn: string, et: number, ec: number, en: string, out: Uint32Array): void {
    if (key !== this.lastKey) {
      this.a = SEED_A;
      this.b = SEED_B;
      this.string(key);
      this.lastKey = key;
      this.keyA = this.a;
      this.keyB = this.b;
    } else {
      this.a = this.keyA;
      this.b = this.keyB;
    }
    this.number(vt);
    this.number(vc);
    this.string(vn);
    this.number(et);
    this.number(ec);
    this.string(en);
    const a = this.a;
    const b = this.b;
    out[0] = fmix32(a ^ Math.imul(b, 0x27d4eb2d));
    out[1] = fmix32(b ^ Math.imul(a, 0x165667b1));
  }

  private string(s: string): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      a = mixA(a, c);
      b = mixB(b, c);
    }
    this.a = mixA(a, s.length | 0x10000);
    this.b = mixB(b, s.length | 0x10000);
  }

  /** Millisecond times exceed 32 bits: their low and high words, in that order. */
  private number(n: number): void {
    const lo = n >>> 0;
    const hi = Math.floor(n / 4294967296) >>> 0;
    this.a = mixA(mixA(this.a, lo), hi);
    this.b = mixB(mixB(this.b, lo), hi);
  }
}

function hex64(hi: number, lo: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

export class Digest {
  /** Leaf hashes, [hi, lo] pairs. */
  private readonly leaves = new Uint32Array(LEAVES * 2);
  private readonly groups = new Uint32Array(GROUPS * 2);
  private readonly rootHash = new Uint32Array(2);
  private readonly scratch = new Uint32Array(2);
  private readonly hasher = new FieldHasher();

  /** Accounts for an entry replacing another (either may be absent). */
  update(before: EntryRecord | undefined, after: EntryRecord | undefined): void {
    const key = (after ?? before)?.key;
    if (key === undefined) return;
    let hi = 0;
    let lo = 0;
    if (before) {
      this.entryHash(before);
      hi ^= this.scratch[0]!;
      lo ^= this.scratch[1]!;
    }
    if (after) {
      this.entryHash(after);
      hi ^= this.scratch[0]!;
      lo ^= this.scratch[1]!;
    }
    this.flip(leafOf(key), hi, lo);
  }

  /**
   * Adds or removes (XOR is both) one entry given by its fields: the store
   * keeps versions in columns, not records. `leaf` is leafOf(key).
   */
  toggle(leaf: number, key: string, vt: number, vc: number, vn: string, et: number, ec: number, en: string): void {
    this.hasher.hash(key, vt, vc, vn, et, ec, en, this.scratch);
    this.flip(leaf, this.scratch[0]!, this.scratch[1]!);
  }

  private entryHash(e: EntryRecord): void {
    this.hasher.hash(e.key, e.vv.t, e.vv.c, e.vv.n, e.ev.t, e.ev.c, e.ev.n, this.scratch);
  }

  private flip(leaf: number, hi: number, lo: number): void {
    if (hi === 0 && lo === 0) return;
    const group = groupOf(leaf);
    this.leaves[leaf * 2]! ^= hi;
    this.leaves[leaf * 2 + 1]! ^= lo;
    this.groups[group * 2]! ^= hi;
    this.groups[group * 2 + 1]! ^= lo;
    this.rootHash[0]! ^= hi;
    this.rootHash[1]! ^= lo;
  }

  /** The root hash as 16 hex digits. */
  root(): string {
    return hex64(this.rootHash[0]!, this.rootHash[1]!);
  }

  /** Every group's hash, GROUPS strings of 16 hex digits. */
  groupHashes(): string[] {
    const out: string[] = [];
    for (let g = 0; g < GROUPS; g++) out.push(hex64(this.groups[g * 2]!, this.groups[g * 2 + 1]!));
    return out;
  }

  /** The leaf hashes of one group, LEAVES_PER_GROUP strings. */
  leafHashes(group: number): string[] {
    const out: string[] = [];
    const first = group * LEAVES_PER_GROUP;
    for (let l = first; l < first + LEAVES_PER_GROUP; l++) out.push(hex64(this.leaves[l * 2]!, this.leaves[l * 2 + 1]!));
    return out;
  }

  clear(): void {
    this.leaves.fill(0);
    this.groups.fill(0);
    this.rootHash.fill(0);
  }
}
