import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { fmt, machine, median, pinToCore, pinning, ratio } from './lib.js';
import { stopAllNodes } from '../test/helpers/node-process.js';
import { ensureRedis, startRedisAndNode, stopRedis } from './redis-server.js';

/**
 * OwlCache's TCP text protocol `get K` against redis-server's `GET K` at one
 * request in flight per connection (redis-benchmark's -P 1), both driven by the
 * same load generator (this process: 50 connections, each sending its next
 * request when the last answer arrived), so the client's own cost is the same
 * on both sides; Redis is sent the inline form `GET K\r\n`. Alternating rounds,
 * medians compared; the servers pinned to core 1 and this process to core 0.
 * 100-byte values. No target: measured as the fast-path table in docs/benchmarks.md asks.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 50;

/** Requests per second for `seconds` over `CONNECTIONS` connections; `lines` = answer lines per request. */
async function drive(port: number, request: Buffer, lines: number, greeting: number, seconds: number): Promise<number> {
  let answered = 0;
  let stop = false;
  const sockets: net.Socket[] = [];
  await Promise.all(
    Array.from(
      { length: CONNECTIONS },
      () =>
        new Promise<void>((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1');
          sockets.push(s);
          let pending = -greeting;
          s.setNoDelay(true);
          s.on('error', reject);
          s.on('connect', () => {
            if (greeting === 0) s.write(request);
            resolve();
          });
          s.on('data', (chunk: Buffer) => {
            for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
              pending += 1;
              if (pending === 0 && greeting > 0) {
                if (!stop) s.write(request);
              } else if (pending > 0 && pending % lines === 0) {
                answered += 1;
                if (!stop) s.write(request);
              }
            }
          });
        }),
    ),
  );
  const before = answered;
  const started = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const counted = answered - before;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  stop = true;
  for (const s of sockets) s.destroy();
  return (counted / ms) * 1000;
}

async function main(): Promise<void> {
  console.log(
    `# tcp: ${new Date().toISOString()} on ${machine()}; ${CONNECTIONS} connections, one request in flight each, ${ROUNDS} alternating rounds of ${SECONDS} s after a 2 s warm-up, 100-byte values${pinning() ? ', servers on core 1, load generator on core 0' : ''}`,
  );
  if (!ensureRedis()) {
    console.log('# tcp: skipped: redis-server is not installed and cannot be installed here (need root and apt-get)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'owlcache-bench-tcp-'));
  let redis: ChildProcess | null = null;
  try {
    const both = await startRedisAndNode(dir, { RespPort: 0 });
    redis = both.redis;
    const { redisPort, node } = both;
    pinToCore(process.pid, 0);
    const value = 'v'.repeat(100);
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(redisPort, '127.0.0.1', () => s.end(`SET bench ${value}\r\n`));
      s.on('close', () => resolve())
        .on('error', reject)
        .resume();
    });
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(node.tcpPort, '127.0.0.1', () => s.end(`set bench ${value}\n`));
      s.on('close', () => resolve())
        .on('error', reject)
        .resume();
    });
    // Owlcache greets each connection with one line; a get answers one line. Redis: `$100\r\n<value>\r\n`.
    const owl = (s: number) => drive(node.tcpPort, Buffer.from('get bench\n'), 1, 1, s);
    const real = (s: number) => drive(redisPort, Buffer.from('GET bench\r\n'), 2, 0, s);
    await owl(2);
    await real(2);
    const runs = { owl: [] as number[], real: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      runs.real.push(await real(SECONDS));
      runs.owl.push(await owl(SECONDS));
      console.log(`round ${r + 1}: redis-server GET ${fmt(runs.real[r]!)}  owlcache TCP get ${fmt(runs.owl[r]!)} req/s`);
    }
    const o = median(runs.owl);
    const g = median(runs.real);
    console.log(`redis-server GET (inline)  ${fmt(g)} req/s (median of ${ROUNDS})`);
    console.log(`owlcache TCP get           ${fmt(o)} req/s (median of ${ROUNDS})`);
    console.log(`ratio tcp get / redis GET  ${ratio(o, g)}`);
  } finally {
    if (redis !== null) await stopRedis(redis);
    await stopAllNodes();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
