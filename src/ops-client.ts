import type { OwlClient } from './client/index.js';

/**
 * The cluster operations from a shell (docs/operations.md): each subcommand
 * is one operation sent through the cluster client (src/client/: the nodes of
 * --endpoints and every node they name, the next one tried when one is down),
 * printed as a table (or the node's JSON with --json).
 *
 *   owlcache routes [set [--server hub|leaf] HOST:PORT… | delete HOST:PORT…]
 *   owlcache join HOST:PORT [--timeout MS]
 *   owlcache remove NAME
 *   owlcache network [--timeout MS]
 *   owlcache stat
 *   owlcache config [get KEY | set KEY Enable|Disable [--cluster]]
 *   owlcache topology
 *   owlcache info
 *   owlcache backup [--cluster] [--file NAME] [--wait]
 *   owlcache restore FILE [--replace] [--wait]
 *   owlcache job ID   |   owlcache jobs
 *
 * backup, restore and job follow the job with a progress bar on a terminal
 * (or with --wait) until it ends.
 */
export const OPS_COMMANDS = ['routes', 'join', 'remove', 'network', 'stat', 'config', 'topology', 'info', 'backup', 'restore', 'job', 'jobs'] as const;
export type OpsCommand = (typeof OPS_COMMANDS)[number];

export interface OpsClientOptions {
  client: OwlClient;
  json: boolean;
  cluster: boolean;
  server: string | undefined;
  timeout: string | undefined;
  file?: string | undefined;
  replace?: boolean;
  wait?: boolean;
  /** Where the progress bar goes (a terminal's stderr), or null for none. */
  tty?: NodeJS.WriteStream | null;
}

type Doc = Record<string, unknown>;

class UsageError extends Error {}

const BAR_WIDTH = 30;

