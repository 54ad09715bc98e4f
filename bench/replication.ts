import { rmSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { restartGossipNode, status, tokenOf, waitConverged, type StatusDoc } from '../test/helpers/cluster.js';
import { getToken, qs, request, sleep, startNode, stopAllNodes, waitFor, type NodeHandle } from '../test/helpers/node-process.js';
import {
  COUNTER,
  DEFAULT_GOSSIP,
  allSeeAllAlive,
  fmt,
  httpLoadTool,
  load,
  loadAverage,
  machine,
  percentile,
  ratio,
  startClusterTogether,
  waitSwimQuiet,
  type GossipNode,
} from './lib.js';

/**
 * Replication in gossip mode, shipped timings (DEFAULT_GOSSIP), each
 * figure against a baseline from the same run:
 * 1. Latency: a write on one node of 5, time from issuing it until it is readable
 *    on all 4 others (each polled with GETs on a keep-alive connection, 1 ms
 *    apart), p50/p99 over 1 000 writes. Baseline: set then get on the same node.
 *    Target: p99 <= 50 ms.
 * 2. Catch-up: one node of 3 down (SIGTERM) during 100 000 writes of 100 B through
 *    the two others; time from its restart (spawn) until its digest equals theirs.
 *    Baseline: the same restart when it missed nothing. Target: <= 10 s.
 * 3. Cost: UDP bytes and datagrams per write per node at 3, 8, 16 nodes (data-gossip
 *    counters plus membership traffic above its rate at rest), writes paced across
 *    all nodes. Baseline: 3 nodes, and the value's size.
 * 4. `set` throughput on one node of a 3-node cluster against a lone node in
 *    owlcache mode (same settings otherwise), a new key per request. Target: >= 0.7x.
 */
const LATENCY_WRITES = Number(process.env.BENCH_LATENCY_WRITES ?? 1000);
const CATCHUP_WRITES = Number(process.env.BENCH_CATCHUP_WRITES ?? 100_000);
const COST_SIZES = (process.env.BENCH_SIZES ?? '3,8,16').split(',').map(Number);
const COST_WRITES = Number(process.env.BENCH_COST_WRITES ?? 1000);
const COST_RATE = Number(process.env.BENCH_COST_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const VALUE = 'v'.repeat(100);
const RUN = Math.random().toString(36).slice(2, 8);

const dataDirs = new Set<string>();
const track = (nodes: GossipNode[]) => {
  for (const n of nodes) dataDirs.add(dirname(n.dataDir));
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const memb = (s: StatusDoc) => s.replication.membership;
const s2 = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function agentFor(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 64 });
}

async function setOn(node: NodeHandle, key: string, agent: http.Agent): Promise<void> {
  const r = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key, valuedata: VALUE, token: await tokenOf(node) })}`, { agent });
  if (r.status !== 200) throw new Error(`set ${key} on ${node.httpAddr}: ${r.status} ${r.text}`);
}

/**
 * GETs `key` on `node` until it is there: every ~1 ms for the first `tightMs`,
 * then every 20 ms (a write that missed the first wave of pushes waits for a
 * retransmission or anti-entropy) up to `limitMs`. Returns ms since t0, NaN if never.
 */
async function pollUntilReadable(node: NodeHandle, key: string, agent: http.Agent, t0: number, tightMs: number, limitMs: number): Promise<number> {
  const path = `/data/?${qs({ cmd: 'get', key })}`;
  for (;;) {
    const r = await request(node.httpPort, path, { agent });
    if (r.status === 200) return performance.now() - t0;
    const age = performance.now() - t0;
    if (age > limitMs) return NaN;
    await sleep(age < tightMs ? 1 : 20);
  }
}

async function waitAlive(nodes: GossipNode[]): Promise<void> {
  await waitFor(`${nodes.length} nodes to see each other alive`, () => allSeeAllAlive(nodes), 120_000, 100);
}

// ---- 1. latency -------------------------------------------------------------

async function latency(): Promise<void> {
  const nodes = await startClusterTogether(5);
  track(nodes);
  try {
    await waitAlive(nodes);
    await sleep(1000);
    const [writer, ...others] = nodes as [GossipNode, ...GossipNode[]];
    const agents = new Map(nodes.map((n) => [n, agentFor()]));
    // The next write goes out once the last is readable everywhere or TIGHT ms have passed;
    // a write still missing somewhere is then polled every 20 ms in the background, up to LIMIT.
    const TIGHT = 250;
    const LIMIT = 30_000;
    const lateAgents = new Map(nodes.map((n) => [n, agentFor()]));
    // Warm-up (JIT, connections), not counted.
    for (let i = 0; i < 50; i++) {
      const key = `warm-${RUN}-${i}`;
      const t0 = performance.now();
      await setOn(writer, key, agents.get(writer)!);
      await Promise.all(others.map((o) => pollUntilReadable(o, key, agents.get(o)!, t0, TIGHT, TIGHT)));
    }
    const local: number[] = [];
    for (let i = 0; i < LATENCY_WRITES; i++) {
      const key = `local-${RUN}-${i}`;
      const t0 = performance.now();
      await setOn(writer, key, agents.get(writer)!);
      local.push(await pollUntilReadable(writer, key, agents.get(writer)!, t0, TIGHT, TIGHT));
    }
    const pending: Promise<{ last: number; ack: number }>[] = [];
    let late = 0;
    const tRun = performance.now();
    for (let i = 0; i < LATENCY_WRITES; i++) {
      const key = `lat-${RUN}-${i}`;
      const t0 = performance.now();
      await setOn(writer, key, agents.get(writer)!);
      const ack = performance.now() - t0;
      const first = await Promise.all(others.map((o) => pollUntilReadable(o, key, agents.get(o)!, t0, TIGHT, TIGHT)));
      if (first.every((t) => !Number.isNaN(t))) {
        pending.push(Promise.resolve({ last: Math.max(...first), ack }));
        continue;
      }
      late++;
      pending.push(
        Promise.all(others.map((o, j) => (Number.isNaN(first[j]!) ? pollUntilReadable(o, key, lateAgents.get(o)!, t0, 0, LIMIT) : first[j]!))).then(
          (times) => ({
            last: times.some(Number.isNaN) ? Infinity : Math.max(...times),
            ack,
          }),
        ),
      );
    }
    const writeRate = LATENCY_WRITES / ((performance.now() - tRun) / 1000);
    const results = await Promise.all(pending);
    const all = results.map((r) => r.last);
    const fromAck = results.map((r) => r.last - r.ack);
    const lost = all.filter((t) => t === Infinity).length;
    for (const a of [...agents.values(), ...lateAgents.values()]) a.destroy();
    const p = (xs: number[], q: number) => percentile(xs, q).toFixed(1).padStart(7);
    console.log(
      `latency over ${LATENCY_WRITES} writes of 100 B on one node of 5, one after another (${writeRate.toFixed(0)} writes/s); ms from issuing the write`,
    );
    console.log(`                                   p50      p90      p99      max`);
    console.log(`local set+get (baseline)       ${p(local, 50)}  ${p(local, 90)}  ${p(local, 99)}  ${p(local, 100)}`);
    console.log(`readable on all 4 others       ${p(all, 50)}  ${p(all, 90)}  ${p(all, 99)}  ${p(all, 100)}`);
    console.log(`  same, counted from the ack   ${p(fromAck, 50)}  ${p(fromAck, 90)}  ${p(fromAck, 99)}  ${p(fromAck, 100)}`);
    const lateTimes = all.filter((t, i) => t !== Infinity && results[i] !== undefined && t > TIGHT);
    console.log(
      `missed by the first wave of pushes (not everywhere within ${TIGHT} ms): ${late} of ${LATENCY_WRITES}` +
        (late > 0
          ? `; they arrived after ${lateTimes.length > 0 ? `${(Math.min(...lateTimes) / 1000).toFixed(2)}..${(Math.max(...lateTimes) / 1000).toFixed(2)} s` : '-'}, never (in ${LIMIT / 1000} s): ${lost}`
          : ''),
    );
    console.log(`ratio p50 replicated/local     ${ratio(percentile(all, 50), percentile(local, 50))}`);
    console.log(
      `p99 against the 50 ms target   ${ratio(percentile(all, 99), 50)}   (target <= 1.00x; Go OwlCache: median ~60 ms, max ~115 ms, some writes lost)`,
    );
  } finally {
    await stopAllNodes();
  }
}

// ---- 2. catch-up ------------------------------------------------------------

/** `count` sets spread over `via`, `concurrency` in flight per node, keep-alive; returns writes/s. */
async function bulkWrite(via: NodeHandle[], count: number, prefix: string, concurrency: number): Promise<number> {
  const agents = via.map(() => agentFor());
  const tokens = await Promise.all(via.map((n) => tokenOf(n)));
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const at = i % via.length;
      const path = `/data/?${qs({ cmd: 'set', key: `${prefix}-${i}`, valuedata: VALUE, token: tokens[at]! })}`;
      let tries = 0;
      for (;;) {
        const r = await request(via[at]!.httpPort, path, { agent: agents[at]! }).catch((err: Error) => ({ status: 0, text: err.message }));
        if (r.status === 200) break;
        if (++tries >= 3) throw new Error(`set ${prefix}-${i}: ${r.status} ${r.text}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency * via.length }, () => worker()));
  const rate = count / ((performance.now() - t0) / 1000);
  for (const a of agents) a.destroy();
  return rate;
}

