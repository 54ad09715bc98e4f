import { fmt, httpLoadTool, load, machine, median, pinToCore, pinning, startBareServer, type LoadResult } from './lib.js';
import type { ChildProcess } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { freePort, getToken, qs, request, startNode, stopAllNodes } from '../test/helpers/node-process.js';

function answerBytes(headers: IncomingHttpHeaders, body: Buffer): number {
  let n = 'HTTP/1.1 200 OK\r\n'.length + 2 + body.length;
  for (const [name, v] of Object.entries(headers)) n += name.length + 2 + String(v).length + 2;
  return n;
}

/**
 * HTTP get/set load on one node against a bare node:http server answering the
 * same bytes as the node's get (its headers copied, a 100-byte body), in the same run (wrk or autocannon, 50 connections),
 * in alternating rounds, each ratio against the bare server measured around it; the median of those. Targets: get >= 0.8x, set >= 0.6x.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

async function main(): Promise<void> {
  console.log(
    `# http: ${new Date().toISOString()} on ${machine()}, ${httpLoadTool()}, ${ROUNDS} alternating rounds of ${SECONDS} s after a 3 s warm-up, 50 connections, 100-byte values${pinning() ? ', servers pinned to core 1 and the load generator to core 0' : ''}`,
  );
  const node = await startNode({ settings: { AppendLog: 1 } });
  pinToCore(node.proc.pid, 1);
  let bare: ChildProcess | null = null;
  try {
    const token = await getToken(node.httpPort);
    const value = 'v'.repeat(100);
    const setUrl = `http://127.0.0.1:${node.httpPort}/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`;
    await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`);
    // The baseline answers the node's own get headers (all but the ones node:http adds to both), so both send the same bytes.
    const got = await request(node.httpPort, '/data/?cmd=get&key=bench');
    if (got.status !== 200 || got.body.length !== 100) throw new Error(`the node does not answer the benchmark key: ${got.status}`);
    const copied: [string, string][] = [];
    for (const [name, v] of Object.entries(got.headers)) {
      if (!['date', 'connection', 'keep-alive', 'content-length'].includes(name) && typeof v === 'string') copied.push([name, v]);
    }
    const barePort = await freePort();
    bare = await startBareServer(barePort, copied);
    pinToCore(bare.pid, 1);
    const bareGot = await request(barePort, '/');
    console.log(
      `# answer bytes: node get ${answerBytes(got.headers, got.body)}, bare ${answerBytes(bareGot.headers, bareGot.body)} (status line, headers and body; node:http adds Date and Keep-Alive to both)`,
    );

    const runs: Record<'bare' | 'get' | 'set', LoadResult[]> = { bare: [], get: [], set: [] };
    // The machine's speed drifts between rounds by more than the gaps measured: each round's ratios are
    // taken against the bare server measured right before and right after, and their median is the figure.
    const perRound: Record<'get' | 'set', number[]> = { get: [], set: [] };
    const bareUrl = `http://127.0.0.1:${barePort}/`;
    let bareBefore = await load(bareUrl, { seconds: SECONDS });
    for (let r = 0; r < ROUNDS; r++) {
      const warmupSeconds = r === 0 ? 3 : 1;
      const get = await load(`http://127.0.0.1:${node.httpPort}/data/?cmd=get&key=bench`, { seconds: SECONDS, warmupSeconds });
      const set = await load(setUrl, { seconds: SECONDS, warmupSeconds });
      const bareAfter = await load(bareUrl, { seconds: SECONDS, warmupSeconds: 1 });
      const around = (bareBefore.requestsPerSec + bareAfter.requestsPerSec) / 2;
      runs.bare.push(bareBefore);
      runs.get.push(get);
      runs.set.push(set);
      perRound.get.push(get.requestsPerSec / around);
      perRound.set.push(set.requestsPerSec / around);
      console.log(
        `round ${r + 1}: bare ${fmt(bareBefore.requestsPerSec)}  get ${fmt(get.requestsPerSec)}  set ${fmt(set.requestsPerSec)}  bare ${fmt(bareAfter.requestsPerSec)} req/s` +
          `  (get ${perRound.get[r]!.toFixed(2)}x, set ${perRound.set[r]!.toFixed(2)}x the bare server around them)`,
      );
      bareBefore = bareAfter;
    }
    runs.bare.push(bareBefore);
    const med = (xs: LoadResult[], f: (x: LoadResult) => number) => median(xs.map(f));
    const line = (name: string, xs: LoadResult[]) =>
      console.log(
        `${name.padEnd(18)} ${fmt(med(xs, (x) => x.requestsPerSec))} req/s  p50 ${med(xs, (x) => x.latencyP50)} ms  p99 ${med(xs, (x) => x.latencyP99)} ms  (median of ${xs.length})`,
      );
    line('bare node:http', runs.bare);
    line('owlcache get', runs.get);
    line('owlcache set', runs.set);
    const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
    console.log(`ratio get/bare     ${median(perRound.get).toFixed(2)}x median of rounds (${spread(perRound.get)})   (target >= 0.80x)`);
    console.log(`ratio set/bare     ${median(perRound.set).toFixed(2)}x median of rounds (${spread(perRound.set)})   (target >= 0.60x)`);
  } finally {
    bare?.kill();
    await stopAllNodes();
  }
}

await main();
