import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { dataCmd, restartGossipNode, startGossipCluster, startGossipNode, tokenOf, waitConverged } from '../helpers/cluster.js';
import {
  freePort,
  getToken,
  qs,
  request,
  restartNode,
  runToExit,
  sleep,
  startNode,
  stopAllNodes,
  TEST_PASSWORD,
  waitFor,
  type NodeHandle,
} from '../helpers/node-process.js';

/**
 * The cluster operations (docs/operations.md) against real node processes on
 * 127.0.0.1. Route hosts are loopback ports nothing listens on, or refused
 * hosts, which a node never contacts.
 */

after(stopAllNodes);

const BASIC = `Basic ${Buffer.from(`admin:${TEST_PASSWORD}`).toString('base64')}`;
type Doc = Record<string, unknown>;

async function op(node: NodeHandle, body: unknown, timeoutMs = 15_000): Promise<{ status: number; doc: Doc }> {
  const r = await request(node.httpPort, '/', {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { Authorization: BASIC, 'Content-Type': 'application/json' },
    timeoutMs,
  });
  return { status: r.status, doc: r.json() };
}

async function rest(node: NodeHandle, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; doc: Doc }> {
  const r = await request(node.httpPort, path, {
    method,
    headers: { Authorization: BASIC },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    timeoutMs: 15_000,
  });
  return { status: r.status, doc: r.json() };
}

interface Connection {
  node_name: string;
  state: string;
  latency: { last_ms: number; p50_ms: number; p99_ms: number; samples: number } | null;
  uptime: string | null;
  in_sync: boolean | null;
  clock_offset_ms: number | null;
  clock_skew_exceeded: boolean;
  last_anti_entropy: { keys_exchanged: number } | null;
}

interface NetworkNode {
  name: string;
  responding: boolean;
  response_time: number | null;
  connected_nodes?: string[];
}

async function statesSeenBy(observer: NodeHandle, gossip: string): Promise<string | undefined> {
  const { doc } = await rest(observer, 'GET', '/stat');
  return (doc.members as { gossip: string; state: string }[]).find((m) => m.gossip === gossip)?.state;
}

/** Sends a raw request (then more chunks while the socket is open) and returns what comes back before the node closes or 5 s pass. */
function rawAnswer(port: number, head: string, more: Buffer[] = []): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 5000);
    s.on('connect', async () => {
      s.write(head);
      // One chunk at a time, stopping once the node has answered (writing on into a closed socket resets it, losing the answer).
      for (const m of more) {
        await sleep(20);
        if (s.destroyed || got !== '') break;
        s.write(m);
      }
    });
    s.on('data', (d: Buffer) => {
      got += d.toString();
      if (/\r\n\r\n[\s\S]*\}\n$/.test(got)) done();
    });
    s.on('error', done);
    s.on('close', done);
  });
}