/** Spawns `node` again; ms from the spawn until its digest equals `reference`'s. */
async function timeRestartUntilInSync(node: GossipNode, reference: NodeHandle): Promise<{ node: GossipNode; readyMs: number; syncMs: number; keys: number }> {
  const target = (await status(reference)).store.digest;
  const t0 = performance.now();
  const again = await restartGossipNode(node);
  const readyMs = performance.now() - t0;
  let keys = 0;
  await waitFor(
    'the restarted node to catch up',
    async () => {
      const s = await status(again);
      keys = s.store.keys;
      return s.store.digest === target;
    },
    180_000,
    50,
  );
  return { node: again, readyMs, syncMs: performance.now() - t0, keys };
}

async function catchUp(): Promise<void> {
  const nodes = await startClusterTogether(3);
  track(nodes);
  try {
    await waitAlive(nodes);
    const [a, b, c] = nodes as [GossipNode, GossipNode, GossipNode];
    await c.stop('SIGTERM');
    const rate = await bulkWrite([a, b], CATCHUP_WRITES, `cu-${RUN}`, 16);
    const tConv = performance.now();
    await waitConverged([a, b], 120_000);
    const abMs = performance.now() - tConv;
    const behind = await timeRestartUntilInSync(c, a);
    await behind.node.stop('SIGTERM');
    const base = await timeRestartUntilInSync(behind.node, a);
    console.log(`catch-up: one node of 3 down (SIGTERM) during ${CATCHUP_WRITES} writes of 100 B through the other two`);
    console.log(`  writes: ${fmt(rate).trim()} sets/s (keep-alive, 16 in flight per node); the two live nodes agreed ${s2(abMs)} after the last write`);
    console.log(`                                  ready      in sync (digest equal), from the spawn   keys`);
    console.log(
      `restart, missed nothing (baseline) ${s2(base.readyMs).padStart(8)}   ${s2(base.syncMs).padStart(10)}                              ${base.keys}`,
    );
    console.log(
      `restart, missed ${String(CATCHUP_WRITES).padEnd(6)} writes     ${s2(behind.readyMs).padStart(8)}   ${s2(behind.syncMs).padStart(10)}                              ${behind.keys}`,
    );
    console.log(`ratio behind/baseline              ${ratio(behind.syncMs, base.syncMs)}`);
    console.log(`catch-up against the 10 s target   ${ratio(behind.syncMs, 10_000)}   (target <= 1.00x; Go OwlCache: never catches up)`);
  } finally {
    await stopAllNodes();
  }
}

