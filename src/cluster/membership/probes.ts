/**
 * Round-trip times and clock offsets of the members, measured from SWIM's own
 * probes: no extra traffic. A direct ping carries a sequence number; the ack
 * that echoes it from the pinged address closes a sample (RTT = ack received −
 * ping sent). Every sealed datagram carries its sender's clock (../security.ts,
 * sealedTime; the transport hands it to membership), so the ack also says what time the peer thought it was when it
 * answered; NTP's estimate, peer time − midpoint of the exchange, is the peer's
 * clock offset, good to ± RTT/2. The offset reported is the one from the
 * fastest recent exchange (the tightest bound), as NTP's clock filter does.
 */

export interface ProbeSummary {
  /** Last measured round trip, ms. */
  rttLastMs: number;
  rttP50Ms: number;
  rttP99Ms: number;
  /** Samples the percentiles are taken over (the most recent ones). */
  samples: number;
  /** Peer clock − this clock, ms (null until an ack carried a time). */
  clockOffsetMs: number | null;
  /** ± bound of clockOffsetMs: half the round trip of the exchange it came from. */
  clockOffsetErrorMs: number | null;
  /** When the last sample was taken (ms epoch). */
  lastAt: number;
}

interface Pending {
  host: string;
  at: number;
}

interface HostSamples {
  rtts: number[];
  offsets: { offset: number; rtt: number }[];
  lastRtt: number;
  lastAt: number;
  skewed: boolean;
}

const KEEP_SAMPLES = 100;
const KEEP_OFFSETS = 16;
const MAX_PENDING = 1024;
const PENDING_TTL_MS = 30_000;
const MAX_HOSTS = 4096;

export interface ProbeOptions {
  /** |offset| beyond this is reported by onSkew (0 = never). */
  maxClockSkewMs: number;
  /** Called when a member's offset goes beyond maxClockSkewMs, and when it comes back within it. */
  onSkew?: (host: string, offsetMs: number, skewed: boolean) => void;
  now?: () => number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export class ProbeRecorder {
  private readonly pending = new Map<number, Pending>();
  private readonly hosts = new Map<string, HostSamples>();
  private readonly now: () => number;

  constructor(private readonly opts: ProbeOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** A direct ping with `seq` went to `host`. */
  pingSent(seq: number, host: string): void {
    const now = this.now();
    if (this.pending.size >= MAX_PENDING) {
      for (const [s, p] of this.pending) {
        if (now - p.at > PENDING_TTL_MS || this.pending.size >= MAX_PENDING) this.pending.delete(s);
        if (this.pending.size < MAX_PENDING / 2) break;
      }
    }
    this.pending.set(seq, { host, at: now });
  }

  /** An ack for `seq` came from `from`; `peerTime` is the time sealed in it (0 if unknown). */
  ackReceived(seq: number, from: string, peerTime: number): void {
    const p = this.pending.get(seq);
    if (p === undefined || p.host !== from) return;
    this.pending.delete(seq);
    const now = this.now();
    const rtt = Math.max(0, now - p.at);
    let h = this.hosts.get(from);
    if (h === undefined) {
      if (this.hosts.size >= MAX_HOSTS) this.hosts.delete(this.hosts.keys().next().value!);
      h = { rtts: [], offsets: [], lastRtt: 0, lastAt: 0, skewed: false };
      this.hosts.set(from, h);
    }
    h.rtts.push(rtt);
    if (h.rtts.length > KEEP_SAMPLES) h.rtts.shift();
    h.lastRtt = rtt;
    h.lastAt = now;
    if (peerTime > 0) {
      h.offsets.push({ offset: peerTime - (p.at + now) / 2, rtt });
      if (h.offsets.length > KEEP_OFFSETS) h.offsets.shift();
      this.checkSkew(from, h);
    }
  }

  private bestOffset(h: HostSamples): { offset: number; rtt: number } | null {
    let best: { offset: number; rtt: number } | null = null;
    for (const o of h.offsets) if (best === null || o.rtt < best.rtt) best = o;
    return best;
  }

  private checkSkew(host: string, h: HostSamples): void {
    const limit = this.opts.maxClockSkewMs;
    const best = this.bestOffset(h);
    if (limit <= 0 || best === null) return;
    const skewed = Math.abs(best.offset) > limit;
    if (skewed !== h.skewed) {
      h.skewed = skewed;
      this.opts.onSkew?.(host, Math.round(best.offset), skewed);
    }
  }

  /** Forgets a member (it left or was reaped). */
  forget(host: string): void {
    this.hosts.delete(host);
  }

  summary(host: string): ProbeSummary | null {
    const h = this.hosts.get(host);
    if (h === undefined || h.rtts.length === 0) return null;
    const sorted = [...h.rtts].sort((a, b) => a - b);
    const best = this.bestOffset(h);
    return {
      rttLastMs: h.lastRtt,
      rttP50Ms: percentile(sorted, 50),
      rttP99Ms: percentile(sorted, 99),
      samples: sorted.length,
      clockOffsetMs: best === null ? null : Math.round(best.offset),
      clockOffsetErrorMs: best === null ? null : Math.ceil(best.rtt / 2),
      lastAt: h.lastAt,
    };
  }
}
