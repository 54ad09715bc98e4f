import { isLive, type EntryRecord, type LiveRead } from '../../../store/entry.js';
import { ERR_INT, ERR_SYNTAX, MAX_TTL_MS, keyOf, lower, parseInteger, unknownSubcommand, wrongArity } from '../args.js';
import { parseInt64 } from '../../../store/counter.js';
import { ALL_KEYS, NO_KEYS, ONE_KEY, type AclCategory, type CommandFlag, type CommandSpec, type Handler } from '../command-spec.js';
import type { RespDeps, ServerStats } from '../context.js';
import { globMatcher } from '../glob.js';
import { OK, type ReplyWriter } from '../reply.js';

/**
 * Strings and keys, mapped onto the same command layer and store the HTTP and
 * TCP front ends use, so a write here is stamped, logged and replicated exactly
 * like any other.
 *
 * Where OwlCache and Redis differ, a Redis client gets Redis's meaning:
 * `EXPIRE k 0` (or less) deletes the key as in Redis, while OwlCache's
 * `exptime 0` means "never expires"; PERSIST is the RESP way to say that.
 */

export function liveRecord(deps: RespDeps, key: string): EntryRecord | undefined {
  return deps.commands.get(key);
}

/**
 * Stores a value through the command layer. Error text or null. `value` may be
 * a view of the socket's read: the store copies it into its arena, so the view
 * pins the read only until the command has run.
 */
export function setValue(deps: RespDeps, key: string, value: Buffer, ttlMs: number): string | null {
  const o = deps.commands.setMs(key, value, ttlMs);
  return o.status === 200 ? null : `ERR ${o.message ?? 'write failed'}`;
}

/** Sets a live key's TTL (0 = persist). True if the key was live. */
export function setTtl(deps: RespDeps, key: string, ttlMs: number): boolean {
  return deps.commands.expireMs(key, ttlMs).status === 200;
}

export function deleteKey(deps: RespDeps, key: string): boolean {
  return deps.commands.delete(key).status === 200;
}

function remainingMs(e: EntryRecord, now: number): number {
  return e.expireAt === 0 ? -1 : Math.max(0, e.expireAt - now);
}

const NO_VALUE = Buffer.alloc(0);
/** Filled by each GET and emptied at once (one connection's command runs at a time). */
const read: LiveRead = { value: NO_VALUE, created: 0 };

/** GET's answer (also the pipeline's fast path, plain-get.ts): the value or nil, counted as a hit or a miss. True on a hit. */
export function answerGet(deps: RespDeps, key: string, out: ReplyWriter, stats: ServerStats): boolean {
  if (!deps.commands.readLive(key, read)) {
    stats.misses += 1;
    out.nil();
    return false;
  }
  stats.hits += 1;
  out.bulkCopy(read.value);
  // Not kept: the view would hold an arena page that compaction may drop.
  read.value = NO_VALUE;
  return true;
}

const get: Handler = ({ deps, args, out, stats }) => {
  answerGet(deps, keyOf(args[1]!), out, stats);
};

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL] */
const set: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  let cond: 'nx' | 'xx' | null = null;
  let returnOld = false;
  let expiry: { kind: string; n: number } | null = null;
  let keepTtl = false;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if ((opt === 'nx' || opt === 'xx') && cond === null) cond = opt;
    else if (opt === 'get' && !returnOld) returnOld = true;
    else if (opt === 'keepttl' && expiry === null && !keepTtl) keepTtl = true;
    else if ((opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') && expiry === null && !keepTtl && i + 1 < args.length) {
      const n = parseInteger(args[++i]!);
      if (n === null) return out.error(ERR_INT);
      if (n <= 0) return out.error("ERR invalid expire time in 'set' command");
      expiry = { kind: opt, n };
    } else return out.error(ERR_SYNTAX);
  }
  const now = Date.now();
  let ttlMs = 0;
  if (expiry !== null) {
    const { kind, n } = expiry;
    ttlMs = kind === 'ex' ? n * 1000 : kind === 'px' ? n : kind === 'exat' ? n * 1000 - now : n - now;
    if (ttlMs > MAX_TTL_MS) return out.error("ERR invalid expire time in 'set' command");
  }
  // Plain SET does not need the current entry; skip the lookup on that hot path.
  const needCurrent = cond !== null || returnOld || keepTtl || (expiry !== null && ttlMs <= 0);
  const current = needCurrent ? liveRecord(deps, key) : undefined;
  const old = current?.value ?? null;
  if ((cond === 'nx' && current !== undefined) || (cond === 'xx' && current === undefined)) {
    return returnOld ? out.bulk(old) : out.nil();
  }
  if (keepTtl && current !== undefined) ttlMs = current.expireAt === 0 ? 0 : Math.max(1, current.expireAt - now);
  if (expiry !== null && ttlMs <= 0) {
    // An absolute time already past: the value would be born expired, as good as deleted.
    if (current !== undefined) deleteKey(deps, key);
  } else {
    const err = setValue(deps, key, args[2]!, ttlMs);
    if (err !== null) return out.error(err);
  }
  if (returnOld) out.bulk(old);
  else out.constant(OK);
};

