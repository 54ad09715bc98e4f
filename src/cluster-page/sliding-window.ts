/**
 * Counts and sums over a sliding window of whole-second buckets: cheap enough
 * to feed on every store change, and steady under any number of page viewers
 * (reading resets nothing). The second in progress is never read, so a rate
 * does not dip at the start of each second.
 */
export class SlidingWindow {
  private readonly counts: number[];
  private readonly sums: number[];
  /** The second (epoch seconds) each bucket holds; a bucket of an older second is stale. */
  private readonly seconds: number[];

  constructor(
    private readonly windowSeconds = 5,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) throw new RangeError('SlidingWindow: windowSeconds must be a whole number >= 1');
    const n = windowSeconds + 1;
    this.counts = new Array<number>(n).fill(0);
    this.sums = new Array<number>(n).fill(0);
    this.seconds = new Array<number>(n).fill(-1);
  }

  /** `count` events in the current second, their values adding up to `sum`. */
  add(count: number, sum = 0): void {
    const s = Math.floor(this.now() / 1000);
    const i = s % this.counts.length;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
      this.sums[i] = 0;
    }
    this.counts[i]! += count;
    this.sums[i]! += sum;
  }

  /** Events per second over the last `windowSeconds` complete seconds. */
  perSecond(): number {
    return this.total().count / this.windowSeconds;
  }

  /** The mean value of the window's events; null when there were none. */
  mean(): number | null {
    const { count, sum } = this.total();
    return count === 0 ? null : sum / count;
  }

  private total(): { count: number; sum: number } {
    const current = Math.floor(this.now() / 1000);
    let count = 0;
    let sum = 0;
    for (let back = 1; back <= this.windowSeconds; back++) {
      const s = current - back;
      const i = s % this.counts.length;
      if (this.seconds[i] === s) {
        count += this.counts[i]!;
        sum += this.sums[i]!;
      }
    }
    return { count, sum };
  }
}
