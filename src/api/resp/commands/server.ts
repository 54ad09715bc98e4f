import os from 'node:os';
import { lower, wrongArity } from '../args.js';
import { NO_KEYS, type CommandSpec, type Handler } from '../command-spec.js';
import { REDIS_COMPAT_VERSION, type RespDeps, type ServerStats } from '../context.js';
import { globMatcher } from '../glob.js';
import { OK } from '../reply.js';

/** Server commands: what the node is and holds, from counters (INFO runs on every ioredis connect, so it walks nothing). */

const config: Handler = ({ deps, args, out }) => {
  const sub = lower(args[1]!);
  if (sub === 'resetstat') return out.constant(OK);
  if (sub !== 'get') return out.error(`ERR CONFIG ${args[1]!.toString('utf8').slice(0, 32)} is not supported by owlcache (only CONFIG GET)`);
  if (args.length < 3) return out.error(wrongArity('config|get'));
  // What tools ask for (redis-benchmark reads save and appendonly); OwlCache's own settings live in owlcache.conf.
  const known: Record<string, string> = {
    save: '',
    appendonly: 'no',
    databases: '1',
    maxmemory: String(deps.maxMemory),
    'maxmemory-policy': 'allkeys-lru',
    'proto-max-bulk-len': String(deps.commands.limits.maxValueSize),
  };
  const pairs: [string, string][] = [];
  for (const p of args.slice(2)) {
    const match = globMatcher(p.toString('utf8').toLowerCase());
    for (const [k, v] of Object.entries(known)) if (match(k) && !pairs.some(([seen]) => seen === k)) pairs.push([k, v]);
  }
  out.map(pairs);
};

const human = (n: number) => (n >= 1 << 30 ? `${(n / 2 ** 30).toFixed(2)}G` : n >= 1 << 20 ? `${(n / 2 ** 20).toFixed(2)}M` : `${(n / 1024).toFixed(2)}K`);

export function infoText(deps: RespDeps, stats: ServerStats, wanted: Set<string>): string {
  const all = wanted.size === 0 || wanted.has('all') || wanted.has('everything') || wanted.has('default');
  const want = (s: string) => all || wanted.has(s);
  const node = deps.node();
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
    const mem = process.memoryUsage();
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
    members.forEach((m, i) => fields.push([`owlcache_member${i}`, `name=${m.name},address=${m.address},state=${m.state}`]));
    section('Cluster', fields);
  }
  return sections.join('\r\n');
}

const info: Handler = ({ deps, args, out, stats }) => {
  out.verbatim(infoText(deps, stats, new Set(args.slice(1).map(lower))));
};

const time: Handler = ({ out }) => {
  const us = BigInt(Date.now()) * 1000n + (process.hrtime.bigint() / 1000n) % 1000n;
  out.array([String(us / 1_000_000n), String(us % 1_000_000n)]);
};

const dbsize: Handler = ({ deps, out }) => {
  out.integer(deps.commands.store.stats().keys);
};

export const serverCommands: readonly CommandSpec[] = [
  { name: 'config', arity: -2, flags: ['admin', 'noscript', 'loading', 'stale'], keys: NO_KEYS, categories: [], run: config },
  { name: 'info', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS, categories: ['@dangerous'], run: info },
  { name: 'time', arity: 1, flags: ['loading', 'stale', 'fast'], keys: NO_KEYS, categories: [], run: time },
  { name: 'dbsize', arity: 1, flags: ['readonly', 'fast'], keys: NO_KEYS, categories: ['@keyspace'], run: dbsize },
];
