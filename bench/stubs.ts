import type { Redis } from 'ioredis';
import { redisClient } from '../test/helpers/redis-client.js';
import { status } from '../test/helpers/cluster.js';
import { freePort, sleep, startNode, stopAllNodes, TEST_PASSWORD, type NodeHandle } from '../test/helpers/node-process.js';
import { fmt, machine } from './lib.js';
import { Store } from '../src/store/store.js';

/**
 * Memory held for keys that are no longer readable (docs/benchmarks.md, "stubs"):
 * 1. MaxMemory 64mb and 500 000 distinct keys of 100-byte values: RSS at the end.
 * 2. No bound, 300 000 keys written with PX 15000: RSS while live, RSS and DBSIZE
 *    once all have expired, before the minute's sweep and after it.
 * It measures the tree it was compiled in: run it from two builds back to back
 * to compare (docs/benchmarks.md says how).
 */
const DISTINCT = Number(process.env.BENCH_STUB_KEYS ?? 500_000);
const EXPIRING = Number(process.env.BENCH_EXPIRING_KEYS ?? 300_000);
/** Long enough that every key is still live when the writes end, even on a busy machine. */
const PX = Number(process.env.BENCH_EXPIRING_PX ?? 15_000);
const VALUE = 'v'.repeat(100);
const MB = 1024 * 1024;

function connect(node: NodeHandle): Promise<Redis> {
  return redisClient(node.respPort, { password: TEST_PASSWORD, commandTimeoutMs: 60_000 });
}

async function write(r: Redis, n: number, args: string[]): Promise<void> {
  for (let i = 0; i < n; i += 10_000) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 10_000); j++) p.set(`key:${String(j).padStart(7, '0')}`, VALUE, ...(args as []));
    await p.exec();
  }
}

/** RSS, the JS heap + external bytes (INFO's used_memory), and the store's counts. */
async function memory(node: NodeHandle, r: Redis): Promise<string> {
  const s = (await status(node)) as unknown as { node: { rssBytes: number }; store: Record<string, number> };
  const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))?.[1] ?? NaN);
  return `RSS ${fmt(s.node.rssBytes / MB)} MB, used_memory ${fmt(used / MB)} MB (store: ${JSON.stringify({ keys: s.store.keys, stubs: s.store.stubs, bytes: s.store.bytes })})`;
}

/**
 * The same two workloads on a Store in this process, measured after a full
 * garbage collection (run with node --expose-gc): RSS above counts garbage
 * not yet collected and the heap's high-water mark, this does not.
 */
function inProcess(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('in-process figures skipped: run with node --expose-gc');
    return;
  }
  const heap = () => {
    gc();
    const m = process.memoryUsage();
    return `${fmt((m.heapUsed + m.external + m.arrayBuffers) / MB)} MB`;
  };
  const value = Buffer.alloc(100, 'v');
  const key = (j: number) => `key:${String(j).padStart(7, '0')}`;
  const base = heap();
  let bounded: Store | null = new Store({ nodeId: 'bench', maxMemory: 64 * MB });
  for (let j = 0; j < DISTINCT; j++) bounded.set(key(j), Buffer.from(value));
  console.log(
    `in-process store, MaxMemory 64mb, ${DISTINCT} distinct keys: heap ${heap()} (empty: ${base}) ${JSON.stringify({ keys: bounded.stats().keys, stubs: bounded.stats().stubs })}`,
  );
  bounded = null;
  let now = Date.now();
  const expiring = new Store({ nodeId: 'bench', now: () => now });
  for (let j = 0; j < EXPIRING; j++) expiring.set(key(j), Buffer.from(value), 2000);
  console.log(`in-process store, ${EXPIRING} keys PX 2000: live heap ${heap()}`);
  now += 2000;
  console.log(`in-process store, ${EXPIRING} keys PX 2000: expired, before a sweep: heap ${heap()}, keys ${expiring.stats().keys}`);
  expiring.sweep();
  console.log(`in-process store, ${EXPIRING} keys PX 2000: expired, after a sweep: heap ${heap()}, keys ${expiring.stats().keys}`);
}

async function main(): Promise<void> {
  console.log(`stubs bench on ${machine()}`);
  try {
    const bounded = await startNode({ settings: { RespPort: await freePort(), MaxMemory: '64mb', AppendLog: 0 } });
    const r1 = await connect(bounded);
    await write(r1, DISTINCT, []);
    await sleep(1000);
    console.log(`MaxMemory 64mb, ${DISTINCT} distinct keys of 100 bytes: ${await memory(bounded, r1)}`);
    r1.disconnect();
    await bounded.stop();

    const single = await startNode({ settings: { RespPort: await freePort(), AppendLog: 0, Task_ClearExpireData: 1 } });
    const r2 = await connect(single);
    const started = Date.now();
    await write(r2, EXPIRING, ['PX', String(PX)]);
    console.log(`${EXPIRING} keys PX ${PX}, live: ${await memory(single, r2)}, DBSIZE ${await r2.dbsize()} (written in ${Date.now() - started} ms)`);
    await sleep(PX + 1000);
    console.log(`all expired, before a sweep: ${await memory(single, r2)}, DBSIZE ${await r2.dbsize()}`);
    await sleep(62_000);
    console.log(`all expired, after a sweep: ${await memory(single, r2)}, DBSIZE ${await r2.dbsize()}`);
    r2.disconnect();
    inProcess();
  } finally {
    await stopAllNodes();
  }
}

await main();
