/**
 * Deltas waiting to be pushed, memberlist's transmit-limited queue in spirit:
 * one entry per key (a newer delta for a key replaces the queued one, since
 * deltas are whole register states), fresh deltas first, each sent at most
 * `limit` times, and a bound on the queue so a write burst cannot grow it
 * without end (what is dropped, anti-entropy repairs).
 */
export interface QueuedDelta {
  key: string;
  /** The encoded record. */
  bytes: Buffer;
  /** How many peers it has been sent to. */
  transmits: number;
}

export class BroadcastQueue {
  /** Not yet sent to anyone, in arrival order. */
  private readonly fresh = new Map<string, QueuedDelta>();
  /** Sent, waiting for retransmission, oldest first. */
  private readonly retry = new Map<string, QueuedDelta>();
  dropped = 0;

  constructor(private readonly maxItems: number) {}

  get size(): number {
    return this.fresh.size + this.retry.size;
  }

  get freshCount(): number {
    return this.fresh.size;
  }

  enqueue(key: string, bytes: Buffer): void {
    this.retry.delete(key);
    this.fresh.delete(key);
    this.fresh.set(key, { key, bytes, transmits: 0 });
    while (this.size > this.maxItems) {
      // Drop the most-transmitted first (those peers have most likely seen), then the oldest fresh.
      const victim = this.retry.keys().next();
      if (!victim.done) this.retry.delete(victim.value);
      else this.fresh.delete(this.fresh.keys().next().value!);
      this.dropped++;
    }
  }

  /** Takes fresh deltas (or, if `retransmit`, already-sent ones) whose bytes fit in `budget`. */
  take(budget: number, retransmit: boolean): QueuedDelta[] {
    const source = retransmit ? this.retry : this.fresh;
    const out: QueuedDelta[] = [];
    let used = 0;
    for (const d of source.values()) {
      if (used + d.bytes.length > budget) {
        if (out.length === 0 && d.bytes.length > budget) {
          // Cannot ever fit: the caller sends big values as hollow deltas, so this is a bug guard.
          source.delete(d.key);
          this.dropped++;
          continue;
        }
        break;
      }
      used += d.bytes.length;
      out.push(d);
    }
    for (const d of out) source.delete(d.key);
    return out;
  }

  /** After sending: keeps a delta for retransmission while it is under `limit` transmits. */
  sent(deltas: QueuedDelta[], peers: number, limit: number): void {
    for (const d of deltas) {
      d.transmits += peers;
      // A newer delta for the key may have arrived meanwhile: it wins.
      if (d.transmits < limit && !this.fresh.has(d.key) && !this.retry.has(d.key)) this.retry.set(d.key, d);
    }
  }

  clear(): void {
    this.fresh.clear();
    this.retry.clear();
  }
}
