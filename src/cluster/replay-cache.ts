/**
 * Node-to-node messages accepted within the clock window, remembered against
 * replay. Shared by the datagram sealer (security.ts) and the signing of
 * internal HTTP calls (request-signing.ts): both follow one rule.
 *
 * Bounded: when full, the oldest entry is evicted and its timestamp becomes a
 * floor at or below which messages are refused as stale. So a replay within
 * the window is always caught: the original is either still remembered, or it
 * was evicted and its timestamp is at or below the floor. Only messages that
 * passed their MAC reach the cache, so forgeries cannot fill it.
 */
export type ReplayVerdict = 'fresh' | 'stale' | 'replay';

/** The refusals a user of the cache counts (in its stats), one counter per verdict. */
export interface ReplayCounters {
  rejectedStale: number;
  rejectedReplay: number;
}

export class ReplayCache {
  /** id → sender time, in insertion order (roughly time order). */
  private readonly seen = new Map<string, number>();
  private floor = -Infinity;

  constructor(
    /** Accepted clock difference either way; also how long an id is remembered. */
    private readonly windowMs: number,
    /** Most ids remembered. */
    private readonly max: number,
  ) {
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
  }

  /** Judges a message by its id and its sender's time, and remembers it when fresh. */
  admit(id: string, time: number, now: number): ReplayVerdict {
    if (!Number.isFinite(time) || Math.abs(now - time) > this.windowMs || time <= this.floor) return 'stale';
    if (this.seen.has(id)) return 'replay';
    this.prune(now);
    while (this.seen.size >= this.max) {
      const [oldestId, oldestTime] = this.seen.entries().next().value as [string, number];
      this.seen.delete(oldestId);
      if (oldestTime > this.floor) this.floor = oldestTime;
    }
    this.seen.set(id, time);
    return 'fresh';
  }

  /** admit(), with a refusal counted in `counters`: true when the message is fresh. */
  admitCounted(id: string, time: number, now: number, counters: ReplayCounters): boolean {
    const verdict = this.admit(id, time, now);
    if (verdict === 'stale') counters.rejectedStale++;
    else if (verdict === 'replay') counters.rejectedReplay++;
    return verdict === 'fresh';
  }

  /** Drops the entries at the front that are out of the window (their replays are stale anyway). */
  private prune(now: number): void {
    const limit = now - this.windowMs;
    for (const [id, time] of this.seen) {
      if (time >= limit) break;
      this.seen.delete(id);
    }
  }

  get size(): number {
    return this.seen.size;
  }
}
