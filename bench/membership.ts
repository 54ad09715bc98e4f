import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { members, restartGossipNode, status, type StatusDoc } from '../test/helpers/cluster.js';
import { sleep, stopAllNodes, waitFor } from '../test/helpers/node-process.js';
import { DEFAULT_GOSSIP, allSeeAllAlive, waitSwimQuiet, loadAverage, machine, median, msSince, ratio, startClusterTogether, type GossipNode } from './lib.js';

/**
 * SWIM membership, with the shipped timings (probe 1 s, ping timeout
 * 500 ms, suspicion mult 4): what users get.
 * 1. Convergence: 3, 8 and 16 nodes spawned at once, each seeded with the first;
 *    time from the first spawn until every node lists every other as alive.
 *    Baseline: the 3-node figure.
 * 2. Failure detection after `kill -9` of one node of 5 (median of 5): time until
 *    every survivor lists it as faulty. Baseline: memberlist's bound, probe
 *    interval (until someone probes it) + ping timeout + indirect-ping timeout +
 *    suspicion timeout (mult × max(1, log10 N) × probe interval).
 * 3. UDP datagrams and bytes per second per node at rest (membership counters over
 *    a 10 s window) at 3, 8 and 16 nodes: should stay nearly flat as N grows.
 *    Baseline: the 3-node figure.
 */
const SIZES = (process.env.BENCH_SIZES ?? '3,8,16').split(',').map(Number);
const WINDOW_S = Number(process.env.BENCH_WINDOW ?? 10);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 5);
const DETECT_N = 5;
const PROBE_MS = Number(DEFAULT_GOSSIP.GossipProbeInterval);
const PING_MS = Number(DEFAULT_GOSSIP.GossipPingTimeout);
const MULT = Number(DEFAULT_GOSSIP.GossipSuspicionMult);

const dataDirs = new Set<string>();
const track = (nodes: GossipNode[]) => {
  for (const n of nodes) dataDirs.add(dirname(n.dataDir));
};

