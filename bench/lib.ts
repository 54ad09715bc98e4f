import autocannon from 'autocannon';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { members, startGossipNode, status } from '../test/helpers/cluster.js';
import { TEST_AUTH_KEY, freeUdpPort, sleep, type NodeHandle } from '../test/helpers/node-process.js';

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

/** Placeholder in a load URL replaced by a counter that grows with every request (a new key per request). */
export const COUNTER = '{n}';

/** A wrk script that sends `url` with COUNTER replaced by a growing number (salted per run). */
function wrkCounterScript(url: string): { file: string; cleanup: () => void } {
  const u = new URL(url.replace(COUNTER, '__N__'));
  const [before, after] = `${u.pathname}${u.search}`.split('__N__') as [string, string];
  const salt = Math.random().toString(36).slice(2, 8);
  const dir = mkdtempSync(join(os.tmpdir(), 'owlcache-wrk-'));
  const file = join(dir, 'counter.lua');
  writeFileSync(
    file,
    `local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, ${JSON.stringify(before)} .. "${salt}-" .. n .. ${JSON.stringify(after)})\nend\n`,
  );
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function wrkLoad(url: string, connections: number, seconds: number): LoadResult {
  const script = url.includes(COUNTER) ? wrkCounterScript(url) : null;
  const target = url.replace(COUNTER, '0');
  let out: string;
  try {
    const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(script ? ['-s', script.file] : []), target];
    // With pinning on, the load generator keeps core 0 and the servers core 1 (see pinToCore).
    const [cmd, argv] = pinning() ? ['taskset', ['-c', '0', 'wrk', ...args]] : ['wrk', args];
    out = execFileSync(cmd, argv, { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  } finally {
    script?.cleanup();
  }
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

/**
 * Load for `seconds` after a warm-up run (so the JIT has settled), with wrk or autocannon.
 * A COUNTER (`{n}`) in the URL is replaced by a number that grows with every request.
 */
export async function load(url: string, opts: { connections?: number; seconds?: number; warmupSeconds?: number } = {}): Promise<LoadResult> {
  const connections = opts.connections ?? 50;
  const seconds = opts.seconds ?? 10;
  const warmup = opts.warmupSeconds ?? 3;
  if (httpLoadTool() === 'wrk') {
    if (warmup > 0) wrkLoad(url, connections, warmup);
    return wrkLoad(url, connections, seconds);
  }
  const counted = (duration: number): autocannon.Options => {
    if (!url.includes(COUNTER)) return { url, connections, duration };
    let n = 0;
    const salt = Math.random().toString(36).slice(2, 8);
    const u = new URL(url.replace(COUNTER, '__N__'));
    const path = `${u.pathname}${u.search}`;
    return {
      url: u.origin,
      connections,
      duration,
      requests: [{ setupRequest: (req) => ({ ...req, path: path.replace('__N__', `${salt}-${++n}`) }) }],
    };
  };
  if (warmup > 0) await autocannon(counted(warmup));
  const result = await autocannon(counted(seconds));
  return {
    requestsPerSec: result.requests.average,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

/**
 * A bare node:http server in its own process answering a constant 100-byte
 * body: the baseline. `headers` (name, value pairs) makes it answer the same
 * header bytes as the server it is compared with, so the two send the same bytes.
 */
export async function startBareServer(port: number, headers: [string, string][] = [['Content-Type', 'text/plain; charset=utf-8']]): Promise<ChildProcess> {
  const code = `
    const http = require('node:http');
    const body = Buffer.alloc(100, 0x61);
    const raw = ${JSON.stringify(headers.flat())}.concat(['Content-Length', String(body.length)]);
    http.createServer((req, res) => { res.writeHead(200, raw); res.end(body); })
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

/**
 * On 2 cores the OS places the load generator and the server differently from
 * run to run, and a ratio moves by 0.2 between two runs on a quiet machine.
 * Pinning (taskset, when present; BENCH_PIN=0 turns it off) gives the server
 * under test and its baseline the same core, the load generator the other.
 */
export function pinning(): boolean {
  if (process.env.BENCH_PIN === '0' || os.cpus().length < 2) return false;
  return spawnSync('taskset', ['-V']).error === undefined;
}

/** Pins a process and all its threads to one core (no-op without pinning). */
export function pinToCore(pid: number | undefined, core: number): void {
  if (pid === undefined || !pinning()) return;
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
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

/** The p-th percentile (0..100) of some numbers, nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Milliseconds since `t0` (performance.now() based), one decimal. */
export function msSince(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** The machine's 1-minute load average, to print next to figures (other work on the box skews them). */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/**
 * Gossip mode with the shipped timings (probe 1 s, ping timeout 500 ms, suspicion
 * mult 4, anti-entropy every 10 s): what users get. The test harness's
 * FAST_GOSSIP is overridden setting by setting.
 */
export const DEFAULT_GOSSIP: Record<string, string | number> = {
  GroupWorkMode: 'gossip',
  GossipDataSyncAuthKey: TEST_AUTH_KEY,
  GossipProbeInterval: 1000,
  GossipPingTimeout: 500,
  GossipSuspicionMult: 4,
  PushPullInterval: 10,
};

export type GossipNode = NodeHandle & { gossip: string };

/** n gossip nodes spawned at once, all seeded with the first one's (pre-allocated) gossip address. */
export async function startClusterTogether(n: number, settings: Record<string, string | number> = DEFAULT_GOSSIP): Promise<GossipNode[]> {
  const firstPort = await freeUdpPort();
  const first = `127.0.0.1:${firstPort}`;
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      i === 0
        ? startGossipNode([], { ...settings, Gossipport: firstPort }, { readyTimeoutMs: 60_000 })
        : startGossipNode([first], settings, { readyTimeoutMs: 60_000 }),
    ),
  );
}

/** True when every node lists every other node as alive. */
export async function allSeeAllAlive(nodes: GossipNode[]): Promise<boolean> {
  const views = await Promise.all(nodes.map((n) => members(n).catch(() => null)));
  return views.every((rows, i) => {
    if (rows === null) return false;
    const alive = new Set(rows.filter((r) => !r.local && r.state === 'alive').map((r) => r.gossip));
    return nodes.every((other, j) => j === i || alive.has(other.gossip));
  });
}

/**
 * Waits until SWIM traffic is down to bare probes: after a join, every member
 * update rides on ceil(15 log10(N+1)) probes of every node (over 10 s at 16 nodes),
 * which is not traffic at rest. Quiet = under 80 bytes per datagram over 1 s.
 * Returns the ms waited (at most `maxMs`).
 */
export async function waitSwimQuiet(nodes: NodeHandle[], maxMs = 40_000): Promise<number> {
  const t0 = performance.now();
  const out = async () => {
    const all = await Promise.all(nodes.map(status));
    return all.reduce(
      (acc, s) => {
        const m = (s.replication as unknown as { membership: { bytesOut: number; datagramsOut: number } }).membership;
        return { bytes: acc.bytes + m.bytesOut, datagrams: acc.datagrams + m.datagramsOut };
      },
      { bytes: 0, datagrams: 0 },
    );
  };
  let prev = await out();
  while (performance.now() - t0 < maxMs) {
    await sleep(1000);
    const cur = await out();
    const datagrams = cur.datagrams - prev.datagrams;
    if (datagrams > 0 && (cur.bytes - prev.bytes) / datagrams < 80) break;
    prev = cur;
  }
  return performance.now() - t0;
}
