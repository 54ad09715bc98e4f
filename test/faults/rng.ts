/**
 * A small seeded PRNG (mulberry32) so a fault run can be replayed from its seed:
 * the same seed gives the same fault plan and the same client choices (keys,
 * nodes, operations, values). The interleaving with the nodes' own timers is
 * not replayed; that is the point of running many seeds.
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi] (both included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A float in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[Math.floor(this.next() * xs.length)]!;
  }

  /** k distinct elements of xs, in random order. */
  sample<T>(xs: readonly T[], k: number): T[] {
    const a = [...xs];
    const n = Math.min(k, a.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (a.length - i));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a.slice(0, n);
  }

  /** An independent generator derived from this one (one stream per concern, so adding a draw in one does not shift the other). */
  fork(label: number): Rng {
    return new Rng(Math.imul(this.int(0, 0x7fffffff) ^ label, 0x9e3779b1));
  }

  /** Fills a buffer with pseudo-random bytes (values of the workload; not for secrets). */
  fill(buf: Buffer): Buffer {
    for (let i = 0; i < buf.length; i += 4) {
      const v = (this.next() * 4294967296) >>> 0;
      for (let j = 0; j < 4 && i + j < buf.length; j++) buf[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return buf;
  }
}

/** A fresh seed when none is given. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x7fffffff) + 1;
}
