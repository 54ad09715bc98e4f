import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_PASSWORD, qs, sleep } from '../helpers/node-process.js';
import { expectations, HistoryError, judgeKey, type Violation } from './checker.js';
import { call } from './http.js';
import { describeFault, injectFaults, planFaults, type InjectionReport } from './injector.js';
import { FaultNet, removeLeftovers } from './net.js';
import { prepareNodes, type FaultNode } from './nodes.js';
import { randomSeed, Rng } from './rng.js';
import { hashOf, MAX_SHORT_TTL_MS, Workload, type WorkloadStats } from './workload.js';

/**
 * The fault-injection run (docs/reliability.md): five gossip-mode nodes, a client writing
 * all along, faults drawn from a seed, then a settling period and the check
 * that every node holds the same digest and, for every key, what the newest
 * acknowledged write left there. run.ts is the command line; faults.test.ts
 * runs a short version in `npm test`.
 */

export interface FaultRunOptions {
  seed?: number;
  /** Faults injected. */
  faults: number;
  /** Length of the fault phase (ms). */
  phaseMs: number;
  nodes?: number;
  /** Upper bound for convergence after the last fault (ms). */
  convergeTimeoutMs?: number;
  keys?: number;
  writers?: number;
  /** Nodes on 127.0.0.1, pauses instead of network faults. */
  forceLoopback?: boolean;
  /** Keep the run's folder (data, logs, history) even when the run passes. */
  keep?: boolean;
  log?: (line: string) => void;
}

export interface FaultRunSummary {
  seed: number;
  network: string;
  faultsByKind: Record<string, number>;
  faultsSkipped: number;
  writes: WorkloadStats;
  keysChecked: number;
  /** Keys expected to hold a value (the rest: deleted or expired). */
  keysWithValue: number;
  converged: boolean;
  /** From the moment the last fault was healed until every node held the same digest root (ms); -1 if never. */
  convergeMs: number;
  /** The same, counted from the last write's answer. */
  convergeAfterWritesMs: number;
  digest: string;
  violations: Violation[];
  errors: string[];
  runDir: string | null;
  durationMs: number;
}

const STATUS_TIMEOUT_MS = 3000;

class Cluster {
  private readonly tokens = new Map<number, string>();

  constructor(readonly nodes: FaultNode[]) {}

  private async token(n: FaultNode): Promise<string> {
    let t = this.tokens.get(n.index);
    if (t === undefined) {
      const r = await call(n.host, n.port, `/data/?${qs({ cmd: 'pass', pass: TEST_PASSWORD })}`, { timeoutMs: STATUS_TIMEOUT_MS });
      t = (JSON.parse(r.body.toString('utf8')) as { Data: string }).Data;
      this.tokens.set(n.index, t);
    }
    return t;
  }

  async json<T>(n: FaultNode, path: string): Promise<T> {
    const r = await call(n.host, n.port, `${path}?${qs({ token: await this.token(n) })}`, { timeoutMs: STATUS_TIMEOUT_MS });
    if (r.status === 401) this.tokens.delete(n.index);
    if (r.status !== 200) throw new Error(`${n.name} ${path}: ${r.status}`);
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  async digest(n: FaultNode): Promise<string> {
    return (await this.json<{ store: { digest: string } }>(n, '/cluster/status')).store.digest;
  }

  async aliveCount(n: FaultNode): Promise<number> {
    const doc = await this.json<{ members: { state: string }[] }>(n, '/cluster/members');
    return doc.members.filter((m) => m.state === 'alive').length;
  }

  /** Every node sees every node alive (bounded). */
  async waitAllAlive(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
      try {
        const counts = await Promise.all(this.nodes.map((n) => this.aliveCount(n)));
        if (counts.every((c) => c === this.nodes.length)) return true;
      } catch {
        /* a node not answering yet */
      }
      await sleep(250);
    }
    return false;
  }

  /** Polls digest roots until all are equal (bounded); returns the root or null with the last roots seen. */
  async waitConverged(timeoutMs: number): Promise<{ root: string | null; last: string[] }> {
    const deadline = Date.now() + timeoutMs;
    let last: string[] = [];
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      last = await Promise.all(this.nodes.map((n) => this.digest(n).catch((err: Error) => `error: ${err.message}`)));
      if (last.every((r) => r === last[0] && !r.startsWith('error'))) return { root: last[0]!, last };
      await sleep(250);
    }
    return { root: null, last };
  }

  /** The value's hash on one node, or null for 404. */
  async read(n: FaultNode, key: string): Promise<string | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await call(n.host, n.port, `/data/?${qs({ cmd: 'get', key })}`, { timeoutMs: 5000 });
        if (r.status === 200) return hashOf(r.body);
        if (r.status === 404) return null;
        throw new Error(`status ${r.status}`);
      } catch (err) {
        if (attempt >= 2) throw err;
        await sleep(200);
      }
    }
  }
}

