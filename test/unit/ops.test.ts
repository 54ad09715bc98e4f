import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerList } from '../../src/cluster/groups/server-list.js';
import { authenticate, type AuthDeps } from '../../src/ops/auth.js';
import type { OpsDeps } from '../../src/ops/context.js';
import { runBody, runRest } from '../../src/ops/dispatch.js';
import { Jobs } from '../../src/ops/jobs.js';
import { RuntimeSwitches } from '../../src/ops/switches.js';
import { OPERATIONS } from '../../src/ops/table.js';
import { HybridLogicalClock } from '../../src/store/hlc.js';
import { Store } from '../../src/store/store.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'owlcache-ops-'));
  dirs.push(d);
  return d;
}

function deps(dir = tempDir()): OpsDeps {
  const clock = new HybridLogicalClock('n1');
  return {
    node: {
      name: () => 'n1',
      id: 'id1',
      version: '0',
      mode: 'owlcache',
      scheme: 'http',
      httpAddress: () => '127.0.0.1:7721',
      tcpAddress: () => null,
      respAddress: () => null,
      dataDir: dir,
      startedAt: Date.now(),
      maxClockSkewMs: 500,
    },
    store: { stats: () => ({ keys: 0, stubs: 0, bytes: 0, maxMemory: 0, evictions: 0, digest: '0' }) },
    lists: { hub: ServerList.open(join(dir, 'hub.json'), 'gossip', clock), leaf: ServerList.open(join(dir, 'leaf.json'), 'owlcache', clock) },
    cluster: () => null,
    switches: new RuntimeSwitches(join(dir, 'runtime_switches.json')),
    reloadSeeds: () => ({ seeds: [], problems: [] }),
    auth: { verifyToken: async () => false, checkPassword: async (_ip, m) => (m() ? 'ok' : 'wrong'), passwordMatches: (g) => g === 'pw' },
    log: { info: () => {}, warn: () => {} },
    jobs: { registry: new Jobs(join(dir, 'jobs.json')), backupDir: join(dir, 'backups'), store: new Store({ nodeId: 'n1' }) },
  };
}

describe('operations dispatch', () => {
  it('HarperDB and Kunlun bodies reach the same operation; Kunlun answers carry ver, job_type and result', async () => {
    const d = deps();
    const h = await runBody(d, { operation: 'cluster_get_routes' });
    assert.deepEqual(h, { status: 200, body: { hub: [], leaf: [] } });
    const k = await runBody(d, { ver: '0.1', job_type: 'cluster_get_routes' });
    assert.deepEqual(k, { status: 200, body: { ver: '0.1', job_type: 'cluster_get_routes', result: 'succeed', hub: [], leaf: [] } });
    const bad = await runBody(d, { ver: '0.1', job_type: 'config_set', key: 'nope', value: 'Enable' });
    assert.equal(bad.status, 404);
    assert.equal((bad.body as { result: string }).result, 'error');
  });

  it('refuses *_cmd with 403, names the missing or unknown operation, refuses non-objects', async () => {
    const d = deps();
    for (const name of ['mysql_cmd', 'pgsql_cmd', 'cluster_cmd', 'anything_cmd'])
      assert.equal((await runBody(d, { ver: '0.1', job_type: name, cmd: 'rm -rf /' })).status, 403);
    assert.equal((await runBody(d, { operation: 'nope' })).status, 404);
    assert.deepEqual(((await runBody(d, {})).body as { error: string }).error, 'operation: is required (a string)');
    assert.equal((await runBody(d, 'x')).status, 400);
    assert.equal((await runBody(d, { ver: '9', job_type: 'get_info' })).status, 400);
  });

  it('REST paths: wrong method 405 with Allow; unknown path null; every REST path maps to one row', async () => {
    const d = deps();
    const r = await runRest(d, 'POST', '/stat', {});
    assert.equal(r?.status, 405);
    assert.equal(r?.headers?.Allow, 'GET');
    assert.equal(await runRest(d, 'GET', '/nope', {}), null);
    assert.equal((await runRest(d, 'POST', '/leadership/transfer', {}))?.status, 409);
    const paths = OPERATIONS.flatMap((o) => o.rest.map((x) => `${x.method} ${x.path}`));
    assert.equal(new Set(paths).size, paths.length);
  });

  it('config_set saves the switch, applies it, and a new instance reads it back', async () => {
    const dir = tempDir();
    const d = deps(dir);
    const applied: boolean[] = [];
    d.switches.onApply('snapshot', (on) => applied.push(on));
    const r = await runRest(d, 'POST', '/config/set', { key: 'snapshot', value: 'Disable' });
    assert.equal(r?.status, 200);
    assert.deepEqual(applied, [true, false]);
    assert.match(readFileSync(join(dir, 'runtime_switches.json'), 'utf8'), /"snapshot": "Disable"/);
    assert.equal(new RuntimeSwitches(join(dir, 'runtime_switches.json')).isOn('snapshot'), false);
    const got = await runRest(d, 'GET', '/config/get', { key: 'snapshot' });
    assert.equal((got?.body as { value: string } | undefined)?.value, 'Disable');
    assert.equal((await runRest(d, 'POST', '/config/set', { key: 'snapshot', value: 'enable' }))?.status, 400);
  });

  it('routes: set skips duplicates and invalid routes with the reason; delete skips missing ones; configure_cluster is all or nothing', async () => {
    const d = deps();
    const set = await runBody(d, {
      operation: 'cluster_set_routes',
      server: 'hub',
      routes: [{ host: '127.0.0.1', port: 7946 }, { host: '127.0.0.1', port: 7946 }, { host: 'a b', port: 1 }, 'x'],
    });
    const b = set.body as { set: unknown[]; skipped: { reason: string }[] };
    assert.deepEqual(b.set, [{ host: '127.0.0.1', port: 7946 }]);
    assert.deepEqual(
      b.skipped.map((s) => s.reason.split(':')[0]),
      ['duplicate', 'bad address "a b', 'a route must be an object {host, port}, not the string "x"'],
    );
    const conf = await runBody(d, {
      operation: 'configure_cluster',
      connections: [
        { host: '127.0.0.1', port: 1 },
        { server: 'edge', host: '127.0.0.1', port: 2 },
      ],
    });
    assert.equal(conf.status, 400);
    assert.match((conf.body as { error: string }).error, /^server: must be one of/);
    assert.deepEqual((await runBody(d, { operation: 'cluster_get_routes' })).body, { hub: [{ host: '127.0.0.1', port: 7946 }], leaf: [] });
    const del = await runBody(d, {
      operation: 'cluster_delete_routes',
      routes: [
        { host: '127.0.0.1', port: 7946 },
        { host: '127.0.0.1', port: 7947 },
      ],
    });
    assert.deepEqual((del.body as { deleted: unknown[] }).deleted, [{ host: '127.0.0.1', port: 7946 }]);
  });
});

