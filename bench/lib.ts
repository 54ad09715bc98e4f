import autocannon from 'autocannon';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';

/** Shared pieces of the benchmarks: load runs, a bare baseline server, machine facts. */

export interface LoadResult {
  requestsPerSec: number;
  latencyP50: number;
  latencyP99: number;
  errors: number;
  non2xx: number;
}

/**
 * The HTTP load generator. On a 2-core machine the client shares the CPU with the
 * server; autocannon (JavaScript) parses every response byte and becomes the
 * bottleneck, so wrk (C) is used when it is there (installed from Debian's
 * packages when running as root), autocannon otherwise.
 */
export function httpLoadTool(): 'wrk' | 'autocannon' {
  if (process.env.BENCH_TOOL === 'autocannon') return 'autocannon';
  const has = () => spawnSync('wrk', ['--version']).error === undefined;
  if (has()) return 'wrk';
  if (process.getuid?.() === 0) {
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'ignore', timeout: 120_000 });
    } catch {
      // no package index or no network: fall back
    }
    if (has()) return 'wrk';
  }
  return 'autocannon';
}

function wrkLoad(url: string, connections: number, seconds: number): LoadResult {
  const out = execFileSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const ms = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    latencyP50: ms(/50%\s+([\d.]+)(us|ms|s)/),
    latencyP99: ms(/99%\s+([\d.]+)(us|ms|s)/),
    errors: num(/Socket errors:.*?(\d+)/) || 0,
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0,
  };
}

/** Load for `seconds` after a warm-up run (so the JIT has settled), with wrk or autocannon. */
export async function load(url: string, opts: { connections?: number; seconds?: number; warmupSeconds?: number } = {}): Promise<LoadResult> {
  const connections = opts.connections ?? 50;
  const seconds = opts.seconds ?? 10;
  const warmup = opts.warmupSeconds ?? 3;
  if (httpLoadTool() === 'wrk') {
    if (warmup > 0) wrkLoad(url, connections, warmup);
    return wrkLoad(url, connections, seconds);
  }
  if (warmup > 0) await autocannon({ url, connections, duration: warmup });
  const result = await autocannon({ url, connections, duration: seconds });
  return {
    requestsPerSec: result.requests.average,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/** A bare node:http server in its own process answering a constant 100-byte body: the baseline. */
export async function startBareServer(port: number): Promise<ChildProcess> {
  const code = `
    const http = require('node:http');
    const body = Buffer.alloc(100, 0x61);
    http.createServer((req, res) => { res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length}); res.end(body); })
      .listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n'));
  `;
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('bare server did not start')), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return proc;
}

export function machine(): string {
  return `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function fmt(n: number): string {
  return n.toFixed(0).padStart(8);
}

export function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;
}
