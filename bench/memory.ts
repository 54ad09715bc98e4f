import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { redisClient } from '../test/helpers/redis-client.js';
import { status } from '../test/helpers/cluster.js';
import { freePort, sleep, startNode, stopAllNodes, TEST_PASSWORD, type NodeHandle } from '../test/helpers/node-process.js';
import { setQuiet } from '../src/log.js';
import { Persistence } from '../src/persistence/persistence.js';
import { Store } from '../src/store/store.js';
import { loadAverage, machine, ratio } from './lib.js';

/**
 * Memory of the store (docs/benchmarks.md, "memory"), in one run:
 * 1. RSS growth per entry for BENCH_MEMORY_KEYS [1 000 000] entries of 100 B
 *    (12-byte keys) written over RESP in pipelines, for owlcache and, when
 *    /usr/bin/redis-server is there, for redis-server; the load's rate too;
 *    and for owlcache again with README's tight-memory settings (TIGHT);
 * 2. the same for BENCH_MEMORY_KIB_KEYS [300 000] entries of 1 KiB;
 * 3. start-up of a node whose data directory holds the 1 M entries, as shipped and with YOUNG;
 * 4. the longest event-loop stall while a snapshot of 1 M keys is written (in process);
 * 5. RSS against MaxMemory 32mb and 256mb under a stream of distinct 1 KiB
 *    writes three times the budget, above the empty node and above the same node
 *    after as many writes to one key, as shipped, with YOUNG and with TIGHT;
 * 6. in process, after a full GC: heap and array-buffer bytes per entry.
 */
const KEYS = Number(process.env.BENCH_MEMORY_KEYS ?? 1_000_000);
const KIB_KEYS = Number(process.env.BENCH_MEMORY_KIB_KEYS ?? 300_000);
const PIPELINE = 10_000;
const MB = 1024 * 1024;
const REDIS_SERVER = '/usr/bin/redis-server';
const key = (i: number) => `key:${String(i).padStart(8, '0')}`;

function client(port: number, password?: string): Promise<Redis> {
  return redisClient(port, { password: password ?? null, commandTimeoutMs: 120_000 });
}

/** Writes n keys from `first`, pipelined; returns SETs per second. */
async function load(r: Redis, n: number, value: string, first = 0, keyOf = key): Promise<number> {
  const t0 = performance.now();
  for (let i = first; i < first + n; i += PIPELINE) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(first + n, i + PIPELINE); j++) p.set(keyOf(j), value);
    await p.exec();
  }
  return n / ((performance.now() - t0) / 1000);
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

async function owlRss(node: NodeHandle): Promise<number> {
  return ((await status(node)) as unknown as { node: { rssBytes: number } }).node.rssBytes;
}

async function startRedis(): Promise<{ proc: ChildProcess; port: number } | null> {
  if (!existsSync(REDIS_SERVER)) return null;
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const r = await client(port);
      await r.ping();
      r.disconnect();
      return { proc, port };
    } catch {
      await sleep(100);
    }
  }
  proc.kill();
  return null;
}

interface Growth {
  perEntry: number;
  rate: number;
}

/**
 * How the node is started (README, "Sizing a node"): as shipped; with V8's young generation
 * capped at 1 MB a semi-space; and with that and glibc mapping every allocation of 32 KiB or
 * more on its own, giving it back when freed instead of keeping the holes that short-lived
 * buffers leave between the store's pages in its heap.
 */
interface Variant {
  label: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}
const SHIPPED: Variant = { label: 'as shipped' };
const YOUNG: Variant = { label: '--max-semi-space-size=1', nodeArgs: ['--max-semi-space-size=1'] };
const TIGHT: Variant = {
  label: '--max-semi-space-size=1 and MALLOC_MMAP_THRESHOLD_=32768',
  env: { MALLOC_MMAP_THRESHOLD_: '32768' },
  nodeArgs: ['--max-semi-space-size=1'],
};

function started(v: Variant): { env?: Record<string, string>; nodeArgs?: string[] } {
  return { ...(v.env ? { env: v.env } : {}), ...(v.nodeArgs ? { nodeArgs: v.nodeArgs } : {}) };
}

