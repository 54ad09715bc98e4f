import { ERR_INT, ERR_SYNTAX, MAX_TTL_MS, keyOf, lower, parseInteger } from '../args.js';
import { ONE_KEY, type CommandSpec, type Handler } from '../command-spec.js';
import type { RespDeps } from '../context.js';
import { INT64_MIN, parseInt64 } from '../../../store/counter.js';
import type { EntryRecord } from '../../../store/entry.js';
import { deleteKey, liveRecord, setTtl, setValue } from './keys.js';

/**
 * String commands beyond GET/SET: counters, partial reads and writes, reads
 * that also write. INCR and its family are counters that add up across nodes
 * (src/store/counter.ts); the others are plain writes, so a counter key they
 * write becomes a plain value again, as after a SET.
 */

const ERR_TOO_BIG = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';

/** What is left of a live entry's TTL, for writes that keep it (0 = none). */
function keptTtl(e: EntryRecord | undefined, now: number): number {
  return e === undefined || e.expireAt === 0 ? 0 : Math.max(1, e.expireAt - now);
}

function increment(deps: RespDeps, key: string, delta: bigint, out: Parameters<Handler>[0]['out']): void {
  const o = deps.commands.incrementBy(key, delta);
  if (o.status !== 200) return out.error(`ERR ${o.message ?? 'write failed'}`);
  out.integer(Number(o.record!.value!.toString('latin1')));
}

const incrBy =
  (sign: 1n | -1n, fixed: bigint | null): Handler =>
  ({ deps, args, out }) => {
    const key = keyOf(args[1]!);
    let delta = fixed;
    if (delta === null) {
      const n = parseInt64(args[2]!);
      if (n === null) return out.error(ERR_INT);
      // DECRBY of the smallest integer would be its negation, one past the largest.
      if (sign < 0n && n === INT64_MIN) return out.error('ERR decrement would overflow');
      delta = n;
    }
    increment(deps, key, sign * delta, out);
  };

/** Redis's float syntax for INCRBYFLOAT (string2ld): no spaces, no NaN. */
function parseFloatArg(b: Buffer): number | null {
  const s = b.toString('latin1');
  if (s.length === 0 || /^\s|\s$/.test(s) || !/^[+-]?(inf|infinity|(\d+\.?\d*|\.\d+)(e[+-]?\d+)?)$/i.test(s)) return null;
  const x = /inf/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s);
  return Number.isNaN(x) ? null : x;
}

/**
 * INCRBYFLOAT's result as Redis writes it: fixed notation, trailing zeros cut.
 * Redis computes in long double; rounding to 15 significant digits gives the
 * same text for decimal inputs (0.1 + 0.2 is "0.3", not "0.30000000000000004").
 */
export function floatText(x: number): string {
  const r = Number(x.toPrecision(15));
  if (Math.abs(r) >= 1e21) return BigInt(r).toString();
  const plain = String(r);
  if (!plain.includes('e')) return plain;
  const digits = Math.min(100, 15 - Math.floor(Math.log10(Math.abs(r))));
  return r.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
}

const incrByFloat: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const e = liveRecord(deps, key);
  const now = Date.now();
  const current = e === undefined ? 0 : parseFloatArg(e.value!);
  if (current === null || !Number.isFinite(current)) return out.error('ERR value is not a valid float');
  const by = parseFloatArg(args[2]!);
  if (by === null) return out.error('ERR value is not a valid float');
  const sum = current + by;
  if (!Number.isFinite(sum)) return out.error('ERR increment would produce NaN or Infinity');
  const text = floatText(sum);
  const err = setValue(deps, key, Buffer.from(text, 'latin1'), keptTtl(e, now));
  if (err !== null) return out.error(err);
  out.bulk(text);
};

const append: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const e = liveRecord(deps, key);
  const value = e === undefined ? args[2]! : Buffer.concat([e.value!, args[2]!]);
  if (value.length > deps.commands.limits.maxValueSize) return out.error(ERR_TOO_BIG);
  const err = setValue(deps, key, value, keptTtl(e, Date.now()));
  if (err !== null) return out.error(err);
  out.integer(value.length);
};

const getset: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const old = liveRecord(deps, key)?.value ?? null;
  const err = setValue(deps, key, args[2]!, 0);
  if (err !== null) return out.error(err);
  out.bulk(old);
};

