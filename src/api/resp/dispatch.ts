import { KeyError, lower, wrongArity } from './args.js';
import { arityFits } from './command-spec.js';
import { COMMAND_TABLE } from './command-table.js';
import type { Connection, RespDeps, ServerStats } from './context.js';
import type { ReplyWriter } from './reply.js';

/**
 * Runs Redis commands from the command table. Pure given its dependencies: the
 * socket, the parser and back-pressure are the server's (server.ts).
 */

const ERR_NOAUTH = 'NOAUTH Authentication required.';

/** Redis's unknown-command text: the name and the first arguments, quoted, each cut to fit 128 characters. */
function unknownCommandText(args: Buffer[]): string {
  let rest = '';
  for (let i = 1; i < args.length && rest.length < 128; i++) rest += `'${args[i]!.toString('utf8').slice(0, 128 - rest.length)}' `;
  return `ERR unknown command '${args[0]!.toString('utf8').slice(0, 128)}', with args beginning with: ${rest}`;
}

/** Runs one command, writing its reply. Returns a promise only for commands that must wait (AUTH slowed down). */
export function dispatch(deps: RespDeps, conn: Connection, args: Buffer[], out: ReplyWriter, stats: ServerStats): void | Promise<void> {
  stats.totalCommands += 1;
  const name = lower(args[0]!);
  const spec = COMMAND_TABLE.get(name);
  if (spec === undefined) return out.error(unknownCommandText(args));
  if (!arityFits(spec, args.length)) return out.error(wrongArity(name));
  if (!conn.authed && !spec.flags.includes('no_auth')) return out.error(ERR_NOAUTH);
  // Read-only mode is the command layer's (commands.ts); asked here so DEL, EXPIRE and the like answer an error, not 0.
  const refused = spec.flags.includes('write') ? deps.commands.writesRefused() : null;
  if (refused !== null) return out.error(`READONLY ${refused}`);
  try {
    return spec.run({ deps, conn, args, out, stats });
  } catch (err) {
    if (err instanceof KeyError) return out.error(err.message);
    throw err;
  }
}

/** Whether a connection starts authenticated (no password configured). */
export const startsAuthed = (deps: RespDeps) => deps.password === '';
