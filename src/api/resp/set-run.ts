import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../../metrics/metrics.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import { OK, type ReplyWriter } from './reply.js';

/** The most SETs stored together: a bound on the replies held back and on one append-log write. */
const MAX_RUN = 1024;

/**
 * Consecutive plain `SET key value` commands of a pipeline (a bulk load) are
 * stored by one Commands.setManyMs, so the run costs one append-log write(2),
 * not one per command, and each is still acknowledged only once written. Each
 * SET answers in its place as it would alone (+OK, or the error a lone SET
 * would get); the server stores the run before it runs any other command of
 * the connection, so effects and replies keep the pipeline's order. A SET with
 * options, inside MULTI or before AUTH, goes through dispatch() as usual.
 */
export class SetRun {
  private keys: string[] = [];
  private values: Buffer[] = [];

  constructor(
    private readonly deps: RespDeps,
    private readonly conn: Connection,
    private readonly out: ReplyWriter,
    private readonly stats: ServerStats,
    private readonly metrics: Metrics | undefined,
  ) {}

  /** Takes `args` into the run if it is a plain SET that may join one; false = dispatch it. */
  take(args: Buffer[]): boolean {
    if (args.length !== 3 || !this.conn.authed || this.conn.multi !== null || !isSetWord(args[0]!) || !isUtf8(args[1]!)) return false;
    this.keys.push(args[1]!.toString('utf8'));
    // A stored value must not keep the socket chunk it was parsed from alive.
    this.values.push(Buffer.from(args[2]!));
    if (this.keys.length >= MAX_RUN) this.store();
    return true;
  }

  /** Stores the SETs taken so far and writes their replies. */
  store(): void {
    const n = this.keys.length;
    if (n === 0) return;
    const { deps, conn, out, stats } = this;
    const started = performance.now();
    const keys = this.keys;
    const values = this.values;
    this.keys = [];
    this.values = [];
    stats.totalCommands += n;
    conn.lastActiveAt = Date.now();
    conn.lastCommand = 'set';
    out.proto = conn.proto;
    const refused = deps.commands.writesRefused();
    // What a lone SET would answer: READONLY, or its key's or value's own refusal; the others are stored together.
    const errors: (string | null)[] = keys.map((key, i) => {
      if (refused !== null) return `READONLY ${refused}`;
      const bad = deps.commands.checkWrite(key, values[i]!);
      return bad === null ? null : `ERR ${bad.message}`;
    });
    const pairs = keys.flatMap((key, i) => (errors[i] === null ? [{ key, value: values[i]! }] : []));
    if (pairs.length > 0 && deps.commands.setManyMs(pairs).status !== 200) {
      // Refused together (the log could not be written, a value too big for MaxMemory): each alone, so each gets its own answer.
      for (let i = 0; i < n; i++) {
        if (errors[i] !== null) continue;
        const o = deps.commands.setMs(keys[i]!, values[i]!, 0);
        if (o.status !== 200) errors[i] = `ERR ${o.message ?? 'write failed'}`;
      }
    }
    for (const e of errors) {
      if (e === null) out.constant(OK);
      else out.error(e);
      this.metrics?.request('resp', 'set', e === null ? 'ok' : 'refused', started);
    }
  }
}

/** `set` in any case, without allocating a string. */
function isSetWord(b: Buffer): boolean {
  return b.length === 3 && (b[0]! | 0x20) === 0x73 && (b[1]! | 0x20) === 0x65 && (b[2]! | 0x20) === 0x74;
}
