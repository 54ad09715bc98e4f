import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { requestCommand } from '../../src/api/http/app.js';
import { NodeReadiness } from '../../src/health.js';
import { Metrics, type DatagramCounts } from '../../src/metrics/metrics.js';
import { outcomeOfStatus } from '../../src/metrics/outcome.js';
import { Persistence } from '../../src/persistence/persistence.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/repo.js';

/** Lines of the exposition for one metric name, without comments. */
async function lines(m: Metrics, name: string): Promise<string[]> {
  return (await m.text()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('Metrics', () => {
  test('each instance has its own registry: two nodes in one process count apart, and the process metrics appear once in each', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.request('http', 'set', 'ok', Metrics.now());
    a.request('http', 'set', 'ok', Metrics.now());
    b.request('resp', 'get', 'not_found', Metrics.now());
    assert.deepEqual(await lines(a, 'owlcache_requests_total'), ['owlcache_requests_total{port="http",command="set",outcome="ok"} 2']);
    assert.deepEqual(await lines(b, 'owlcache_requests_total'), ['owlcache_requests_total{port="resp",command="get",outcome="not_found"} 1']);
    for (const m of [a, b]) {
      const text = await m.text();
      assert.equal(text.split('\n').filter((l) => l === '# TYPE process_cpu_user_seconds_total counter').length, 1);
    }
  });

  test('mirrored counters follow their source; gauges read theirs at scrape time; absent sources give zeros, not errors', async () => {
    const m = new Metrics();
    assert.deepEqual(await lines(m, 'owlcache_datagrams_dropped_total'), []);
    assert.deepEqual(await lines(m, 'owlcache_store_keys'), ['owlcache_store_keys 0']);
    const membership: DatagramCounts = {
      datagramsIn: 5,
      bytesIn: 500,
      datagramsOut: 3,
      bytesOut: 300,
      sendErrors: 0,
      dropped: { mac: 1, stale: 0, replay: 2, malformed: 0, oversize: 0, address: 0 },
    };
    let keys = 7;
    m.watch({ datagrams: () => ({ membership }), store: () => ({ keys, stubs: 1, bytes: 99, maxMemory: 0 }) });
    const dropped = await lines(m, 'owlcache_datagrams_dropped_total');
    assert.ok(dropped.includes('owlcache_datagrams_dropped_total{purpose="membership",reason="mac"} 1'), dropped.join('\n'));
    assert.ok(dropped.includes('owlcache_datagrams_dropped_total{purpose="membership",reason="replay"} 2'));
    assert.ok(dropped.includes('owlcache_datagrams_dropped_total{purpose="membership",reason="send_error"} 0'));
    membership.dropped = { ...membership.dropped, mac: 4 };
    keys = 8;
    assert.ok((await lines(m, 'owlcache_datagrams_dropped_total')).includes('owlcache_datagrams_dropped_total{purpose="membership",reason="mac"} 4'));
    assert.deepEqual(await lines(m, 'owlcache_store_keys'), ['owlcache_store_keys 8']);
    assert.ok((await lines(m, 'owlcache_datagrams_total')).includes('owlcache_datagrams_total{purpose="membership",direction="received"} 5'));
  });

  test('members by state count every state, zeros included', async () => {
    const m = new Metrics();
    m.watch({
      members: () => [
        { state: 'alive', local: true },
        { state: 'alive', local: false },
        { state: 'faulty', local: false },
      ],
    });
    assert.deepEqual(await lines(m, 'owlcache_members'), [
      'owlcache_members{state="alive"} 2',
      'owlcache_members{state="suspect"} 0',
      'owlcache_members{state="faulty"} 1',
      'owlcache_members{state="left"} 0',
    ]);
    m.memberEntered('suspect');
    m.memberEntered('alive');
    assert.deepEqual(await lines(m, 'owlcache_member_suspicions_total'), ['owlcache_member_suspicions_total 1']);
  });
});

describe('request labels', () => {
  test('outcomes from statuses', () => {
    assert.equal(outcomeOfStatus(200), 'ok');
    assert.equal(outcomeOfStatus(204), 'ok');
    assert.equal(outcomeOfStatus(404), 'not_found');
    assert.equal(outcomeOfStatus(401), 'unauthorized');
    assert.equal(outcomeOfStatus(413), 'refused');
    assert.equal(outcomeOfStatus(501), 'refused');
    assert.equal(outcomeOfStatus(500), 'error');
    assert.equal(outcomeOfStatus(503), 'error');
  });

  test('HTTP command labels come from fixed lists: an unknown cmd or path is "other", never its text', () => {
    assert.equal(requestCommand('/data/', 'set'), 'set');
    assert.equal(requestCommand('/data', 'get'), 'get');
    assert.equal(requestCommand('/data/', 'some-user-text'), 'other');
    assert.equal(requestCommand('/data/', undefined), 'other');
    assert.equal(requestCommand('/server/', undefined), 'server');
    assert.equal(requestCommand('/metrics', undefined), 'metrics');
    assert.equal(requestCommand('/', undefined), 'welcome');
    assert.equal(requestCommand('/a-key-in-a-path', undefined), 'other');
    assert.equal(requestCommand('/constructor', undefined), 'other');
  });
});

describe('NodeReadiness', () => {
  const members: { local: boolean; state: string }[] = [];
  const progress = { records: 0, bytesRead: 0, bytesTotal: 0 };
  const make = (gossip: boolean, seeds: boolean, started = true) =>
    new NodeReadiness({ gossip, seedsConfigured: () => seeds, members: () => (started ? members : null), keys: () => 3, loadProgress: () => progress });

  test('loading (with how far it is), then serving, then draining', () => {
    const r = make(false, false);
    assert.equal(r.loading, true);
    assert.deepEqual(r.notReady(), ['loading the data directory: 0 records so far']);
    Object.assign(progress, { records: 412, bytesRead: 41_200, bytesTotal: 100_000 });
    assert.deepEqual(r.notReady(), ['loading the data directory: 412 of ~1000 records'], 'the total is estimated from the bytes read');
    assert.deepEqual(r.details(), { phase: 'loading', keys: 3 });
    r.loaded();
    assert.equal(r.loading, false);
    assert.deepEqual(r.notReady(), []);
    assert.deepEqual(r.details(), { phase: 'serving', keys: 3 });
    r.drain();
    assert.deepEqual(r.notReady(), ['draining: the node is stopping']);
    r.loaded();
    assert.deepEqual(r.notReady(), ['draining: the node is stopping'], 'draining is final');
  });

  test('gossip: with seeds, ready once a member is alive, and stays so when it goes; without seeds, ready once started', () => {
    members.length = 0;
    members.push({ local: true, state: 'alive' });
    const r = make(true, true);
    r.loaded();
    assert.deepEqual(r.notReady(), ['gossip mode: no member joined yet, though seeds are configured']);
    members.push({ local: false, state: 'alive' });
    assert.deepEqual(r.notReady(), []);
    members[1]!.state = 'faulty';
    assert.deepEqual(r.notReady(), [], 'joining is remembered');
    const lone = make(true, false);
    lone.loaded();
    assert.deepEqual(lone.notReady(), []);
    const notStarted = make(true, false, false);
    notStarted.loaded();
    assert.deepEqual(notStarted.notReady(), ['gossip mode: membership is not started yet']);
  });
});

describe('README "Metrics"', () => {
  test('the table lists every owlcache_ metric a node exports, and no other', async () => {
    const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('## Health checks'));
    const documented = new Set([...section.matchAll(/^\| `(owlcache_[a-z_]+)` \|/gm)].map((m) => m[1]));
    const exported = new Set([...(await new Metrics().text()).matchAll(/^# TYPE (owlcache_[a-z_]+) /gm)].map((m) => m[1]));
    assert.deepEqual([...documented].sort(), [...exported].sort());
  });
});

describe('parts given a Metrics count where it happens', () => {
  const value = async (m: Metrics, line: string) => {
    const found = (await m.text()).split('\n').find((l) => l.startsWith(`${line} `));
    return found === undefined ? undefined : Number(found.slice(line.length + 1));
  };

  test('the store counts evictions and expirations', async () => {
    const metrics = new Metrics();
    let now = 1_000_000;
    const store = new Store({ nodeId: 'n', maxMemory: 3000, now: () => now, metrics });
    for (let i = 0; i < 20; i++) store.set(`k${i}`, Buffer.alloc(200));
    const evictions = store.stats().evictions;
    assert.ok(evictions > 0);
    assert.equal(await value(metrics, 'owlcache_store_evictions_total'), evictions);
    store.set('short', Buffer.from('x'), 1000);
    now += 2000;
    assert.equal(store.get('short'), undefined);
    assert.equal(await value(metrics, 'owlcache_store_expirations_total'), 1);
  });

  test('persistence counts append-log bytes, fsyncs and snapshots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'owlcache-metrics-'));
    try {
      const metrics = new Metrics();
      const store = new Store({ nodeId: 'n' });
      const p = await Persistence.open({ dataDir: dir, store, appendLog: true, fsync: 'always', snapshotEveryMs: 0, metrics });
      store.set('a', Buffer.from('1'));
      store.set('b', Buffer.from('2'));
      assert.ok((await value(metrics, 'owlcache_appendlog_bytes_total'))! > 0);
      assert.ok((await value(metrics, 'owlcache_appendlog_fsync_duration_seconds_count'))! >= 2, 'AppendFsync always: one fsync per write');
      await p.snapshot();
      assert.equal(await value(metrics, 'owlcache_snapshot_duration_seconds_count{outcome="ok"}'), 1);
      await p.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