/** SETEX / PSETEX key ttl value */
const setWithTtl =
  (unitMs: number, name: string): Handler =>
  ({ deps, args, out }) => {
    const key = keyOf(args[1]!);
    const n = parseInteger(args[2]!);
    if (n === null) return out.error(ERR_INT);
    if (n <= 0 || n * unitMs > MAX_TTL_MS) return out.error(`ERR invalid expire time in '${name}' command`);
    const err = setValue(deps, key, args[3]!, n * unitMs);
    if (err !== null) return out.error(err);
    out.constant(OK);
  };

const setnx: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  if (liveRecord(deps, key) !== undefined) return out.integer(0);
  const err = setValue(deps, key, args[2]!, 0);
  if (err !== null) return out.error(err);
  out.integer(1);
};

const del: Handler = ({ deps, args, out }) => {
  const keys = args.slice(1).map(keyOf);
  let n = 0;
  for (const key of keys) if (deleteKey(deps, key)) n += 1;
  out.integer(n);
};

const exists: Handler = ({ deps, args, out }) => {
  const keys = args.slice(1).map(keyOf);
  let n = 0;
  for (const key of keys) if (liveRecord(deps, key) !== undefined) n += 1;
  out.integer(n);
};

/** EXPIRE's flags, parsed and checked as Redis does: NX alone, or XX with GT or LT (not both). */
function expireFlags(words: Buffer[]): Set<string> | string {
  const flags = new Set<string>();
  for (const a of words) {
    const f = lower(a);
    if (f !== 'nx' && f !== 'xx' && f !== 'gt' && f !== 'lt') return `ERR Unsupported option ${a.toString('utf8').slice(0, 64)}`;
    flags.add(f);
  }
  if (flags.has('nx') && (flags.has('xx') || flags.has('gt') || flags.has('lt'))) return 'ERR NX and XX, GT or LT options at the same time are not compatible';
  if (flags.has('gt') && flags.has('lt')) return 'ERR GT and LT options at the same time are not compatible';
  return flags;
}

/**
 * EXPIRE / PEXPIRE key ttl [NX|XX|GT|LT…], EXPIREAT / PEXPIREAT key time [flags]:
 * `absolute` says the number is a time rather than a TTL.
 */
const expire =
  (unitMs: number, name: string, absolute: boolean): Handler =>
  ({ deps, args, out }) => {
    const key = keyOf(args[1]!);
    const flags = expireFlags(args.slice(3));
    if (typeof flags === 'string') return out.error(flags);
    const n = parseInteger(args[2]!);
    if (n === null) return out.error(ERR_INT);
    const now = Date.now();
    const target = absolute ? n * unitMs : now + n * unitMs;
    if (target - now > MAX_TTL_MS) return out.error(`ERR invalid expire time in '${name}' command`);
    const e = liveRecord(deps, key);
    if (e === undefined) return out.integer(0);
    // A key without a TTL has an infinite one: GT never passes it, LT always does.
    const current = e.expireAt === 0 ? Infinity : e.expireAt;
    if (
      (flags.has('nx') && e.expireAt !== 0) ||
      (flags.has('xx') && e.expireAt === 0) ||
      (flags.has('gt') && !(target > current)) ||
      (flags.has('lt') && !(target < current))
    ) {
      return out.integer(0);
    }
    // Redis: a time that is not in the future deletes the key (OwlCache's exptime 0 would mean "forever").
    if (target <= now) return out.integer(deleteKey(deps, key) ? 1 : 0);
    out.integer(deps.commands.expireMs(key, target - now, absolute ? target : undefined).status === 200 ? 1 : 0);
  };

