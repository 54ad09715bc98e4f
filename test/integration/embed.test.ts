import assert from 'node:assert/strict';
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { createCache } from 'cache-manager';
import Keyv from 'keyv';
import { ConfigError, NodeWriteError, startNode, type EmbeddedNode, type NodeChange, type NodeOptions } from '../../src/embed.js';
import { OwlKeyvStore } from '../../src/keyv.js';
import { setQuiet } from '../../src/log.js';
import { FAST_GOSSIP } from '../helpers/cluster.js';
import { freeUdpPort, removeTempDirs, request, sleep, tempDir, waitFor } from '../helpers/node-process.js';
import { repoRoot } from '../helpers/repo.js';

/** `startNode` from 'owlcache': a node inside the caller's process, its handle, the Keyv adapter, and leaving no handles. */

setQuiet(true);
const CHILD = fileURLToPath(new URL('../helpers/embedded-child.js', import.meta.url));
const children = new Set<ChildProcess>();
const started = new Set<EmbeddedNode>();

after(async () => {
  await Promise.all([...started].map((n) => n.stop()));
  for (const c of children) c.kill('SIGKILL');
  removeTempDirs();
});

/** An embedded node in this process: every port on a free one (TCP off), its own data directory, no log file. */
async function embedded(options: NodeOptions = {}): Promise<EmbeddedNode> {
  const node = await startNode({
    Host: '127.0.0.1',
    Httpport: 0,
    CloseTcp: false,
    DBfile: join(tempDir(), 'db'),
    Logfile: '',
    Pass: 'embedded-password-123',
    ...options,
  });
  started.add(node);
  return node;
}

