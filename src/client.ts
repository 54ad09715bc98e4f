import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';
import type { ClusterMembers } from './cluster/view.js';
import { OPS_COMMANDS, runOpsCommand, table, type OpsCommand } from './ops-client.js';

/**
 * Client subcommands of `owlcache`: the cluster at a glance from a shell.
 *
 *   owlcache members [-node 127.0.0.1:7721] [-pass PASSWORD] [-https]
 *   owlcache status  [-node 127.0.0.1:7721] [-pass PASSWORD] [-https]
 *
 * and the cluster operations (ops-client.ts): routes, join, remove, network,
 * stat, config, topology, info; each takes --json for the node's JSON answer.
 *
 * The password may also come from OWLCACHE_PASS (so it stays out of shell history).
 */
export const CLIENT_COMMANDS = ['members', 'status', ...OPS_COMMANDS] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

export function isClientCommand(arg: string | undefined): arg is ClientCommand {
  return (CLIENT_COMMANDS as readonly string[]).includes(arg ?? '');
}

function get(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url.replace(/\?.*$/, '')} in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Runs a client subcommand; returns the exit code. */
export async function runClient(command: ClientCommand, argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let values;
  let positionals: string[];
  const isOps = (OPS_COMMANDS as readonly string[]).includes(command);
  try {
    ({ values, positionals } = parseArgs({
      args: argv.map((a) => (/^-[A-Za-z]{2,}/.test(a) ? `-${a}` : a)),
      options: {
        node: { type: 'string' }, pass: { type: 'string' }, https: { type: 'boolean' },
        json: { type: 'boolean' }, cluster: { type: 'boolean' }, server: { type: 'string' }, timeout: { type: 'string' },
      },
      allowPositionals: isOps,
      strict: true,
    }));
  } catch (e) {
    err(`owlcache ${command}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
    return 2;
  }
  const node = values.node ?? '127.0.0.1:7721';
  const pass = values.pass ?? process.env.OWLCACHE_PASS ?? '';
  const base = `${values.https ? 'https' : 'http'}://${node}`;
  if (pass === '') {
    err(`owlcache ${command}: give the node's password with -pass or OWLCACHE_PASS`);
    return 2;
  }
  if (isOps) {
    const o = { base, pass, json: values.json === true, cluster: values.cluster === true, server: values.server, timeout: values.timeout };
    return runOpsCommand(command as OpsCommand, positionals, o, out, err);
  }
  try {
    const p = await get(`${base}/data/?cmd=pass&pass=${encodeURIComponent(pass)}`);
    const token = (JSON.parse(p.body) as { Status?: number; Data?: string }).Data;
    if (p.status !== 200 || typeof token !== 'string') {
      err(`owlcache ${command}: ${node} refused the password`);
      return 1;
    }
    const r = await get(`${base}/cluster/${command}?token=${encodeURIComponent(token)}`);
    if (r.status !== 200) {
      err(`owlcache ${command}: ${node} answered ${r.status}: ${r.body}`);
      return 1;
    }
    if (command === 'status') {
      out(r.body);
      return 0;
    }
    const doc = JSON.parse(r.body) as ClusterMembers;
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
  } catch (e) {
    err(`owlcache ${command}: ${(e as Error).message}`);
    return 1;
  }
}