// ---- 3. cost per write ------------------------------------------------------

interface Cost {
  n: number;
  bytes: number;
  datagrams: number;
  pushBytes: number;
  pushDatagrams: number;
  deltas: number;
  membershipExtraBytes: number;
  writeRate: number;
  queueDropped: number;
  drainMs: number;
}

async function costAt(n: number): Promise<Cost> {
  const nodes = await startClusterTogether(n);
  track(nodes);
  try {
    await waitAlive(nodes);
    await waitSwimQuiet(nodes);
    const agents = nodes.map(() => agentFor());
    await Promise.all(nodes.map((x) => tokenOf(x)));
    // Membership's own rate at rest, to subtract.
    const r0 = await Promise.all(nodes.map(status));
    const tr = performance.now();
    await sleep(5000);
    const r1 = await Promise.all(nodes.map(status));
    const restSeconds = (performance.now() - tr) / 1000;
    const restBytesPerS = sum(r1.map((s, i) => memb(s).bytesOut! - memb(r0[i]!).bytesOut!)) / restSeconds;
    const restDgPerS = sum(r1.map((s, i) => memb(s).datagramsOut! - memb(r0[i]!).datagramsOut!)) / restSeconds;

    const t1 = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < COST_WRITES; i++) {
      const due = t1 + (i * 1000) / COST_RATE;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const at = i % n;
      pending.push(setOn(nodes[at]!, `cost-${RUN}-${i}`, agents[at]!));
    }
    await Promise.all(pending);
    const writeRate = COST_WRITES / ((performance.now() - t1) / 1000);
    const tw = performance.now();
    await waitConverged(nodes, 120_000);
    // Every retransmission done: each node's push queue empty.
    await waitFor('push queues to drain', async () => (await Promise.all(nodes.map(status))).every((s) => s.replication.push.queueLength === 0), 180_000, 200);
    const drainMs = performance.now() - tw;
    const r2 = await Promise.all(nodes.map(status));
    const seconds = (performance.now() - t1) / 1000;
    for (const a of agents) a.destroy();
    const d = (f: (s: StatusDoc) => number) => sum(r2.map((s, i) => f(s) - f(r1[i]!)));
    const pushBytes = d((s) => s.replication.push.bytesSent!);
    const pushDatagrams = d((s) => s.replication.push.datagramsSent!);
    const deltas = d((s) => s.replication.push.deltasSent!);
    const membershipExtraBytes = d((s) => memb(s).bytesOut!) - restBytesPerS * seconds;
    const membershipExtraDg = d((s) => memb(s).datagramsOut!) - restDgPerS * seconds;
    const per = (x: number) => x / COST_WRITES / n;
    return {
      n,
      bytes: per(pushBytes + membershipExtraBytes),
      datagrams: per(pushDatagrams + membershipExtraDg),
      pushBytes: per(pushBytes),
      pushDatagrams: per(pushDatagrams),
      deltas: per(deltas),
      membershipExtraBytes: per(membershipExtraBytes),
      writeRate,
      queueDropped: d((s) => s.replication.push.queueDropped!),
      drainMs,
    };
  } finally {
    await stopAllNodes();
  }
}

