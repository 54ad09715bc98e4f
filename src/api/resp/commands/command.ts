import { ERR_SYNTAX, lower, unknownSubcommand, wrongArity } from '../args.js';
import { aclCategories, arityFits, NO_KEYS, type CommandSpec } from '../command-spec.js';
import { globMatcher } from '../glob.js';
import { EMPTY_ARRAY, type ReplyWriter } from '../reply.js';

/**
 * COMMAND: the command table read back to the client, in Redis 7's shape. It is
 * built from the table it describes (passed in, so this module does not import
 * the table that imports it).
 */

/** One command's entry of COMMAND / COMMAND INFO. */
function writeInfo(out: ReplyWriter, spec: CommandSpec): void {
  out.arrayHeader(10);
  out.bulk(spec.name);
  out.integer(spec.arity);
  out.arrayHeader(spec.flags.length);
  for (const f of spec.flags) out.simple(f);
  const [first, last, step] = spec.keys;
  out.integer(first);
  out.integer(last);
  out.integer(step);
  const categories = aclCategories(spec);
  out.arrayHeader(categories.length);
  for (const c of categories) out.simple(c);
  // Tips, key specifications and subcommands: none described yet.
  out.constant(EMPTY_ARRAY);
  out.constant(EMPTY_ARRAY);
  out.constant(EMPTY_ARRAY);
}

/** The key arguments of a whole command line, from the table's key positions; an error text when there are none. */
function keysOf(table: ReadonlyMap<string, CommandSpec>, words: Buffer[]): Buffer[] | string {
  const spec = words.length > 0 ? table.get(lower(words[0]!)) : undefined;
  if (spec === undefined) return 'ERR Invalid command specified';
  if (!arityFits(spec, words.length)) return 'ERR Invalid number of arguments specified for command';
  const [first, last, step] = spec.keys;
  if (first === 0) return 'ERR The command has no key arguments';
  const end = last < 0 ? words.length + last : last;
  const keys: Buffer[] = [];
  for (let i = first; i <= end && i < words.length; i += step) keys.push(words[i]!);
  return keys;
}

export function introspectionCommand(table: ReadonlyMap<string, CommandSpec>): CommandSpec {
  return {
    name: 'command',
    arity: -1,
    flags: ['loading', 'stale'],
    keys: NO_KEYS,
    categories: ['@connection'],
    run: ({ args, out }) => {
      if (args.length === 1) {
        out.arrayHeader(table.size);
        for (const spec of table.values()) writeInfo(out, spec);
        return;
      }
      switch (lower(args[1]!)) {
        case 'count':
          if (args.length !== 2) return out.error(wrongArity('command|count'));
          return out.integer(table.size);
        case 'info': {
          const names = args.slice(2);
          if (names.length === 0) {
            out.arrayHeader(table.size);
            for (const spec of table.values()) writeInfo(out, spec);
            return;
          }
          out.arrayHeader(names.length);
          for (const name of names) {
            const spec = table.get(lower(name));
            if (spec === undefined) out.bulk(null);
            else writeInfo(out, spec);
          }
          return;
        }
        case 'list':
          return list(table, args, out);
        case 'getkeys': {
          if (args.length < 3) return out.error(wrongArity('command|getkeys'));
          const keys = keysOf(table, args.slice(2));
          return typeof keys === 'string' ? out.error(keys) : out.array(keys);
        }
        case 'docs':
          return docs(table, args.slice(2), out);
        default:
          return out.error(unknownSubcommand('COMMAND', args[1]!));
      }
    },
  };
}

/** COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern] */
function list(table: ReadonlyMap<string, CommandSpec>, args: Buffer[], out: ReplyWriter): void {
  const names = [...table.keys()];
  if (args.length === 2) return out.array(names);
  if (args.length !== 5 || lower(args[2]!) !== 'filterby') return out.error(ERR_SYNTAX);
  const by = lower(args[3]!);
  const value = args[4]!.toString('utf8');
  if (by === 'module') return out.constant(EMPTY_ARRAY);
  if (by === 'aclcat') {
    const category = `@${value.toLowerCase()}`;
    return out.array(names.filter((n) => aclCategories(table.get(n)!).includes(category)));
  }
  if (by === 'pattern') return out.array(names.filter(globMatcher(value.toLowerCase())));
  out.error(ERR_SYNTAX);
}

/** Redis's command group of a command, from its ACL categories. */
function groupOf(spec: CommandSpec): string {
  const c = spec.categories;
  if (c.includes('@transaction')) return 'transactions';
  if (c.includes('@connection')) return 'connection';
  if (c.includes('@string')) return 'string';
  if (c.includes('@keyspace')) return 'generic';
  return 'server';
}

/**
 * COMMAND DOCS [name …]: a map of each command to its documentation. The
 * table carries no summaries or argument lists, so each entry holds Redis's
 * `group` field only; unknown names are left out, as in Redis.
 */
function docs(table: ReadonlyMap<string, CommandSpec>, names: Buffer[], out: ReplyWriter): void {
  const specs = names.length === 0 ? [...table.values()] : names.map((n) => table.get(lower(n))).filter((s): s is CommandSpec => s !== undefined);
  out.mapHeader(specs.length);
  for (const spec of specs) {
    out.bulk(spec.name);
    out.map([['group', groupOf(spec)]]);
  }
}
