import { sleep } from '../helpers/node-process.js';
import type { FaultNet } from './net.js';
import type { FaultNode } from './nodes.js';
import type { Rng } from './rng.js';

/**
 * The fault plan (drawn from the seed before the run) and its execution.
 *
 * - kill:      SIGKILL a node, keep it down, restart it on the same data directory;
 * - pause:     SIGSTOP a node, SIGCONT it later (short pauses stay under the
 *              suspicion timeout, long ones get the node declared faulty while alive);
 * - partition: cut the nodes into two sides (network filters; without them, the
 *              smaller side is paused);
 * - loss:      drop a fraction of the UDP datagrams some nodes send (without
 *              filters: a node pauses and resumes in quick succession).
 */

export type FaultKind = 'kill' | 'pause' | 'partition' | 'loss';
export const FAULT_KINDS: readonly FaultKind[] = ['kill', 'pause', 'partition', 'loss'];

export interface PlannedFault {
  id: number;
  kind: FaultKind;
  /** ms after the start of the fault phase. */
  at: number;
  durationMs: number;
  /** kill / pause: the node; partition: one side; loss: the nodes whose datagrams are dropped. */
  nodes: number[];
  lossFraction?: number;
}

const DURATIONS: Record<FaultKind, [number, number]> = {
  kill: [500, 6000],
  pause: [300, 9000],
  partition: [2000, 12_000],
  loss: [4000, 15_000],
};

/** Time a restarted node may take to be ready, counted as busy in the plan. */
const RESTART_ALLOWANCE_MS = 4000;

/** `count` faults spread over `phaseMs`, every kind at least once when count >= 4, no two node faults on one node at once, one partition and one loss at a time. */
export function planFaults(rng: Rng, count: number, phaseMs: number, n: number): PlannedFault[] {
  const plan: PlannedFault[] = [];
  const step = phaseMs / Math.max(1, count);
  const first = rng.sample(FAULT_KINDS, FAULT_KINDS.length);
  const overlaps = (f: PlannedFault, at: number, end: number) => f.at < end && at < f.at + f.durationMs + (f.kind === 'kill' ? RESTART_ALLOWANCE_MS : 0);
  for (let k = 0; k < count; k++) {
    const at = Math.round(k * step + rng.range(0, step * 0.5));
    let kind: FaultKind = k < first.length ? first[k]! : rng.pick(FAULT_KINDS);
    const [lo, hi] = DURATIONS[kind];
    let durationMs = Math.round(Math.min(rng.range(lo, hi), Math.max(lo, phaseMs - at)));
    const end = at + durationMs + RESTART_ALLOWANCE_MS;
    const busyNodes = new Set(plan.filter((f) => (f.kind === 'kill' || f.kind === 'pause') && overlaps(f, at, end)).flatMap((f) => f.nodes));
    const free = Array.from({ length: n }, (_, i) => i).filter((i) => !busyNodes.has(i));
    const feasible = (kd: FaultKind) => (kd === 'kill' || kd === 'pause' ? free.length > 0 : !plan.some((f) => f.kind === kd && overlaps(f, at, end)));
    if (!feasible(kind)) {
      const alt = rng.sample(FAULT_KINDS, FAULT_KINDS.length).find(feasible);
      if (alt === undefined) continue;
      kind = alt;
      const [l2, h2] = DURATIONS[kind];
      durationMs = Math.round(rng.range(l2, h2));
    }
    const f: PlannedFault = { id: plan.length + 1, kind, at, durationMs, nodes: [] };
    if (kind === 'kill' || kind === 'pause') f.nodes = [rng.pick(free)];
    else if (kind === 'partition')
      f.nodes = rng
        .sample(
          Array.from({ length: n }, (_, i) => i),
          rng.int(1, Math.floor(n / 2)),
        )
        .sort();
    else {
      f.nodes = rng
        .sample(
          Array.from({ length: n }, (_, i) => i),
          rng.int(1, n),
        )
        .sort();
      f.lossFraction = rng.pick([0.0625, 0.125, 0.25, 0.5]);
    }
    plan.push(f);
  }
  return plan;
}

export function describeFault(f: PlannedFault, n: number): string {
  const names = (xs: number[]) => xs.map((i) => `n${i + 1}`).join(',');
  const secs = `${(f.durationMs / 1000).toFixed(1)}s`;
  switch (f.kind) {
    case 'kill':
      return `kill -9 ${names(f.nodes)}, restart after ${secs}`;
    case 'pause':
      return `SIGSTOP ${names(f.nodes)} for ${secs}`;
    case 'partition': {
      const other = Array.from({ length: n }, (_, i) => i).filter((i) => !f.nodes.includes(i));
      return `partition {${names(f.nodes)}} | {${names(other)}} for ${secs}`;
    }
    case 'loss':
      return `drop ${Math.round((f.lossFraction ?? 0) * 1000) / 10}% of datagrams from ${names(f.nodes)} for ${secs}`;
  }
}