async function cost(): Promise<void> {
  const results: Cost[] = [];
  for (const n of COST_SIZES) {
    const r = await costAt(n);
    results.push(r);
    console.log(
      `  ${String(n).padStart(2)} nodes: ${r.writeRate.toFixed(0)} writes/s done; push queues empty ${s2(r.drainMs)} after the last write; deltas dropped from full queues: ${r.queueDropped}`,
    );
  }
  const base = results[0]!;
  const valueAndKey = VALUE.length + `cost-${RUN}-1000`.length;
  console.log(`UDP cost per write per node: ${COST_WRITES} writes of 100 B at ${COST_RATE}/s spread over all nodes; baseline ${base.n} nodes`);
  console.log(`nodes  bytes/write/node  datagrams/write/node  deltas sent/write/node  push bytes  membership extra bytes  ratio (bytes)  bytes/(key+value)`);
  for (const r of results) {
    console.log(
      `${String(r.n).padStart(5)}  ${r.bytes.toFixed(0).padStart(16)}  ${r.datagrams.toFixed(2).padStart(20)}  ${r.deltas.toFixed(2).padStart(22)}  ${r.pushBytes.toFixed(0).padStart(10)}  ${r.membershipExtraBytes.toFixed(0).padStart(22)}  ${ratio(r.bytes, base.bytes).padStart(13)}  ${ratio(r.bytes, valueAndKey).padStart(17)}`,
    );
  }
}

