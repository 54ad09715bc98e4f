import os from 'node:os';
import { ERR_INT, ERR_SYNTAX, keyOf, lower, parseInteger, unknownSubcommand, wrongArity } from '../args.js';
import { isLive } from '../../../store/entry.js';
import { recordCost } from '../../../store/store.js';
import { logger } from '../../../log.js';
import { NO_KEYS, type CommandSpec, type Handler } from '../command-spec.js';
import { REDIS_COMPAT_VERSION, type RespDeps, type ServerStats } from '../context.js';
import { globMatcher } from '../glob.js';
import { OK } from '../reply.js';

/** Server commands: what the node is and holds, from counters (INFO runs on every ioredis connect, so it walks nothing). */

/**
 * CONFIG GET answers the Redis parameters clients and tools read
 * (redis-benchmark reads save and appendonly) from the node's settings. None
 * of them can change while the node runs (OwlCache's settings live in
 * owlcache.conf), so CONFIG SET answers each as Redis answers an immutable
 * parameter, and any other name as Redis answers an unknown one.
 */
const config: Handler = ({ deps, args, out }) => {
  const sub = lower(args[1]!);
  if (sub === 'resetstat') return out.constant(OK);
  if (sub === 'set') {
    if (args.length < 4 || args.length % 2 !== 0) return out.error(wrongArity('config|set'));
    const known = configParameters(deps);
    for (let i = 2; i < args.length; i += 2) {
      const name = args[i]!.toString('utf8');
      if (!(name.toLowerCase() in known)) return out.error(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
    }
    return out.error(`ERR CONFIG SET failed (possibly related to argument '${args[2]!.toString('utf8')}') - can't set immutable config`);
  }
  if (sub !== 'get') return out.error(unknownSubcommand('CONFIG', args[1]!));
  if (args.length < 3) return out.error(wrongArity('config|get'));
  const known = configParameters(deps);
  const pairs: [string, string][] = [];
  for (const p of args.slice(2)) {
    const match = globMatcher(p.toString('utf8').toLowerCase());
    for (const [k, v] of Object.entries(known)) if (match(k) && !pairs.some(([seen]) => seen === k)) pairs.push([k, v]);
  }
  out.map(pairs);
};

function configParameters(deps: RespDeps): Record<string, string> {
  return {
    save: '',
    appendonly: 'no',
    databases: '1',
    maxmemory: String(deps.maxMemory),
    'maxmemory-policy': 'allkeys-lru',
    'proto-max-bulk-len': String(deps.commands.limits.maxValueSize),
  };
}

const human = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)}G` : n >= 1 << 20 ? `${(n / 2 ** 20).toFixed(2)}M` : `${(n / 1024).toFixed(2)}K`);

export function infoText(deps: RespDeps, stats: ServerStats, wanted: Set<string>): string {
  const all = wanted.size === 0 || wanted.has('all') || wanted.has('everything') || wanted.has('default');
  const want = (s: string) => all || wanted.has(s);
  const node = deps.node();
  const storeStats = deps.commands.store.sizes();
  const sections: string[] = [];
  const section = (title: string, fields: [string, string | number][]) => sections.push(`# ${title}\r\n${fields.map(([k, v]) => `${k}:${v}\r\n`).join('')}`);
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
    const mem = process.memoryUsage();
    section('Memory', [
      // As Redis counts it: what the store holds for its data, overhead included (what MaxMemory bounds).
      ['used_memory', storeStats.bytes],
      ['used_memory_human', human(storeStats.bytes)],
      ['used_memory_rss', mem.rss],
      ['used_memory_rss_human', human(mem.rss)],
      ['used_memory_overhead', storeStats.bytes - storeStats.datasetBytes],
      ['used_memory_dataset', storeStats.datasetBytes],
      ['used_memory_vm_heap', mem.heapUsed + mem.external],
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
    section('Keyspace', storeStats.keys > 0 ? [['db0', `keys=${storeStats.keys},expires=${storeStats.expires},avg_ttl=0`]] : []);
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
    for (const [i, m] of members.entries()) fields.push([`owlcache_member${i}`, `name=${m.name},address=${m.address},state=${m.state}`]);
    section('Cluster', fields);
  }
  return sections.join('\r\n');
}

const info: Handler = ({ deps, args, out, stats }) => {
  out.verbatim(infoText(deps, stats, new Set(args.slice(1).map(lower))));
};

const time: Handler = ({ out }) => {
  const us = BigInt(Date.now()) * 1000n + ((process.hrtime.bigint() / 1000n) % 1000n);
  out.array([String(us / 1_000_000n), String(us % 1_000_000n)]);
};

const dbsize: Handler = ({ deps, out }) => {
  out.integer(deps.commands.store.sizes().keys);
};

const log = logger('resp');

