import { parseArgs } from 'node:util';
import { OwlClient, OwlNotFound } from './client/index.js';
import type { ClusterMembers } from './cluster/view.js';
import { OPS_COMMANDS, runOpsCommand, table, type OpsCommand } from './ops-client.js';

/**
 * Client subcommands of `owlcache`, each through the cluster client
 * (src/client/): it learns every node from the endpoints given and tries the
 * next one when a node is down.
 *
 *   owlcache get KEY | set KEY VALUE [--ttl SECONDS] | del KEY | expire KEY SECONDS
 *   owlcache members | status
 *
 * and the cluster operations (ops-client.ts): routes, join, remove, network,
 * stat, config, topology, info, backup, restore, job, jobs; each takes --json
 * for the node's JSON answer.
 * Every one takes `--endpoints host:port,host:port,…` (or `-node host:port`;
 * default 127.0.0.1:7721), `-pass PASSWORD` and `-https`.
 *
 * The password may also come from OWLCACHE_PASS (so it stays out of shell history).
 */
export const DATA_COMMANDS = ['get', 'set', 'del', 'expire'] as const;
export type DataCommand = (typeof DATA_COMMANDS)[number];
export const CLIENT_COMMANDS = ['members', 'status', ...DATA_COMMANDS, ...OPS_COMMANDS] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

export function isClientCommand(arg: string | undefined): arg is ClientCommand {
  return (CLIENT_COMMANDS as readonly string[]).includes(arg ?? '');
}

/** What each data command takes after its name. */
const DATA_ARGS: Record<DataCommand, string[]> = { get: ['KEY'], set: ['KEY', 'VALUE'], del: ['KEY'], expire: ['KEY', 'SECONDS'] };

async function runData(command: DataCommand, args: string[], client: OwlClient, ttl: string | undefined, out: (s: string) => void): Promise<number> {
  const key = args[0]!;
  switch (command) {
    case 'get':
      out((await client.get(key)).toString('utf8'));
      return 0;
    case 'set': {
      if (ttl !== undefined && !/^\d{1,10}$/.test(ttl)) throw new UsageError(`--ttl must be whole seconds, not ${JSON.stringify(ttl)}`);
      await client.set(key, args[1]!, { ttlSeconds: ttl === undefined ? 0 : Number(ttl) });
      return 0;
    }
    case 'del':
      if (!(await client.delete(key))) throw new OwlNotFound(key, 'the cluster');
      return 0;
    case 'expire': {
      if (!/^\d{1,10}$/.test(args[1]!)) throw new UsageError(`SECONDS must be whole seconds, not ${JSON.stringify(args[1])}`);
      if (!(await client.expire(key, Number(args[1])))) throw new OwlNotFound(key, 'the cluster');
      return 0;
    }
  }
}

class UsageError extends Error {}

async function runMembers(command: 'members' | 'status', client: OwlClient, out: (s: string) => void): Promise<number> {
  if (command === 'status') {
    out(JSON.stringify(await client.status()));
    return 0;
  }
  const doc = (await client.members()) as unknown as ClusterMembers;
  if (doc.members.length === 0) {
    out(`${doc.node.name}: not in gossip mode (no members); see /server/?cmd=getall for the owlcache-mode list`);
    return 0;
  }
  const rows = [['NAME', 'STATE', 'HTTP', 'GOSSIP', 'INCARNATION', 'SINCE']];
  for (const m of doc.members) {
    rows.push([`${m.name ?? '?'}${m.local ? ' (this node)' : ''}`, m.state, m.http ?? '-', m.gossip, String(m.incarnation), m.since]);
  }
  out(table(rows));
  const alive = doc.members.filter((m) => m.state === 'alive').length;
  out(`${alive} of ${doc.members.length} members alive`);
  return 0;
}

/** Runs a client subcommand; returns the exit code. */
export async function runClient(command: ClientCommand, argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  let positionals: string[];
  const isOps = (OPS_COMMANDS as readonly string[]).includes(command);
  const isData = (DATA_COMMANDS as readonly string[]).includes(command);
  try {
    ({ values, positionals } = parseArgs({
      args: argv.map((a) => (/^-[A-Za-z]{2,}/.test(a) ? `-${a}` : a)),
      options: {
        node: { type: 'string' },
        endpoints: { type: 'string' },
        pass: { type: 'string' },
        https: { type: 'boolean' },
        json: { type: 'boolean' },
        cluster: { type: 'boolean' },
        server: { type: 'string' },
        timeout: { type: 'string' },
        ttl: { type: 'string' },
        file: { type: 'string' },
        replace: { type: 'boolean' },
        wait: { type: 'boolean' },
      },
      allowPositionals: isOps || isData,
      strict: true,
    }));
  } catch (e) {
    err(`owlcache ${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
    return 2;
  }
  if (isData && positionals.length !== DATA_ARGS[command as DataCommand].length) {
    err(`owlcache ${command}: takes ${DATA_ARGS[command as DataCommand].join(' ')}`);
    return 2;
  }
  const pass = values.pass ?? process.env.OWLCACHE_PASS ?? '';
  if (pass === '') {
    err(`owlcache ${command}: give the node's password with -pass or OWLCACHE_PASS`);
    return 2;
  }
  const endpoints = (values.endpoints ?? values.node ?? '127.0.0.1:7721')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const scheme = values.https ? 'https' : 'http';
  // An operation may wait for the cluster (network, join take --timeout): the client waits a little longer.
  const opMs = values.timeout !== undefined && /^\d{1,6}$/.test(values.timeout) ? Number(values.timeout) + 5000 : 70_000;
  let client: OwlClient;
  try {
    client = new OwlClient({
      endpoints: endpoints.map((e) => (/^https?:\/\//.test(e) ? e : `${scheme}://${e}`)),
      password: pass,
      timeoutMs: isData ? 10_000 : opMs + 5000,
      attemptTimeoutMs: isData ? 4000 : opMs,
      refreshMs: 0,
    });
  } catch (e) {
    err(`owlcache ${command}: --endpoints: ${(e as Error).message}`);
    return 2;
  }
  try {
    if (isOps) {
      const o = {
        client,
        json: values.json === true,
        cluster: values.cluster === true,
        server: values.server,
        timeout: values.timeout,
        file: values.file,
        replace: values.replace === true,
        wait: values.wait === true,
        tty: process.stderr.isTTY ? process.stderr : null,
      };
      return await runOpsCommand(command as OpsCommand, positionals, o, out, err);
    }
    if (isData) return await runData(command as DataCommand, positionals, client, values.ttl, out);
    return await runMembers(command as 'members' | 'status', client, out);
  } catch (e) {
    err(`owlcache ${command}: ${(e as Error).message}`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    client.close();
  }
}