// ---- 4. set throughput --------------------------------------------------------

async function throughput(): Promise<void> {
  const lone = await startNode({ settings: { ...DEFAULT_GOSSIP, GroupWorkMode: 'owlcache' } });
  const nodes = await startClusterTogether(3);
  track(nodes);
  try {
    await waitAlive(nodes);
    const urls = new Map<string, string>();
    for (const [name, h] of [
      ['lone', lone],
      ['cluster', nodes[0]!],
    ] as const) {
      const token = name === 'lone' ? await getToken(h.httpPort) : await tokenOf(h);
      urls.set(name, `http://127.0.0.1:${h.httpPort}/data/?cmd=set&key=tp-${COUNTER}&${qs({ valuedata: VALUE, token })}`);
    }
    const sums = { lone: 0, cluster: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['lone', 'cluster'] as const) : (['cluster', 'lone'] as const);
      for (const name of order) {
        const r = await load(urls.get(name)!, { seconds: SECONDS, warmupSeconds: round === 0 ? 2 : 1 });
        if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
        sums[name] += r.requestsPerSec;
        console.log(`  round ${round + 1} ${name.padEnd(7)} ${fmt(r.requestsPerSec)} req/s  p50 ${r.latencyP50} ms  p99 ${r.latencyP99} ms`);
      }
    }
    await waitConverged(nodes, 120_000);
    const keys = (await status(nodes[1]!)).store.keys;
    const lone_ = sums.lone / ROUNDS;
    const cluster = sums.cluster / ROUNDS;
    console.log(`set throughput, ${httpLoadTool()}, 50 connections, ${SECONDS} s per run, a new key per request, ${ROUNDS} rounds alternated`);
    console.log(`lone node, owlcache mode (baseline)   ${fmt(lone_)} req/s`);
    console.log(`one node of a 3-node gossip cluster   ${fmt(cluster)} req/s   (the other two then held ${keys} keys, digests equal)`);
    console.log(`ratio cluster/lone                    ${ratio(cluster, lone_)}   (target >= 0.70x)`);
  } finally {
    await stopAllNodes();
  }
}

async function main(): Promise<void> {
  console.log(`# replication: ${new Date().toISOString()} on ${machine()}; load average ${loadAverage()}`);
  console.log(`# shipped timings (probe 1 s, ping timeout 500 ms, suspicion mult 4, anti-entropy every 10 s), fanout 3, AppendLog 1`);
  const only = (process.env.BENCH_PARTS ?? 'latency,catchup,cost,throughput').split(',');
  try {
    if (only.includes('latency')) {
      await latency();
      console.log('');
    }
    if (only.includes('catchup')) {
      await catchUp();
      console.log('');
    }
    if (only.includes('cost')) {
      await cost();
      console.log('');
    }
    if (only.includes('throughput')) await throughput();
    console.log(`# load average at the end ${loadAverage()}`);
  } finally {
    await stopAllNodes();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
