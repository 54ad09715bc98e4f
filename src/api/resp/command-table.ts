import type { CommandSpec } from './command-spec.js';
import { introspectionCommand } from './commands/command.js';
import { connectionCommands } from './commands/connection.js';
import { keyCommands } from './commands/keys.js';
import { serverCommands } from './commands/server.js';
import { stringCommands } from './commands/strings.js';
import { transactionCommands } from './commands/transactions.js';

/**
 * The one table of the Redis commands a node answers, assembled from the
 * command families. The dispatcher checks arity and `no_auth` from it, and
 * `COMMAND` answers from it, so what a client is told is what the node does.
 */

function assemble(...families: (readonly CommandSpec[])[]): ReadonlyMap<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  const add = (spec: CommandSpec) => {
    if (table.has(spec.name)) throw new Error(`Redis command ${spec.name} is defined twice`);
    table.set(spec.name, spec);
  };
  for (const family of families) for (const spec of family) add(spec);
  add(introspectionCommand(table));
  for (const spec of transactionCommands(table)) add(spec);
  return table;
}

export const COMMAND_TABLE: ReadonlyMap<string, CommandSpec> = assemble(connectionCommands, serverCommands, keyCommands, stringCommands);
