import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import http from 'node:http';
import { after, describe, test } from 'node:test';
import { DatagramSealer } from '../../src/cluster/security.js';
import { PURPOSE_LABEL } from '../../src/cluster/transport/udp-transport.js';
import { startGossipNode } from '../helpers/cluster.js';
import { getToken, qs, request, startNode, stopAllNodes, TEST_PASSWORD, waitFor, type NodeHandle } from '../helpers/node-process.js';

/**
 * GET /metrics against real node processes: the answer is valid Prometheus
 * text (checked by the parser below), and the counters move by exactly what
 * the test did.
 */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** A strict parser of the Prometheus text format 0.0.4: throws on any line it does not accept. */
function parseExposition(text: string): Exposition {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const familyOf = (name: string) => {
    for (const suffix of ['_bucket', '_sum', '_count', '']) {
      const base = suffix === '' ? name : name.endsWith(suffix) ? name.slice(0, -suffix.length) : null;
      if (base !== null && types.has(base)) return base;
    }
    return null;
  };
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      assert.ok(m, `bad comment, ${where}`);
      assert.match(m[2]!, NAME, where);
      if (m[1] === 'TYPE') {
        assert.ok(TYPES.has(m[3]!), `bad type, ${where}`);
        assert.ok(!types.has(m[2]!), `second TYPE, ${where}`);
        types.set(m[2]!, m[3]!);
      }
      continue;
    }
    const nm = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    assert.ok(nm, `no metric name, ${where}`);
    let rest = line.slice(nm[1]!.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      rest = rest.slice(1);
      while (!rest.startsWith('}')) {
        const lm = LABEL.exec(rest);
        assert.ok(lm, `bad label, ${where}`);
        assert.ok(!(lm[1]! in labels), `label twice, ${where}`);
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
        rest = rest.slice(lm[0].length);
        if (rest.startsWith(',')) rest = rest.slice(1);
        else assert.ok(rest.startsWith('}'), `bad label list, ${where}`);
      }
      rest = rest.slice(1);
    }
    const vm = /^ (\S+)( -?\d+)?$/.exec(rest);
    assert.ok(vm, `bad value, ${where}`);
    // Prometheus reads values with Go's strconv.ParseFloat, which takes NaN in any case (prom-client writes "Nan").
    const isNaNWord = /^nan$/i.test(vm[1]!);
    const value = vm[1] === '+Inf' ? Infinity : vm[1] === '-Inf' ? -Infinity : isNaNWord ? NaN : Number(vm[1]);
    assert.ok(!Number.isNaN(value) || isNaNWord, `bad number, ${where}`);
    assert.ok(familyOf(nm[1]!) !== null, `sample before (or without) its TYPE, ${where}`);
    samples.push({ name: nm[1]!, labels, value });
  }
  return { types, samples };
}

/** The value of the one sample `name` whose labels include `labels`; 0 if absent (a counter not yet moved). */
function sampleValue(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const found = e.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

async function scrape(node: NodeHandle, path = '/metrics', headers: Record<string, string> = {}): Promise<Exposition> {
  const r = await request(node.httpPort, path, { headers });
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parseExposition(r.text);
}

/** Sends `lines` on one TCP connection and waits until `answers` newline-terminated answers came back. */
async function tcpLines(port: number, lines: string[], answers: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`TCP: ${got.split('\n').length - 2} of ${answers} answers`));
    }, 10_000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      // The greeting line comes first.
      if (got.split('\n').length - 1 >= answers + 1) {
        clearTimeout(timer);
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(lines.map((l) => `${l}\n`).join(''));
  });
}

/** Sends RESP commands on one connection and resolves once `replies` CRLF-terminated replies (simple ones only) came back. */
async function respCommands(port: number, commands: string[][], replies: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`RESP: got ${JSON.stringify(got)}`));
    }, 10_000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      // Every reply here is one line (+OK, -ERR, $-1) or a bulk of one line ($n, value).
      const lines = got.split('\r\n').length - 1;
      const bulks = (got.match(/^\$\d+\r$/gm) ?? []).length;
      if (lines - bulks >= replies) {
        clearTimeout(timer);
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(commands.map((c) => `*${c.length}\r\n${c.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`).join(''));
  });
}

