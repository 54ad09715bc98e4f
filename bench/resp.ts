import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, machine, ratio } from './lib.js';
import { freePort, startNode, stopAllNodes, TEST_PASSWORD, waitFor } from '../test/helpers/node-process.js';

/**
 * The Redis protocol front end against a real redis-server, in the same run:
 * `redis-benchmark -t get,set -n 200000 -c 50` at -P 1 and -P 16, against the
 * node's RESP port and against redis-server on a free port of 127.0.0.1. Both
 * keep an append-only log flushed every second (the node's defaults: AppendLog 1,
 * AppendFsync 1; Redis: appendonly yes, appendfsync everysec, no RDB saves).
 * Target: get >= 0.5x Redis at -P 1.
 *
 * redis-server and redis-benchmark come from Debian's redis-server / redis-tools;
 * installed with apt-get when missing and running as root, otherwise skipped.
 */
const REQUESTS = Number(process.env.BENCH_RESP_REQUESTS ?? 200_000);
const WARMUP_REQUESTS = Number(process.env.BENCH_RESP_WARMUP ?? 50_000);
const CLIENTS = 50;
const PIPELINES = [1, 16];

const has = (cmd: string) => spawnSync(cmd, ['--version']).error === undefined;

function ensureRedis(): boolean {
  if (has('redis-server') && has('redis-benchmark')) return true;
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', 'redis-server', 'redis-tools'], {
      stdio: 'ignore',
      timeout: 300_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch {
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', '-qq', 'redis-server', 'redis-tools'], {
        stdio: 'ignore',
        timeout: 300_000,
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch {
      return false;
    }
  }
  return has('redis-server') && has('redis-benchmark');
}

interface Run {
  set: number;
  get: number;
}

/** One redis-benchmark run; requests per second of SET and GET. */
function benchmark(port: number, pipeline: number, requests: number, password?: string): Run {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'get,set', '-n', String(requests), '-c', String(CLIENTS), '-P', String(pipeline), '--csv'];
  if (password !== undefined) args.push('-a', password);
  const r = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed (${r.status ?? r.signal}): ${r.stderr}`);
  const rps = (test: string) => {
    const m = new RegExp(`^"${test}","([\\d.]+)"`, 'm').exec(r.stdout);
    if (m === null) throw new Error(`no ${test} figure in redis-benchmark output:\n${r.stdout}\n${r.stderr}`);
    return Number(m[1]);
  };
  return { set: rps('SET'), get: rps('GET') };
}

async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec',
    '--daemonize', 'no', '--logfile', '',
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor('redis-server to answer', () => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.includes('PONG'), 15_000, 100);
  return proc;
}

async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<void> {
  console.log(`# resp: ${new Date().toISOString()} on ${machine()}; redis-benchmark -t get,set -n ${REQUESTS} -c ${CLIENTS} -P ${PIPELINES.join('|')} (after a ${WARMUP_REQUESTS}-request warm-up), 3-byte values`);
  if (!ensureRedis()) {
    console.log('# resp: skipped: redis-server / redis-benchmark are not installed and cannot be installed here (need root and apt-get: apt-get install -y redis-server redis-tools)');
    return;
  }
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`# ${version}`);
  const dir = mkdtempSync(join(tmpdir(), 'owlcache-bench-redis-'));
  let redis: ChildProcess | null = null;
  try {
    const redisPort = await freePort();
    redis = await startRedis(redisPort, dir);
    const node = await startNode({ settings: { RespPort: await freePort() } });

    benchmark(node.respPort, 16, WARMUP_REQUESTS, TEST_PASSWORD);
    benchmark(node.respPort, 1, WARMUP_REQUESTS, TEST_PASSWORD);
    benchmark(redisPort, 1, WARMUP_REQUESTS);

    for (const p of PIPELINES) {
      const owl = benchmark(node.respPort, p, REQUESTS, TEST_PASSWORD);
      const real = benchmark(redisPort, p, REQUESTS);
      console.log(`-P ${String(p).padEnd(2)} redis-server    set ${fmt(real.set)} req/s   get ${fmt(real.get)} req/s`);
      console.log(`-P ${String(p).padEnd(2)} owlcache RESP   set ${fmt(owl.set)} req/s   get ${fmt(owl.get)} req/s`);
      console.log(`-P ${String(p).padEnd(2)} ratio           set ${ratio(owl.set, real.set).padStart(8)}         get ${ratio(owl.get, real.get).padStart(8)}${p === 1 ? '   (target get >= 0.50x)' : ''}`);
    }
  } finally {
    if (redis !== null) await stopRedis(redis);
    await stopAllNodes();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
