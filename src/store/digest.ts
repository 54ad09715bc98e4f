import { hash } from 'node:crypto';
import type { EntryRecord } from './entry.js';

/**
 * Incremental digest of a store (DESIGN §5). The key space is hashed into
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

/** Which leaf a key belongs to: depends on the key only, never on its versions. */
export function leafOf(key: string): number {
  // FNV-1a over UTF-16 code units; only its distribution matters here.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % LEAVES;
}

export function groupOf(leaf: number): number {
  return Math.floor(leaf / LEAVES_PER_GROUP);
}

function entryHash(e: EntryRecord, out: Uint32Array): void {
  const text = `${e.key}\u0000${e.vv.t}.${e.vv.c}.${e.vv.n}\u0000${e.ev.t}.${e.ev.c}.${e.ev.n}`;
  const h = hash('sha1', text, 'buffer') as unknown as Buffer;
  out[0] = h.readUInt32LE(0);
  out[1] = h.readUInt32LE(4);
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
    if (hi === 0 && lo === 0) return;
    const leaf = leafOf(key);
    const group = groupOf(leaf);
    this.leaves[leaf * 2] ^= hi;
    this.leaves[leaf * 2 + 1] ^= lo;
    this.groups[group * 2] ^= hi;
    this.groups[group * 2 + 1] ^= lo;
    this.rootHash[0] ^= hi;
    this.rootHash[1] ^= lo;
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