/** EXPIRETIME / PEXPIRETIME: the absolute expiry, -1 without one, -2 for a missing key. */
const expireTime =
  (unitMs: number): Handler =>
  ({ deps, args, out }) => {
    const e = liveRecord(deps, keyOf(args[1]!));
    if (e === undefined) return out.integer(-2);
    if (e.expireAt === 0) return out.integer(-1);
    out.integer(Math.floor(e.expireAt / unitMs));
  };

const touch: Handler = ({ deps, args, out }) => {
  let n = 0;
  for (const a of args.slice(1)) if (liveRecord(deps, keyOf(a)) !== undefined) n++;
  out.integer(n);
};

/** Writes `e`'s value and remaining TTL under `dest`. A counter arrives as a plain value holding its sum. */
function writeCopy(deps: RespDeps, e: EntryRecord, dest: string): string | null {
  const now = Date.now();
  return setValue(deps, dest, e.value!, e.expireAt === 0 ? 0 : Math.max(1, e.expireAt - now));
}

const rename =
  (nx: boolean): Handler =>
  ({ deps, args, out }) => {
    const src = keyOf(args[1]!);
    const dest = keyOf(args[2]!);
    const e = liveRecord(deps, src);
    if (e === undefined) return out.error('ERR no such key');
    if (src === dest) return nx ? out.integer(0) : out.constant(OK);
    if (nx && liveRecord(deps, dest) !== undefined) return out.integer(0);
    const err = writeCopy(deps, e, dest);
    if (err !== null) return out.error(err);
    deleteKey(deps, src);
    return nx ? out.integer(1) : out.constant(OK);
  };

/** COPY source destination [DB db] [REPLACE] */
const copy: Handler = ({ deps, args, out }) => {
  const src = keyOf(args[1]!);
  const dest = keyOf(args[2]!);
  let replace = false;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === 'replace') replace = true;
    else if (opt === 'db' && i + 1 < args.length) {
      const db = parseInteger(args[++i]!);
      if (db === null) return out.error(ERR_INT);
      if (db !== 0) return out.error('ERR DB index is out of range');
    } else return out.error(ERR_SYNTAX);
  }
  if (src === dest) return out.error('ERR source and destination objects are the same');
  const e = liveRecord(deps, src);
  if (e === undefined) return out.integer(0);
  if (!replace && liveRecord(deps, dest) !== undefined) return out.integer(0);
  const err = writeCopy(deps, e, dest);
  if (err !== null) return out.error(err);
  out.integer(1);
};

const randomkey: Handler = ({ deps, out }) => {
  out.bulk(deps.keyIndex.randomKey());
};

/** Redis's encoding of a string: int (a 64-bit integer in at most 20 characters), embstr (up to 44 bytes), raw. */
function encodingOf(value: Buffer): string {
  if (value.length <= 20 && parseInt64(value) !== null) return 'int';
  return value.length <= 44 ? 'embstr' : 'raw';
}

