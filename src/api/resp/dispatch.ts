import { lower, wrongArity } from './args.js';
import { arityFits, runSpec } from './command-spec.js';
import { COMMAND_TABLE } from './command-table.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import { QUEUED, type ReplyWriter } from './reply.js';

/**
 * Runs Redis commands from the command table. Pure given its dependencies: the
 * socket, the parser and back-pressure are the server's (server.ts). Inside
 * MULTI, commands are checked and queued (transactions.ts runs them at EXEC).
 */

const ERR_NOAUTH = 'NOAUTH Authentication required.';

/** Commands that act at once inside MULTI instead of being queued, as in Redis. */
const RUN_IN_MULTI = new Set(['exec', 'discard', 'multi', 'watch', 'quit']);

/** Redis's unknown-command text: the name and the first arguments, quoted, each cut to fit 128 characters. */
function unknownCommandText(args: Buffer[]): string {
  let rest = '';
  for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${args[i]!.toString('utf8').slice(0, 128 - rest.length)}' `;
  return `ERR unknown command '${args[0]!.toString('utf8').slice(0, 128)}', with args beginning with: ${rest}`;
}

/** Answers a command that cannot run; inside MULTI it also dooms the transaction (EXECABORT), as in Redis. */
export function refuse(conn: Connection, out: ReplyWriter, text: string): void {
  if (conn.multi !== null) conn.multi.failed = true;
  out.error(text);
}

/** Runs one command, writing its reply. Returns a promise only for commands that must wait (AUTH slowed down). */
export function dispatch(deps: RespDeps, conn: Connection, args: Buffer[], out: ReplyWriter, stats: ServerStats): void | Promise<void> {
  stats.totalCommands += 1;
  out.proto = conn.proto;
  const name = lower(args[0]!);
  conn.lastActiveAt = Date.now();
  const spec = COMMAND_TABLE.get(name);
  if (spec === undefined) return refuse(conn, out, unknownCommandText(args));
  conn.lastCommand = name;
  if (!arityFits(spec, args.length)) return refuse(conn, out, wrongArity(name));
  if (!conn.authed && !spec.flags.includes('no_auth')) return refuse(conn, out, ERR_NOAUTH);
  if (conn.multi !== null && !RUN_IN_MULTI.has(name)) {
    if (spec.flags.includes('no_multi')) return refuse(conn, out, 'ERR Command not allowed inside a transaction');
    // The words may be views of the socket's buffer: the queue keeps its own copies.
    conn.multi.commands.push(args.map((a) => Buffer.from(a)));
    return out.constant(QUEUED);
  }
  // Read-only mode is the command layer's (commands.ts); asked here so DEL, EXPIRE and the like answer an error, not 0.
  const refused = spec.flags.includes('write') ? deps.commands.writesRefused() : null;
  if (refused !== null) return refuse(conn, out, `READONLY ${refused}`);
  return runSpec(spec, { deps, conn, args, out, stats });
}

/** Whether a connection starts authenticated (no password configured). */
export const startsAuthed = (deps: RespDeps) => deps.password === '';
