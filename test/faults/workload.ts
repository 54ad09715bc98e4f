import { createHash } from 'node:crypto';
import { TEST_PASSWORD, qs, sleep } from '../helpers/node-process.js';
import { applyWrite, EMPTY, type KeyModel, type Op, type Outcome, type Ttl, type WriteRecord } from './checker.js';
import { call, CallError } from './http.js';
import type { FaultNode } from './nodes.js';
import type { Rng } from './rng.js';

/**
 * The fault run's client: `writers` loops writing (set / expire / delete, values
 * from a few bytes to ~24 KB so many travel as fetch-stubs) to random nodes, one
 * write per key in flight, every write recorded with its outcome (checker.ts
 * says why this makes the expected final state well defined). A key whose write
 * ended unknown is retired and replaced by a fresh key.
 */

export interface WorkloadOptions {
  nodes: FaultNode[];
  rng: Rng;
  /** Keys written concurrently (the pool). */
  keys?: number;
  writers?: number;
  /** Pause of each writer between writes, ms [lo, hi]. */
  pauseMs?: [number, number];
  /** Per-request bound; past it the write is unknown. */
  timeoutMs?: number;
  /** Seconds of a "long" expiry: must outlast the run. */
  longTtlSec: number;
}

/** Gap after an answer before the next write to the same key: keeps version order = client order (checker.ts). */
const KEY_GAP_MS = 3;
const SHORT_TTL_SEC = [1, 2, 3];
export const MAX_SHORT_TTL_MS = 3000;

export function hashOf(b: Buffer): string {
  return createHash('sha1').update(b).digest('hex');
}

interface KeyState {
  name: string;
  busy: boolean;
  doneAt: number;
  model: KeyModel;
}

export interface WorkloadStats {
  sent: number;
  applied: number;
  noop: number;
  unknown: number;
  failed: number;
  rejected: number;
  bigValues: number;
  retiredKeys: number;
  lastDoneAt: number;
}

export class Workload {
  readonly history: WriteRecord[] = [];
  private readonly tokens = new Map<number, string>();
  private readonly pool: KeyState[] = [];
  private nextKey = 0;
  private nextId = 1;
  private stopping = false;
  private loops: Promise<void>[] = [];
  private lastDoneAt = 0;
  private retired = 0;
  private big = 0;
  private readonly o: Required<Omit<WorkloadOptions, 'nodes' | 'rng'>>;

  constructor(private readonly opts: WorkloadOptions) {
    this.o = {
      keys: opts.keys ?? 150,
      writers: opts.writers ?? 4,
      pauseMs: opts.pauseMs ?? [5, 40],
      timeoutMs: opts.timeoutMs ?? 3000,
      longTtlSec: opts.longTtlSec,
    };
    for (let i = 0; i < this.o.keys; i++) this.pool.push(this.freshKey());
  }

  private freshKey(): KeyState {
    return { name: `fk-${this.nextKey++}`, busy: false, doneAt: 0, model: EMPTY };
  }

  /** Gets a token from every node (all must be up). */
  async login(): Promise<void> {
    await Promise.all(this.opts.nodes.map((n) => this.refreshToken(n.index)));
  }

  private async refreshToken(i: number): Promise<boolean> {
    const n = this.opts.nodes[i]!;
    try {
      const r = await call(n.host, n.port, `/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`, { timeoutMs: this.o.timeoutMs });
      const body = JSON.parse(r.body.toString('utf8')) as { Status?: number; Data?: string };
      if (body.Status === 200 && typeof body.Data === 'string') {
        this.tokens.set(i, body.Data);
        return true;
      }
    } catch {
      /* the node may be down: try again at the next 401 */
    }
    return false;
  }

  start(): void {
    for (let w = 0; w < this.o.writers; w++) this.loops.push(this.loop());
  }