const object: Handler = ({ deps, args, out }) => {
  const sub = lower(args[1]!);
  if (!['encoding', 'freq', 'idletime', 'refcount'].includes(sub)) return out.error(unknownSubcommand('OBJECT', args[1]!));
  if (args.length !== 3) return out.error(wrongArity(`object|${sub}`));
  const e = deps.commands.store.peek(keyOf(args[2]!));
  if (e === undefined || !isLive(e, Date.now())) return out.nil();
  const value = e.value!;
  switch (sub) {
    case 'encoding':
      return out.bulk(encodingOf(value));
    case 'refcount': {
      // Redis shares the objects of the integers 0..9999 (refcount INT_MAX).
      const n = encodingOf(value) === 'int' ? parseInt64(value)! : -1n;
      return out.integer(n >= 0n && n < 10000n ? 2147483647 : 1);
    }
    case 'idletime':
      // The LRU keeps an order, not times: the seconds since the value was written.
      return out.integer(Math.max(0, Math.floor((Date.now() * 1000 - e.created) / 1e6)));
    default:
      return out.error(
        'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
      );
  }
};

const ttl =
  (unitMs: number): Handler =>
  ({ deps, args, out }) => {
    const e = liveRecord(deps, keyOf(args[1]!));
    if (e === undefined) return out.integer(-2);
    const ms = remainingMs(e, Date.now());
    if (ms < 0) return out.integer(-1);
    out.integer(unitMs === 1 ? ms : Math.floor((ms + 500) / 1000));
  };

const persist: Handler = ({ deps, args, out }) => {
  const key = keyOf(args[1]!);
  const e = liveRecord(deps, key);
  if (e === undefined || e.expireAt === 0) return out.integer(0);
  out.integer(setTtl(deps, key, 0) ? 1 : 0);
};

const mget: Handler = ({ deps, args, out, stats }) => {
  const keys = args.slice(1).map(keyOf);
  out.arrayHeader(keys.length);
  for (const key of keys) {
    const e = liveRecord(deps, key);
    if (e?.value) stats.hits += 1;
    else stats.misses += 1;
    out.bulk(e?.value ?? null);
  }
};

const mset: Handler = ({ deps, args, out }) => {
  if (args.length % 2 !== 1) return out.error(wrongArity('mset'));
  const pairs: { key: string; value: Buffer }[] = [];
  for (let i = 1; i < args.length; i += 2) pairs.push({ key: keyOf(args[i]!), value: args[i + 1]! });
  // All or nothing: the command layer checks every pair, then makes all of them or none.
  const o = deps.commands.setManyMs(pairs);
  if (o.status !== 200) return out.error(`ERR ${o.message ?? 'write failed'}`);
  out.constant(OK);
};

/** SCAN cursor [MATCH pattern] [COUNT n] [TYPE type] */
const scan: Handler = ({ deps, args, out }) => {
  // Redis reads the cursor with strtoul: a negative one wraps around (a cursor past the end), one past 64 bits is invalid.
  const cursorText = args[1]!.toString('latin1');
  if (!/^-?[0-9]{1,20}$/.test(cursorText)) return out.error('ERR invalid cursor');
  const asked = BigInt(cursorText);
  if (asked > 2n ** 64n - 1n || asked < -(2n ** 64n - 1n)) return out.error('ERR invalid cursor');
  const cursor = asked < 0n || asked >= BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(asked);
  let count = 10;
  let match: ((k: string) => boolean) | null = null;
  let typeOk = true;
  for (let i = 2; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) return out.error(ERR_SYNTAX);
    const v = args[++i]!;
    if (opt === 'count') {
      const n = parseInteger(v);
      if (n === null) return out.error(ERR_INT);
      if (n < 1) return out.error(ERR_SYNTAX);
      count = Math.min(n, 1_000_000);
    } else if (opt === 'match') {
      match = globMatcher(v.toString('utf8'));
    } else if (opt === 'type') {
      typeOk = lower(v) === 'string';
    } else {
      return out.error(ERR_SYNTAX);
    }
  }
  const { next, keys } = deps.keyIndex.scan(cursor, count);
  const chosen = typeOk ? (match === null ? keys : keys.filter(match)) : [];
  out.arrayHeader(2);
  out.bulk(String(next));
  out.array(chosen);
};

/** KEYS walks the whole store, as it does in Redis (which is why clients are told to SCAN). */
const keysCommand: Handler = ({ deps, args, out }) => {
  const match = globMatcher(args[1]!.toString('utf8'));
  out.array(deps.commands.store.liveKeys(match, match.prefix));
};

