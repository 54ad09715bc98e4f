import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, machine, pinning, ratio } from './lib.js';
import { stopAllNodes, TEST_PASSWORD } from '../test/helpers/node-process.js';
import { ensureRedis, figure, redisBenchmark, startRedisAndNode, stopRedis } from './redis-server.js';

/**
 * The Redis protocol front end against a real redis-server, in the same run:
 * `redis-benchmark -t get,set -n 200000 -c 50` at -P 1 and -P 16, against the
 * node's RESP port and against redis-server on a free port of 127.0.0.1. Both
 * keep an append-only log flushed every second (the node's defaults: AppendLog 1,
 * AppendFsync 1; Redis: appendonly yes, appendfsync everysec, no RDB saves).
 * Target: get >= 0.5x Redis at -P 1.
 *
 * redis-server and redis-benchmark: see redis-server.ts (skipped when they cannot be had).
 */
const benchmark = (port: number, pipeline: number, requests: number, password?: string) => {
  const run = redisBenchmark({ port, tests: ['get', 'set'], pipeline, requests, clients: CLIENTS, ...(password !== undefined ? { password } : {}) });
  return { set: figure(run, 'set'), get: figure(run, 'get') };
};
const REQUESTS = Number(process.env.BENCH_RESP_REQUESTS ?? 200_000);
const WARMUP_REQUESTS = Number(process.env.BENCH_RESP_WARMUP ?? 50_000);
const CLIENTS = 50;
const PIPELINES = [1, 16];

async function main(): Promise<void> {
  console.log(
    `# resp: ${new Date().toISOString()} on ${machine()}; redis-benchmark -t get,set -n ${REQUESTS} -c ${CLIENTS} -P ${PIPELINES.join('|')} (after a ${WARMUP_REQUESTS}-request warm-up), 3-byte values${pinning() ? ', servers pinned to core 1 and redis-benchmark to core 0' : ''}`,
  );
  if (!ensureRedis()) {
    console.log(
      '# resp: skipped: redis-server / redis-benchmark are not installed and cannot be installed here (need root and apt-get: apt-get install -y redis-server redis-tools)',
    );
    return;
  }
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`# ${version}`);
  const dir = mkdtempSync(join(tmpdir(), 'owlcache-bench-redis-'));
  let redis: ChildProcess | null = null;
  try {
    const both = await startRedisAndNode(dir);
    redis = both.redis;
    const { redisPort, node } = both;

    benchmark(node.respPort, 16, WARMUP_REQUESTS, TEST_PASSWORD);
    benchmark(node.respPort, 1, WARMUP_REQUESTS, TEST_PASSWORD);
    benchmark(redisPort, 1, WARMUP_REQUESTS);

    for (const p of PIPELINES) {
      const owl = benchmark(node.respPort, p, REQUESTS, TEST_PASSWORD);
      const real = benchmark(redisPort, p, REQUESTS);
      console.log(`-P ${String(p).padEnd(2)} redis-server    set ${fmt(real.set)} req/s   get ${fmt(real.get)} req/s`);
      console.log(`-P ${String(p).padEnd(2)} owlcache RESP   set ${fmt(owl.set)} req/s   get ${fmt(owl.get)} req/s`);
      console.log(
        `-P ${String(p).padEnd(2)} ratio           set ${ratio(owl.set, real.set).padStart(8)}         get ${ratio(owl.get, real.get).padStart(8)}${p === 1 ? '   (target get >= 0.50x)' : ''}`,
      );
    }
  } finally {
    if (redis !== null) await stopRedis(redis);
    await stopAllNodes();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