  /** Stops writing and waits for the writes in flight (each bounded by timeoutMs). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
    this.loops = [];
  }

  stats(): WorkloadStats {
    const s: WorkloadStats = {
      sent: 0,
      applied: 0,
      noop: 0,
      unknown: 0,
      failed: 0,
      rejected: 0,
      bigValues: this.big,
      retiredKeys: this.retired,
      lastDoneAt: this.lastDoneAt,
    };
    for (const w of this.history) {
      s.sent++;
      s[w.outcome]++;
    }
    return s;
  }

  /** One writer. Bounded in count as well as by stop(). */
  private async loop(): Promise<void> {
    const { rng } = this.opts;
    for (let i = 0; i < 10_000_000 && !this.stopping; i++) {
      const k = this.pickKey();
      if (k === null) {
        await sleep(2);
        continue;
      }
      k.busy = true;
      let outcome: Outcome = 'failed';
      try {
        outcome = await this.writeOnce(k);
      } finally {
        k.busy = false;
        k.doneAt = Date.now();
        this.lastDoneAt = k.doneAt;
      }
      if (outcome === 'unknown') {
        const at = this.pool.indexOf(k);
        if (at >= 0) this.pool[at] = this.freshKey();
        this.retired++;
      }
      const [lo, hi] = this.o.pauseMs;
      await sleep(outcome === 'failed' ? 50 : rng.int(lo, hi));
    }
  }

  private pickKey(): KeyState | null {
    const now = Date.now();
    for (let t = 0; t < 20; t++) {
      const k = this.opts.rng.pick(this.pool);
      if (!k.busy && now - k.doneAt >= KEY_GAP_MS) return k;
    }
    return null;
  }

  private chooseTtl(): { ttl: Ttl; exptime: number } {
    const r = this.opts.rng.next();
    if (r < 0.6) return { ttl: 'none', exptime: 0 };
    if (r < 0.85) return { ttl: 'long', exptime: this.o.longTtlSec };
    return { ttl: 'short', exptime: this.opts.rng.pick(SHORT_TTL_SEC) };
  }

  private makeValue(id: number): Buffer {
    const { rng } = this.opts;
    const r = rng.next();
    const size = r < 0.7 ? rng.int(8, 300) : r < 0.85 ? rng.int(300, 1300) : rng.int(1500, 24_000);
    if (size > 1400) this.big++;
    const head = Buffer.from(`w${id}|`);
    return Buffer.concat([head, rng.fill(Buffer.alloc(Math.max(0, size - head.length)))]);
  }

  private async writeOnce(k: KeyState): Promise<Outcome> {
    const { rng, nodes } = this.opts;
    const node = rng.int(0, nodes.length - 1);
    const n = nodes[node]!;
    const exists = k.model.value !== null;
    const r = rng.next();
    const op: Op = !exists ? (r < 0.9 ? 'set' : r < 0.95 ? 'expire' : 'delete') : r < 0.55 ? 'set' : r < 0.8 ? 'expire' : 'delete';
    const id = this.nextId++;
    const rec: WriteRecord = { id, key: k.name, op, node, sentAt: Date.now(), doneAt: 0, outcome: 'failed' };
    let body: Buffer | undefined;
    const params: Record<string, string | number> = { cmd: op, key: k.name };
    if (op === 'set' || op === 'expire') {
      const t = this.chooseTtl();
      rec.ttl = t.ttl;
      params.exptime = t.exptime;
    }
    if (op === 'set') {
      body = this.makeValue(id);
      rec.hash = hashOf(body);
      rec.size = body.length;
    }
    const token = this.tokens.get(node);
    if (token === undefined) {
      await this.refreshToken(node);
      rec.outcome = 'rejected';
      rec.error = 'no token yet';
      rec.doneAt = Date.now();
      this.history.push(rec);
      return rec.outcome;
    }
    params.token = token;
    try {
      const res = await call(
        n.host,
        n.port,
        `/data/?${qs(params)}`,
        body ? { method: 'POST', body, timeoutMs: this.o.timeoutMs } : { timeoutMs: this.o.timeoutMs },
      );
      rec.status = res.status;
      let envStatus = 0;
      try {
        envStatus = (JSON.parse(res.body.toString('utf8')) as { Status?: number }).Status ?? 0;
      } catch {
        /* not an envelope */
      }
      if (res.status === 200 && envStatus === 200) rec.outcome = 'applied';
      else if (res.status === 404 && envStatus === 404 && op !== 'set') rec.outcome = 'noop';
      else if (res.status === 401) {
        rec.outcome = 'rejected';
        void this.refreshToken(node);
      } else rec.outcome = 'unknown';
    } catch (err) {
      rec.error = (err as Error).message;
      rec.outcome = err instanceof CallError && !err.maybeDelivered ? 'failed' : 'unknown';
    }
    rec.doneAt = Date.now();
    if (rec.outcome === 'applied') k.model = applyWrite(k.model, rec);
    this.history.push(rec);
    return rec.outcome;
  }
}
