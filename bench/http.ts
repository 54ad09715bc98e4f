import { fmt, httpLoadTool, load, machine, ratio, startBareServer } from './lib.js';
import { freePort, getToken, qs, request, startNode, stopAllNodes } from '../test/helpers/node-process.js';

/**
 * HTTP get/set load on one node against a bare node:http server answering a
 * constant 100-byte body, in the same run (autocannon, 50 connections).
 * Target: get >= 0.8x the bare server.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

async function main(): Promise<void> {
  console.log(`# http: ${new Date().toISOString()} on ${machine()}, ${httpLoadTool()}, ${SECONDS} s per run after a 3 s warm-up, 50 connections, 100-byte values`);
  const barePort = await freePort();
  const bare = await startBareServer(barePort);
  const node = await startNode({ settings: { AppendLog: 1 } });
  try {
    const token = await getToken(node.httpPort);
    const value = 'v'.repeat(100);
    const setUrl = `http://127.0.0.1:${node.httpPort}/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`;
    await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'bench', valuedata: value, token })}`);

    const baseline = await load(`http://127.0.0.1:${barePort}/`, { seconds: SECONDS });
    const get = await load(`http://127.0.0.1:${node.httpPort}/data/?cmd=get&key=bench`, { seconds: SECONDS });
    const set = await load(setUrl, { seconds: SECONDS });

    console.log(`bare node:http     ${fmt(baseline.requestsPerSec)} req/s  p50 ${baseline.latencyP50} ms  p99 ${baseline.latencyP99} ms`);
    console.log(`owlcache get       ${fmt(get.requestsPerSec)} req/s  p50 ${get.latencyP50} ms  p99 ${get.latencyP99} ms  errors ${get.errors} non2xx ${get.non2xx}`);
    console.log(`owlcache set       ${fmt(set.requestsPerSec)} req/s  p50 ${set.latencyP50} ms  p99 ${set.latencyP99} ms  errors ${set.errors} non2xx ${set.non2xx}`);
    console.log(`ratio get/bare     ${ratio(get.requestsPerSec, baseline.requestsPerSec)}   (target >= 0.80x)`);
    console.log(`ratio set/bare     ${ratio(set.requestsPerSec, baseline.requestsPerSec)}`);
  } finally {
    bare.kill();
    await stopAllNodes();
  }
}

await main();