function bar(p: { records: number; total: number }, status: string): string {
  const share = p.total > 0 ? Math.min(1, p.records / p.total) : status === 'done' ? 1 : 0;
  const filled = Math.round(share * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${' '.repeat(BAR_WIDTH - filled)}] ${String(Math.round(share * 100)).padStart(3)}% ${p.records}/${p.total} ${status}`;
}

/** Polls a job until it ends (a progress bar on a terminal); exit code 0 when done, 1 when failed. */
async function follow(o: OpsClientOptions, jobId: string, node: string | undefined, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const deadline = Date.now() + 24 * 3600_000;
  let j = await o.client.job(jobId, node);
  while ((o.wait || o.tty) && (j.status === 'queued' || j.status === 'running') && Date.now() < deadline) {
    o.tty?.write(`\r${bar(j.progress, j.status)}`);
    await new Promise((r) => setTimeout(r, 250));
    j = await o.client.job(jobId, j.node);
  }
  o.tty?.write(`\r${bar(j.progress, j.status)}\n`);
  if (o.json) out(JSON.stringify(j, null, 2));
  else {
    out(
      `job ${j.job_id} (${j.job_type}) ${j.status}: ${j.progress.records}/${j.progress.total} records, file ${j.file}${j.finished ? `, finished ${j.finished}` : ''}`,
    );
    if (j.result)
      out(
        `  ${Object.entries(j.result)
          .map(([k, v]) => `${k} ${cell(v)}`)
          .join(', ')}`,
      );
  }
  if (j.status === 'failed') {
    err(`owlcache job: ${j.job_id} failed: ${j.error ?? '?'}`);
    return 1;
  }
  return 0;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const cell = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** `host:port` or `[v6]:port` as a route. */
function route(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) throw new UsageError(`${JSON.stringify(text)} is not HOST:PORT`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

function timeoutOf(o: OpsClientOptions): number | undefined {
  if (o.timeout === undefined) return undefined;
  if (!/^\d{1,6}$/.test(o.timeout)) throw new UsageError(`--timeout must be milliseconds, not ${JSON.stringify(o.timeout)}`);
  return Number(o.timeout);
}

function printRoutes(out: (s: string) => void, doc: Doc): void {
  const rows = [['SERVER', 'HOST', 'PORT']];
  for (const server of ['hub', 'leaf'] as const)
    for (const r of (doc[server] as { host: string; port: number }[] | undefined) ?? []) rows.push([server, r.host, String(r.port)]);
  out(rows.length === 1 ? 'no routes' : table(rows));
}

function printChange(out: (s: string) => void, doc: Doc, done: 'set' | 'deleted'): void {
  out(String(doc.message));
  for (const r of (doc[done] as { host: string; port: number }[]) ?? []) out(`  ${done}: ${r.host}:${r.port}`);
  for (const s of (doc.skipped as { route: unknown; reason: string }[]) ?? []) out(`  skipped: ${cell(s.route)}: ${s.reason}`);
}

/** Runs one operations subcommand; returns the exit code. */
export async function runOpsCommand(
  command: OpsCommand,
  args: string[],
  o: OpsClientOptions,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const call = (method: 'GET' | 'POST', path: string, body?: Doc) => o.client.raw(method, path, body);
  const op = (body: Doc) => call('POST', '/', body);
  let answer: { status: number; doc: Doc; node?: string };
  let print: (doc: Doc) => void;
  try {
    switch (command) {
      case 'routes': {
        const [sub, ...rest] = args;
        if (sub === undefined) {
          answer = await op({ operation: 'cluster_get_routes' });
          print = (d) => printRoutes(out, d);
        } else if (sub === 'set' || sub === 'delete') {
          if (rest.length === 0) throw new UsageError(`routes ${sub} needs at least one HOST:PORT`);
          const routes = rest.map(route);
          answer =
            sub === 'set'
              ? await op({ operation: 'cluster_set_routes', server: o.server ?? 'hub', routes })
              : await op({ operation: 'cluster_delete_routes', routes });
          print = (d) => printChange(out, d, sub === 'set' ? 'set' : 'deleted');
        } else {
          throw new UsageError('routes takes no argument, "set HOST:PORT…" or "delete HOST:PORT…"');
        }
        break;
      }
      case 'join': {
        if (args.length !== 1) throw new UsageError('join takes one gossip HOST:PORT');
        const t = timeoutOf(o);
        answer = await op({ operation: 'add_node', host: args[0], ...(t !== undefined ? { timeout: t } : {}) });
        print = (d) => out(`${String(d.message)} (${cell(d.gossip)}, ${cell(d.state)})`);
        break;
      }
      case 'remove': {
        if (args.length !== 1) throw new UsageError('remove takes one member name (or its gossip or HTTP host:port)');
        answer = await op({ operation: 'remove_node', node_name: args[0] });
        print = (d) => {
          out(String(d.message));
          for (const [n, s] of Object.entries((d.told as Record<string, string>) ?? {})) out(`  ${n}: ${s}`);
        };
        break;
      }
      case 'network': {
        const t = timeoutOf(o);
        answer = await op({ operation: 'cluster_network', ...(t !== undefined ? { timeout: t } : {}) });
        print = (d) => {
          const rows = [['NAME', 'ANSWERED', 'MS', 'CONNECTED TO', 'ROUTES']];
          for (const n of d.nodes as Doc[]) {
            rows.push([
              cell(n.name),
              n.responding ? 'yes' : `no (${cell(n.error)})`,
              cell(n.response_time),
              ((n.connected_nodes as string[]) ?? []).join(',') || '-',
              ((n.routes as { host: string; port: number }[]) ?? []).map((r) => `${r.host}:${r.port}`).join(',') || '-',
            ]);
          }
          out(table(rows));
        };
        break;
      }
      case 'stat': {
        answer = await call('GET', '/stat');
        print = (d) => {
          const rows = [['NAME', 'STATE', 'HTTP', 'GOSSIP', 'INCARNATION']];
          for (const m of d.members as Doc[])
            rows.push([`${cell(m.name)}${m.local ? ' (this node)' : ''}`, cell(m.state), cell(m.host), cell(m.gossip), cell(m.incarnation)]);
          out(table(rows));
          const s = d.space_stat as Doc;
          const y = d.sync_stat as Doc;
          out(
            `memory: ${cell(s.used_memory)} bytes used of ${s.max_memory === 0 ? 'no bound' : cell(s.max_memory)}; ${cell(s.keys)} keys, ${cell(s.stubs)} stubs, ${cell(s.evictions)} evictions`,
          );
          out(`data directory: ${cell(s.data_dir_bytes)} bytes, ${cell(s.data_dir_free)} free`);
          out(
            `sync: digest ${cell(y.digest_root)}, ${cell(y.peers_in_sync)} of ${cell(y.peers)} peers in sync, last push-pull ${cell(y.last_push_pull)}, deltas sent ${cell(y.deltas_sent)}, received ${cell(y.deltas_received)}`,
          );
        };
        break;
      }
      case 'config': {
        const [sub, key, value] = args;
        if (sub === undefined) {
          answer = await call('GET', '/config/get');
        } else if (sub === 'get' && key !== undefined && value === undefined) {
          answer = await call('GET', `/config/get?key=${encodeURIComponent(key)}`);
        } else if (sub === 'set' && key !== undefined && value !== undefined) {
          answer = await call('POST', '/config/set', { key, value, scope: o.cluster ? 'cluster' : 'node' });
        } else {
          throw new UsageError('config takes no argument, "get KEY" or "set KEY Enable|Disable [--cluster]"');
        }
        print = (d) => {
          if (Array.isArray(d.switches))
            out(table([['KEY', 'VALUE', 'WHAT'], ...(d.switches as Doc[]).map((s) => [cell(s.key), cell(s.value), cell(s.description)])]));
          else if (Array.isArray(d.results))
            out(
              table([
                ['NODE', 'RESULT'],
                ...(d.results as Doc[]).map((r) => [cell(r.node_name), r.ok ? `${String(d.key)} ${cell(r.value)}` : `failed: ${cell(r.error)}`]),
              ]),
            );
          else out(`${cell(d.key)} ${cell(d.value)}`);
        };
        break;
      }
      case 'topology': {
        answer = await call('GET', '/info/shards');
        print = (d) => {
          const rows = [['NODE', 'STATE', 'HTTP', 'TCP', 'RESP', 'GOSSIP']];
          for (const s of Object.values(d.shards as Record<string, Doc>))
            rows.push([cell(s.nodeId), cell(s.state), cell(s.httpAddr), cell(s.tcpAddr), cell(s.respAddr), cell(s.gossipAddr)]);
          out(table(rows));
        };
        break;
      }
      case 'backup':
      case 'restore': {
        if (command === 'backup' && args.length !== 0) throw new UsageError('backup takes no argument (--file NAME names the file)');
        if (command === 'restore' && args.length !== 1) throw new UsageError("restore takes one FILE (a name inside the node's BackupDir)");
        const body =
          command === 'backup'
            ? { ver: '0.1', job_type: 'coldbackup', ...(o.file !== undefined ? { file: o.file } : {}), ...(o.cluster ? { scope: 'cluster' } : {}) }
            : { ver: '0.1', job_type: 'coldrestore', file: args[0], ...(o.replace ? { mode: 'replace' } : {}) };
        const started = await op(body);
        if (started.status !== 200 || o.json) {
          answer = started;
          print = () => {};
          break;
        }
        const jobs = (started.doc.jobs as Doc[] | undefined) ?? [{ node_name: started.node, ok: true, job_id: started.doc.job_id, file: started.doc.file }];
        for (const j of jobs) out(j.ok ? `${cell(j.node_name)}: job ${cell(j.job_id)} (${cell(j.file)})` : `${cell(j.node_name)}: failed: ${cell(j.error)}`);
        if (!(o.wait || o.tty) || jobs.length !== 1) return jobs.every((j) => j.ok) ? 0 : 1;
        return await follow(o, String(started.doc.job_id), started.node, out, err);
      }
      case 'job': {
        if (args.length !== 1) throw new UsageError('job takes one job ID');
        return await follow(o, args[0]!, undefined, out, err);
      }
      case 'jobs': {
        answer = await call('GET', '/jobs');
        print = (d) => {
          const rows = [['JOB', 'TYPE', 'STATUS', 'PROGRESS', 'FILE', 'FINISHED', 'ERROR']];
          for (const j of (d.jobs as Doc[]) ?? []) {
            const p = j.progress as { records: number; total: number };
            rows.push([cell(j.job_id), cell(j.job_type), cell(j.status), `${p.records}/${p.total}`, cell(j.file), cell(j.finished), cell(j.error)]);
          }
          out(rows.length === 1 ? `no jobs (backups go to ${cell(d.backup_dir)})` : table(rows));
        };
        break;
      }
      case 'info': {
        answer = await op({ operation: 'get_info' });
        print = (d) => {
          for (const [section, v] of Object.entries(d)) {
            if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) out(`${section}.${k}: ${cell(x)}`);
            else out(`${section}: ${cell(v)}`);
          }
        };
        break;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`owlcache ${command}: ${e.message}`);
      return 2;
    }
    err(`owlcache ${command}: ${(e as Error).message}`);
    return 1;
  }
  if (o.json) out(JSON.stringify(answer.doc, null, 2));
  else if (answer.status === 200) print(answer.doc);
  if (answer.status !== 200) {
    err(`owlcache ${command}: ${answer.status}: ${cell(answer.doc.error ?? answer.doc)}`);
    return 1;
  }
  return 0;
}