/** FLUSHALL / FLUSHDB [ASYNC|SYNC]: one flush for the whole cluster (src/store/flush.ts); both are the same with one database. */
const flush: Handler = ({ deps, args, out }) => {
  if (args.length > 2) return out.error(ERR_SYNTAX);
  if (args.length === 2 && !['async', 'sync'].includes(lower(args[1]!))) return out.error(ERR_SYNTAX);
  deps.flush.flushAll();
  out.constant(OK);
};

/** MEMORY USAGE key [SAMPLES n]: the bytes the entry counts against MaxMemory. */
const memory: Handler = ({ deps, args, out }) => {
  const sub = lower(args[1]!);
  if (sub !== 'usage') return out.error(unknownSubcommand('MEMORY', args[1]!));
  if (args.length < 3) return out.error(wrongArity('memory|usage'));
  if (args.length === 5 && lower(args[3]!) === 'samples') {
    const n = parseInteger(args[4]!);
    if (n === null) return out.error(ERR_INT);
    if (n < 0) return out.error(ERR_SYNTAX);
  } else if (args.length !== 3) return out.error(ERR_SYNTAX);
  const e = deps.commands.store.peek(keyOf(args[2]!));
  if (e === undefined || !isLive(e, Date.now())) return out.nil();
  out.integer(recordCost(e));
};

const save: Handler = async ({ deps, out }) => {
  if (deps.snapshots === undefined) return out.error('ERR this node keeps no snapshot');
  try {
    await deps.snapshots.save();
    out.constant(OK);
  } catch (err) {
    out.error(`ERR ${(err as Error).message}`);
  }
};

const bgsave: Handler = ({ deps, args, out }) => {
  if (args.length > 2 || (args.length === 2 && lower(args[1]!) !== 'schedule')) return out.error(ERR_SYNTAX);
  if (deps.snapshots === undefined) return out.error('ERR this node keeps no snapshot');
  deps.snapshots.save().catch((err: unknown) => log.warn('BGSAVE failed: %s', (err as Error).message));
  out.simple('Background saving started');
};

const lastsave: Handler = ({ deps, stats, out }) => {
  out.integer(Math.floor((deps.snapshots?.lastSaveAt() ?? stats.startedAt) / 1000));
};

/**
 * WAIT numreplicas timeout: a push-pull round with every live peer (which
 * leaves each with this node's writes); answers how many completed, as soon
 * as `numreplicas` have, or when the time is up (timeout 0: when every round
 * has ended, each bounded by the internal HTTP timeout).
 */
const wait: Handler = async ({ deps, args, out }) => {
  const wanted = parseInteger(args[1]!);
  const timeout = parseInteger(args[2]!);
  if (wanted === null || timeout === null) return out.error(ERR_INT);
  if (timeout < 0) return out.error('ERR timeout is negative');
  const rounds = deps.replicas?.confirm() ?? [];
  if (rounds.length === 0) return out.integer(0);
  let acked = 0;
  await new Promise<void>((resolve) => {
    let settled = 0;
    const timer = timeout > 0 ? setTimeout(resolve, timeout) : null;
    const done = () => {
      if (timer) clearTimeout(timer);
      resolve();
    };
    for (const r of rounds) {
      r.then(
        () => {
          acked++;
          if (acked >= wanted) done();
        },
        () => {},
      ).finally(() => {
        if (++settled === rounds.length) done();
      });
    }
  });
  out.integer(acked);
};

export const serverCommands: readonly CommandSpec[] = [
  { name: 'config', arity: -2, flags: ['admin', 'noscript', 'loading', 'stale'], keys: NO_KEYS, categories: [], run: config },
  { name: 'info', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS, categories: ['@dangerous'], run: info },
  { name: 'time', arity: 1, flags: ['loading', 'stale', 'fast'], keys: NO_KEYS, categories: [], run: time },
  { name: 'dbsize', arity: 1, flags: ['readonly', 'fast'], keys: NO_KEYS, categories: ['@keyspace'], run: dbsize },
  { name: 'flushall', arity: -1, flags: ['write'], keys: NO_KEYS, categories: ['@keyspace', '@dangerous'], run: flush },
  { name: 'flushdb', arity: -1, flags: ['write'], keys: NO_KEYS, categories: ['@keyspace', '@dangerous'], run: flush },
  { name: 'memory', arity: -2, flags: ['readonly'], keys: NO_KEYS, categories: [], run: memory },
  // SAVE waits for the snapshot: not inside EXEC (Redis refuses it there too).
  { name: 'save', arity: 1, flags: ['admin', 'noscript', 'no_multi'], keys: NO_KEYS, categories: [], run: save },
  { name: 'bgsave', arity: -1, flags: ['admin', 'noscript'], keys: NO_KEYS, categories: [], run: bgsave },
  { name: 'lastsave', arity: 1, flags: ['loading', 'stale', 'fast'], keys: NO_KEYS, categories: ['@dangerous'], run: lastsave },
  { name: 'wait', arity: 3, flags: ['noscript', 'no_multi'], keys: NO_KEYS, categories: ['@connection'], run: wait },
];