export interface InjectorOptions {
  nodes: FaultNode[];
  net: FaultNet;
  rng: Rng;
  log: (line: string) => void;
  aborted: () => boolean;
}

export interface InjectionReport {
  /** Faults carried out, by kind (with how: "partition (pause)" where filters are missing). */
  byKind: Record<string, number>;
  skipped: number;
  /** When the last fault was healed (ms since the epoch). */
  lastHealAt: number;
  errors: string[];
}

/** Runs the plan; resolves when every fault has been healed (each step bounded). */
export async function injectFaults(plan: PlannedFault[], opts: InjectorOptions): Promise<InjectionReport> {
  const report: InjectionReport = { byKind: {}, skipped: 0, lastHealAt: Date.now(), errors: [] };
  const count = (k: string) => (report.byKind[k] = (report.byKind[k] ?? 0) + 1);
  const { nodes, net, log } = opts;
  const started = Date.now();
  const running: Promise<void>[] = [];

  const execute = async (f: PlannedFault): Promise<void> => {
    const t0 = ((Date.now() - started) / 1000).toFixed(1);
    const line = `[+${t0}s] fault ${f.id}: ${describeFault(f, nodes.length)}`;
    try {
      switch (f.kind) {
        case 'kill': {
          const node = nodes[f.nodes[0]!]!;
          // A paused process can be killed too (the fallback's partitions pause nodes).
          if (node.state === 'down') {
            report.skipped++;
            log(`${line}: skipped (${node.name} is down)`);
            return;
          }
          log(line);
          count('kill');
          await node.kill();
          await sleep(f.durationMs);
          await restart(node, opts);
          break;
        }
        case 'pause': {
          const node = nodes[f.nodes[0]!]!;
          if (node.state !== 'up') {
            report.skipped++;
            log(`${line}: skipped (${node.name} is ${node.state})`);
            return;
          }
          log(line);
          count('pause');
          node.pause();
          try {
            await sleep(f.durationMs);
          } finally {
            node.resume();
          }
          break;
        }
        case 'partition': {
          const side = f.nodes;
          const other = nodes.map((n) => n.index).filter((i) => !side.includes(i));
          if (net.canPartition) {
            log(line);
            count('partition');
            net.partition(side, other);
            try {
              await sleep(f.durationMs);
            } finally {
              net.healPartition();
            }
          } else {
            const paused = side.map((i) => nodes[i]!).filter((n) => n.state === 'up');
            log(`${line} (no network filters: pausing ${paused.map((n) => n.name).join(',') || 'nobody'})`);
            count('partition (pause)');
            for (const n of paused) n.pause();
            try {
              await sleep(f.durationMs);
            } finally {
              for (const n of paused) n.resume();
            }
          }
          break;
        }
        case 'loss': {
          if (net.canDropDatagrams) {
            const used = net.setLoss(f.nodes, f.lossFraction ?? 0.1);
            log(`${line}${used !== f.lossFraction ? ` (as ${used * 100}%)` : ''}`);
            count('loss');
            try {
              await sleep(f.durationMs);
            } finally {
              net.clearLoss();
            }
          } else {
            log(`${line} (no datagram filters: short pauses of those nodes instead)`);
            count('loss (pauses)');
            const end = Date.now() + f.durationMs;
            for (let i = 0; i < 1000 && Date.now() < end && !opts.aborted(); i++) {
              const targets = f.nodes.map((x) => nodes[x]!).filter((n) => n.state === 'up');
              for (const n of targets) n.pause();
              try {
                await sleep(opts.rng.int(50, 300));
              } finally {
                for (const n of targets) n.resume();
              }
              await sleep(opts.rng.int(200, 800));
            }
          }
          break;
        }
      }
    } catch (err) {
      report.errors.push(`fault ${f.id} (${f.kind}): ${(err as Error).message}`);
      log(`${line}: ERROR ${(err as Error).message}`);
    } finally {
      report.lastHealAt = Math.max(report.lastHealAt, Date.now());
    }
  };

  for (const f of plan) {
    if (opts.aborted()) break;
    const wait = started + f.at - Date.now();
    if (wait > 0) await sleep(wait);
    running.push(execute(f));
  }
  await Promise.all(running);
  report.lastHealAt = Math.max(report.lastHealAt, Date.now());
  return report;
}

/** Restarts a killed node, trying a few times (a port can linger for a moment). */
async function restart(node: FaultNode, opts: InjectorOptions): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 4 && !opts.aborted(); attempt++) {
    try {
      await node.start();
      return;
    } catch (err) {
      last = err;
      opts.log(`restart of ${node.name} failed (attempt ${attempt + 1}): ${(err as Error).message}`);
      await sleep(1000);
    }
  }
  if (!opts.aborted()) throw new Error(`could not restart ${node.name}: ${(last as Error)?.message}`);
}
