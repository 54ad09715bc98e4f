import { fmt, httpLoadTool, load, loadAverage, machine, median, pinToCore, ratio, type LoadResult } from './lib.js';
import { getToken, qs, request, startNode, stopAllNodes } from '../test/helpers/node-process.js';

/**
 * What the request metrics cost on the GET fast path: this build against
 * another build without them (BENCH_BASE_ENTRY = that build's dist/src/cli.js,
 * e.g. the commit before the metrics), in alternating rounds of the same run.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const BASE = process.env.BENCH_BASE_ENTRY;

async function main(): Promise<void> {
  if (BASE === undefined) {
    console.log('# metrics-overhead: set BENCH_BASE_ENTRY to the dist/src/cli.js of a build without metrics; skipped');
    return;
  }
  console.log(
    `# metrics-overhead: ${new Date().toISOString()} on ${machine()}, load average ${loadAverage()}, ${httpLoadTool()}, ${ROUNDS} alternating rounds of ${SECONDS} s, 50 connections, GET of a 100-byte value`,
  );
  const withMetrics = await startNode();
  const without = await startNode({ entry: BASE });
  pinToCore(withMetrics.proc.pid, 1);
  pinToCore(without.proc.pid, 1);
  try {
    for (const node of [withMetrics, without]) {
      const token = await getToken(node.httpPort);
      await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'bench', valuedata: 'v'.repeat(100), token })}`);
    }
    const runs: Record<'with' | 'without', LoadResult[]> = { with: [], without: [] };
    for (let r = 0; r < ROUNDS; r++) {
      runs.without.push(await load(`http://127.0.0.1:${without.httpPort}/data/?cmd=get&key=bench`, { seconds: SECONDS, warmupSeconds: 1 }));
      runs.with.push(await load(`http://127.0.0.1:${withMetrics.httpPort}/data/?cmd=get&key=bench`, { seconds: SECONDS, warmupSeconds: 1 }));
      console.log(`round ${r + 1}: without ${fmt(runs.without[r]!.requestsPerSec)}  with ${fmt(runs.with[r]!.requestsPerSec)} req/s`);
    }
    const rps = (xs: LoadResult[]) => median(xs.map((x) => x.requestsPerSec));
    const p99 = (xs: LoadResult[]) => median(xs.map((x) => x.latencyP99));
    console.log(`without metrics   ${fmt(rps(runs.without))} req/s  p99 ${p99(runs.without)} ms`);
    console.log(`with metrics      ${fmt(rps(runs.with))} req/s  p99 ${p99(runs.with)} ms`);
    console.log(`ratio with/without ${ratio(rps(runs.with), rps(runs.without))}`);
  } finally {
    await stopAllNodes();
  }
}

await main();