interface SizeResult {
  n: number;
  readyMs: number;
  aliveMs: number;
  quietMs: number;
  dgOutPerNodePerS: number;
  bytesOutPerNodePerS: number;
  pushDgPerNodePerS: number;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const memb = (s: StatusDoc) => s.replication.membership;

async function convergenceAndRest(n: number): Promise<SizeResult> {
  const t0 = performance.now();
  const nodes = await startClusterTogether(n);
  track(nodes);
  const readyMs = msSince(t0);
  try {
    await waitFor(`${n} nodes to see each other alive`, () => allSeeAllAlive(nodes), 120_000, 100);
    const aliveMs = msSince(t0);
    // Let the join's piggybacked member updates die down first.
    const quietMs = await waitSwimQuiet(nodes);
    const before = await Promise.all(nodes.map(status));
    const tA = performance.now();
    await sleep(WINDOW_S * 1000);
    const after = await Promise.all(nodes.map(status));
    const seconds = (performance.now() - tA) / 1000;
    const delta = (f: (s: StatusDoc) => number) => sum(after.map((s, i) => f(s) - f(before[i]!))) / n / seconds;
    return {
      n,
      readyMs,
      aliveMs,
      quietMs,
      dgOutPerNodePerS: delta((s) => memb(s).datagramsOut!),
      bytesOutPerNodePerS: delta((s) => memb(s).bytesOut!),
      pushDgPerNodePerS: delta((s) => s.replication.push.datagramsSent!),
    };
  } finally {
    await stopAllNodes();
  }
}

interface Detection {
  firstSuspectMs: number;
  allFaultyMs: number;
}

async function detection(): Promise<Detection[]> {
  const nodes = await startClusterTogether(DETECT_N);
  track(nodes);
  const out: Detection[] = [];
  try {
    await waitFor('the detection cluster to converge', () => allSeeAllAlive(nodes), 60_000, 100);
    await sleep(2000);
    for (let trial = 0; trial < TRIALS; trial++) {
      const idx = 1 + (trial % (DETECT_N - 1));
      const victim = nodes[idx]!;
      const survivors = nodes.filter((_, i) => i !== idx);
      const t0 = performance.now();
      const gone = victim.stop('SIGKILL');
      let firstSuspectMs = NaN;
      await waitFor(
        `survivors to see ${victim.gossip} faulty`,
        async () => {
          const states = await Promise.all(survivors.map(async (s) => (await members(s)).find((m) => m.gossip === victim.gossip)?.state));
          if (Number.isNaN(firstSuspectMs) && states.some((st) => st === 'suspect' || st === 'faulty')) firstSuspectMs = msSince(t0);
          return states.every((st) => st === 'faulty');
        },
        60_000,
        50,
      );
      const allFaultyMs = msSince(t0);
      out.push({ firstSuspectMs, allFaultyMs });
      console.log(
        `  trial ${trial + 1}: killed node ${idx}, first suspect ${(firstSuspectMs / 1000).toFixed(2)} s, faulty on all ${survivors.length} survivors ${(allFaultyMs / 1000).toFixed(2)} s`,
      );
      await gone;
      nodes[idx] = await restartGossipNode(victim);
      await waitFor('the restarted node to be alive everywhere', () => allSeeAllAlive(nodes), 60_000, 100);
      await sleep(2000);
    }
  } finally {
    await stopAllNodes();
  }
  return out;
}

async function main(): Promise<void> {
  console.log(`# membership: ${new Date().toISOString()} on ${machine()}; load average ${loadAverage()}`);
  console.log(`# shipped timings: probe ${PROBE_MS} ms, ping timeout ${PING_MS} ms, suspicion mult ${MULT}; every node seeded with the first`);
  try {
    const sizes: SizeResult[] = [];
    for (const n of SIZES) {
      const r = await convergenceAndRest(n);
      sizes.push(r);
      console.log(
        `  ${String(n).padStart(2)} nodes: all ready ${(r.readyMs / 1000).toFixed(2)} s, all alive everywhere ${(r.aliveMs / 1000).toFixed(2)} s after the first spawn`,
      );
    }
    const base = sizes[0]!;
    console.log('');
    console.log(`convergence (first spawn -> every node lists every other alive); baseline ${base.n} nodes`);
    console.log('nodes  all ready   all alive   alive-ready   ratio (alive)');
    for (const r of sizes) {
      console.log(
        `${String(r.n).padStart(5)}  ${(r.readyMs / 1000).toFixed(2).padStart(7)} s  ${(r.aliveMs / 1000).toFixed(2).padStart(7)} s  ${((r.aliveMs - r.readyMs) / 1000).toFixed(2).padStart(9)} s   ${ratio(r.aliveMs, base.aliveMs)}`,
      );
    }
    console.log('');
    console.log(`UDP at rest, membership (SWIM) per node over ${WINDOW_S} s, once the join's updates are disseminated; baseline ${base.n} nodes`);
    console.log(
      `(quiet after ${sizes.map((r) => `${r.n}: ${(r.quietMs / 1000).toFixed(0)} s`).join(', ')}; the membership push-pull, every 30 s, may or may not fall in the window)`,
    );
    console.log('nodes  datagrams out/s   bytes out/s   ratio (datagrams)   data-gossip datagrams/s');
    for (const r of sizes) {
      console.log(
        `${String(r.n).padStart(5)}  ${r.dgOutPerNodePerS.toFixed(2).padStart(15)}  ${r.bytesOutPerNodePerS.toFixed(0).padStart(12)}   ${ratio(r.dgOutPerNodePerS, base.dgOutPerNodePerS).padStart(17)}   ${r.pushDgPerNodePerS.toFixed(2).padStart(10)}`,
      );
    }

    console.log('');
    console.log(`failure detection: kill -9 one node of ${DETECT_N}, ${TRIALS} trials`);
    const det = await detection();
    const suspicionMs = MULT * Math.max(1, Math.log10(DETECT_N)) * PROBE_MS;
    const pingReqMs = Math.max(PING_MS, PROBE_MS - PING_MS);
    const bound = PROBE_MS + PING_MS + pingReqMs + suspicionMs;
    const med = median(det.map((d) => d.allFaultyMs));
    const medSuspect = median(det.map((d) => d.firstSuspectMs));
    console.log(`first suspect (median)            ${(medSuspect / 1000).toFixed(2)} s`);
    console.log(
      `faulty on every survivor (median) ${(med / 1000).toFixed(2)} s   (min ${(Math.min(...det.map((d) => d.allFaultyMs)) / 1000).toFixed(2)} s, max ${(Math.max(...det.map((d) => d.allFaultyMs)) / 1000).toFixed(2)} s)`,
    );
    console.log(`bound: probe ${PROBE_MS} + ping ${PING_MS} + indirect ping ${pingReqMs} + suspicion ${suspicionMs} ms = ${(bound / 1000).toFixed(2)} s`);
    console.log(`ratio median/bound                ${ratio(med, bound)}`);
    console.log(`# load average at the end ${loadAverage()}`);
  } finally {
    await stopAllNodes();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
