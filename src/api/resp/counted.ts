import { performance } from 'node:perf_hooks';
import type { Metrics } from '../../metrics/metrics.js';
import type { RequestOutcome } from '../../metrics/outcome.js';
import { lower } from './args.js';
import { COMMAND_TABLE } from './command-table.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import { dispatch } from './dispatch.js';
import type { ReplyWriter } from './reply.js';

/**
 * dispatch(), counted: one request per command, labelled with its name from
 * the command table (anything else "other"). Outcome: an error reply is
 * `unauthorized` (NOAUTH, WRONGPASS) or `refused`; a read that missed is
 * `not_found`; a command that threw is `error`.
 */
export function countedDispatch(
  metrics: Metrics,
  deps: RespDeps,
  conn: Connection,
  args: Buffer[],
  out: ReplyWriter,
  stats: ServerStats,
): void | Promise<void> {
  const started = performance.now();
  const errors = out.errors;
  const misses = stats.misses;
  const name = lower(args[0]!);
  const command = COMMAND_TABLE.has(name) ? name : 'other';
  let pending: void | Promise<void>;
  try {
    pending = dispatch(deps, conn, args, out, stats);
  } catch (err) {
    metrics.request('resp', command, 'error', started);
    throw err;
  }
  if (!(pending instanceof Promise)) return metrics.request('resp', command, outcomeOf(out, errors, stats, misses), started);
  return pending.then(
    () => metrics.request('resp', command, outcomeOf(out, errors, stats, misses), started),
    (err: unknown) => {
      metrics.request('resp', command, 'error', started);
      throw err;
    },
  );
}

function outcomeOf(out: ReplyWriter, errorsBefore: number, stats: ServerStats, missesBefore: number): RequestOutcome {
  if (out.errors > errorsBefore) return out.lastErrorCode === 'NOAUTH' || out.lastErrorCode === 'WRONGPASS' ? 'unauthorized' : 'refused';
  return stats.misses > missesBefore ? 'not_found' : 'ok';
}
