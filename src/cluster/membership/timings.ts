/**
 * Timings for real networks. swim's own defaults (20 ms probe, 4 ms ping timeout,
 * 10 ms suspicion) only work on localhost; these follow memberlist's LAN profile.
 */
import type { MembershipOptions } from './types.js';

export const DEFAULTS = {
  probeIntervalMs: 1000,
  pingTimeoutMs: 500,
  suspicionMult: 4,
  maxDatagram: 1400,
  reapFaultyAfterMs: 24 * 60 * 60 * 1000,
  macWindowMs: 30_000,
  pushPullIntervalMs: 30_000,
  /** memberlist's IndirectChecks */
  pingReqGroupSize: 3,
  /** swim's own: each update is piggybacked ceil(15 × log10(N + 1)) times by each node */
  disseminationFactor: 15,
} as const;

/** Smallest datagram budget that still holds a member update with its metadata. */
export const MIN_DATAGRAM = 576;

export interface Timings {
  probeIntervalMs: number;
  pingTimeoutMs: number;
  /** indirect probes get the rest of the probe interval, as in memberlist */
  pingReqTimeoutMs: number;
  pingReqGroupSize: number;
  suspicionMult: number;
  reapFaultyAfterMs: number;
  pushPullIntervalMs: number;
  /** first retry of an unreachable seed; doubles up to seedMaxBackoffMs */
  seedBackoffMs: number;
  seedMaxBackoffMs: number;
  /** how often faulty and left members are checked for reaping */
  reapCheckMs: number;
}

function positive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`membership: ${name} must be a positive number, got ${String(value)}`);
  }
  return value;
}

export function timingsFrom(opts: MembershipOptions): Timings {
  const probeIntervalMs = positive('probeIntervalMs', opts.probeIntervalMs ?? DEFAULTS.probeIntervalMs);
  const pingTimeoutMs = positive('pingTimeoutMs', opts.pingTimeoutMs ?? DEFAULTS.pingTimeoutMs);
  const suspicionMult = positive('suspicionMult', opts.suspicionMult ?? DEFAULTS.suspicionMult);
  const reapFaultyAfterMs = positive('reapFaultyAfterMs', opts.reapFaultyAfterMs ?? DEFAULTS.reapFaultyAfterMs);
  const pushPull = opts.pushPullIntervalMs ?? DEFAULTS.pushPullIntervalMs;
  if (typeof pushPull !== 'number' || !Number.isFinite(pushPull) || pushPull < 0) {
    throw new RangeError(`membership: pushPullIntervalMs must be >= 0, got ${String(pushPull)}`);
  }
  return {
    probeIntervalMs,
    pingTimeoutMs,
    pingReqTimeoutMs: Math.max(pingTimeoutMs, probeIntervalMs - pingTimeoutMs),
    pingReqGroupSize: DEFAULTS.pingReqGroupSize,
    suspicionMult,
    reapFaultyAfterMs,
    pushPullIntervalMs: pushPull,
    seedBackoffMs: Math.min(probeIntervalMs, 1000),
    seedMaxBackoffMs: 30_000,
    reapCheckMs: Math.min(60_000, Math.max(50, reapFaultyAfterMs / 10)),
  };
}

/** memberlist's rule: mult × max(1, log10(N)) × probe interval, N counting this node. */
export function suspicionTimeoutMs(t: Timings, members: number): number {
  return Math.round(t.suspicionMult * Math.max(1, Math.log10(Math.max(1, members))) * t.probeIntervalMs);
}
