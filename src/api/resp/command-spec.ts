import { KeyError } from './args.js';
import type { RespContext } from './context.js';

/**
 * What the command table says about each Redis command, modelled on Redis's own
 * command table: arity, flags and key positions sit beside the handler.
 */

/** Redis's command flags that apply to this front end. */
export type CommandFlag =
  | 'write'
  | 'readonly'
  | 'denyoom'
  | 'admin'
  | 'noscript'
  | 'loading'
  | 'stale'
  | 'fast'
  | 'no_auth'
  | 'no_multi'
  | 'allow_busy'
  | 'skip_slowlog';

/** Redis's ACL categories a command declares itself; @read, @write, @admin, @fast, @slow and @dangerous also follow from the flags. */
export type AclCategory = '@keyspace' | '@string' | '@connection' | '@dangerous' | '@transaction';

export type Handler = (ctx: RespContext) => void | Promise<void>;

export interface CommandSpec {
  /** Lower case, as Redis reports it. */
  readonly name: string;
  /** Words including the name: n = exactly n, -n = at least n. */
  readonly arity: number;
  readonly flags: readonly CommandFlag[];
  /** Positions of the key arguments: first, last (negative counts from the end), step; all 0 when there are none. */
  readonly keys: readonly [first: number, last: number, step: number];
  readonly categories: readonly AclCategory[];
  readonly run: Handler;
}

export const NO_KEYS = [0, 0, 0] as const;
export const ONE_KEY = [1, 1, 1] as const;
export const ALL_KEYS = [1, -1, 1] as const;

/** Redis's order of ACL categories, in which COMMAND INFO lists them. */
const CATEGORY_ORDER = ['@keyspace', '@read', '@write', '@string', '@admin', '@fast', '@slow', '@dangerous', '@connection', '@transaction'];

/** A command's ACL categories: its own and those its flags imply (as Redis's setImplicitACLCategories). */
export function aclCategories(spec: CommandSpec): string[] {
  const has = new Set<string>(spec.categories);
  if (spec.flags.includes('write')) has.add('@write');
  if (spec.flags.includes('readonly')) has.add('@read');
  if (spec.flags.includes('admin')) has.add('@admin').add('@dangerous');
  has.add(spec.flags.includes('fast') ? '@fast' : '@slow');
  return CATEGORY_ORDER.filter((c) => has.has(c));
}

/** Whether a command line of `words` words (the name included) fits the command's arity. */
export const arityFits = (spec: CommandSpec, words: number) => (spec.arity > 0 ? words === spec.arity : words >= -spec.arity);

/** Runs a command whose name, arity and authentication were checked; a bad key argument answers its error. */
export function runSpec(spec: CommandSpec, ctx: RespContext): void | Promise<void> {
  try {
    return spec.run(ctx);
  } catch (err) {
    if (err instanceof KeyError) return ctx.out.error(err.message);
    throw err;
  }
}
