import type { Metrics } from '../metrics/metrics.js';
import { isIPv4, isIPv6 } from 'node:net';
import { LRUCache } from 'lru-cache';

/**
 * Every password check of the node (HTTP cmd=pass, RESP AUTH and HELLO AUTH)
 * goes through one PassGuard, which makes guessing slow whatever the client
 * does:
 *
 * - Attempts from one address are answered one after another: each waits for
 *   the previous one, then for the address's current delay. Sending guesses in
 *   parallel gains nothing.
 * - Each wrong password doubles the address's delay (from PassFailDelay, capped
 *   at MAX_DELAY_MS). The delay halves every HALF_LIFE_MS of quiet and is
 *   forgotten after FORGET_AFTER_MS without a failure, so a client that stops
 *   guessing recovers within a minute.
 * - A right password waits its turn and its delay like any other attempt: a
 *   fast answer would tell a guesser which guess was right.
 * - A global budget (checks per second, all addresses together) bounds what
 *   many addresses can do at once. IPv6 clients are counted per /64, the
 *   block one host usually holds.
 * - Memory is bounded: at most maxWaiting attempts wait (maxWaitingPerAddress
 *   from one address); more are refused at once as "busy", without checking
 *   the password. The delays are kept for at most maxAddresses addresses.
 */

export type PassCheckOutcome = 'ok' | 'wrong' | 'busy';

export interface PassGuardOptions {
  /** PassFailDelay: the delay after the first wrong password (ms); 0 = no delay. */
  baseDelayMs: number;
  /** Password checks per second, all addresses together; 0 = no global budget. */
  checksPerSecond: number;
  maxWaiting?: number;
  maxWaitingPerAddress?: number;
  maxAddresses?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Counts failures and slow-downs (absent = not counted). */
  metrics?: Metrics;
}

interface Slowdown {
  /** Delay in ms as of `at`. */
  delayMs: number;
  /** Time of the last failure. */
  at: number;
}

interface AddressQueue {
  tail: Promise<unknown>;
  length: number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class PassGuard {
  static readonly MAX_DELAY_MS = 10_000;
  static readonly HALF_LIFE_MS = 10_000;
  static readonly FORGET_AFTER_MS = 60_000;

  private readonly slowdowns: LRUCache<string, Slowdown>;
  private readonly queues = new Map<string, AddressQueue>();
  private waiting = 0;
  /** Global budget as a virtual schedule: the earliest time of the next check beyond the burst. */
  private budgetAt = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxWaiting: number;
  private readonly maxWaitingPerAddress: number;

  constructor(private readonly opts: PassGuardOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
    this.maxWaiting = opts.maxWaiting ?? 256;
    this.maxWaitingPerAddress = opts.maxWaitingPerAddress ?? 32;
    this.slowdowns = new LRUCache({ max: opts.maxAddresses ?? 50_000 });
  }

  /**
   * Checks a password sent from `ip` in its turn: `matches` runs only once the
   * attempt's wait is over. 'busy' means it was refused unchecked.
   */
  async check(ip: string, matches: () => boolean): Promise<PassCheckOutcome> {
    const key = guardKey(ip);
    let q = this.queues.get(key);
    if (this.waiting >= this.maxWaiting || (q !== undefined && q.length >= this.maxWaitingPerAddress)) {
      this.opts.metrics?.authFailed('busy');
      return 'busy';
    }
    if (q === undefined) {
      q = { tail: Promise.resolve(), length: 0 };
      this.queues.set(key, q);
    }
    const queue = q;
    queue.length += 1;
    this.waiting += 1;
    const turn = queue.tail.then(() => this.attempt(key, matches));
    queue.tail = turn.catch(() => undefined);
    try {
      return await turn;
    } finally {
      queue.length -= 1;
      this.waiting -= 1;
      if (queue.length === 0 && this.queues.get(key) === queue) this.queues.delete(key);
    }
  }

  /** The delay an attempt from `ip` starting now would wait before its check (ms). */
  delayFor(ip: string): number {
    return this.currentDelay(guardKey(ip));
  }

  /** Attempts waiting, all addresses (for tests and status). */
  waitingCount(): number {
    return this.waiting;
  }

  private async attempt(key: string, matches: () => boolean): Promise<PassCheckOutcome> {
    const delay = this.currentDelay(key);
    if (delay > 0) await this.sleep(delay);
    const budgetWait = this.reserveBudget();
    if (budgetWait > 0) await this.sleep(budgetWait);
    if (delay + budgetWait > 0) this.opts.metrics?.authSlowedDown(delay + budgetWait);
    const ok = matches();
    if (ok) this.slowdowns.delete(key);
    else this.failed(key);
    if (!ok) this.opts.metrics?.authFailed('wrong');
    return ok ? 'ok' : 'wrong';
  }

  private currentDelay(key: string): number {
    const s = this.slowdowns.get(key);
    if (s === undefined) return 0;
    const quiet = this.now() - s.at;
    if (quiet >= PassGuard.FORGET_AFTER_MS) {
      this.slowdowns.delete(key);
      return 0;
    }
    return Math.round(s.delayMs * 2 ** (-Math.max(0, quiet) / PassGuard.HALF_LIFE_MS));
  }

  private failed(key: string): void {
    const base = this.opts.baseDelayMs;
    if (base <= 0) return;
    const cap = Math.max(PassGuard.MAX_DELAY_MS, base);
    const delayMs = Math.min(cap, Math.max(base, this.currentDelay(key) * 2));
    this.slowdowns.set(key, { delayMs, at: this.now() });
  }

  /** Takes a slot of the global budget; how long to wait for it (ms). A burst of one second's budget goes at once. */
  private reserveBudget(): number {
    const rate = this.opts.checksPerSecond;
    if (rate <= 0) return 0;
    const interval = 1000 / rate;
    const now = this.now();
    const burst = Math.max(0, rate - 1) * interval;
    const at = Math.max(now, this.budgetAt - burst);
    this.budgetAt = Math.max(this.budgetAt, at) + interval;
    return Math.max(0, at - now);
  }
}

/**
 * Whose attempt it is: an IPv4 address (also when written IPv4-mapped), or the
 * /64 an IPv6 address belongs to, since one host commonly holds a whole /64.
 */
export function guardKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const groups = ipv6Groups(ip);
  return groups === null
    ? ip
    : `${groups
        .slice(0, 4)
        .map((g) => g.toString(16))
        .join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (zone index ignored), or null if it is not one. */
function ipv6Groups(ip: string): number[] | null {
  let s = ip.split('%')[0]!.toLowerCase();
  const tail: number[] = [];
  const v4 = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(s);
  if (v4) {
    const p = v4[1]!.split('.').map(Number);
    tail.push((p[0]! << 8) | p[1]!, (p[2]! << 8) | p[3]!);
    s = s.slice(0, -v4[1]!.length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - head.length - rest.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  return groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff) ? null : groups;
}