describe('three gossip nodes: cluster_status and cluster_network', { timeout: 120_000 }, () => {
  test('each lists the others with latency, uptime and in_sync; the network lists all; a stopped node does not answer', async () => {
    const nodes = await startGossipCluster(3, { PushPullInterval: '1s' });
    for (let i = 0; i < 6; i++) assert.equal((await dataCmd(nodes[i % 3]!, { cmd: 'set', key: `k${i}`, valuedata: `v${i}` })).status, 200);
    await waitConverged(nodes);
    for (const n of nodes) {
      const rows = (await waitFor(
        `cluster_status on ${n.httpAddr} with two in-sync connections`,
        async () => {
          const { status, doc } = await op(n, { operation: 'cluster_status' });
          assert.equal(status, 200);
          const conns = doc.connections as Connection[];
          return conns.length === 2 && conns.every((c) => c.state === 'alive' && c.latency !== null && c.uptime !== null && c.in_sync === true)
            ? conns
            : undefined;
        },
        20_000,
        250,
      ))!;
      for (const c of rows) {
        assert.ok(c.latency!.samples > 0 && c.latency!.p99_ms >= c.latency!.p50_ms, JSON.stringify(c.latency));
        assert.match(c.uptime!, /^\d+d \d+h \d+m \d+s$/);
        assert.equal(typeof c.clock_offset_ms, 'number');
        // Same machine, same clock: well within the default MaxClockSkew.
        assert.equal(c.clock_skew_exceeded, false);
      }
      const names = rows.map((c) => c.node_name).sort();
      assert.deepEqual(
        names,
        nodes
          .filter((x) => x !== n)
          .map((x) => x.httpAddr)
          .sort(),
      );
    }

    const net1 = await op(nodes[0]!, { operation: 'cluster_network', timeout: 2000 });
    assert.equal(net1.status, 200);
    const list = net1.doc.nodes as NetworkNode[];
    assert.deepEqual(list.map((x) => x.name).sort(), nodes.map((x) => x.httpAddr).sort());
    for (const x of list) {
      assert.equal(x.responding, true);
      assert.equal(x.connected_nodes!.length, 2, JSON.stringify(x));
    }

    const stopped = nodes[2]!;
    stopped.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      const net2 = await op(nodes[0]!, { operation: 'cluster_network', timeout: 800 });
      const took = Date.now() - t0;
      assert.equal(net2.status, 200);
      assert.ok(took < 5000, `cluster_network took ${took} ms with an 800 ms timeout`);
      const row = (net2.doc.nodes as NetworkNode[]).find((x) => x.name === stopped.httpAddr);
      assert.ok(row !== undefined, JSON.stringify(net2.doc));
      assert.equal(row.responding, false);
      assert.equal(row.response_time, null);
      assert.equal((net2.doc.nodes as NetworkNode[]).filter((x) => x.responding).length, 2);
    } finally {
      stopped.proc.kill('SIGCONT');
    }
  });
});

describe('routes', { timeout: 60_000 }, () => {
  test('set (one duplicate, one invalid), get, delete (one missing), and they survive a restart', async () => {
    const node = await startNode();
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const set = await op(node, {
      operation: 'cluster_set_routes',
      server: 'hub',
      routes: [
        { host: '127.0.0.1', port: p1 },
        { host: '127.0.0.1', port: p2 },
        { host: '127.0.0.1', port: p1 },
        { host: '127.0.0.1', port: 0 },
        { host: '169.254.169.254', port: 80 },
      ],
    });
    assert.equal(set.status, 200);
    assert.equal(set.doc.message, 'cluster routes successfully set');
    assert.deepEqual(set.doc.set, [
      { host: '127.0.0.1', port: p1 },
      { host: '127.0.0.1', port: p2 },
    ]);
    const skipped = set.doc.skipped as { route: unknown; reason: string }[];
    assert.equal(skipped.length, 3);
    assert.deepEqual(skipped[0]!.route, { host: '127.0.0.1', port: p1 });
    assert.match(skipped[0]!.reason, /^duplicate/);
    assert.match(skipped[1]!.reason, /port must be an integer from 1 to 65535/);
    assert.match(skipped[2]!.reason, /never contacts/);

    const leaf = await op(node, { operation: 'cluster_set_routes', server: 'leaf', routes: [{ host: '127.0.0.1', port: p3 }] });
    assert.deepEqual(leaf.doc.set, [{ host: '127.0.0.1', port: p3 }]);
    // Already there: a duplicate of the list, not of the request.
    const again = await op(node, { operation: 'cluster_set_routes', server: 'leaf', routes: [{ host: '127.0.0.1', port: p3 }] });
    assert.deepEqual(again.doc.set, []);
    assert.match((again.doc.skipped as { reason: string }[])[0]!.reason, /already a leaf route/);

    const got = await op(node, { operation: 'cluster_get_routes' });
    assert.deepEqual(got.doc, {
      hub: [
        { host: '127.0.0.1', port: p1 },
        { host: '127.0.0.1', port: p2 },
      ],
      leaf: [{ host: '127.0.0.1', port: p3 }],
    });

    const del = await op(node, {
      operation: 'cluster_delete_routes',
      routes: [
        { host: '127.0.0.1', port: p2 },
        { host: '127.0.0.1', port: 9 },
      ],
    });
    assert.equal(del.status, 200);
    assert.equal(del.doc.message, 'cluster routes successfully deleted');
    assert.deepEqual(del.doc.deleted, [{ host: '127.0.0.1', port: p2 }]);
    assert.deepEqual(del.doc.skipped, [{ route: { host: '127.0.0.1', port: 9 }, reason: 'not found: no hub or leaf route has this host and port' }]);

    await node.stop();
    const again2 = await restartNode(node);
    const after = await op(again2, { operation: 'cluster_get_routes' });
    assert.deepEqual(after.doc, { hub: [{ host: '127.0.0.1', port: p1 }], leaf: [{ host: '127.0.0.1', port: p3 }] });

    // configure_cluster: one bad entry and nothing changes; a good set replaces both lists.
    const bad = await op(again2, {
      operation: 'configure_cluster',
      connections: [
        { host: '127.0.0.1', port: p2 },
        { host: '127.0.0.1', port: 'x' },
      ],
    });
    assert.equal(bad.status, 400);
    assert.match(String(bad.doc.error), /^connections\[1\]: port must be an integer/);
    assert.deepEqual((await op(again2, { operation: 'cluster_get_routes' })).doc, after.doc);
    const good = await op(again2, {
      operation: 'configure_cluster',
      connections: [
        { host: '127.0.0.1', port: p2 },
        { server: 'leaf', host: '127.0.0.1', port: p1 },
      ],
    });
    assert.equal(good.status, 200);
    assert.deepEqual((await op(again2, { operation: 'cluster_get_routes' })).doc, {
      hub: [{ host: '127.0.0.1', port: p2 }],
      leaf: [{ host: '127.0.0.1', port: p1 }],
    });
  });
});

