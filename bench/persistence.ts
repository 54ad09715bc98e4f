import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setQuiet } from '../src/log.js';
import { SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from '../src/persistence/layout.js';
import { Persistence } from '../src/persistence/persistence.js';
import { writeSnapshot } from '../src/persistence/snapshot.js';
import type { EntryRecord } from '../src/store/entry.js';
import { Store } from '../src/store/store.js';
import { freePort, getToken, qs, request, startNode, stopAllNodes } from '../test/helpers/node-process.js';
import { fmt, httpLoadTool, load, loadAverage, machine, median, ratio } from './lib.js';

/**
 * Persistence costs, each against its baseline in the same run:
 * 1. HTTP `set` throughput with the append log on (AppendFsync 1) against off,
 *    rounds alternated so drift hits both alike. Target: on >= 0.85x off.
 * 2. Start-up time of a node whose data directory holds 1 M entries of 100 B
 *    (snapshot written directly with the module). Target: <= 5 s.
 * 3. Time and peak RSS of a snapshot of 1 M entries (in this process).
 * 4. With BENCH_BASELINE_CLI (another build's dist/src/cli.js, e.g. the
 *    previous commit in a git worktree): `set` with the append log on, this
 *    build against that one, on HTTP (wrk/autocannon) and on RESP (pipelines
 *    of 16 SETs), rounds alternated, medians compared.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
/** AppendFsync of the "on" node (to compare policies by hand: always, no, or seconds). */
const FSYNC = process.env.BENCH_FSYNC ?? '1';
const ONLY = process.env.BENCH_ONLY ?? '';
const MB = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const BASELINE_CLI = process.env.BENCH_BASELINE_CLI ?? '';

async function setThroughput(): Promise<void> {
  const on = await startNode({ settings: { AppendLog: 1, AppendFsync: FSYNC } });
  const off = await startNode({ settings: { AppendLog: 0 } });
  const value = 'v'.repeat(100);
  const urls = new Map<string, string>();
  for (const [name, h] of [
    ['on', on],
    ['off', off],
  ] as const) {
    const token = await getToken(h.httpPort);
    const path = `/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`;
    const r = await request(h.httpPort, path);
    if (r.status !== 200) throw new Error(`set failed on the ${name} node: ${r.text}`);
    urls.set(name, `http://127.0.0.1:${h.httpPort}${path}`);
  }
  const pids = { on: on.proc.pid!, off: off.proc.pid! };
  const sums = { on: 0, off: 0 };
  const cpu = { on: 0, off: 0 };
  const reqs = { on: 0, off: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so warm-up order and drift do not favour one.
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const name of order) {
      await load(urls.get(name)!, { seconds: round === 0 ? 2 : 1, warmupSeconds: 0 });
      const cpu0 = cpuMs(pids[name]);
      const r = await load(urls.get(name)!, { seconds: SECONDS, warmupSeconds: 0 });
      const used = cpuMs(pids[name]) - cpu0;
      if (r.errors > 0 || r.non2xx > 0) throw new Error(`${name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
      sums[name] += r.requestsPerSec;
      cpu[name] += used;
      reqs[name] += r.requestsPerSec * SECONDS;
      console.log(
        `round ${round + 1} append log ${name.padEnd(3)} ${fmt(r.requestsPerSec)} req/s  p50 ${r.latencyP50} ms  p99 ${r.latencyP99} ms  server CPU ${((1000 * used) / (r.requestsPerSec * SECONDS)).toFixed(1)} us/req`,
      );
    }
  }
  const onAvg = sums.on / ROUNDS;
  const offAvg = sums.off / ROUNDS;
  const perReq = (n: 'on' | 'off') => (1000 * cpu[n]) / reqs[n];
  console.log(`set, append log off (AppendLog 0)      ${fmt(offAvg)} req/s  ${perReq('off').toFixed(1)} us CPU/req`);
  console.log(`set, append log on  (AppendFsync ${FSYNC.padEnd(3)})  ${fmt(onAvg)} req/s  ${perReq('on').toFixed(1)} us CPU/req`);
  console.log(`ratio on/off                           ${ratio(onAvg, offAvg)}   (target >= 0.85x)`);
  // Throughput swings with whatever else the machine runs; CPU per request does much less.
  console.log(`ratio on/off by server CPU per request ${ratio(perReq('off'), perReq('on'))}`);
  await on.stop('SIGTERM');
  await off.stop('SIGTERM');
  for (const h of [on, off]) rmSync(h.dir, { recursive: true, force: true });
}

/** CPU time (user + system, all threads) a process has used, from /proc (Linux). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  // After the command: state is field 3, utime and stime are fields 14 and 15 (1-based in proc(5)).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

function records(n: number): EntryRecord[] {
  const out: EntryRecord[] = new Array(n);
  const base = Date.now();
  for (let i = 0; i < n; i++) {
    const vv = { t: base + (i >> 10), c: i & 1023, n: 'bench-node-0001' };
    const value = Buffer.allocUnsafe(100);
    value.fill(i & 0xff);
    out[i] = { key: `key-${i.toString().padStart(8, '0')}`, value, created: vv.t * 1000, vv, expireAt: 0, ev: vv };
  }
  return out;
}

async function startupTime(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'owl-bench-startup-'));
  try {
    mkdirSync(dataDir, { recursive: true });
    const written = await writeSnapshot(join(dataDir, SNAPSHOT_FILE), join(dataDir, SNAPSHOT_TEMP_FILE), records(ENTRIES), {
      nodeId: 'bench-node-0001',
      createdAt: Date.now(),
      replayFrom: 1,
    });
    const t0 = performance.now();
    const h = await startNode({ dataDir, readyTimeoutMs: 120_000, settings: { AppendLog: 1 } });
    const ready = performance.now() - t0;
    const loaded = /loaded (\d+) keys .* in (\d+) ms/.exec(h.stdout());
    console.log(`start-up with ${ENTRIES} entries of 100 B (snapshot ${MB(written.bytes)}):`);
    console.log(`  loading the data directory           ${fmt(Number(loaded?.[2] ?? NaN))} ms  (${loaded?.[1] ?? '?'} keys loaded; target <= 5000 ms)`);
    console.log(`  process spawn to "owlcache ready"    ${fmt(ready)} ms`);
    const t1 = performance.now();
    await h.stop('SIGTERM', 120_000);
    const shut = /snapshot \(shutdown\): (\d+) records, (\d+) bytes in (\d+) ms/.exec(h.stderr());
    console.log(`  SIGTERM to exit (final snapshot)     ${fmt(performance.now() - t1)} ms  (snapshot ${shut?.[3] ?? '?'} ms)`);
    rmSync(h.dir, { recursive: true, force: true });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function snapshotCost(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'owl-bench-snap-'));
  try {
    setQuiet(true);
    const store = new Store({ nodeId: 'bench-node-0001' });
    for (let i = 0; i < ENTRIES; i++) store.set(`key-${i.toString().padStart(8, '0')}`, Buffer.alloc(100, i & 0xff));
    const p = await Persistence.open({ dataDir, store, appendLog: true, fsync: 1000, snapshotEveryMs: 0 });
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    // Longest gap between ticks of a 2 ms interval: how long the node stops answering at worst.
    let lastTick = performance.now();
    let stall = 0;
    const sampler = setInterval(() => {
      const t = performance.now();
      stall = Math.max(stall, t - lastTick);
      lastTick = t;
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 2);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    await p.snapshot();
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    const bytes = p.stats().snapshotBytes;
    console.log(`snapshot of ${ENTRIES} entries of 100 B (in-process, ${MB(bytes)}):`);
    console.log(`  time                                 ${fmt(ms)} ms`);
    console.log(`  RSS before ${MB(before)}, peak during ${MB(peak)}: +${MB(peak - before)}`);
    console.log(`  longest event-loop stall             ${fmt(stall)} ms  (the capture of the store's records)`);
    await p.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** RESP SETs per second over `connections` connections, each keeping a pipeline of `depth` SETs in flight. */
async function respSetRate(port: number, password: string, seconds: number, connections = 50, depth = 16): Promise<number> {
  const value = 'v'.repeat(100);
  const cmd = (...a: string[]) => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  let done = 0;
  let counting = false;
  let stop = false;
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from(
      { length: connections },
      (_, c) =>
        new Promise<void>((resolve, reject) => {
          let n = 0;
          const batch = () => {
            let b = '';
            for (let i = 0; i < depth; i++) b += cmd('SET', `k-${c}-${n++ % 10_000}`, value);
            return b;
          };
          let pending = depth;
          const s = net.connect(port, '127.0.0.1', () => s.write(cmd('AUTH', password) + batch()));
          sockets.push(s);
          let authed = false;
          s.on('data', (d: Buffer) => {
            for (const x of d) {
              if (x !== 0x0a) continue;
              if (!authed) {
                authed = true;
                resolve();
                continue;
              }
              if (counting) done += 1;
              if (--pending === 0 && !stop) {
                pending = depth;
                s.write(batch());
              }
            }
          });
          s.on('error', reject);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 1000));
  counting = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = done / ((performance.now() - t0) / 1000);
  stop = true;
  for (const s of sockets) s.destroy();
  return rate;
}

async function againstBaseline(): Promise<void> {
  const settings = { AppendLog: 1, AppendFsync: FSYNC, RespPort: 0 };
  const nodes = {
    base: await startNode({ entry: BASELINE_CLI, settings: { ...settings, RespPort: await freePort() } }),
    this: await startNode({ settings: { ...settings, RespPort: await freePort() } }),
  };
  const value = 'v'.repeat(100);
  const urls = new Map<string, string>();
  for (const [name, h] of Object.entries(nodes)) {
    const token = await getToken(h.httpPort);
    const path = `/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`;
    if ((await request(h.httpPort, path)).status !== 200) throw new Error(`set failed on the ${name} node`);
    urls.set(name, `http://127.0.0.1:${h.httpPort}${path}`);
  }
  const http: Record<string, number[]> = { base: [], this: [] };
  const resp: Record<string, number[]> = { base: [], this: [] };
  const cpu: Record<string, number[]> = { base: [], this: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['base', 'this'] as const) : (['this', 'base'] as const);
    for (const name of order) {
      const h = nodes[name];
      const cpu0 = cpuMs(h.proc.pid!);
      const r = await load(urls.get(name)!, { seconds: SECONDS, warmupSeconds: round === 0 ? 2 : 1 });
      cpu[name]!.push((1000 * (cpuMs(h.proc.pid!) - cpu0)) / (r.requestsPerSec * SECONDS));
      http[name]!.push(r.requestsPerSec);
      resp[name]!.push(await respSetRate(h.respPort, String(h.settings.Pass), SECONDS));
      console.log(
        `round ${round + 1} ${name.padEnd(4)} HTTP set ${fmt(r.requestsPerSec)} req/s (${cpu[name]!.at(-1)!.toFixed(1)} us CPU/req)  RESP SET -P 16 ${fmt(resp[name]!.at(-1)!)} /s`,
      );
    }
  }
  console.log(`append log on (AppendFsync ${FSYNC}), ${ROUNDS} rounds alternated, medians:`);
  console.log(
    `  HTTP set   baseline ${fmt(median(http.base!))}  this ${fmt(median(http.this!))}  ratio ${ratio(median(http.this!), median(http.base!))}  CPU/req ${median(cpu.base!).toFixed(1)} vs ${median(cpu.this!).toFixed(1)} us`,
  );
  console.log(`  RESP -P 16 baseline ${fmt(median(resp.base!))}  this ${fmt(median(resp.this!))}  ratio ${ratio(median(resp.this!), median(resp.base!))}`);
  console.log(`  load average ${loadAverage()}`);
  for (const h of Object.values(nodes)) {
    await h.stop('SIGTERM');
    rmSync(h.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `# persistence: ${new Date().toISOString()} on ${machine()}, ${httpLoadTool()}, ${ROUNDS} x ${SECONDS} s per setting, 50 connections, 100-byte values`,
  );
  try {
    // BENCH_ONLY=throughput|startup|snapshot runs one part (when tuning); all three by default.
    if (ONLY === '' || ONLY === 'throughput') await setThroughput();
    if (ONLY === '' || ONLY === 'startup') await startupTime();
    if (ONLY === '' || ONLY === 'snapshot') await snapshotCost();
    if (BASELINE_CLI !== '' && (ONLY === '' || ONLY === 'baseline')) await againstBaseline();
  } finally {
    await stopAllNodes();
  }
}

await main();