const type: Handler = ({ deps, args, out }) => {
  out.simple(liveRecord(deps, keyOf(args[1]!)) === undefined ? 'none' : 'string');
};

const strlen: Handler = ({ deps, args, out }) => {
  out.integer(liveRecord(deps, keyOf(args[1]!))?.value?.length ?? 0);
};

const spec = (
  name: string,
  arity: number,
  flags: readonly CommandFlag[],
  keys: CommandSpec['keys'],
  categories: readonly AclCategory[],
  run: Handler,
): CommandSpec => ({ name, arity, flags, keys, categories, run });

const STRING: readonly AclCategory[] = ['@string'];
const KEYSPACE: readonly AclCategory[] = ['@keyspace'];

export const keyCommands: readonly CommandSpec[] = [
  spec('get', 2, ['readonly', 'fast'], ONE_KEY, STRING, get),
  spec('set', -3, ['write', 'denyoom'], ONE_KEY, STRING, set),
  spec('setex', 4, ['write', 'denyoom'], ONE_KEY, STRING, setWithTtl(1000, 'setex')),
  spec('psetex', 4, ['write', 'denyoom'], ONE_KEY, STRING, setWithTtl(1, 'psetex')),
  spec('setnx', 3, ['write', 'denyoom', 'fast'], ONE_KEY, STRING, setnx),
  spec('mget', -2, ['readonly', 'fast'], ALL_KEYS, STRING, mget),
  spec('mset', -3, ['write', 'denyoom'], [1, -1, 2], STRING, mset),
  spec('strlen', 2, ['readonly', 'fast'], ONE_KEY, STRING, strlen),
  spec('del', -2, ['write'], ALL_KEYS, KEYSPACE, del),
  spec('unlink', -2, ['write', 'fast'], ALL_KEYS, KEYSPACE, del),
  spec('exists', -2, ['readonly', 'fast'], ALL_KEYS, KEYSPACE, exists),
  spec('type', 2, ['readonly', 'fast'], ONE_KEY, KEYSPACE, type),
  spec('expire', -3, ['write', 'fast'], ONE_KEY, KEYSPACE, expire(1000, 'expire', false)),
  spec('pexpire', -3, ['write', 'fast'], ONE_KEY, KEYSPACE, expire(1, 'pexpire', false)),
  spec('expireat', -3, ['write', 'fast'], ONE_KEY, KEYSPACE, expire(1000, 'expireat', true)),
  spec('pexpireat', -3, ['write', 'fast'], ONE_KEY, KEYSPACE, expire(1, 'pexpireat', true)),
  spec('expiretime', 2, ['readonly', 'fast'], ONE_KEY, KEYSPACE, expireTime(1000)),
  spec('pexpiretime', 2, ['readonly', 'fast'], ONE_KEY, KEYSPACE, expireTime(1)),
  spec('touch', -2, ['readonly', 'fast'], ALL_KEYS, KEYSPACE, touch),
  spec('rename', 3, ['write'], [1, 2, 1], KEYSPACE, rename(false)),
  spec('renamenx', 3, ['write', 'fast'], [1, 2, 1], KEYSPACE, rename(true)),
  spec('copy', -3, ['write', 'denyoom'], [1, 2, 1], KEYSPACE, copy),
  spec('randomkey', 1, ['readonly'], NO_KEYS, KEYSPACE, randomkey),
  spec('object', -2, ['readonly'], NO_KEYS, KEYSPACE, object),
  spec('ttl', 2, ['readonly', 'fast'], ONE_KEY, KEYSPACE, ttl(1000)),
  spec('pttl', 2, ['readonly', 'fast'], ONE_KEY, KEYSPACE, ttl(1)),
  spec('persist', 2, ['write', 'fast'], ONE_KEY, KEYSPACE, persist),
  spec('scan', -2, ['readonly'], NO_KEYS, KEYSPACE, scan),
  spec('keys', 2, ['readonly'], NO_KEYS, [...KEYSPACE, '@dangerous'], keysCommand),
];
