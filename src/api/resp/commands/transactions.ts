import { keyOf } from '../args.js';
import { ALL_KEYS, NO_KEYS, runSpec, type CommandSpec, type Handler } from '../command-spec.js';
import { OK } from '../reply.js';

/**
 * MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis's semantics on this node:
 * the queued commands run one after the other in one turn of the event loop,
 * so no other connection's command and no replicated change comes between
 * them; their writes are pushed to peers together (docs/architecture.md,
 * "Push": deltas made in one turn leave in one push). Across nodes a
 * transaction is not atomic: peers apply its writes as they arrive, each by the
 * merge rule (README, "Transactions").
 */

const multi: Handler = ({ conn, out }) => {
  if (conn.multi !== null) return out.error('ERR MULTI calls can not be nested');
  conn.multi = { commands: [], failed: false };
  out.constant(OK);
};

const discard: Handler = ({ deps, conn, out }) => {
  if (conn.multi === null) return out.error('ERR DISCARD without MULTI');
  conn.multi = null;
  deps.watches.unwatch(conn.watch);
  out.constant(OK);
};

const watch: Handler = ({ deps, conn, args, out }) => {
  if (conn.multi !== null) return out.error('ERR WATCH inside MULTI is not allowed');
  const keys = args.slice(1).map(keyOf);
  for (const key of keys) deps.watches.watch(conn.watch, key);
  out.constant(OK);
};

const unwatch: Handler = ({ deps, conn, out }) => {
  deps.watches.unwatch(conn.watch);
  out.constant(OK);
};

/** EXEC runs the queued commands from the table it belongs to (passed in, as COMMAND's). */
function exec(table: ReadonlyMap<string, CommandSpec>): Handler {
  return (ctx) => {
    const { deps, conn, out } = ctx;
    const tx = conn.multi;
    if (tx === null) return out.error('ERR EXEC without MULTI');
    conn.multi = null;
    const dirty = conn.watch.dirty;
    deps.watches.unwatch(conn.watch);
    if (tx.failed) return out.error('EXECABORT Transaction discarded because of previous errors.');
    if (dirty) return out.nilArray();
    out.arrayHeader(tx.commands.length);
    for (const args of tx.commands) {
      const spec = table.get(args[0]!.toString('latin1').toLowerCase())!;
      const pending = runSpec(spec, { ...ctx, args });
      // Commands that wait (AUTH, HELLO, WAIT) are refused while queueing ('no_multi'), so none can interleave here.
      if (pending instanceof Promise) throw new Error(`${spec.name} waited inside EXEC`);
    }
  };
}

export function transactionCommands(table: ReadonlyMap<string, CommandSpec>): CommandSpec[] {
  const tx = (name: string, arity: number, flags: CommandSpec['flags'], run: Handler, keys: CommandSpec['keys'] = NO_KEYS): CommandSpec => ({
    name,
    arity,
    flags,
    keys,
    categories: ['@transaction'],
    run,
  });
  return [
    tx('multi', 1, ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], multi),
    tx('exec', 1, ['noscript', 'loading', 'stale', 'skip_slowlog'], exec(table)),
    tx('discard', 1, ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], discard),
    tx('watch', -2, ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], watch, ALL_KEYS),
    tx('unwatch', 1, ['noscript', 'loading', 'stale', 'fast', 'allow_busy'], unwatch),
  ];
}
