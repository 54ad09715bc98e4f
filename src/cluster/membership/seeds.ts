/**
 * Joining seeds in the background. swim's own join gives up after a timeout;
 * here each seed that is not a live member is synced with, retried with
 * exponential backoff (and jitter) forever, so a node started before its seeds,
 * a seed that restarts, or a healed partition all end in one cluster. A seed that
 * is a live member costs nothing; when it stops being one, retries start again.
 */
import createDebug from 'debug';
import { parseHostPort, resolveHostPort, type HostPort } from './address.js';

const log = createDebug('owlcache:membership');

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

export class Seeds {
  private readonly seeds = new Map<string, SeedState>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hooks: SeedHooks,
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  /** Throws a RangeError for a seed that is not host:port. */
  add(list: readonly string[]): void {
    for (const spec of list) {
      const hp = parseHostPort(String(spec).trim());
      if (hp === null || hp.port === 0) throw new RangeError(`membership: seed is not host:port: ${JSON.stringify(spec)}`);
      const key = `${hp.host}:${hp.port}`;
      if (!this.seeds.has(key)) this.seeds.set(key, { spec: key, hp, backoff: this.baseMs, nextAt: 0, busy: false });
    }
    if (this.timer !== null) this.tick();
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
      resolveHostPort(s.hp).then(
        (address) => this.attempt(s, address),
        (err: Error) => {
          log('seed %s does not resolve: %s', s.spec, err.message);
          this.backOff(s);
        },
      ).finally(() => {
        s.busy = false;
      });
    }
  }

  private attempt(s: SeedState, address: string): void {
    if (this.timer === null) return;
    if (this.hooks.isSelf(address)) {
      s.nextAt = Date.now() + this.maxMs;
      return;
    }
    if (this.hooks.isLive(address)) {
      s.backoff = this.baseMs;
      s.nextAt = Date.now() + this.baseMs;
      return;
    }
    log('joining seed %s (%s), next try in about %d ms', s.spec, address, s.backoff);
    this.hooks.sync(address);
    this.backOff(s);
  }

  private backOff(s: SeedState): void {
    const jitter = 0.8 + Math.random() * 0.4;
    s.nextAt = Date.now() + Math.round(s.backoff * jitter);
    s.backoff = Math.min(this.maxMs, s.backoff * 2);
  }
}