async function parallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/**
 * Runs one fault run and returns its summary (it does not throw for
 * violations; it throws only when the run itself cannot be carried out).
 * Everything it starts (processes, namespaces, veths, the bridge) is removed
 * before it returns, also when it fails, and on SIGINT / SIGTERM.
 */
export async function runFaults(o: FaultRunOptions): Promise<FaultRunSummary> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const seed = o.seed ?? randomSeed();
  const n = o.nodes ?? 5;
  const started = Date.now();
  const root = new Rng(seed);
  const planRng = root.fork(1);
  const clientRng = root.fork(2);
  const injectRng = root.fork(3);
  const plan = planFaults(planRng, o.faults, o.phaseMs, n);
  log(`fault run: seed ${seed} (replay with FAULT_SEED=${seed}); ${n} nodes, ${plan.length} faults over ${Math.round(o.phaseMs / 1000)} s`);

  const leftovers = removeLeftovers();
  if (leftovers.length > 0) log(`removed leftovers of an earlier run: ${leftovers.join(', ')}`);

  let aborted = false;
  let net: FaultNet | null = null;
  let nodes: FaultNode[] = [];
  let runDir: string | null = null;
  const hardCleanup = () => {
    for (const node of nodes) node.killSync();
    net?.cleanup();
  };
  const onSignal = (sig: NodeJS.Signals) => {
    aborted = true;
    log(`${sig}: stopping the fault run, removing its processes and namespaces`);
    hardCleanup();
    if (runDir !== null && !o.keep) rmSync(runDir, { recursive: true, force: true });
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', hardCleanup);

  const summary: FaultRunSummary = {
    seed,
    network: '',
    faultsByKind: {},
    faultsSkipped: 0,
    writes: { sent: 0, applied: 0, noop: 0, unknown: 0, failed: 0, rejected: 0, bigValues: 0, retiredKeys: 0, lastDoneAt: 0 },
    keysChecked: 0,
    keysWithValue: 0,
    converged: false,
    convergeMs: -1,
    convergeAfterWritesMs: -1,
    digest: '',
    violations: [],
    errors: [],
    runDir: null,
    durationMs: 0,
  };
  let workload: Workload | null = null;
  try {
    net = FaultNet.create(n, { forceLoopback: o.forceLoopback });
    summary.network = net.description;
    log(net.description);
    runDir = mkdtempSync(join(tmpdir(), 'owlcache-faults-'));
    net.recordDir(runDir);
    nodes = await prepareNodes(net, n, runDir);
    const cluster = new Cluster(nodes);
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((x) => x.start()));
    if (!(await cluster.waitAllAlive(30_000))) throw new Error('the cluster did not form within 30 s');
    log(`cluster up: ${nodes.map((x) => `${x.name}=${x.host}:${x.port}`).join(' ')} (folder ${runDir})`);
    for (const f of plan) log(`  plan ${f.id}: at +${(f.at / 1000).toFixed(1)}s ${describeFault(f, n)}`);

    const runSeconds = Math.ceil((o.phaseMs + (o.convergeTimeoutMs ?? 180_000)) / 1000);
    workload = new Workload({ nodes, rng: clientRng, keys: o.keys, writers: o.writers, longTtlSec: Math.max(7200, 4 * runSeconds) });
    await workload.login();
    workload.start();
    await sleep(2000);

    const report: InjectionReport = await injectFaults(plan, { nodes, net, rng: injectRng, log, aborted: () => aborted });
    summary.faultsByKind = report.byKind;
    summary.faultsSkipped = report.skipped;
    summary.errors.push(...report.errors);
    await workload.stop();

    // Whatever a failed step left behind: every node running and reachable, the network whole.
    net.healPartition();
    if (net.canDropDatagrams) net.clearLoss();
    let lastHealAt = report.lastHealAt;
    for (const x of nodes) {
      if (x.state === 'paused') x.resume();
      if (x.state === 'down') {
        summary.errors.push(`${x.name} was down after the faults: started again`);
        await x.start();
        lastHealAt = Date.now();
      }
    }
    log(`faults over; writes stopped; waiting for convergence (at most ${Math.round((o.convergeTimeoutMs ?? 180_000) / 1000)} s)`);
    const conv = await cluster.waitConverged(o.convergeTimeoutMs ?? 180_000);
    if (conv.root !== null) {
      summary.converged = true;
      summary.convergeMs = Date.now() - lastHealAt;
      summary.convergeAfterWritesMs = Date.now() - workload.stats().lastDoneAt;
      summary.digest = conv.root;
    } else {
      summary.violations.push({ kind: 'not-converged', detail: `digest roots still differ: ${nodes.map((x, i) => `${x.name}=${conv.last[i]}`).join(', ')}` });
    }

    // Short expiries must have passed before reading.
    const ws = workload.stats();
    const wait = ws.lastDoneAt + MAX_SHORT_TTL_MS + 1500 - Date.now();
    if (wait > 0) await sleep(wait);

    let exp;
    try {
      exp = expectations(workload.history);
    } catch (err) {
      if (err instanceof HistoryError) throw new Error(`the client broke its own rules (a harness bug): ${err.message}`);
      throw err;
    }
    const keys = [...exp.values()];
    summary.keysChecked = keys.length;
    summary.keysWithValue = keys.filter((e) => [...e.allowed].some((a) => a !== null)).length;
    await parallel(keys, 8, async (e) => {
      const reads = new Map<string, string | null | Error>();
      for (const x of nodes) {
        try {
          reads.set(x.name, await cluster.read(x, e.key));
        } catch (err) {
          reads.set(x.name, err as Error);
        }
      }
      summary.violations.push(...judgeKey(e, reads));
    });
    summary.writes = ws;
    if (summary.converged) {
      // With no writes the nodes must still agree. The root itself may move: an entry leaves every
      // node's digest alike when it reaches its expiry (docs/architecture.md, "Store").
      const again = await cluster.waitConverged(5000);
      if (again.root === null)
        summary.violations.push({
          kind: 'diverged',
          detail: `the nodes disagree after convergence with no writes: ${summary.digest} → ${again.last.join(',')}`,
        });
    }
  } catch (err) {
    summary.errors.push(`run failed: ${(err as Error).message}`);
    if (workload !== null) await workload.stop().catch(() => {});
  } finally {
    for (const x of nodes) x.resume();
    await Promise.all(nodes.map((x) => x.stop().catch(() => x.killSync())));
    for (const x of nodes) x.closeLog();
    if (runDir !== null && workload !== null) writeFileSync(join(runDir, 'history.jsonl'), `${workload.history.map((w) => JSON.stringify(w)).join('\n')}\n`);
    const left = net?.cleanup() ?? [];
    if (left.length > 0) summary.errors.push(`could not remove: ${left.join(', ')}`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', hardCleanup);
    const failed = summary.violations.length > 0 || summary.errors.length > 0;
    if (runDir !== null) {
      if (failed || o.keep) summary.runDir = runDir;
      else rmSync(runDir, { recursive: true, force: true });
    }
    summary.durationMs = Date.now() - started;
  }
  return summary;
}