describe('add_node and remove_node', { timeout: 180_000 }, () => {
  test('a node without seeds joins through add_node; remove_node makes it left everywhere, for good, until it restarts', async () => {
    // Member lists are exchanged every second here (30 s by default): the wait below spans many such rounds.
    const fast = { GossipMemberSyncInterval: '1s', PushPullInterval: '1s' };
    const nodes = await startGossipCluster(3, fast);
    const fourth = await startGossipNode([], fast);
    const joined = await rest(nodes[1]!, 'POST', '/member/add', { host: fourth.gossip, timeout: 10_000 });
    assert.equal(joined.status, 200, JSON.stringify(joined.doc));
    assert.equal(joined.doc.state, 'alive');
    for (const n of [...nodes, fourth]) {
      await waitFor(
        `${n.httpAddr} to see all four alive`,
        async () => {
          const { doc } = await rest(n, 'GET', '/stat');
          const m = doc.members as { state: string }[];
          return m.length === 4 && m.every((x) => x.state === 'alive');
        },
        20_000,
        200,
      );
    }

    const removed = await op(nodes[0]!, { operation: 'remove_node', node_name: fourth.httpAddr });
    assert.equal(removed.status, 200, JSON.stringify(removed.doc));
    assert.equal(removed.doc.message, `Successfully removed '${fourth.httpAddr}' from the cluster`);
    for (const n of nodes)
      await waitFor(`${n.httpAddr} to see the fourth node left`, async () => (await statesSeenBy(n, fourth.gossip)) === 'left', 10_000, 100);
    // It keeps running (and serving) but stays out: many member-list exchanges and probe rounds later it is still left everywhere.
    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      for (const n of nodes) assert.equal(await statesSeenBy(n, fourth.gossip), 'left', `${n.httpAddr} re-added the removed node`);
      await sleep(500);
    }
    assert.equal(fourth.proc.exitCode, null);
    const own = await rest(fourth, 'GET', '/stat');
    assert.deepEqual(
      (own.doc.members as { state: string }[]).map((m) => m.state),
      ['left'],
    );

    // Restarted on purpose, it can join again: its new incarnation is above the removal, which the two nodes not asked to add it still hold.
    await fourth.stop();
    const back = await restartGossipNode(fourth);
    const rejoined = await op(nodes[2]!, { operation: 'add_node', host: back.gossip, timeout: 10_000 });
    assert.equal(rejoined.status, 200, JSON.stringify(rejoined.doc));
    for (const n of nodes)
      await waitFor(`${n.httpAddr} to see the restarted node alive`, async () => (await statesSeenBy(n, back.gossip)) === 'alive', 30_000, 200);

    // Removed while it cannot hear it (stopped): once it runs again it gossips its old record, which nobody takes
    // back, until it hears its removal and leaves.
    back.proc.kill('SIGSTOP');
    try {
      const r2 = await op(nodes[1]!, { operation: 'remove_node', node_name: back.httpAddr });
      assert.equal(r2.status, 200, JSON.stringify(r2.doc));
      assert.match(String((r2.doc.told as Record<string, string>)[back.httpAddr]), /^not told/);
    } finally {
      back.proc.kill('SIGCONT');
    }
    const until2 = Date.now() + 8000;
    while (Date.now() < until2) {
      for (const n of nodes) assert.equal(await statesSeenBy(n, back.gossip), 'left', `${n.httpAddr} re-added the removed node after it ran again`);
      await sleep(400);
    }
    await waitFor(
      'the removed node to leave on hearing its removal',
      async () => {
        const m = (await rest(back, 'GET', '/stat')).doc.members as { state: string }[];
        return m.length === 1 && m[0]!.state === 'left';
      },
      10_000,
      200,
    );
  });

  test('add_node of an address nobody answers at: 504 with the state after the timeout', async () => {
    const node = await startGossipNode([]);
    const port = await freePort();
    const r = await op(node, { operation: 'add_node', host: '127.0.0.1', port, timeout: 600 });
    assert.equal(r.status, 504);
    assert.match(String(r.doc.error), /did not become an alive member within 600 ms/);
    const bad = await op(node, { operation: 'add_node', host: '169.254.169.254:7946' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.doc.error), /^host: .*never contacts/);
  });
});

