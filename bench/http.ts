import { fmt, httpLoadTool, load, machine, median, pinToCore, pinning, ratio, startBareServer, type LoadResult } from './lib.js';
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
 * in alternating rounds; the medians are compared. Target: get >= 0.8x the bare server.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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
    for (let r = 0; r < ROUNDS; r++) {
      runs.bare.push(await load(`http://127.0.0.1:${barePort}/`, { seconds: SECONDS }));
      runs.get.push(await load(`http://127.0.0.1:${node.httpPort}/data/?cmd=get&key=bench`, { seconds: SECONDS }));
      runs.set.push(await load(setUrl, { seconds: SECONDS }));
      console.log(
        `round ${r + 1}: bare ${fmt(runs.bare[r]!.requestsPerSec)}  get ${fmt(runs.get[r]!.requestsPerSec)}  set ${fmt(runs.set[r]!.requestsPerSec)} req/s`,
      );
    }
    const med = (xs: LoadResult[], f: (x: LoadResult) => number) => median(xs.map(f));
    const line = (name: string, xs: LoadResult[]) =>
      console.log(
        `${name.padEnd(18)} ${fmt(med(xs, (x) => x.requestsPerSec))} req/s  p50 ${med(xs, (x) => x.latencyP50)} ms  p99 ${med(xs, (x) => x.latencyP99)} ms  (median of ${xs.length})`,
      );
    line('bare node:http', runs.bare);
    line('owlcache get', runs.get);
    line('owlcache set', runs.set);
    const bareRps = med(runs.bare, (x) => x.requestsPerSec);
    console.log(
      `ratio get/bare     ${ratio(
        med(runs.get, (x) => x.requestsPerSec),
        bareRps,
      )}   (target >= 0.80x)`,
    );
    console.log(
      `ratio set/bare     ${ratio(
        med(runs.set, (x) => x.requestsPerSec),
        bareRps,
      )}`,
    );
  } finally {
    bare?.kill();
    await stopAllNodes();
  }
}

await main();