async function owlGrowth(n: number, value: string, dataDir?: string, variant = SHIPPED): Promise<Growth & { node: NodeHandle }> {
  const node = await startNode({
    settings: { RespPort: await freePort(), AppendLog: 0, Task_DataBackup: 0 },
    ...(dataDir ? { dataDir } : {}),
    ...started(variant),
    readyTimeoutMs: 120_000,
  });
  const r = await client(node.respPort, TEST_PASSWORD);
  await sleep(500);
  const before = await owlRss(node);
  const rate = await load(r, n, value);
  await sleep(1000);
  const after = await owlRss(node);
  r.disconnect();
  return { perEntry: (after - before) / n, rate, node };
}

async function redisGrowth(n: number, value: string): Promise<Growth | null> {
  const redis = await startRedis();
  if (redis === null) return null;
  try {
    const r = await client(redis.port);
    const before = rssOf(redis.proc.pid!);
    const rate = await load(r, n, value);
    await sleep(1000);
    const after = rssOf(redis.proc.pid!);
    r.disconnect();
    return { perEntry: (after - before) / n, rate };
  } finally {
    redis.proc.kill();
  }
}

async function bounded(maxMb: number, variant: Variant): Promise<string> {
  const node = await startNode({ ...started(variant), settings: { RespPort: await freePort(), MaxMemory: `${maxMb}mb`, AppendLog: 0 } });
  try {
    const r = await client(node.respPort, TEST_PASSWORD);
    const value = 'v'.repeat(1024);
    const writes = Math.ceil((3 * maxMb * MB) / 1100);
    const empty = await owlRss(node);
    await load(r, writes, value, 0, () => 'one-key');
    await r.del('one-key');
    const warm = await owlRss(node);
    await load(r, writes, value);
    await sleep(1000);
    const s = (await status(node)) as unknown as { node: { rssBytes: number }; store: { bytes: number; heldBytes: number; keys: number; stubs: number } };
    r.disconnect();
    const over = s.node.rssBytes - warm;
    return (
      `MaxMemory ${maxMb}mb (${variant.label}), ${writes} distinct 1 KiB writes: RSS ${(s.node.rssBytes / MB).toFixed(1)} MB, ` +
      `${(over / MB).toFixed(1)} MB above the node after as many writes to one key (${(over / (maxMb * MB)).toFixed(2)}× MaxMemory), ` +
      `${((s.node.rssBytes - empty) / MB).toFixed(1)} MB above the empty node (${((s.node.rssBytes - empty) / (maxMb * MB)).toFixed(2)}×); ` +
      `store used ${(s.store.bytes / MB).toFixed(1)} MB (${(s.store.bytes / (maxMb * MB)).toFixed(2)}×), allocated ${(s.store.heldBytes / MB).toFixed(1)} MB ` +
      `(${(s.store.heldBytes / (maxMb * MB)).toFixed(2)}×); ${s.store.keys} keys, ${s.store.stubs} stubs`
    );
  } finally {
    await node.stop();
  }
}