describe('operations authentication', () => {
  const calls: string[] = [];
  const auth: AuthDeps = {
    verifyToken: async (t) => t === 'good',
    checkPassword: async (ip, m) => {
      calls.push(ip);
      return m() ? 'ok' : 'wrong';
    },
    passwordMatches: (g) => g === 'pw',
  };
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

  it('accepts a token (parameter, Bearer, Api-key) or Basic admin:<password>; Basic goes through the password guard', async () => {
    for (const c of [{ token: 'good' }, { authorization: 'Bearer good' }, { apiKey: 'good' }, { authorization: basic('admin:pw') }]) {
      assert.deepEqual(await authenticate(auth, { ...c, ip: '1.2.3.4' }), { ok: true }, JSON.stringify(c));
    }
    calls.length = 0;
    for (const c of [
      {},
      { token: 'bad' },
      { apiKey: 'bad' },
      { authorization: basic('root:pw') },
      { authorization: basic('admin:nope') },
      { authorization: 'Digest x' },
    ]) {
      assert.equal((await authenticate(auth, { ...c, ip: '1.2.3.4' })).ok, false, JSON.stringify(c));
    }
    assert.equal(calls.length, 2, 'each Basic attempt, right user or not, is one guarded check');
  });
});

describe('store sweep switches', () => {
  it('expired: false leaves expiry to the reads (the sweep drains nothing); tombstones: false keeps stubs past TombstoneTTL', () => {
    let now = 1_000_000;
    const s = new Store({ nodeId: 'n', maxMemory: 0, tombstoneTtlMs: 1000, now: () => now });
    s.set('e', Buffer.from('v'), 10);
    s.set('d', Buffer.from('v'), 0);
    s.delete('d');
    now += 5000;
    assert.equal(s.sweep({ expired: false, tombstones: false }), 0);
    assert.equal(s.sweep({ expired: true, tombstones: false }), 1, 'the expired key leaves');
    assert.equal(s.stats().stubs, 2);
    assert.equal(s.sweep({ expired: false, tombstones: true }), 2);
    assert.equal(s.stats().stubs, 0);
  });
});
