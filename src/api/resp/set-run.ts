import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import { isWord } from './args.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import { OK, type ReplyWriter } from './reply.js';

const log = logger('resp');

/** The most SETs one connection holds back: a bound on the replies waiting and on one append-log write. */
const MAX_RUN = 1024;

/**
 * Consecutive plain `SET key value` commands of one connection (a pipeline, a
 * bulk load), stored together so they cost one append-log write(2), not one per
 * command, and each is still acknowledged only once written. Each SET answers
 * in its place as it would alone (+OK, or the error a lone SET would get); the
 * server stores the run before it runs any other command of the connection, so
 * effects and replies keep the pipeline's order. A SET with options, inside
 * MULTI or before AUTH goes through dispatch() as usual.
 *
 * When a connection has nothing more to read, its run joins the other
 * connections' runs of the same event-loop turn (SetTurn): they are stored
 * together at the end of the turn, as Redis writes its append-only file once
 * per event-loop iteration before it replies.
 */
export class SetRun {
  keys: string[] = [];
  values: Buffer[] = [];

  constructor(
    readonly deps: RespDeps,
    readonly conn: Connection,
    readonly out: ReplyWriter,
    private readonly stats: ServerStats,
    private readonly metrics: Metrics | undefined,
  ) {}

  get size(): number {
    return this.keys.length;
  }

  /** Takes `args` into the run if it is a plain SET that may join one; false = dispatch it. */
  take(args: Buffer[]): boolean {
    if (args.length !== 3 || !this.conn.authed || this.conn.multi !== null || !isWord(args[0]!, 'set') || !isUtf8(args[1]!)) return false;
    this.add(args[1]!.toString('utf8'), args[2]!);
    return true;
  }

  /**
   * Adds a plain SET of an authenticated connection outside MULTI (take()'s
   * checks, or the parser's nextPlain). `value` may be a view of the socket's
   * read, held until the run is stored (this turn): the store copies it into its arena.
   */
  add(key: string, value: Buffer): void {
    this.keys.push(key);
    this.values.push(value);
    if (this.keys.length >= MAX_RUN) this.store();
  }

  /** Stores the SETs taken so far, now, and writes their replies. */
  store(): void {
    if (this.size > 0) storeRuns(this.deps, [this]);
  }

  /** Writes the run's replies (null = stored) and starts a new run. */
  answer(errors: readonly (string | null)[], started: number): void {
    const n = this.keys.length;
    const { conn, out } = this;
    this.stats.totalCommands += n;
    conn.lastActiveAt = Date.now();
    conn.lastCommand = 'set';
    out.proto = conn.proto;
    for (const e of errors) {
      if (e === null) out.constant(OK);
      else out.error(e);
      this.metrics?.request('resp', 'set', e === null ? 'ok' : 'refused', started);
    }
    this.keys = [];
    this.values = [];
  }
}

/**
 * Stores several runs with one Commands.setEach (one append-log write), each
 * SET answered what a lone SET would be: READONLY while writes are refused (as
 * dispatch() answers it), else its own refusal or +OK.
 */
function storeRuns(deps: RespDeps, runs: readonly SetRun[]): void {
  const started = performance.now();
  const refused = deps.commands.writesRefused();
  if (refused !== null) {
    for (const r of runs) r.answer(Array<string>(r.size).fill(`READONLY ${refused}`), started);
    return;
  }
  const items: { key: string; value: Buffer }[] = [];
  for (const r of runs) for (let i = 0; i < r.size; i++) items.push({ key: r.keys[i]!, value: r.values[i]! });
  const outcomes = deps.commands.setEach(items);
  let at = 0;
  for (const r of runs) {
    const errors = outcomes.slice(at, at + r.size).map((o) => (o.status === 200 ? null : `ERR ${o.message ?? 'write failed'}`));
    at += r.size;
    r.answer(errors, started);
  }
}

/**
 * The runs of every connection that had nothing more to read in this turn of
 * the event loop, stored together at its end (setImmediate: after the poll
 * phase has handed every ready socket its data). Each connection waits, its
 * reading paused, until its run is stored and answered.
 */
export class SetTurn {
  private waiting: { run: SetRun; then: () => void }[] = [];

  constructor(private readonly deps: RespDeps) {}

  join(run: SetRun, then: () => void): void {
    if (this.waiting.length === 0) setImmediate(this.storeAll);
    this.waiting.push({ run, then });
  }

  private readonly storeAll = (): void => {
    const waiting = this.waiting;
    this.waiting = [];
    try {
      storeRuns(
        this.deps,
        waiting.map((w) => w.run),
      );
    } catch (err) {
      // Outside any connection's handler: an unexpected failure is answered here, never left to crash the process.
      log.error('storing SETs failed: %s', (err as Error).stack ?? String(err));
      for (const w of waiting) if (w.run.size > 0) w.run.answer(Array<string>(w.run.size).fill('ERR internal error'), performance.now());
    }
    for (const w of waiting) w.then();
  };
}