/** A store of n entries in this process: bytes per entry after a full GC, and the longest stall of a snapshot. */
async function inProcess(n: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const mem = () => {
    gc?.();
    gc?.();
    return process.memoryUsage();
  };
  setQuiet(true);
  const dir = mkdtempSync(join(os.tmpdir(), 'owl-bench-memory-'));
  try {
    const m0 = mem();
    const store = new Store({ nodeId: 'bench' });
    const value = Buffer.alloc(100, 0x76);
    for (let i = 0; i < n; i++) store.set(key(i), value);
    const m1 = mem();
    const s = store.stats();
    if (gc === undefined) console.log('(run with node --expose-gc for exact in-process bytes)');
    console.log(
      `in process, ${n} entries of 100 B: heap ${((m1.heapUsed - m0.heapUsed) / n).toFixed(1)} B/entry, array buffers ` +
        `${((m1.arrayBuffers - m0.arrayBuffers) / n).toFixed(1)} B/entry, RSS ${((m1.rss - m0.rss) / n).toFixed(1)} B/entry; ` +
        `store used ${(s.bytes / n).toFixed(1)} B/entry, allocated ${(s.heldBytes / n).toFixed(1)} B/entry, dataset ${(s.datasetBytes / n).toFixed(1)} B/entry`,
    );
    const p = await Persistence.open({ dataDir: dir, store, appendLog: false, fsync: 'no', snapshotEveryMs: 0 });
    const h = monitorEventLoopDelay({ resolution: 1 });
    let longest = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const t = performance.now();
      longest = Math.max(longest, t - last);
      last = t;
    }, 1);
    h.enable();
    const t0 = performance.now();
    await p.snapshot();
    const took = performance.now() - t0;
    h.disable();
    clearInterval(timer);
    console.log(
      `snapshot of ${n} keys in process: ${took.toFixed(0)} ms, longest event-loop stall ${longest.toFixed(1)} ms ` +
        `(event-loop delay p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms, max ${(h.max / 1e6).toFixed(1)} ms)`,
    );
    await p.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`memory bench on ${machine()}, load average ${loadAverage()}`);
  const dataDir = mkdtempSync(join(os.tmpdir(), 'owl-bench-memory-dir-'));
  try {
    const v100 = 'v'.repeat(100);
    const owl = await owlGrowth(KEYS, v100, dataDir);
    // The final snapshot (SIGTERM) holds the KEYS entries for the start-up figure.
    await owl.node.stop();
    const redis = await redisGrowth(KEYS, v100);
    console.log(
      `${KEYS} × 100 B over RESP: owlcache ${owl.perEntry.toFixed(0)} B/entry at ${owl.rate.toFixed(0)} SET/s; ` +
        (redis
          ? `redis-server ${redis.perEntry.toFixed(0)} B/entry at ${redis.rate.toFixed(0)} SET/s; memory ${ratio(owl.perEntry, redis.perEntry)}, load rate ${ratio(owl.rate, redis.rate)}`
          : 'redis-server not installed'),
    );

    const tight = await owlGrowth(KEYS, v100, undefined, TIGHT);
    await tight.node.stop();
    console.log(
      `${KEYS} × 100 B over RESP, ${TIGHT.label}: owlcache ${tight.perEntry.toFixed(0)} B/entry at ${tight.rate.toFixed(0)} SET/s` +
        (redis ? `; memory ${ratio(tight.perEntry, redis.perEntry)}, load rate ${ratio(tight.rate, redis.rate)}` : ''),
    );

    // Alternating, twice each: the capped young generation costs start-up time (docs/benchmarks.md, "memory").
    for (const variant of [SHIPPED, YOUNG, SHIPPED, YOUNG]) {
      const t0 = performance.now();
      const restarted = await startNode({
        settings: { RespPort: await freePort(), AppendLog: 0, Task_DataBackup: 0 },
        dataDir,
        readyTimeoutMs: 120_000,
        ...started(variant),
      });
      const startup = performance.now() - t0;
      const keys = ((await status(restarted)) as unknown as { store: { keys: number } }).store.keys;
      await restarted.stop();
      console.log(`start-up with ${keys} entries (${variant.label}): ${startup.toFixed(0)} ms from spawn to ready`);
    }

    const vKiB = 'v'.repeat(1024);
    const owlKiB = await owlGrowth(KIB_KEYS, vKiB);
    await owlKiB.node.stop();
    const redisKiB = await redisGrowth(KIB_KEYS, vKiB);
    console.log(
      `${KIB_KEYS} × 1 KiB over RESP: owlcache ${owlKiB.perEntry.toFixed(0)} B/entry at ${owlKiB.rate.toFixed(0)} SET/s; ` +
        (redisKiB
          ? `redis-server ${redisKiB.perEntry.toFixed(0)} B/entry at ${redisKiB.rate.toFixed(0)} SET/s; memory ${ratio(owlKiB.perEntry, redisKiB.perEntry)}, load rate ${ratio(owlKiB.rate, redisKiB.rate)}`
          : 'redis-server not installed'),
    );

    for (const mb of [32, 256]) for (const variant of [SHIPPED, YOUNG, TIGHT]) console.log(await bounded(mb, variant));
    await inProcess(KEYS);
    console.log(`load average at the end ${loadAverage()}`);
  } finally {
    await stopAllNodes();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