/** The summary as printed at the end of a run. */
export function formatSummary(s: FaultRunSummary): string {
  const kinds =
    Object.entries(s.faultsByKind)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const total = Object.values(s.faultsByKind).reduce((a, b) => a + b, 0);
  const w = s.writes;
  const lines = [
    '--- fault run summary ---',
    `seed: ${s.seed} (replay: FAULT_SEED=${s.seed})`,
    `${s.network}`,
    `faults injected: ${total} (${kinds})${s.faultsSkipped > 0 ? `; ${s.faultsSkipped} skipped (target not up)` : ''}`,
    `writes: ${w.sent} sent, ${w.applied + w.noop} acknowledged (${w.applied} written, ${w.noop} answered 404), ${w.unknown} unknown, ${w.failed} refused (node down), ${w.rejected} rejected; ${w.bigValues} values > 1400 bytes; ${s.keysChecked} keys checked on every node (${s.keysWithValue} holding a value)`,
    s.converged
      ? `converged: ${(s.convergeMs / 1000).toFixed(1)} s after the last fault healed, ${(s.convergeAfterWritesMs / 1000).toFixed(1)} s after the last write (digest ${s.digest})`
      : 'converged: NO',
    `violations: ${s.violations.length}`,
  ];
  const byKind = new Map<string, number>();
  for (const v of s.violations) byKind.set(v.kind, (byKind.get(v.kind) ?? 0) + 1);
  if (byKind.size > 0) lines.push(`  by kind: ${[...byKind].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  for (const v of s.violations.slice(0, 20)) lines.push(`  ${v.kind}${v.key ? ` key ${v.key}` : ''}${v.node ? ` on ${v.node}` : ''}: ${v.detail}`);
  if (s.violations.length > 20) lines.push(`  … ${s.violations.length - 20} more`);
  for (const e of s.errors) lines.push(`error: ${e}`);
  if (s.runDir !== null) lines.push(`run folder kept: ${s.runDir} (node logs, data directories, history.jsonl)`);
  lines.push(`duration: ${(s.durationMs / 1000).toFixed(0)} s`);
  return lines.join('\n');
}
