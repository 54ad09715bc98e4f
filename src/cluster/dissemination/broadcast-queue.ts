/**
 * Deltas waiting to be pushed, memberlist's transmit-limited queue in spirit:
 * one entry per key (a newer delta for a key replaces the queued one, since
 * deltas are whole register states), fresh deltas first, each sent at most
 * `limit` times, and a bound on the queue so a write burst cannot grow it
 * without end (what is dropped, anti-entropy repairs).
 *
 * Each delta remembers which peers it went to (and the peer it came from), so
 * retransmissions go to peers that have not had it rather than to random ones:
 * in a small cluster every peer hears every write directly within a round.
 */
export interface QueuedDelta {
  key: string;
  /** The encoded record. */
  bytes: Buffer;
  /** How many sends it has had. */
  transmits: number;
  /** Data-gossip addresses of the peers that have it from us, or gave it to us. */
  sentTo: Set<string>;
}

/** How many retry entries one `takeFor` looks at, so a long queue costs a bounded amount per datagram. */
const MAX_SCAN = 4096;

export class BroadcastQueue {
  /** Not yet sent to anyone, in arrival order. */
  private readonly fresh = new Map<string, QueuedDelta>();
  /** Sent at least once; least recently sent first. */
  private readonly retry = new Map<string, QueuedDelta>();
  dropped = 0;

  constructor(private readonly maxItems: number) {}

  get size(): number {
    return this.fresh.size + this.retry.size;
  }

  get freshCount(): number {
    return this.fresh.size;
  }

  get retryCount(): number {
    return this.retry.size;
  }

  /** Queues a key's newest state; `known` are peers that already have it (the sender, its other targets). */
  enqueue(key: string, bytes: Buffer, known: Iterable<string> = []): void {
    this.retry.delete(key);
    this.fresh.delete(key);
    this.fresh.set(key, { key, bytes, transmits: 0, sentTo: new Set(known) });
    while (this.size > this.maxItems) {
      // Drop what has been sent longest ago (most likely everywhere by now), then the oldest fresh.
      const victim = this.retry.keys().next();
      if (!victim.done) this.retry.delete(victim.value);
      else this.fresh.delete(this.fresh.keys().next().value!);
      this.dropped++;
    }
  }

  /** Drops the key's queued delta, if any: a newer state of it is already everywhere. */
  forget(key: string): void {
    this.retry.delete(key);
    this.fresh.delete(key);
  }

  /** Fresh deltas, in arrival order, whose bytes fit in `budget`. */
  takeFresh(budget: number): QueuedDelta[] {
    return this.take(
      this.fresh.values(),
      budget,
      () => true,
      (d) => this.fresh.delete(d.key),
    );
  }

  /** Already-sent deltas that `peer` has not had, least recently sent first, whose bytes fit in `budget`. */
  takeFor(peer: string, budget: number): QueuedDelta[] {
    return this.take(
      this.retry.values(),
      budget,
      (d) => !d.sentTo.has(peer),
      (d) => this.retry.delete(d.key),
      MAX_SCAN,
    );
  }

  private take(
    source: IterableIterator<QueuedDelta>,
    budget: number,
    wanted: (d: QueuedDelta) => boolean,
    remove: (d: QueuedDelta) => void,
    maxScan = Infinity,
  ): QueuedDelta[] {
    const out: QueuedDelta[] = [];
    const tooBig: QueuedDelta[] = [];
    let used = 0;
    let scanned = 0;
    for (const d of source) {
      if (++scanned > maxScan) break;
      if (!wanted(d)) continue;
      if (d.bytes.length > budget) {
        // Cannot ever fit (the caller sends big values hollow): a guard, not a path.
        tooBig.push(d);
        continue;
      }
      if (used + d.bytes.length > budget) break;
      used += d.bytes.length;
      out.push(d);
    }
    for (const d of tooBig) {
      remove(d);
      this.dropped++;
    }
    for (const d of out) remove(d);
    return out;
  }

  /**
   * After a send: records the peers, and keeps each delta for retransmission
   * while it is under `limit` sends and some live peer has not had it.
   */
  sent(deltas: QueuedDelta[], peers: readonly string[], limit: number, livePeers: readonly string[]): void {
    for (const d of deltas) {
      for (const p of peers) d.sentTo.add(p);
      d.transmits += peers.length;
      // A newer delta for the key may have arrived meanwhile: it wins.
      if (this.fresh.has(d.key) || this.retry.has(d.key)) continue;
      if (d.transmits < limit && livePeers.some((p) => !d.sentTo.has(p))) this.retry.set(d.key, d);
    }
  }

  clear(): void {
    this.fresh.clear();
    this.retry.clear();
  }
}
