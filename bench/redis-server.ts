import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { freePort, startNode, waitFor, type NodeHandle } from '../test/helpers/node-process.js';
import { pinning, pinToCore } from './lib.js';

/**
 * redis-server and redis-benchmark for the benchmarks that compare with Redis
 * (resp.ts, redis.ts): from Debian's redis-server / redis-tools, installed
 * with apt-get when missing and running as root.
 */

const has = (cmd: string) => spawnSync(cmd, ['--version']).error === undefined;

export function ensureRedis(): boolean {
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

/**
 * One redis-benchmark run of `tests` (e.g. ['set', 'get']) with `clients`
 * connections and `size`-byte values; requests per second by test, keyed by
 * the test's name as redis-benchmark prints it (SET, GET, INCR, "MSET (10 keys)").
 */
export function redisBenchmark(opts: {
  port: number;
  tests: string[];
  pipeline: number;
  requests: number;
  clients: number;
  size?: number;
  password?: string;
}): Record<string, number> {
  const args = [
    '-h',
    '127.0.0.1',
    '-p',
    String(opts.port),
    '-t',
    opts.tests.join(','),
    '-n',
    String(opts.requests),
    '-c',
    String(opts.clients),
    '-P',
    String(opts.pipeline),
    '-d',
    String(opts.size ?? 3),
    '--csv',
  ];
  if (opts.password !== undefined) args.push('-a', opts.password);
  // With pinning on (bench/lib.ts), the load generator keeps core 0 and the servers core 1.
  const r = pinning()
    ? spawnSync('taskset', ['-c', '0', 'redis-benchmark', ...args], { encoding: 'utf8', timeout: 600_000 })
    : spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`redis-benchmark failed (${r.status ?? r.signal}): ${r.stderr}`);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^"([^"]+)","([\d.]+)"/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/** A test's figure from a redisBenchmark result; its name as redis-benchmark prints it starts with `test` upper-cased. */
export function figure(run: Record<string, number>, test: string): number {
  const name = Object.keys(run).find((k) => k.split(' ')[0] === test.toUpperCase());
  if (name === undefined) throw new Error(`no ${test} figure in redis-benchmark output: ${JSON.stringify(run)}`);
  return run[name]!;
}

export async function startRedis(
  port: number,
  dir: string,
  persistence: string[] = ['--appendonly', 'yes', '--appendfsync', 'everysec'],
): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', ...persistence, '--daemonize', 'no', '--logfile', ''],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  pinToCore(proc.pid, 1);
  await waitFor(
    'redis-server to answer',
    () => spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.includes('PONG'),
    15_000,
    100,
  );
  return proc;
}

export async function stopRedis(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * A redis-server on a free port of 127.0.0.1 and a node with a Redis port, side
 * by side for a comparison (both on core 1 when pinning is on). If the node
 * cannot start, the redis-server is stopped again.
 */
export async function startRedisAndNode(
  dir: string,
  settings: Record<string, string | number> = {},
): Promise<{ redis: ChildProcess; redisPort: number; node: NodeHandle }> {
  const redisPort = await freePort();
  const redis = await startRedis(redisPort, dir);
  try {
    const node = await startNode({ settings: { RespPort: await freePort(), ...settings } });
    pinToCore(node.proc.pid, 1);
    return { redis, redisPort, node };
  } catch (err) {
    await stopRedis(redis);
    throw err;
  }
}