const getdel: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const e = liveRecord(deps, key);
  if (e === undefined) return out.nil();
  deleteKey(deps, key);
  out.bulk(e.value);
};

/** GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST] */
const getex: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  let change: { persist: true } | { at: number } | null = null;
  const now = Date.now();
  for (let i = 2; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === 'persist' && change === null) change = { persist: true };
    else if ((opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') && change === null && i + 1 < args.length) {
      const n = parseInteger(args[++i]!);
      if (n === null) return out.error(ERR_INT);
      const unit = opt === 'ex' || opt === 'exat' ? 1000 : 1;
      if (n <= 0 || n * unit > (opt.endsWith('at') ? now + MAX_TTL_MS : MAX_TTL_MS)) return out.error("ERR invalid expire time in 'getex' command");
      change = { at: opt.endsWith('at') ? n * unit : now + n * unit };
    } else return out.error(ERR_SYNTAX);
  }
  const e = liveRecord(deps, key);
  if (e === undefined) return out.nil();
  if (change !== null && 'persist' in change) {
    if (e.expireAt !== 0) setTtl(deps, key, 0);
  } else if (change !== null) {
    if (change.at <= now) deleteKey(deps, key);
    else setTtl(deps, key, change.at - now);
  }
  out.bulk(e.value);
};

const getrange: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  let start = parseInteger(args[2]!);
  let end = parseInteger(args[3]!);
  if (start === null || end === null) return out.error(ERR_INT);
  const value = liveRecord(deps, key)?.value ?? Buffer.alloc(0);
  const len = value.length;
  if (start < 0 && end < 0 && start > end) return out.bulk('');
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len === 0) return out.bulk('');
  out.bulk(value.subarray(start, end + 1));
};

const setrange: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const offset = parseInteger(args[2]!);
  if (offset === null) return out.error(ERR_INT);
  if (offset < 0) return out.error('ERR offset is out of range');
  const piece = args[3]!;
  const e = liveRecord(deps, key);
  const current = e?.value ?? Buffer.alloc(0);
  if (piece.length === 0) return out.integer(current.length);
  const length = Math.max(current.length, offset + piece.length);
  if (length > deps.commands.limits.maxValueSize) return out.error(ERR_TOO_BIG);
  const value = Buffer.alloc(length);
  current.copy(value);
  piece.copy(value, offset);
  const err = setValue(deps, key, value, keptTtl(e, Date.now()));
  if (err !== null) return out.error(err);
  out.integer(length);
};

const msetnx: Handler = ({ deps, args, out }) => {
  if (args.length % 2 !== 1) return out.error("ERR wrong number of arguments for 'msetnx' command");
  const pairs: { key: string; value: Buffer }[] = [];
  for (let i = 1; i < args.length; i += 2) pairs.push({ key: keyOf(args[i]!), value: args[i + 1]! });
  if (pairs.some(({ key }) => liveRecord(deps, key) !== undefined)) return out.integer(0);
  const o = deps.commands.setManyMs(pairs);
  if (o.status !== 200) return out.error(`ERR ${o.message ?? 'write failed'}`);
  out.integer(1);
};

const string = (name: string, arity: number, flags: CommandSpec['flags'], run: Handler, keys: CommandSpec['keys'] = ONE_KEY): CommandSpec => ({
  name,
  arity,
  flags,
  keys,
  categories: ['@string'],
  run,
});

export const stringCommands: readonly CommandSpec[] = [
  string('incr', 2, ['write', 'denyoom', 'fast'], incrBy(1n, 1n)),
  string('decr', 2, ['write', 'denyoom', 'fast'], incrBy(-1n, 1n)),
  string('incrby', 3, ['write', 'denyoom', 'fast'], incrBy(1n, null)),
  string('decrby', 3, ['write', 'denyoom', 'fast'], incrBy(-1n, null)),
  string('incrbyfloat', 3, ['write', 'denyoom', 'fast'], incrByFloat),
  string('append', 3, ['write', 'denyoom', 'fast'], append),
  string('getset', 3, ['write', 'denyoom', 'fast'], getset),
  string('getdel', 2, ['write', 'fast'], getdel),
  string('getex', -2, ['write', 'fast'], getex),
  string('getrange', 4, ['readonly'], getrange),
  string('setrange', 4, ['write', 'denyoom'], setrange),
  string('msetnx', -3, ['write', 'denyoom'], msetnx, [1, -1, 2]),
];
