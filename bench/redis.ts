import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, machine, pinning, ratio } from './lib.js';
import { stopAllNodes, TEST_PASSWORD } from '../test/helpers/node-process.js';
import { ensureRedis, figure, redisBenchmark, startRedisAndNode, stopRedis } from './redis-server.js';

/**
 * The commands caches send most, through the Redis port and through a real
 * redis-server in the same run: `redis-benchmark -t set,get,incr,mset -c 50
 * -d 100` at -P 1 and -P 16, printed as ratios (owlcache / Redis). Both keep an
 * append-only log flushed every second (the node's defaults; Redis:
 * appendonly yes, appendfsync everysec, no RDB saves). No target: the figures
 * say what a drop-in replacement costs. INCR here is a PN-counter increment
 * (src/store/counter.ts); MSET is ten keys per command.
 */
const REQUESTS = Number(process.env.BENCH_REDIS_REQUESTS ?? 100_000);
const WARMUP_REQUESTS = Number(process.env.BENCH_REDIS_WARMUP ?? 20_000);
const CLIENTS = 50;
const SIZE = 100;
const TESTS = ['set', 'get', 'incr', 'mset'];
const PIPELINES = [1, 16];

async function main(): Promise<void> {
  console.log(
    `# redis: ${new Date().toISOString()} on ${machine()}; redis-benchmark -t ${TESTS.join(',')} -n ${REQUESTS} -c ${CLIENTS} -d ${SIZE} -P ${PIPELINES.join('|')} (after a ${WARMUP_REQUESTS}-request warm-up)${pinning() ? ', servers pinned to core 1 and redis-benchmark to core 0' : ''}`,
  );
  if (!ensureRedis()) {
    console.log(
      '# redis: skipped: redis-server / redis-benchmark are not installed and cannot be installed here (need root and apt-get: apt-get install -y redis-server redis-tools)',
    );
    return;
  }
  console.log(`# ${spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
  const dir = mkdtempSync(join(tmpdir(), 'owlcache-bench-redis-'));
  let redis: ChildProcess | null = null;
  try {
    const both = await startRedisAndNode(dir);
    redis = both.redis;
    const { redisPort, node } = both;
    const run = (port: number, pipeline: number, requests: number, password?: string) =>
      redisBenchmark({ port, tests: TESTS, pipeline, requests, clients: CLIENTS, size: SIZE, ...(password !== undefined ? { password } : {}) });
    run(node.respPort, 16, WARMUP_REQUESTS, TEST_PASSWORD);
    run(redisPort, 16, WARMUP_REQUESTS);
    for (const p of PIPELINES) {
      const owl = run(node.respPort, p, REQUESTS, TEST_PASSWORD);
      const real = run(redisPort, p, REQUESTS);
      const row = (label: string, f: (t: string) => string) =>
        console.log(`-P ${String(p).padEnd(2)} ${label.padEnd(15)} ${TESTS.map((t) => `${t} ${f(t)}`).join('   ')}`);
      row('redis-server', (t) => `${fmt(figure(real, t))} req/s`);
      row('owlcache RESP', (t) => `${fmt(figure(owl, t))} req/s`);
      row('ratio', (t) => ratio(figure(owl, t), figure(real, t)).padStart(8));
    }
  } finally {
    if (redis !== null) await stopRedis(redis);
    await stopAllNodes();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
