import { fnv1a32 } from '../../fnv1a.js';
import { isLive } from '../../store/entry.js';
import type { Store } from '../../store/store.js';

/**
 * A stable, cursor-friendly view of the store's keys for SCAN. The store's own
 * order (LRU recency) changes on every read, so a position in it means nothing
 * one call later; here every key sits in a bucket chosen by a hash of the key
 * alone, and a cursor is a bucket number. A key that is live for the whole scan
 * is therefore returned (at least once) whatever happens around it, which is
 * SCAN's guarantee.
 *
 * Built on the first SCAN (one pass over the store), then kept up to date from
 * the store's change events, so nodes that never see a SCAN pay nothing. Keys
 * that stop being live without an event (lazy expiry, LRU eviction) are dropped
 * when a scan meets them.
 */
export class KeyIndex {
  static readonly BUCKETS = 1 << 14;
  private buckets: (Set<string> | undefined)[] | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  static bucketOf(key: string): number {
    return fnv1a32(key) & (KeyIndex.BUCKETS - 1);
  }

  private build(): (Set<string> | undefined)[] {
    if (this.buckets !== null) return this.buckets;
    const buckets: (Set<string> | undefined)[] = new Array(KeyIndex.BUCKETS);
    this.buckets = buckets;
    for (const key of this.store.liveKeys()) this.add(key);
    this.unsubscribe = this.store.onChange(({ record }) => {
      if (record.value !== null) this.add(record.key);
      else this.remove(record.key);
    });
    return buckets;
  }

  private add(key: string): void {
    const b = KeyIndex.bucketOf(key);
    const buckets = this.buckets!;
    let bucket = buckets[b];
    if (bucket === undefined) {
      bucket = new Set();
      buckets[b] = bucket;
    }
    bucket.add(key);
  }

  private remove(key: string): void {
    const b = KeyIndex.bucketOf(key);
    const set = this.buckets![b];
    if (set === undefined) return;
    set.delete(key);
    if (set.size === 0) this.buckets![b] = undefined;
  }

  /**
   * Live keys of the buckets from `cursor` on, whole buckets at a time, until at
   * least `count` keys were examined. `next` is the cursor to continue from; 0
   * when the scan is complete.
   */
  scan(cursor: number, count: number): { next: number; keys: string[] } {
    const buckets = this.build();
    const keys: string[] = [];
    if (!(cursor >= 0 && cursor < KeyIndex.BUCKETS)) return { next: 0, keys };
    const now = this.now();
    let examined = 0;
    let b = cursor;
    for (; b < KeyIndex.BUCKETS && examined < count; b++) {
      const set = buckets[b];
      if (set === undefined) continue;
      for (const key of set) {
        examined += 1;
        const e = this.store.peek(key);
        if (e !== undefined && isLive(e, now)) keys.push(key);
        else set.delete(key);
      }
      if (set.size === 0) buckets[b] = undefined;
    }
    return { next: b >= KeyIndex.BUCKETS ? 0 : b, keys };
  }

  /** A live key chosen at random (RANDOMKEY), or null when there is none: the keys of a random bucket on. */
  randomKey(): string | null {
    const buckets = this.build();
    const start = Math.floor(Math.random() * KeyIndex.BUCKETS);
    for (let i = 0; i < KeyIndex.BUCKETS; i++) {
      const b = (start + i) % KeyIndex.BUCKETS;
      if (buckets[b] === undefined) continue;
      const { keys } = this.scan(b, 1);
      const live = keys.filter((k) => KeyIndex.bucketOf(k) === b);
      if (live.length > 0) return live[Math.floor(Math.random() * live.length)]!;
    }
    return null;
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.buckets = null;
  }
}