describe('GET /metrics', { timeout: 120_000 }, () => {
  after(stopAllNodes);

  test('parses as Prometheus text; 100 HTTP sets move the set counter by 100; TCP, RESP, auth failures and store gauges are counted; no key appears', async () => {
    const respPort = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const node = await startNode({ settings: { RespPort: respPort } });
    const before = await scrape(node);
    assert.equal(before.types.get('owlcache_requests_total'), 'counter');
    assert.equal(before.types.get('owlcache_request_duration_seconds'), 'histogram');
    assert.equal(before.types.get('owlcache_store_keys'), 'gauge');
    assert.ok(before.types.has('process_cpu_user_seconds_total'), 'default process metrics');
    assert.ok(before.types.has('nodejs_eventloop_lag_seconds'), 'event-loop lag');
    assert.ok(before.types.has('nodejs_gc_duration_seconds'), 'GC');

    const token = await getToken(node.httpPort);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const secretKey = 'metrics-must-not-show-this-key';
    try {
      for (let i = 0; i < 100; i++) {
        const r = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: `${secretKey}-${i}`, valuedata: `v${i}`, token })}`, { agent });
        assert.equal(r.status, 200, r.text);
      }
      for (let i = 0; i < 7; i++) assert.equal((await request(node.httpPort, `/data/?cmd=get&key=${secretKey}-${i}`, { agent })).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await request(node.httpPort, `/data/?cmd=get&key=absent-${i}`, { agent })).status, 404);
      assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'x', valuedata: 'y', token: 'wrong' })}`, { agent })).status, 401);
      assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'pass', pass: 'not-the-password' })}`, { agent })).status, 401);
    } finally {
      agent.destroy();
    }
    await tcpLines(node.tcpPort, [`get ${secretKey}-1`, 'get absent', 'exist absent', 'frobnicate x'], 4);
    const resp = await respCommands(
      respPort,
      [['AUTH', TEST_PASSWORD], ['GET', `${secretKey}-2`], ['GET', 'absent'], ['NOSUCHCMD'], ['AUTH', 'wrong-password-xyz']],
      5,
    );
    assert.match(resp, /^\+OK\r\n\$2\r\nv2\r\n\$-1\r\n-ERR unknown command/);

    const res = await request(node.httpPort, '/metrics');
    assert.ok(!res.text.includes(secretKey), 'no key in /metrics');
    assert.ok(!res.text.includes('127.0.0.1'), 'no client address in /metrics');
    const now = parseExposition(res.text);
    const delta = (labels: Record<string, string>) =>
      sampleValue(now, 'owlcache_requests_total', labels) - sampleValue(before, 'owlcache_requests_total', labels);
    assert.equal(delta({ port: 'http', command: 'set', outcome: 'ok' }), 100);
    assert.equal(sampleValue(now, 'owlcache_request_duration_seconds_count', { port: 'http', command: 'set', outcome: 'ok' }), 100);
    assert.equal(delta({ port: 'http', command: 'get', outcome: 'ok' }), 7, 'GETs on the fast path');
    assert.equal(delta({ port: 'http', command: 'get', outcome: 'not_found' }), 3);
    assert.equal(delta({ port: 'http', command: 'set', outcome: 'unauthorized' }), 1);
    assert.equal(delta({ port: 'http', command: 'pass', outcome: 'unauthorized' }), 1);
    assert.equal(delta({ port: 'tcp', command: 'get', outcome: 'ok' }), 1);
    assert.equal(delta({ port: 'tcp', command: 'get', outcome: 'not_found' }), 1);
    assert.equal(delta({ port: 'tcp', command: 'exist', outcome: 'not_found' }), 1);
    assert.equal(delta({ port: 'tcp', command: 'other', outcome: 'refused' }), 1, 'an unknown TCP command is "other"');
    assert.equal(delta({ port: 'resp', command: 'auth', outcome: 'ok' }), 1);
    assert.equal(delta({ port: 'resp', command: 'get', outcome: 'ok' }), 1);
    assert.equal(delta({ port: 'resp', command: 'get', outcome: 'not_found' }), 1);
    assert.equal(delta({ port: 'resp', command: 'other', outcome: 'refused' }), 1, 'an unknown RESP command is "other"');
    assert.equal(delta({ port: 'resp', command: 'auth', outcome: 'unauthorized' }), 1);
    assert.equal(sampleValue(now, 'owlcache_auth_failures_total', { reason: 'wrong' }), 2, 'cmd=pass and AUTH with a wrong password');
    assert.equal(sampleValue(now, 'owlcache_store_keys'), 100);
    assert.ok(sampleValue(now, 'owlcache_store_bytes') > 100 * secretKey.length);
    assert.ok(sampleValue(now, 'owlcache_appendlog_bytes_total') > 100 * secretKey.length, 'the sets went to the append log');
    for (const s of now.samples.filter((x) => x.name === 'owlcache_requests_total')) {
      assert.ok(['http', 'tcp', 'resp'].includes(s.labels.port!), JSON.stringify(s.labels));
      assert.ok(['ok', 'not_found', 'unauthorized', 'refused', 'error'].includes(s.labels.outcome!), JSON.stringify(s.labels));
    }
  });

  test('MetricsAuth 1: 401 without a valid token; ?token= and Authorization: Bearer are accepted', async () => {
    const node = await startNode({ settings: { MetricsAuth: 1 } });
    const refused = await request(node.httpPort, '/metrics');
    assert.equal(refused.status, 401);
    assert.equal(refused.json<{ Results: string }>().Results, 'NOT_PASS');
    assert.equal((await request(node.httpPort, '/metrics?token=not-a-token')).status, 401);
    const token = await getToken(node.httpPort);
    await scrape(node, `/metrics?${qs({ token })}`);
    await scrape(node, '/metrics', { Authorization: `Bearer ${token}` });
    // Health checks stay open.
    assert.equal((await request(node.httpPort, '/healthz')).status, 200);
    assert.equal((await request(node.httpPort, '/readyz')).status, 200);
  });

  test('gossip mode: a datagram sealed with another key, sent to the gossip port, counts dropped{reason="mac"} +1; a second member moves the membership, delta and push-pull counters', async () => {
    const node = await startGossipNode([]);
    const port = Number(node.gossip.split(':').pop());
    const before = await scrape(node);
    assert.equal(before.types.get('owlcache_datagrams_dropped_total'), 'counter');
    const dropped = (e: Exposition) => sampleValue(e, 'owlcache_datagrams_dropped_total', { purpose: 'membership', reason: 'mac' });
    const received = (e: Exposition) => sampleValue(e, 'owlcache_datagrams_total', { purpose: 'membership', direction: 'received' });
    const wrongKey = new DatagramSealer('another-cluster-key-0123456789ab', PURPOSE_LABEL.membership, { encrypt: false, windowMs: 30_000 });
    const datagram = wrongKey.seal(Buffer.from('not for you'));
    const sock = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => sock.send(datagram, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
      let now = before;
      await waitFor(
        'the drop to be counted',
        async () => {
          now = await scrape(node);
          return dropped(now) > dropped(before);
        },
        10_000,
        100,
      );
      assert.equal(dropped(now) - dropped(before), 1);
      assert.ok(received(now) - received(before) >= 1);
      assert.equal(sampleValue(now, 'owlcache_members', { state: 'alive' }), 1, 'itself');
    } finally {
      sock.close();
    }

    // A second member: membership changes, push-pull rounds and deltas are counted too.
    const other = await startGossipNode([node.gossip]);
    const token = await getToken(node.httpPort);
    await waitFor('the two to see each other', async () => sampleValue(await scrape(node), 'owlcache_members', { state: 'alive' }) === 2, 20_000, 100);
    assert.equal((await request(node.httpPort, `/data/?${qs({ cmd: 'set', key: 'replicated', valuedata: 'v', token })}`)).status, 200);
    await waitFor('the delta to arrive', async () => (await request(other.httpPort, '/data/?cmd=get&key=replicated')).status === 200, 20_000, 100);
    const a = await scrape(node);
    const b = await waitFor(
      'a push-pull round on the new member',
      async () => {
        const e = await scrape(other);
        return e.samples.some((x) => x.name === 'owlcache_pushpull_rounds_total' && x.value > 0) ? e : undefined;
      },
      20_000,
      200,
    );
    assert.ok(sampleValue(a, 'owlcache_member_state_changes_total', { state: 'alive' }) >= 1);
    assert.ok(sampleValue(a, 'owlcache_deltas_total', { event: 'sent' }) >= 1);
    assert.ok(sampleValue(a, 'owlcache_datagrams_total', { purpose: 'data', direction: 'sent' }) >= 1);
    // The key came by delta or, had the delta raced the join, by push-pull: either is counted.
    assert.ok(sampleValue(b!, 'owlcache_deltas_total', { event: 'applied' }) + sampleValue(b!, 'owlcache_pushpull_keys_total', { direction: 'pulled' }) >= 1);
    assert.ok(sampleValue(b!, 'owlcache_pushpull_duration_seconds_count') >= 1);
    // The peer's round trip, from this node's SWIM probes, by the peer's name (never an address of a client).
    const rtt = await waitFor(
      'a probe round trip of the peer',
      async () => (await scrape(node)).samples.find((x) => x.name === 'owlcache_peer_rtt_seconds'),
      20_000,
      200,
    );
    assert.ok(rtt!.value >= 0 && rtt!.value < 5, `round trip ${rtt!.value} s`);
    assert.equal(typeof rtt!.labels.peer, 'string');
  });
});