describe('startNode: the handle', () => {
  it('get/set/has/expire/delete on the node itself, Buffer or string, and change events', async () => {
    const node = await embedded();
    const changes: NodeChange[] = [];
    node.on('change', (c) => changes.push(c));
    assert.equal(node.get('missing'), undefined);
    node.set('s', 'héllo');
    assert.equal(node.get('s', 'utf8'), 'héllo');
    const bytes = Buffer.from([0, 1, 2, 255]);
    node.set('b', bytes);
    bytes[0] = 9;
    assert.deepEqual(node.get('b'), Buffer.from([0, 1, 2, 255]), 'the node keeps its own copy of what was set');
    node.get('b')![1] = 7;
    assert.deepEqual(node.get('b'), Buffer.from([0, 1, 2, 255]), 'get returns a copy');
    assert.equal(node.has('s'), true);
    node.set('t', 'short', { ttlSeconds: 0.2 });
    assert.equal(node.has('t'), true);
    await waitFor('t expired', () => !node.has('t'), 5000, 20);
    assert.equal(node.expire('s', 100), true);
    assert.equal(node.expire('nothing', 100), false);
    assert.equal(node.delete('s'), true);
    assert.equal(node.delete('s'), false);
    assert.equal(node.has('s'), false);
    await sleep(0);
    assert.deepEqual(
      changes.map((c) => [c.key, c.value?.toString('latin1') ?? null, c.origin]),
      [
        ['s', 'hÃ©llo', 'local'],
        ['b', '\u0000\u0001\u0002\u00ff', 'local'],
        ['t', 'short', 'local'],
        ['s', 'hÃ©llo', 'local'],
        ['s', null, 'local'],
      ],
    );
    assert.ok(changes[3]!.expireAt > Date.now(), 'the expire change carries the new expiry');

    // Writes through a port reach the same store and the same listeners.
    const http = await request(node.info.http.port, '/data/?cmd=get&key=b');
    assert.deepEqual(http.body, Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(
      node.members().map((m) => [m.local, m.state, m.gossip]),
      [[true, 'alive', null]],
    );

    assert.throws(() => node.set('', 'x'), NodeWriteError);
    assert.throws(() => node.set('k', 'x', { ttlSeconds: -1 }), /ttlSeconds/);
    assert.throws(() => node.set('k', 42 as unknown as string), /Buffer or a string/);
    assert.throws(
      () => node.set('k'.repeat(2000), 'x'),
      (err: NodeWriteError) => err instanceof NodeWriteError && /longer than 1024 bytes/.test(err.message),
    );
  });

  it('options are owlcache.conf settings: the same names, defaults, units and checks', async () => {
    const bad: [NodeOptions, RegExp][] = [
      [{ Httpport: 70000 }, /option Httpport: "70000" must be a whole number from 0 to 65535/],
      [{ MaxMemory: '1kb' }, /option MaxMemory: "1kb" is out of range/],
      [{ PushPullInterval: 0.001 }, /option PushPullInterval/],
      [{ GroupWorkMode: 'gossip' }, /GossipDataSyncAuthKey/],
      [{ DBfile: '/etc' }, /cannot be the data directory/],
      [{ Nonsense: 1 } as NodeOptions, /option Nonsense: unknown setting/],
      [{ Httpport: {} as unknown as number }, /must be a string, a finite number or a boolean/],
      [{ seeds: ['127.0.0.1:1'] }, /seeds are for gossip mode/],
      [{ GroupWorkMode: 'gossip', GossipDataSyncAuthKey: FAST_GOSSIP.GossipDataSyncAuthKey as string, seeds: ['no-port'] }, /option seeds: "no-port"/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(embedded(options), (err: Error) => err instanceof ConfigError && message.test(err.message), JSON.stringify(options));
    }
    // @ts-expect-error settings this implementation does not act on are not options (at run time: a warning)
    const unsupported: NodeOptions = { Redis_DB: '1' };
    const warned = await embedded(unsupported);
    assert.match(warned.warnings.join('\n'), /option Redis_DB: not supported/);
    await warned.stop();

    // A bare number is in the setting's own unit, as in the conf file: 1 here is one minute.
    const node = await embedded({ Task_MemoryInfoToLog: 1, TcpIdleTimeout: '10m', MaxMemory: '64mb', Open_Https: false });
    assert.equal(node.info.tcp, null, 'CloseTcp false: no TCP port');
    assert.equal(node.info.resp, null, 'RespPort defaults to 0: off');
    assert.ok(node.info.http.port > 0, 'Httpport 0: a free port');
  });
});

describe('owlcache/keyv', () => {
  it('Keyv on the adapter: set, get, TTL, has, delete, many, clear of its namespace only', async () => {
    const node = await embedded();
    node.set('outside', 'kept');
    const keyv = new Keyv({ store: new OwlKeyvStore(node), namespace: 'app' });
    keyv.on('error', (err) => assert.fail(err));
    assert.equal(await keyv.set('user:1', { name: 'Ada', tags: ['x'] }), true);
    assert.deepEqual(await keyv.get('user:1'), { name: 'Ada', tags: ['x'] });
    assert.ok(node.has('app:user:1'), "under Keyv's namespace prefix, in the node");
    assert.equal(await keyv.has('user:1'), true);
    await keyv.set('brief', 'soon gone', 150);
    assert.equal(await keyv.get('brief'), 'soon gone');
    await waitFor('brief expired in the node', () => !node.has('app:brief'), 5000, 20);
    assert.equal(await keyv.get('brief'), undefined);
    await keyv.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
    ]);
    assert.deepEqual(await keyv.getMany(['a', 'b', 'c']), [1, 2, undefined]);
    assert.equal(await keyv.delete('a'), true);
    assert.equal(await keyv.get('a'), undefined);
    await keyv.clear();
    assert.equal(await keyv.get('b'), undefined);
    assert.equal(await keyv.get('user:1'), undefined);
    assert.equal(node.get('outside', 'utf8'), 'kept', 'clear leaves other namespaces alone');
  });

  it('cache-manager 7 on Keyv on the adapter: set, get, ttl, wrap, del, clear', async () => {
    const node = await embedded();
    const cache = createCache({ stores: [new Keyv({ store: new OwlKeyvStore(node) })] });
    await cache.set('answer', 42, 60_000);
    assert.equal(await cache.get('answer'), 42);
    const ttl = await cache.ttl('answer');
    assert.ok(ttl !== undefined && ttl > Date.now() && ttl <= Date.now() + 60_000);
    let calls = 0;
    const compute = async () => {
      calls += 1;
      return { computed: true };
    };
    assert.deepEqual(await cache.wrap('slow', compute, 60_000), { computed: true });
    assert.deepEqual(await cache.wrap('slow', compute, 60_000), { computed: true });
    assert.equal(calls, 1, 'the second wrap is answered from the node');
    assert.equal(await cache.del('answer'), true);
    assert.equal(await cache.get('answer'), undefined);
    await cache.clear();
    assert.equal(await cache.get('slow'), undefined);
    await cache.disconnect();
    assert.equal(node.has('keyv:slow'), false);
  });
});

interface Child {
  proc: ChildProcess;
  ready: { gossip: string; http: number };
  changes: { key: string; value: string | null; origin: string }[];
  call(op: string, args?: Record<string, string>): Promise<unknown>;
}