describe('task switches', { timeout: 180_000 }, () => {
  test('anti_entropy Disable stops push-pull both ways (a restarted node does not catch up), Enable resumes; cluster scope; survives a restart', async () => {
    const [a, b] = await startGossipCluster(2, { PushPullInterval: '1s' });
    const off = await rest(a!, 'POST', '/config/set', { key: 'anti_entropy', value: 'Disable', scope: 'cluster' });
    assert.equal(off.status, 200, JSON.stringify(off.doc));
    const results = off.doc.results as { node_name: string; ok: boolean; value: string }[];
    assert.deepEqual(
      results.map((r) => [r.node_name, r.ok, r.value]).sort(),
      [
        [a!.httpAddr, true, 'Disable'],
        [b!.httpAddr, true, 'Disable'],
      ].sort(),
    );

    await b!.stop();
    assert.equal((await dataCmd(a!, { cmd: 'set', key: 'missed', valuedata: 'while-b-was-down' })).status, 200);
    const b2 = await restartGossipNode(b!);
    assert.deepEqual((await rest(b2, 'GET', '/config/get?key=anti_entropy')).doc.value, 'Disable');
    await waitFor('b back alive on a', async () => (await statesSeenBy(a!, b2.gossip)) === 'alive', 20_000, 200);
    // Several PushPullIntervals: no round, either way.
    await sleep(4000);
    assert.equal((await dataCmd(b2, { cmd: 'get', key: 'missed' })).status, 404, 'b caught up although anti-entropy is off');

    const on = await rest(b2, 'POST', '/config/set', { key: 'anti_entropy', value: 'Enable', scope: 'cluster' });
    assert.equal(on.status, 200);
    assert.ok(
      (on.doc.results as { ok: boolean }[]).every((r) => r.ok),
      JSON.stringify(on.doc),
    );
    await waitFor('b to catch up once anti-entropy is on', async () => (await dataCmd(b2, { cmd: 'get', key: 'missed' })).status === 200, 20_000, 200);
    const all = await rest(a!, 'GET', '/config/get');
    assert.ok((all.doc.switches as { key: string; value: string }[]).every((s) => s.value === 'Enable'));
  });

  test('dissemination Disable stops pushing writes, Enable resumes; snapshot Disable stops the periodic snapshot, Enable resumes', async () => {
    // Push-pull every minute: within this test only pushes can carry a write.
    const [a, b] = await startGossipCluster(2, { PushPullInterval: '60s', Task_DataBackup: '1s' });
    await waitFor('b alive on a', async () => (await statesSeenBy(a!, b!.gossip)) === 'alive', 20_000, 200);
    assert.equal((await rest(a!, 'POST', '/config/set', { key: 'dissemination', value: 'Disable' })).status, 200);
    assert.equal((await dataCmd(a!, { cmd: 'set', key: 'quiet', valuedata: 'x' })).status, 200);
    await sleep(1500);
    assert.equal((await dataCmd(b!, { cmd: 'get', key: 'quiet' })).status, 404, 'a pushed a write with dissemination off');
    assert.equal((await rest(a!, 'POST', '/config/set', { key: 'dissemination', value: 'Enable' })).status, 200);
    assert.equal((await dataCmd(a!, { cmd: 'set', key: 'loud', valuedata: 'y' })).status, 200);
    await waitFor('the next write pushed to b', async () => (await dataCmd(b!, { cmd: 'get', key: 'loud' })).status === 200, 10_000, 100);

    const snap = join(a!.dataDir, 'store.snapshot');
    const mtime = () => (existsSync(snap) ? statSync(snap).mtimeMs : 0);
    assert.equal((await rest(a!, 'POST', '/config/set', { key: 'snapshot', value: 'Disable' })).status, 200);
    await sleep(1200);
    const before = mtime();
    assert.equal((await dataCmd(a!, { cmd: 'set', key: 'unsaved', valuedata: 'z' })).status, 200);
    await sleep(2500);
    assert.equal(mtime(), before, 'a periodic snapshot was written while the switch was off');
    assert.equal((await rest(a!, 'POST', '/config/set', { key: 'snapshot', value: 'Enable' })).status, 200);
    await waitFor('a snapshot once the switch is on', () => mtime() > before, 10_000, 100);
  });

  test('accept_writes Disable: writes fail with a clear error on HTTP, TCP and RESP, reads go on; it survives a restart', async () => {
    const respPort = await freePort();
    const node = await startNode({ settings: { RespPort: respPort } });
    const token = await getToken(node.httpPort);
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'kept', valuedata: 'v1', token })}`)).json<Doc>().Status, 200);
    assert.equal((await rest(node, 'POST', '/config/set', { key: 'accept_writes', value: 'Disable' })).status, 200);

    const check = async (h: NodeHandle, rp: number) => {
      const t = await getToken(h.httpPort);
      const w = (await request(h.httpPort, `/data/?${qs({ cmd: 'set', key: 'new', valuedata: 'x', token: t })}`)).json<Doc>();
      assert.equal(w.Status, 500);
      assert.match(String(w.Message), /writes are disabled on this node \(read-only mode/);
      const d = (await request(h.httpPort, `/data/?${qs({ cmd: 'delete', key: 'kept', token: t })}`)).json<Doc>();
      assert.match(String(d.Message), /writes are disabled/);
      assert.equal((await request(h.httpPort, `/data/?${qs({ cmd: 'get', key: 'kept' })}`)).text, 'v1');

      const tcpLine = await new Promise<string>((resolve, reject) => {
        const s = net.connect(h.tcpPort, '127.0.0.1', () => s.write('set new x\n'));
        let buf = '';
        const timer = setTimeout(() => {
          s.destroy();
          reject(new Error('no TCP answer'));
        }, 5000);
        s.on('data', (c: Buffer) => {
          buf += c.toString();
          // The greeting line, then the answer.
          if (buf.split('\n').length > 2) {
            clearTimeout(timer);
            s.end();
            resolve(buf);
          }
        });
        s.on('error', reject);
      });
      assert.match(tcpLine, /writes are disabled on this node/);

      const r = new Redis({
        host: '127.0.0.1',
        port: rp,
        password: TEST_PASSWORD,
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        commandTimeout: 5000,
      });
      r.on('error', () => {});
      try {
        await r.connect();
        await assert.rejects(r.set('new', 'x'), /READONLY writes are disabled/);
        await assert.rejects(r.del('kept'), /READONLY writes are disabled/);
        assert.equal(await r.get('kept'), 'v1');
      } finally {
        r.disconnect();
      }
    };
    await check(node, respPort);
    await node.stop();
    const again = await restartNode(node);
    await check(again, respPort);
    assert.equal((await rest(again, 'POST', '/config/set', { key: 'accept_writes', value: 'Enable' })).status, 200);
    const t = await getToken(again.httpPort);
    assert.equal((await request(again.httpPort, `/data/?${qs({ cmd: 'set', key: 'new', valuedata: 'x', token: t })}`)).json<Doc>().Status, 200);
  });
});

describe('authentication, topology, machine facts, hostile input', { timeout: 60_000 }, () => {
  test('/info/shards with Api-key, Basic auth, Bearer and a token parameter; 401 without; get_info numbers are plausible', async () => {
    const node = await startGossipNode([]);
    const token = await tokenOf(node);
    const forms: Record<string, string>[] = [{ 'Api-key': token }, { Authorization: BASIC }, { Authorization: `Bearer ${token}` }];
    for (const headers of forms) {
      const r = await request(node.httpPort, '/info/shards', { headers });
      assert.equal(r.status, 200, `${JSON.stringify(headers)}: ${r.text}`);
      const doc = r.json<{
        nodeId: string;
        leaderId: string;
        uriScheme: string;
        shards: Record<string, { httpAddr: string; tcpAddr: string; gossipAddr: string; state: string }>;
      }>();
      assert.equal(doc.leaderId, '');
      assert.equal(doc.uriScheme, 'http');
      assert.deepEqual(doc.shards[doc.nodeId], {
        nodeId: doc.nodeId,
        httpAddr: node.httpAddr,
        tcpAddr: `127.0.0.1:${node.tcpPort}`,
        respAddr: null,
        gossipAddr: node.gossip,
        state: 'alive',
      });
    }
    assert.equal((await request(node.httpPort, `/info/shards?${qs({ token })}`)).status, 200);
    const refused: Record<string, string>[] = [
      {},
      { 'Api-key': 'nope' },
      { Authorization: `Basic ${Buffer.from('admin:wrong-password').toString('base64')}` },
      { Authorization: `Basic ${Buffer.from(`root:${TEST_PASSWORD}`).toString('base64')}` },
    ];
    for (const headers of refused) {
      const r = await request(node.httpPort, '/info/shards', { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(typeof r.json<Doc>().error, 'string');
    }
    const noAuth = await request(node.httpPort, '/', { method: 'POST', body: '{"operation":"cluster_status"}' });
    assert.equal(noAuth.status, 401);

    const info = await op(node, { ver: '0.1', job_type: 'get_info' });
    assert.equal(info.status, 200);
    assert.equal(info.doc.result, 'succeed');
    const p = info.doc.process as { rss: number; heap_used: number };
    const d = info.doc.data_dir as { disk_total: number; disk_free: number };
    const m = info.doc.machine as { cpus: number; mem_total: number; mem_free: number };
    assert.ok(p.rss > 0 && p.heap_used > 0);
    assert.ok(d.disk_total > d.disk_free && d.disk_free > 0, JSON.stringify(d));
    assert.ok(m.cpus >= 1 && m.mem_total > m.mem_free);

    const update = await op(node, { ver: '0.1', job_type: 'update_node' });
    assert.equal(update.status, 200, JSON.stringify(update.doc));
    assert.equal(update.doc.message, 'Successfully re-read the seed files and re-joined 0 seed(s)');
    assert.equal((await op(node, { operation: 'update_node', node_name: 'nobody' })).status, 404);
    const nodesDoc = await op(node, { ver: '0.1', job_type: 'get_node', node_type: 'cache_node', node_ip0: '127.0.0.1' });
    assert.equal((nodesDoc.doc.nodes as unknown[]).length, 1);
    assert.equal(((await op(node, { ver: '0.1', job_type: 'get_node', node_ip0: '10.1.2.3' })).doc.nodes as unknown[]).length, 0);
    assert.equal(((await op(node, { ver: '0.1', job_type: 'get_node', node_type: 'meta_node' })).doc.nodes as unknown[]).length, 0);
  });

  test('*_cmd refused; malformed JSON, wrong types, unknown operations, wrong methods and a 10 MB body each get a clear error; the node is unaffected', async () => {
    const node = await startNode();
    for (const body of [
      { ver: '0.1', job_type: 'cluster_cmd', cmd: 'bash -x bin/cluster_mgr_safe' },
      { ver: '0.1', job_type: 'mysql_cmd', cmd: './startmysql.sh 6001' },
      { operation: 'pgsql_cmd' },
    ]) {
      const r = await op(node, body);
      assert.equal(r.status, 403);
      assert.match(String(r.doc.error), /never runs commands sent over the network/);
    }
    const malformed = await request(node.httpPort, '/', { method: 'POST', body: '{"operation": "cluster_status",', headers: { Authorization: BASIC } });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json<Doc>().error as string, /not valid JSON/);

    const wrongType = await op(node, { operation: 'cluster_set_routes', server: 'hub', routes: 'x' });
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.doc.error, 'routes: must be an array, not the string "x"');
    assert.equal(wrongType.doc.field, 'routes');
    const badServer = await op(node, { operation: 'cluster_set_routes', server: 7, routes: [] });
    assert.equal(badServer.doc.error, 'server: must be a string, not number 7');
    const badTimeout = await op(node, { operation: 'cluster_network', timeout: 'soon' });
    assert.equal(badTimeout.status, 400);
    assert.match(String(badTimeout.doc.error), /^timeout: must be an integer/);
    const badSwitch = await rest(node, 'POST', '/config/set', { key: 'anti_entropy', value: 'On' });
    assert.equal(badSwitch.status, 400);
    assert.match(String(badSwitch.doc.error), /^value: must be one of "Enable", "Disable"/);
    assert.equal((await rest(node, 'GET', '/config/get?key=balance')).status, 404);

    const unknown = await op(node, { operation: 'drop_everything' });
    assert.equal(unknown.status, 404);
    assert.ok((unknown.doc.operations as string[]).includes('cluster_status'));
    const missing = await op(node, { server: 'hub' });
    assert.equal(missing.status, 400);
    assert.equal(missing.doc.error, 'operation: is required (a string)');
    const notObject = await op(node, [1, 2]);
    assert.equal(notObject.status, 400);

    const wrongMethod = await request(node.httpPort, '/stat', { method: 'POST', headers: { Authorization: BASIC } });
    assert.equal(wrongMethod.status, 405);
    assert.deepEqual(wrongMethod.json<Doc>().allowed, ['GET']);
    const put = await request(node.httpPort, '/', { method: 'PUT', headers: { Authorization: BASIC } });
    assert.equal(put.status, 405);
    const leader = await rest(node, 'POST', '/leadership/transfer', { peer_id: 1 });
    assert.equal(leader.status, 409);
    assert.match(String(leader.doc.error), /leaderless/);
    const member = await rest(node, 'POST', '/member/add', { host: '127.0.0.1:9' });
    assert.equal(member.status, 409, 'owlcache mode has no membership');

    // 10 MB declared: refused before the body is read.
    const big = await rawAnswer(
      node.httpPort,
      `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: ${BASIC}\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n{"operation":"cluster_status","x":"`,
    );
    assert.match(big, /^HTTP\/1\.1 413 /);
    assert.match(big, /"error": "the body is larger than 262144 bytes"/);
    // 10 MB sent without a length (chunked): cut off at the limit.
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const streamed = await rawAnswer(
      node.httpPort,
      `POST / HTTP/1.1\r\nHost: x\r\nAuthorization: ${BASIC}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      Array.from({ length: 10 }, () => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])),
    );
    assert.match(streamed, /^HTTP\/1\.1 413 /);
    const welcome = await request(node.httpPort, '/');
    assert.equal(welcome.status, 200);
    assert.match(welcome.text, /Welcome to use owlcache/);
    assert.equal((await op(node, { operation: 'cluster_get_routes' })).status, 200);
  });
});

describe('CLI subcommands', { timeout: 90_000 }, () => {
  test('routes, join, remove, network, stat, config, topology, info: tables by default, --json, password from OWLCACHE_PASS or -pass', async () => {
    const fast = { GossipMemberSyncInterval: '1s' };
    const [a, b] = await startGossipCluster(2, fast);
    const c = await startGossipNode([], fast);
    const cli = (...args: string[]) => runToExit([...args, '-node', a!.httpAddr, '-pass', TEST_PASSWORD], a!.dir);
    const port = await freePort();

    const set = await cli('routes', 'set', '--server', 'leaf', `127.0.0.1:${port}`, `127.0.0.1:${port}`);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, new RegExp(`set: 127\\.0\\.0\\.1:${port}`));
    assert.match(set.stdout, /skipped: .*duplicate/);
    const routes = await cli('routes');
    assert.match(routes.stdout, /^SERVER\s+HOST\s+PORT\nleaf\s+127\.0\.0\.1\s+\d+$/m);
    const del = await cli('routes', 'delete', `127.0.0.1:${port}`);
    assert.match(del.stdout, /deleted: 127\.0\.0\.1/);

    const join = await cli('join', c.gossip, '--timeout', '10000');
    assert.equal(join.code, 0, join.stderr);
    assert.match(join.stdout, /Successfully added/);
    const stat = await waitFor(
      'stat to list three alive members',
      async () => {
        const r = await cli('stat');
        return (r.stdout.match(/ alive /g) ?? []).length === 3 ? r : undefined;
      },
      20_000,
      300,
    );
    assert.match(stat!.stdout, /^NAME\s+STATE\s+HTTP\s+GOSSIP\s+INCARNATION$/m);
    assert.match(stat!.stdout, /\(this node\)/);

    const network = await cli('network', '--timeout', '2000');
    assert.equal(network.code, 0, network.stderr);
    assert.equal((network.stdout.match(/\byes\b/g) ?? []).length, 3, network.stdout);

    const cfg = await cli('config', 'set', 'dissemination', 'Disable', '--cluster');
    assert.equal(cfg.code, 0, cfg.stderr);
    assert.equal((cfg.stdout.match(/dissemination Disable/g) ?? []).length, 3, cfg.stdout);
    const viaEnv = await runToExit(['config', 'get', 'dissemination', '-node', b!.httpAddr], a!.dir, 20_000, { OWLCACHE_PASS: TEST_PASSWORD });
    assert.equal(viaEnv.stdout.trim(), 'dissemination Disable');
    assert.equal((await cli('config', 'set', 'dissemination', 'Enable', '--cluster')).code, 0);

    const topo = await cli('topology', '--json');
    assert.equal(topo.code, 0);
    const shards = (JSON.parse(topo.stdout) as { shards: Record<string, unknown> }).shards;
    assert.equal(Object.keys(shards).length, 3);
    const info = await cli('info');
    assert.match(info.stdout, /^process\.rss: \d+$/m);

    const removed = await cli('remove', c.httpAddr);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /Successfully removed/);

    const wrong = await runToExit(['stat', '-node', a!.httpAddr, '-pass', 'wrong-password-9'], a!.dir);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401/);
    const usage = await cli('config', 'set', 'anti_entropy');
    assert.equal(usage.code, 2);
  });
});
