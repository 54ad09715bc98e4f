/**
 * Hybrid logical clock (Kulkarni et al.): wall-clock milliseconds plus a logical
 * counter, tie-broken by the writing node's id. Versions are totally ordered and
 * comparable across nodes; a node that observes a remote version never stamps a
 * later write with a smaller one, so causality survives clock skew.
 */

/** A write's version. Plain data so it serialises with msgpack and JSON as is. */
export interface Version {
  /** Wall-clock milliseconds since the epoch (the physical part). */
  readonly t: number;
  /** Logical counter for writes within the same millisecond. */
  readonly c: number;
  /** Id of the node that made the write (the tie-break). */
  readonly n: string;
}

/** Negative if a is older than b, positive if newer, 0 if the same version. */
export function compareVersions(a: Version, b: Version): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.c !== b.c) return a.c < b.c ? -1 : 1;
  if (a.n === b.n) return 0;
  return a.n < b.n ? -1 : 1;
}

export function isVersion(v: unknown): v is Version {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    Number.isSafeInteger(o.t) &&
    (o.t as number) >= 0 &&
    Number.isSafeInteger(o.c) &&
    (o.c as number) >= 0 &&
    typeof o.n === 'string' &&
    o.n.length > 0 &&
    o.n.length <= 64
  );
}

export class HybridLogicalClock {
  private lastT = 0;
  private lastC = 0;

  constructor(
    readonly nodeId: string,
    private readonly wallClock: () => number = Date.now,
  ) {
    if (!nodeId) throw new Error('HybridLogicalClock needs a node id');
  }

  /** A fresh version, greater than every version made or observed so far. */
  now(): Version {
    const wall = this.wallClock();
    if (wall > this.lastT) {
      this.lastT = wall;
      this.lastC = 0;
    } else {
      this.lastC += 1;
    }
    return { t: this.lastT, c: this.lastC, n: this.nodeId };
  }

  /** Advance past a version received from elsewhere. */
  observe(v: Version): void {
    if (v.t > this.lastT) {
      this.lastT = v.t;
      this.lastC = v.c;
    } else if (v.t === this.lastT && v.c > this.lastC) {
      this.lastC = v.c;
    }
  }
}