async function child(options: NodeOptions): Promise<Child> {
  const proc = fork(CHILD, ['ipc', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  children.add(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const changes: Child['changes'] = [];
  const waiting = new Map<number, (v: unknown) => void>();
  let next = 0;
  const ready = new Promise<Child['ready']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`embedded child not ready in time: ${err}`)), 20_000);
    proc.on('exit', (code) => reject(new Error(`embedded child exited (${code}): ${err}`)));
    proc.on('message', (m: { ready?: Child['ready']; error?: string; change?: Child['changes'][number]; id?: number; result?: unknown }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve(m.ready);
      } else if (m.error) reject(new Error(m.error));
      else if (m.change) changes.push(m.change);
      else if (m.id !== undefined) waiting.get(m.id)?.(m.result);
    });
  });
  return {
    proc,
    ready: await ready,
    changes,
    call: (op, args = {}) =>
      new Promise((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => reject(new Error(`${op} not answered`)), 10_000);
        waiting.set(id, (v) => {
          clearTimeout(timer);
          resolve(v);
        });
        proc.send({ id, op, ...args });
      }),
  };
}

/** Waits for a process to end by itself, bounded; kills it if it does not. */
function exitOf(proc: ChildProcess, timeoutMs: number): Promise<number | string | 'hung'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      resolve('hung');
    }, timeoutMs);
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? -1);
    });
  });
}

describe('embedded nodes in two processes', () => {
  it('seeded with each other: a set in one is readable in the other within a second; each stops and exits by itself', async (t) => {
    const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
    const common = { ...FAST_GOSSIP, Host: '127.0.0.1', Httpport: 0, CloseTcp: false, Logfile: '', Pass: 'embedded-password-123' } as NodeOptions;
    const [a, b] = await Promise.all([
      child({ ...common, Gossipport: pa, DBfile: join(tempDir(), 'db'), seeds: [`127.0.0.1:${pb}`] }),
      child({ ...common, Gossipport: pb, DBfile: join(tempDir(), 'db'), seeds: [`127.0.0.1:${pa}`] }),
    ]);
    assert.equal(a.ready.gossip, `127.0.0.1:${pa}`);
    await waitFor(
      'two alive members on each',
      async () => {
        const views = (await Promise.all([a.call('members'), b.call('members')])) as { state: string }[][];
        return views.every((v) => v.length === 2 && v.every((m) => m.state === 'alive'));
      },
      10_000,
      100,
    );

    const setAt = Date.now();
    await a.call('set', { key: 'shared', value: 'from a' });
    const value = await waitFor('b reads the value a set', async () => (await b.call('get', { key: 'shared' })) as string | null, 1000, 10);
    const ms = Date.now() - setAt;
    t.diagnostic(`readable on the other node after ${ms} ms`);
    assert.equal(value, 'from a');
    await waitFor('b heard of the change', () => b.changes.some((c) => c.key === 'shared' && c.value === 'from a' && c.origin === 'remote'), 2000, 10);
    assert.deepEqual(
      a.changes.filter((c) => c.key === 'shared').map((c) => c.origin),
      ['local'],
    );

    await b.call('set', { key: 'back', value: 'from b' });
    assert.equal(await waitFor("a reads b's value", async () => (await a.call('get', { key: 'back' })) as string | null, 1000, 10), 'from b');

    for (const c of [a, b]) {
      const exited = exitOf(c.proc, 10_000);
      await c.call('stop');
      assert.equal(await exited, 0, 'the process ends by itself once the node is stopped');
    }
  });

  it('stop() leaves no handles: a process that starts, sets, stops ends on its own', async () => {
    for (const options of [
      {
        Host: '127.0.0.1',
        Httpport: 0,
        Tcpport: 0,
        RespPort: 0,
        DBfile: join(tempDir(), 'db'),
        Logfile: join(tempDir(), 'log'),
        Pass: 'embedded-password-123',
      },
      {
        ...FAST_GOSSIP,
        Host: '127.0.0.1',
        Httpport: 0,
        Tcpport: 0,
        DBfile: join(tempDir(), 'db'),
        Logfile: '',
        Pass: 'embedded-password-123',
        seeds: ['127.0.0.1:9'],
      },
    ] as NodeOptions[]) {
      const proc = spawn(process.execPath, [CHILD, 'exit', JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(proc);
      let out = '';
      let err = '';
      proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await exitOf(proc, 10_000);
      assert.equal(code, 0, `exit ${code}: ${out} ${err}`);
      assert.match(out, /stopped/);
    }
  });
});

describe('package entry points', () => {
  it('"exports" name the built embed and keyv modules with their declarations; bin still starts the CLI', () => {
    const root = repoRoot();
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string; default: string }>;
      files: string[];
    };
    for (const entry of ['.', './keyv']) {
      for (const file of [pkg.exports[entry]!.types, pkg.exports[entry]!.default]) assert.ok(existsSync(join(root, file)), `${entry}: ${file}`);
    }
    assert.ok(pkg.files.includes('ui'), 'the cluster page ships with the package');
    assert.match(readFileSync(join(root, pkg.exports['.']!.types), 'utf8'), /export declare function startNode/);
    const cli = spawnSync(process.execPath, [join(root, 'bin', 'owlcache'), '-version'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^owlcache \d+\.\d+\.\d+/);
  });
});
