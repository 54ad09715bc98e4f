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
// function of its own state and the input: locals only, nothing allocated,
// no module state on the per-write path.
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

function stringA(a: number, s: string): number {
  for (let i = 0; i < s.length; i++) a = mixA(a, s.charCodeAt(i));
  return mixA(a, s.length | 0x10000);
}

function stringB(b: number, s: string): number {
  for (let i = 0; i < s.length; i++) b = mixB(b, s.charCodeAt(i));
  return mixB(b, s.length | 0x10000);
}

/** Millisecond times exceed 32 bits: fold their high and low words. */
function numberA(a: number, n: number): number {
  return mixA(mixA(a, n >>> 0), Math.floor(n / 4294967296) >>> 0);
}

function numberB(b: number, n: number): number {
  return mixB(mixB(b, n >>> 0), Math.floor(n / 4294967296) >>> 0);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fieldsHash(key: string, vt: number, vc: number, vn: string, et: number, ec: number, en: string, out: Uint32Array): void {
  let a = stringA(0x9747b28c, key);
  a = numberA(numberA(a, vt), vc);
  a = stringA(a, vn);
  a = numberA(numberA(a, et), ec);
  a = stringA(a, en);
  let b = stringB(0x2f6d4a1b, key);
  b = numberB(numberB(b, vt), vc);
  b = stringB(b, vn);
  b = numberB(numberB(b, et), ec);
  b = stringB(b, en);
  out[0] = fmix32(a ^ Math.imul(b, 0x27d4eb2d));
  out[1] = fmix32(b ^ Math.imul(a, 0x165667b1));
}

function entryHash(e: EntryRecord, out: Uint32Array): void {
  fieldsHash(e.key, e.vv.t, e.vv.c, e.vv.n, e.ev.t, e.ev.c, e.ev.n, out);
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

  /** Accounts for an entry replacing another (either may be absent). */
  update(before: EntryRecord | undefined, after: EntryRecord | undefined): void {
    const key = (after ?? before)?.key;
    if (key === undefined) return;
    let hi = 0;
    let lo = 0;
    if (before) {
      entryHash(before, this.scratch);
      hi ^= this.scratch[0]!;
      lo ^= this.scratch[1]!;
    }
    if (after) {
      entryHash(after, this.scratch);
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
    fieldsHash(key, vt, vc, vn, et, ec, en, this.scratch);
    this.flip(leaf, this.scratch[0]!, this.scratch[1]!);
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
