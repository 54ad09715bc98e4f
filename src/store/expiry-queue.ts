/**
 * Store slots by expiry time, soonest first (a binary min-heap over two
 * parallel arrays). Entries are not removed when a slot is rewritten: whoever
 * pops one checks the slot's current expiry, so a stale entry costs one look-up.
 */
export class ExpiryQueue {
  private at: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.at.length;
  }

  /** The soonest expiry queued, or Infinity. */
  get next(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  push(at: number, key: number): void {
    const a = this.at;
    const k = this.keys;
    let i = a.length;
    a.push(at);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= at) break;
      a[i] = a[p]!;
      k[i] = k[p]!;
      i = p;
    }
    a[i] = at;
    k[i] = key;
  }

  /** Removes and passes to `visit` every entry due at or before `now`. */
  popDue(now: number, visit: (key: number) => void): void {
    while (this.at.length > 0 && this.at[0]! <= now) visit(this.pop());
  }

  clear(): void {
    this.at = [];
    this.keys = [];
  }

  private pop(): number {
    const a = this.at;
    const k = this.keys;
    const key = k[0]!;
    const lastAt = a.pop()!;
    const lastKey = k.pop()!;
    const n = a.length;
    if (n === 0) return key;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]! < a[l]! ? r : l;
      if (a[c]! >= lastAt) break;
      a[i] = a[c]!;
      k[i] = k[c]!;
      i = c;
    }
    a[i] = lastAt;
    k[i] = lastKey;
    return key;
  }
}
