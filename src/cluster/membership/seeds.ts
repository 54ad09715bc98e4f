/**
 * Joining seeds in the background. swim's own join gives up after a timeout;
 * here each seed that is not a live member is synced with, retried with
 * exponential backoff (and jitter) forever, so a node started before its seeds,
 * a seed that restarts, or a healed partition all end in one cluster. A seed that
 * is a live member costs nothing; when it stops being one, retries start again.
 *
 * Seeds come from two places: fixed ones given at start (`add`: the seed file
 * the user writes, members saved by the last run), and the gossip list that
 * `/server/?group_type=gossip` edits (`setListed`). A seed deleted from that
 * list is forgotten at once, unless it is also a fixed seed: nothing keeps
 * contacting an address nobody lists any more.
 */
import { logger } from '../../log.js';
import { parseHostPort, resolveHostPort, type HostPort } from './address.js';

const log = logger('membership');

export interface SeedHooks {
  isLive(address: string): boolean;
  isSelf(address: string): boolean;
  sync(address: string): void;
}

interface SeedState {
  spec: string;
  hp: HostPort;
  backoff: number;
  nextAt: number;
  busy: boolean;
}

function seedKey(spec: string): { key: string; hp: HostPort } {
  const hp = parseHostPort(String(spec).trim());
  if (hp === null || hp.port === 0) throw new RangeError(`membership: seed is not host:port: ${JSON.stringify(spec)}`);
  return { key: `${hp.host}:${hp.port}`, hp };
}

export class Seeds {
  private readonly seeds = new Map<string, SeedState>();
  private readonly fixed = new Set<string>();
  private listed = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hooks: SeedHooks,
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** Adds fixed seeds, kept for good. Throws a RangeError for a seed that is not host:port. */
  add(list: readonly string[]): void {
    for (const spec of list) {
      const { key, hp } = seedKey(spec);
      this.fixed.add(key);
      this.track(key, hp);
    }
    if (this.timer !== null) this.tick();
  }

  /**
   * The gossip list's seeds, all of them, each time it changes: new ones are
   * joined, the ones no longer listed (and not fixed) forgotten. Entries that
   * are not host:port are skipped (the list refuses them anyway).
   */
  setListed(list: readonly string[]): void {
    const next = new Set<string>();
    for (const spec of list) {
      let parsed: { key: string; hp: HostPort };
      try {
        parsed = seedKey(spec);
      } catch {
        continue;
      }
      next.add(parsed.key);
      this.track(parsed.key, parsed.hp);
    }
    for (const key of this.listed) {
      if (!next.has(key) && !this.fixed.has(key)) {
        this.seeds.delete(key);
        log.info('seed %s is no longer listed: forgotten', key);
      }
    }
    this.listed = next;
    if (this.timer !== null) this.tick();
  }

  /** The seeds being tried (host:port, IPv6 unbracketed), for status and tests. */
  addresses(): string[] {
    return [...this.seeds.keys()];
  }

  private track(key: string, hp: HostPort): void {
    if (!this.seeds.has(key)) this.seeds.set(key, { spec: key, hp, backoff: this.baseMs, nextAt: 0, busy: false });
  }

  start(): void {
    if (this.timer !== null) return;
    const every = Math.min(500, Math.max(50, this.baseMs / 2));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = Date.now();
    for (const s of this.seeds.values()) {
      if (s.busy || now < s.nextAt) continue;
      s.busy = true;
      resolveHostPort(s.hp)
        .then(
          (address) => this.attempt(s, address),
          (err: Error) => {
            log.warn('seed %s does not resolve: %s', s.spec, err.message);
            this.backOff(s);
          },
        )
        .finally(() => {
          s.busy = false;
        });
    }
  }

  private attempt(s: SeedState, address: string): void {
    // Stopped, or forgotten while its name was being resolved.
    if (this.timer === null || this.seeds.get(s.spec) !== s) return;
    if (this.hooks.isSelf(address)) {
      s.nextAt = Date.now() + this.maxMs;
      return;
    }
    if (this.hooks.isLive(address)) {
      s.backoff = this.baseMs;
      s.nextAt = Date.now() + this.baseMs;
      return;
    }
    log.debug('joining seed %s (%s), next try in about %d ms', s.spec, address, s.backoff);
    this.hooks.sync(address);
    this.backOff(s);
  }

  private backOff(s: SeedState): void {
    const jitter = 0.8 + Math.random() * 0.4;
    s.nextAt = Date.now() + Math.round(s.backoff * jitter);
    s.backoff = Math.min(this.maxMs, s.backoff * 2);
  }
}
