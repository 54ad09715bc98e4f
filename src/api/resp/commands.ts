import { isUtf8 } from 'node:buffer';
import os from 'node:os';
import { passwordMatches } from '../auth.js';
import type { Commands } from '../commands.js';
import { isLive, type EntryRecord } from '../../store/entry.js';
import { globMatcher } from './glob.js';
import type { KeyIndex } from './key-index.js';
import { EMPTY_ARRAY, NIL, OK, PONG, type ReplyWriter } from './reply.js';

/**
 * The Redis commands a node answers (RESP2), mapped onto the same command layer
 * and store the HTTP and TCP front ends use, so a write here is stamped,
 * logged and replicated exactly like any other. Replies and error texts follow
 * Redis, so redis-cli, ioredis, node-redis and redis-benchmark work unchanged.
 *
 * Where OwlCache and Redis differ, a Redis client gets Redis's meaning:
 * `EXPIRE k 0` (or less) deletes the key as in Redis, while OwlCache's
 * `exptime 0` means "never expires"; PERSIST is the RESP way to say that.
 */

/** The Redis version whose command behaviour this front end follows (for clients that look). */
export const REDIS_COMPAT_VERSION = '7.0.0';
/** Longest TTL accepted: 100 years, as the command layer's exptime. */
const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

export interface PasswordGuard {
  /** Registers an attempt from ip; how long to wait (ms) before checking it. */
  begin(ip: string): number;
  end(ip: string, success: boolean): void;
}

export interface RespNodeInfo {
  version: string;
  nodeId: string;
  nodeName: string;
  /** GroupWorkMode: owlcache or gossip. */
  mode: string;
  /** ResponseHost:Httpport. */
  httpAddress: string;
  /** Cluster members as this node sees them (this node alone until membership is wired). */
  members(): { name: string; address: string; state: string }[];
}

export interface RespDeps {
  commands: Commands;
  /** The node's effective password; empty = no AUTH required. */
  password: string;
  passGuard?: PasswordGuard;
  node: () => RespNodeInfo;
  keyIndex: KeyIndex;
  maxMemory: number;
}

/** Per-connection state. */
export interface Connection {
  readonly id: number;
  readonly ip: string;
  authed: boolean;
  name: string | null;
  /** Set by QUIT: close once the replies are written. */
  quit: boolean;
}

/** Counters and facts shared by all connections (INFO). */
export interface ServerStats {
  readonly startedAt: number;
  port: number;
  connectedClients: number;
  totalConnections: number;
  totalCommands: number;
  hits: number;
  misses: number;
  rejectedConnections: number;
}

type Handler = (deps: RespDeps, conn: Connection, args: Buffer[], out: ReplyWriter, stats: ServerStats) => void | Promise<void>;

interface CommandSpec {
  /** Redis's arity: n = exactly n words (name included), -n = at least n. */
  arity: number;
  /** Allowed before AUTH. */
  noAuth?: true;
  run: Handler;
}

const ERR_SYNTAX = 'ERR syntax error';
const ERR_INT = 'ERR value is not an integer or out of range';
const ERR_NOAUTH = 'NOAUTH Authentication required.';
const ERR_WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';

const lower = (b: Buffer) => b.toString('latin1').toLowerCase();

