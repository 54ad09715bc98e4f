import { mkdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { OwlClient } from '../src/client/index.js';
import { setQuiet } from '../src/log.js';
import { SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from '../src/persistence/layout.js';
import { writeSnapshot } from '../src/persistence/snapshot.js';
import type { EntryRecord } from '../src/store/entry.js';
import { HybridLogicalClock } from '../src/store/hlc.js';
import { TEST_PASSWORD, stopAllNodes, startNode, tempDir } from '../test/helpers/node-process.js';
import { fmt, httpLoadTool, loadAverage, machine } from './lib.js';

/**
 * coldbackup and coldrestore of BENCH_ENTRIES (1 M) entries of 100 B on one
 * node process, while it serves `get` load: the job's time, the file's size,
 * and the longest wait of a probe `get` sent every 10 ms one after another
 * (an upper bound of the longest event-loop stall: it includes the network
 * and this machine's scheduling). Targets: backup <= 5 s, restore <= 10 s,
 * no stall over 50 ms.
 */
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 1_000_000);
const VALUE = Buffer.alloc(100, 'v');
/** How long the background get load runs around each job (it should outlast the job). */
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20);

function records(n: number): EntryRecord[] {
  const clock = new HybridLogicalClock('bench');
  const now = Date.now();
  const out: EntryRecord[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = clock.now();
    out[i] = { key: `key:${i}`, value: VALUE, created: now * 1000, vv: v, expireAt: 0, ev: v };
  }
  return out;
}

/** Sequential gets every 10 ms until stopped; the longest wait (ms). */
function probe(port: number): { stop: () => Promise<number> } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let running = true;
  let longest = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/data/?cmd=get&key=key:1', agent }, (res) => {
            res.resume();
            res.on('end', resolve);
          })
          .on('error', () => resolve());
      });
      longest = Math.max(longest, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      agent.destroy();
      return longest;
    },
  };
}

async function job(
  client: OwlClient,
  start: () => Promise<{ job_id?: string; node: string }>,
  port: number,
): Promise<{ ms: number; stall: number; file: string; result: Record<string, unknown> | null }> {
  const p = probe(port);
  // wrk run asynchronously (lib.ts's load() waits for it synchronously, which would stop the probe too).
  const bg =
    httpLoadTool() === 'wrk'
      ? spawn('wrk', ['-t1', '-c8', `-d${LOAD_SECONDS}s`, `http://127.0.0.1:${port}/data/?cmd=get&key=key:7`], { stdio: 'ignore' })
      : null;
  const bgDone = bg === null ? Promise.resolve() : new Promise<void>((r) => bg.on('exit', () => r()));
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  const s = await start();
  let j = await client.job(String(s.job_id), s.node);
  while (j.status === 'queued' || j.status === 'running') {
    await new Promise((r) => setTimeout(r, 50));
    j = await client.job(j.job_id, s.node);
  }
  const ms = performance.now() - t0;
  const stall = await p.stop();
  bg?.kill('SIGINT');
  await bgDone;
  if (j.status !== 'done') throw new Error(`${j.job_type} failed: ${j.error}`);
  return { ms, stall, file: j.file, result: j.result };
}

setQuiet(true);
const dataDir = join(tempDir(), 'db');
try {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  await writeSnapshot(join(dataDir, SNAPSHOT_FILE), join(dataDir, SNAPSHOT_TEMP_FILE), records(ENTRIES), {
    nodeId: 'bench',
    createdAt: Date.now(),
    replayFrom: 0,
  });
  const h = await startNode({ dataDir, readyTimeoutMs: 180_000, settings: { AppendLog: 1 } });
  const client = new OwlClient({ endpoints: [h.httpAddr], password: TEST_PASSWORD, timeoutMs: 60_000, refreshMs: 0 });
  console.log(
    `# backup / restore of ${fmt(ENTRIES)} entries of 100 B (${machine()}; load average ${loadAverage()}; background get load: ${httpLoadTool() === 'wrk' ? 'wrk, 8 connections' : 'none (no wrk)'})`,
  );
  const b = await job(client, () => client.backup({ file: 'bench.gz' }), h.httpPort);
  const size = statSync(join(dataDir, 'backups', b.file)).size;
  console.log(`coldbackup: ${(b.ms / 1000).toFixed(2)} s, file ${(size / 2 ** 20).toFixed(1)} MiB, longest probe wait ${b.stall.toFixed(0)} ms`);
  const r = await job(client, () => client.restore('bench.gz', { replace: true }), h.httpPort);
  console.log(`coldrestore (replace): ${(r.ms / 1000).toFixed(2)} s, longest probe wait ${r.stall.toFixed(0)} ms; ${JSON.stringify(r.result)}`);
  console.log(
    `targets: backup <= 5 s ${b.ms <= 5000 ? 'met' : 'MISSED'}, restore <= 10 s ${r.ms <= 10_000 ? 'met' : 'MISSED'}, stall <= 50 ms ${Math.max(b.stall, r.stall) <= 50 ? 'met' : 'MISSED'}`,
  );
  client.close();
} finally {
  await stopAllNodes();
}
