import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../../metrics/metrics.js';
import { isWord } from './args.js';
import { answerGet } from './commands/keys.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import type { ReplyWriter } from './reply.js';

/**
 * A plain `GET key` of an authenticated connection outside MULTI, answered
 * without the command table's lookups (the name lowered to a string twice, the
 * arity and flag checks, the handler's wrapper): the read of a pipeline costs
 * the read itself. The reply, the counters and the metric are those
 * dispatch() gives the same command (the handler's answerGet); anything else
 * (GET inside MULTI or before AUTH, a key that is not UTF-8) goes through dispatch().
 */
export function plainGet(deps: RespDeps, conn: Connection, args: Buffer[], out: ReplyWriter, stats: ServerStats, metrics: Metrics | undefined): boolean {
  if (args.length !== 2 || !conn.authed || conn.multi !== null || !isWord(args[0]!, 'get') || !isUtf8(args[1]!)) return false;
  plainGetKey(deps, conn, args[1]!.toString('utf8'), out, stats, metrics);
  return true;
}

/** Answers a plain GET of `key` (plainGet()'s checks passed, or the parser's nextPlain took it). */
export function plainGetKey(deps: RespDeps, conn: Connection, key: string, out: ReplyWriter, stats: ServerStats, metrics: Metrics | undefined): void {
  const started = metrics === undefined ? 0 : performance.now();
  stats.totalCommands += 1;
  out.proto = conn.proto;
  conn.lastActiveAt = Date.now();
  conn.lastCommand = 'get';
  const hit = answerGet(deps, key, out, stats);
  metrics?.request('resp', 'get', hit ? 'ok' : 'not_found', started);
}