/** Redis's strict integer syntax (no `+`, no spaces, no leading zeros); null if not one. */
function parseInteger(b: Buffer): number | null {
  const s = b.toString('latin1');
  if (!/^-?(0|[1-9][0-9]{0,17})$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

class KeyError extends Error {}

/** Keys are text in OwlCache (the same key as on HTTP and TCP), so they must be UTF-8. */
function keyOf(b: Buffer): string {
  if (!isUtf8(b)) throw new KeyError('ERR invalid key: OwlCache keys must be valid UTF-8');
  return b.toString('utf8');
}

function liveRecord(deps: RespDeps, key: string): EntryRecord | undefined {
  return deps.commands.get(key);
}

/** Stores a value through the command layer. Error text or null. */
function setValue(deps: RespDeps, key: string, value: Buffer, ttlMs: number): string | null {
  const o = deps.commands.setMs(key, value, ttlMs);
  return o.status === 200 ? null : `ERR ${o.message ?? 'write failed'}`;
}

/** Sets a live key's TTL (0 = persist). True if the key was live. */
function setTtl(deps: RespDeps, key: string, ttlMs: number): boolean {
  return deps.commands.expireMs(key, ttlMs).status === 200;
}

function deleteKey(deps: RespDeps, key: string): boolean {
  return deps.commands.delete(key).status === 200;
}

/** A stored value must not keep the socket chunk it was parsed from alive. */
const own = (b: Buffer) => Buffer.from(b);

function remainingMs(e: EntryRecord, now: number): number {
  return e.expireAt === 0 ? -1 : Math.max(0, e.expireAt - now);
}

// ---- connection and server commands -------------------------------------------------------

async function checkPassword(deps: RespDeps, conn: Connection, user: Buffer | null, pass: Buffer): Promise<boolean> {
  const guard = deps.passGuard;
  const delay = guard?.begin(conn.ip) ?? 0;
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  // Only the default user exists; its password is the node's Pass.
  const userOk = user === null || user.toString('latin1') === 'default';
  const ok = passwordMatches(pass, deps.password) && userOk;
  guard?.end(conn.ip, ok);
  if (ok) conn.authed = true;
  return ok;
}

const auth: Handler = async (deps, conn, args, out) => {
  if (args.length > 3) return out.error(ERR_SYNTAX);
  if (deps.password === '') {
    return out.error('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  const ok = await checkPassword(deps, conn, args.length === 3 ? args[1]! : null, args[args.length - 1]!);
  if (ok) out.constant(OK);
  else out.error(ERR_WRONGPASS);
};

const hello: Handler = async (deps, conn, args, out) => {
  let i = 1;
  if (args.length > 1) {
    const proto = parseInteger(args[1]!);
    if (proto === null) return out.error('ERR Protocol version is not an integer or out of range');
    if (proto !== 2) return out.error('NOPROTO sorry, this protocol version is not supported.');
    i = 2;
  }
  let setName: string | null = null;
  for (; i < args.length; i++) {
    const opt = lower(args[i]!);
    const left = args.length - i - 1;
    if (opt === 'auth' && left >= 2) {
      if (deps.password === '' || !(await checkPassword(deps, conn, args[i + 1]!, args[i + 2]!))) return out.error(ERR_WRONGPASS);
      i += 2;
    } else if (opt === 'setname' && left >= 1) {
      setName = args[++i]!.toString('utf8');
      if (!validClientName(setName)) return out.error(ERR_CLIENT_NAME);
    } else {
      return out.error(`ERR Syntax error in HELLO option '${args[i]!.toString('utf8')}'`);
    }
  }
  if (deps.password !== '' && !conn.authed) {
    return out.error('NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time');
  }
  if (setName !== null) conn.name = setName === '' ? null : setName;
  out.arrayHeader(14);
  out.bulk('server');
  out.bulk('redis');
  out.bulk('version');
  out.bulk(REDIS_COMPAT_VERSION);
  out.bulk('proto');
  out.integer(2);
  out.bulk('id');
  out.integer(conn.id);
  out.bulk('mode');
  out.bulk('standalone');
  out.bulk('role');
  out.bulk('master');
  out.bulk('modules');
  out.constant(EMPTY_ARRAY);
};

const ERR_CLIENT_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.';
const validClientName = (name: string) => /^[\x21-\x7e]*$/.test(name);

const client: Handler = (_deps, conn, args, out) => {
  const sub = lower(args[1]!);
  switch (sub) {
    case 'setname': {
      if (args.length !== 3) return out.error("ERR wrong number of arguments for 'client|setname' command");
      const name = args[2]!.toString('utf8');
      if (!validClientName(name)) return out.error(ERR_CLIENT_NAME);
      conn.name = name === '' ? null : name;
      return out.constant(OK);
    }
    case 'getname':
      return out.bulk(conn.name);
    case 'id':
      return out.integer(conn.id);
    case 'setinfo':
      // Client libraries announce themselves (lib-name, lib-ver); nothing to keep.
      return args.length === 4 ? out.constant(OK) : out.error("ERR wrong number of arguments for 'client|setinfo' command");
    default:
      return out.error(`ERR unknown subcommand '${args[1]!.toString('utf8').slice(0, 128)}'. Try CLIENT HELP.`);
  }
};

const command: Handler = (_deps, _conn, args, out) => {
  if (args.length === 1) return out.constant(EMPTY_ARRAY);
  switch (lower(args[1]!)) {
    case 'docs':
    case 'info':
    case 'list':
      return out.constant(EMPTY_ARRAY);
    case 'count':
      return out.integer(TABLE.size);
    default:
      return out.error(`ERR unknown subcommand '${args[1]!.toString('utf8').slice(0, 128)}'. Try COMMAND HELP.`);
  }
};

const config: Handler = (deps, _conn, args, out) => {
  const sub = lower(args[1]!);
  if (sub === 'resetstat') return out.constant(OK);
  if (sub !== 'get') return out.error(`ERR CONFIG ${args[1]!.toString('utf8').slice(0, 32)} is not supported by owlcache (only CONFIG GET)`);
  if (args.length < 3) return out.error("ERR wrong number of arguments for 'config|get' command");
  // What tools ask for (redis-benchmark reads save and appendonly); OwlCache's own settings live in owlcache.conf.
  const known: Record<string, string> = {
    save: '',
    appendonly: 'no',
    databases: '1',
    maxmemory: String(deps.maxMemory),
    'maxmemory-policy': 'allkeys-lru',
    'proto-max-bulk-len': String(deps.commands.limits.maxValueSize),
  };
  const pairs: string[] = [];
  for (const p of args.slice(2)) {
    const match = globMatcher(p.toString('utf8').toLowerCase());
    for (const [k, v] of Object.entries(known)) if (match(k) && !pairs.includes(k)) pairs.push(k, v);
  }
  out.array(pairs);
};

function infoText(deps: RespDeps, stats: ServerStats, wanted: Set<string>): string {
  const all = wanted.size === 0 || wanted.has('all') || wanted.has('everything') || wanted.has('default');
  const want = (s: string) => all || wanted.has(s);
  const node = deps.node();
  const mem = process.memoryUsage();
  const storeStats = deps.commands.store.stats();
  const sections: string[] = [];
  const section = (title: string, fields: [string, string | number][]) =>
    sections.push(`# ${title}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`);
  const uptime = Math.floor((Date.now() - stats.startedAt) / 1000);
  if (want('server')) {
    section('Server', [
      ['redis_version', REDIS_COMPAT_VERSION],
      ['owlcache_version', node.version],
      ['redis_mode', 'standalone'],
      ['os', `${os.type()} ${os.release()} ${os.arch()}`],
      ['arch_bits', process.arch.endsWith('64') ? 64 : 32],
      ['process_id', process.pid],
      ['run_id', node.nodeId],
      ['tcp_port', stats.port],
      ['uptime_in_seconds', uptime],
      ['uptime_in_days', Math.floor(uptime / 86400)],
      ['executable', process.execPath],
      ['node_version', process.version],
    ]);
  }
  if (want('clients')) {
    section('Clients', [
      ['connected_clients', stats.connectedClients],
      ['blocked_clients', 0],
    ]);
  }
  if (want('memory')) {
    const human = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)}G` : n >= 1 << 20 ? `${(n / 2 ** 20).toFixed(2)}M` : `${(n / 1024).toFixed(2)}K`);
    section('Memory', [
      ['used_memory', mem.heapUsed + mem.external],
      ['used_memory_human', human(mem.heapUsed + mem.external)],
      ['used_memory_rss', mem.rss],
      ['used_memory_rss_human', human(mem.rss)],
      ['used_memory_dataset', storeStats.bytes],
      ['maxmemory', deps.maxMemory],
      ['maxmemory_human', human(deps.maxMemory)],
      ['maxmemory_policy', 'allkeys-lru'],
    ]);
  }
  if (want('stats')) {
    section('Stats', [
      ['total_connections_received', stats.totalConnections],
      ['total_commands_processed', stats.totalCommands],
      ['rejected_connections', stats.rejectedConnections],
      ['evicted_keys', storeStats.evictions],
      ['keyspace_hits', stats.hits],
      ['keyspace_misses', stats.misses],
    ]);
  }
  if (want('keyspace')) {
    const fields: [string, string][] = [];
    if (storeStats.keys > 0) {
      let expires = 0;
      const now = Date.now();
      for (const e of deps.commands.store.entries()) if (e.expireAt !== 0 && isLive(e, now)) expires += 1;
      fields.push(['db0', `keys=${storeStats.keys},expires=${expires},avg_ttl=0`]);
    }
    section('Keyspace', fields);
  }
  if (want('cluster')) {
    const members = node.members();
    const fields: [string, string | number][] = [
      // Not Redis Cluster: clients must not try its protocol.
      ['cluster_enabled', 0],
      ['owlcache_mode', node.mode],
      ['owlcache_node_name', node.nodeName],
      ['owlcache_node_id', node.nodeId],
      ['owlcache_http_address', node.httpAddress],
      ['owlcache_members', members.length],
    ];
    members.forEach((m, i) => fields.push([`owlcache_member${i}`, `name=${m.name},address=${m.address},state=${m.state}`]));
    section('Cluster', fields);
  }
  return sections.join('\r\n');
}

const info: Handler = (deps, _conn, args, out, stats) => {
  const wanted = new Set(args.slice(1).map(lower));
  out.bulk(infoText(deps, stats, wanted));
};

// ---- key commands ---------------------------------------------------------------------------

const get: Handler = (deps, _conn, args, out, stats) => {
  const e = liveRecord(deps, keyOf(args[1]!));
  if (e === undefined || e.value === null) {
    stats.misses += 1;
    return out.constant(NIL);
  }
  stats.hits += 1;
  out.bulk(e.value);
};

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL] */
const set: Handler = (deps, _conn, args, out) => {
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
    return returnOld ? out.bulk(old) : out.constant(NIL);
  }
  if (keepTtl && current !== undefined) ttlMs = current.expireAt === 0 ? 0 : Math.max(1, current.expireAt - now);
  if (expiry !== null && ttlMs <= 0) {
    // An absolute time already past: the value would be born expired, as good as deleted.
    if (current !== undefined) deleteKey(deps, key);
  } else {
    const err = setValue(deps, key, own(args[2]!), ttlMs);
    if (err !== null) return out.error(err);
  }
  if (returnOld) out.bulk(old);
  else out.constant(OK);
};

const setWithTtl = (unitMs: number, name: string): Handler => (deps, _conn, args, out) => {
  const key = keyOf(args[1]!);
  const n = parseInteger(args[2]!);
  if (n === null) return out.error(ERR_INT);
  if (n <= 0 || n * unitMs > MAX_TTL_MS) return out.error(`ERR invalid expire time in '${name}' command`);
  const err = setValue(deps, key, own(args[3]!), n * unitMs);
  if (err !== null) return out.error(err);
  out.constant(OK);
};

const setnx: Handler = (deps, _conn, args, out) => {
  const key = keyOf(args[1]!);
  if (liveRecord(deps, key) !== undefined) return out.integer(0);
  const err = setValue(deps, key, own(args[2]!), 0);
  if (err !== null) return out.error(err);
  out.integer(1);
};

const del: Handler = (deps, _conn, args, out) => {
  const keys = args.slice(1).map(keyOf);
  let n = 0;
  for (const key of keys) if (deleteKey(deps, key)) n += 1;
  out.integer(n);
};

const exists: Handler = (deps, _conn, args, out) => {
  const keys = args.slice(1).map(keyOf);
  let n = 0;
  for (const key of keys) if (liveRecord(deps, key) !== undefined) n += 1;
  out.integer(n);
};

/** EXPIRE / PEXPIRE key ttl [NX|XX|GT|LT] */
const expire = (unitMs: number, name: string): Handler => (deps, _conn, args, out) => {
  const key = keyOf(args[1]!);
  const n = parseInteger(args[2]!);
  if (n === null) return out.error(ERR_INT);
  let flag: string | null = null;
  for (const a of args.slice(3)) {
    const f = lower(a);
    if (!['nx', 'xx', 'gt', 'lt'].includes(f)) return out.error(`ERR Unsupported option ${a.toString('utf8').slice(0, 64)}`);
    if (flag !== null && flag !== f) {
      return out.error(flag === 'nx' || f === 'nx'
        ? 'ERR NX and XX, GT or LT options at the same time are not compatible'
        : 'ERR GT and LT options at the same time are not compatible');
    }
    flag = f;
  }
  const ttlMs = n * unitMs;
  if (ttlMs > MAX_TTL_MS) return out.error(`ERR invalid expire time in '${name}' command`);
  const e = liveRecord(deps, key);
  if (e === undefined) return out.integer(0);
  const now = Date.now();
  const current = e.expireAt === 0 ? Infinity : e.expireAt;
  const target = now + ttlMs;
  if ((flag === 'nx' && e.expireAt !== 0) || (flag === 'xx' && e.expireAt === 0) ||
      (flag === 'gt' && !(target > current)) || (flag === 'lt' && !(target < current))) {
    return out.integer(0);
  }
  // Redis: a TTL that is not in the future deletes the key (OwlCache's exptime 0 would mean "forever").
  if (ttlMs <= 0) return out.integer(deleteKey(deps, key) ? 1 : 0);
  out.integer(setTtl(deps, key, ttlMs) ? 1 : 0);
};

const ttl = (unitMs: number): Handler => (deps, _conn, args, out) => {
  const e = liveRecord(deps, keyOf(args[1]!));
  if (e === undefined) return out.integer(-2);
  const ms = remainingMs(e, Date.now());
  if (ms < 0) return out.integer(-1);
  out.integer(unitMs === 1 ? ms : Math.floor((ms + 500) / 1000));
};

const persist: Handler = (deps, _conn, args, out) => {
  const key = keyOf(args[1]!);
  const e = liveRecord(deps, key);
  if (e === undefined || e.expireAt === 0) return out.integer(0);
  out.integer(setTtl(deps, key, 0) ? 1 : 0);
};

const mget: Handler = (deps, _conn, args, out, stats) => {
  const keys = args.slice(1).map(keyOf);
  out.arrayHeader(keys.length);
  for (const key of keys) {
    const e = liveRecord(deps, key);
    if (e?.value) stats.hits += 1;
    else stats.misses += 1;
    out.bulk(e?.value ?? null);
  }
};

const mset: Handler = (deps, _conn, args, out) => {
  if (args.length % 2 !== 1) return out.error("ERR wrong number of arguments for 'mset' command");
  const pairs: { key: string; value: Buffer }[] = [];
  for (let i = 1; i < args.length; i += 2) pairs.push({ key: keyOf(args[i]!), value: own(args[i + 1]!) });
  // All or nothing: the command layer checks every pair, then makes all of them or none.
  const o = deps.commands.setManyMs(pairs);
  if (o.status !== 200) return out.error(`ERR ${o.message ?? 'write failed'}`);
  out.constant(OK);
};

const dbsize: Handler = (deps, _conn, _args, out) => {
  out.integer(deps.commands.store.stats().keys);
};

/** SCAN cursor [MATCH pattern] [COUNT n] [TYPE type] */
const scan: Handler = (deps, _conn, args, out) => {
  const cursorText = args[1]!.toString('latin1');
  if (!/^[0-9]{1,20}$/.test(cursorText)) return out.error('ERR invalid cursor');
  const cursor = Number(cursorText);
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

const keysCmd: Handler = (deps, _conn, args, out) => {
  const match = globMatcher(args[1]!.toString('utf8'));
  const now = Date.now();
  const found: string[] = [];
  for (const e of deps.commands.store.entries()) if (isLive(e, now) && match(e.key)) found.push(e.key);
  out.array(found);
};

const type: Handler = (deps, _conn, args, out) => {
  out.simple(liveRecord(deps, keyOf(args[1]!)) === undefined ? 'none' : 'string');
};

const strlen: Handler = (deps, _conn, args, out) => {
  out.integer(liveRecord(deps, keyOf(args[1]!))?.value?.length ?? 0);
};

const TABLE = new Map<string, CommandSpec>([
  ['ping', { arity: -1, noAuth: true, run: (_d, _c, args, out) => (args.length > 2 ? out.error("ERR wrong number of arguments for 'ping' command") : args.length === 2 ? out.bulk(args[1]!) : out.constant(PONG)) }],
  ['echo', { arity: 2, run: (_d, _c, args, out) => out.bulk(args[1]!) }],
  ['auth', { arity: -2, noAuth: true, run: auth }],
  ['hello', { arity: -1, noAuth: true, run: hello }],
  ['quit', { arity: -1, noAuth: true, run: (_d, conn, _a, out) => { conn.quit = true; out.constant(OK); } }],
  ['select', { arity: 2, run: (_d, _c, args, out) => (parseInteger(args[1]!) === null ? out.error(ERR_INT) : parseInteger(args[1]!) === 0 ? out.constant(OK) : out.error('ERR DB index is out of range')) }],
  ['client', { arity: -2, run: client }],
  ['command', { arity: -1, run: command }],
  ['config', { arity: -2, run: config }],
  ['info', { arity: -1, run: info }],
  ['time', { arity: 1, run: (_d, _c, _a, out) => { const us = BigInt(Date.now()) * 1000n + (process.hrtime.bigint() / 1000n) % 1000n; out.array([String(us / 1_000_000n), String(us % 1_000_000n)]); } }],
  ['get', { arity: 2, run: get }],
  ['set', { arity: -3, run: set }],
  ['setex', { arity: 4, run: setWithTtl(1000, 'setex') }],
  ['psetex', { arity: 4, run: setWithTtl(1, 'psetex') }],
  ['setnx', { arity: 3, run: setnx }],
  ['del', { arity: -2, run: del }],
  ['unlink', { arity: -2, run: del }],
  ['exists', { arity: -2, run: exists }],
  ['expire', { arity: -3, run: expire(1000, 'expire') }],
  ['pexpire', { arity: -3, run: expire(1, 'pexpire') }],
  ['ttl', { arity: 2, run: ttl(1000) }],
  ['pttl', { arity: 2, run: ttl(1) }],
  ['persist', { arity: 2, run: persist }],
  ['mget', { arity: -2, run: mget }],
  ['mset', { arity: -3, run: mset }],
  ['dbsize', { arity: 1, run: dbsize }],
  ['scan', { arity: -2, run: scan }],
  ['keys', { arity: 2, run: keysCmd }],
  ['type', { arity: 2, run: type }],
  ['strlen', { arity: 2, run: strlen }],
]);

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
  const spec = TABLE.get(name);
  if (spec === undefined) return out.error(unknownCommandText(args));
  if (spec.arity > 0 ? args.length !== spec.arity : args.length < -spec.arity) {
    return out.error(`ERR wrong number of arguments for '${name}' command`);
  }
  if (!conn.authed && spec.noAuth !== true) return out.error(ERR_NOAUTH);
  try {
    return spec.run(deps, conn, args, out, stats);
  } catch (err) {
    if (err instanceof KeyError) return out.error(err.message);
    throw err;
  }
}

/** Whether a connection starts authenticated (no password configured). */
export const startsAuthed = (deps: RespDeps) => deps.password === '';
