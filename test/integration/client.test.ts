import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OwlClient, OwlNotFound, OwlUnavailable } from '../../src/client/index.js';
import { restartGossipNode, startGossipCluster, waitConverged } from '../helpers/cluster.js';
import { BIN_OWLCACHE, TEST_PASSWORD, getToken, qs, request, stopAllNodes, tempDir, waitFor, type NodeHandle } from '../helpers/node-process.js';
import { repoRoot } from '../helpers/repo.js';

/**
 * The cluster client (src/client/) against three real gossip nodes: it learns
 * the cluster from one address, rides over a stopped node, takes a restarted
 * one back, and names every node when none answers.
 */

after(stopAllNodes);

async function aliveShards(node: NodeHandle): Promise<number> {
  const token = await getToken(node.httpPort);
  const r = await request(node.httpPort, `/info/shards?${qs({ token })}`, { timeoutMs: 5000 });
  if (r.status !== 200) return 0;
  const doc = r.json<{ shards: Record<string, { state: string }> }>();
  return Object.values(doc.shards).filter((s) => s.state === 'alive').length;
}

describe('OwlClient', () => {
  test('learns the cluster from one node, survives a SIGKILL, takes the node back, names every node when all are down', async () => {
    const nodes = await startGossipCluster(3);
    await waitFor('three alive members', async () => ((await aliveShards(nodes[0]!)) === 3 ? true : undefined), 20_000, 200);
    const retriesThisCall: string[] = [];
    const client = new OwlClient({
      endpoints: [`http://${nodes[0]!.httpAddr}`],
      password: TEST_PASSWORD,
      timeoutMs: 4000,
      refreshMs: 1000,
      onRetry: (f) => retriesThisCall.push(f.node),
    });
    try {
      await client.set('greeting', 'hello', { ttlSeconds: 600 });
      assert.equal(await client.getText('greeting'), 'hello');
      const urls = client
        .nodes()
        .map((n) => n.url)
        .sort();
      assert.deepEqual(urls, nodes.map((n) => `http://${n.httpAddr}`).sort(), 'every node learnt from the first one');
      await assert.rejects(client.get('never-set'), (e) => e instanceof OwlNotFound && e.key === 'never-set');
      assert.equal(await client.exists('greeting'), true);
      assert.equal(await client.expire('greeting', 300), true);
      assert.equal(await client.delete('greeting'), true);
      assert.equal(await client.delete('greeting'), false);
      for (let i = 0; i < 60; i++) await client.exists(`spread${i}`);
      for (const n of client.nodes()) assert.ok(n.served > 0, `${n.url} was used (keys spread over every node)`);

      const first = `http://${nodes[0]!.httpAddr}`;
      await nodes[0]!.stop('SIGKILL');
      for (let i = 0; i < 30; i++) {
        retriesThisCall.length = 0;
        await client.set(`k${i}`, `v${i}`);
        assert.equal(await client.getText(`k${i}`), `v${i}`);
        assert.ok(retriesThisCall.length <= 1, `call ${i}: at most one retry, got ${retriesThisCall.join(', ')}`);
      }
      assert.equal(client.nodes().find((n) => n.url === first)!.down, true, 'the stopped node is left out');

      nodes[0] = await restartGossipNode(nodes[0]!);
      await waitFor('the restarted node to answer', async () => ((await aliveShards(nodes[0]!)) === 3 ? true : undefined), 60_000, 200);
      // The restarted node catches up by anti-entropy; the client reads from it once it is back.
      await waitConverged(nodes);
      await client.refresh();
      const before = client.nodes().find((n) => n.url === first)!;
      assert.equal(before.down, false, 'the refresh took the restarted node back');
      for (let i = 0; i < 30; i++) assert.equal(await client.getText(`k${i}`), `v${i}`);
      assert.ok(client.nodes().find((n) => n.url === first)!.served > before.served, 'the restarted node serves again');

      await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
      const started = Date.now();
      await assert.rejects(client.get('k1'), (e) => {
        assert.ok(e instanceof OwlUnavailable, String(e));
        assert.equal(e.nodes.length, 3);
        for (const n of nodes) assert.match(e.message, new RegExp(n.httpAddr.replace(/\./g, '\\.')));
        return true;
      });
      assert.ok(Date.now() - started <= 4000 + 1000, `OwlUnavailable within the timeout (${Date.now() - started} ms)`);
    } finally {
      client.close();
    }
  });

  test('the CLI get/set/del/expire go through the client and survive a stopped endpoint', async () => {
    const nodes = await startGossipCluster(2);
    await waitFor('two alive members', async () => ((await aliveShards(nodes[0]!)) === 2 ? true : undefined), 20_000, 200);
    const endpoints = nodes.map((n) => n.httpAddr).join(',');
    const env = { ...process.env, OWLCACHE_PASS: TEST_PASSWORD, DEBUG: '' };
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [BIN_OWLCACHE, ...args, '--endpoints', endpoints], { env, encoding: 'utf8', timeout: 20_000 });
    let r = cli('set', 'cli-key', 'cli-value', '--ttl', '600');
    assert.equal(r.status, 0, r.stderr);
    await nodes[0]!.stop('SIGKILL');
    r = cli('get', 'cli-key');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'cli-value\n');
    r = cli('expire', 'cli-key', '100');
    assert.equal(r.status, 0, r.stderr);
    r = cli('del', 'cli-key');
    assert.equal(r.status, 0, r.stderr);
    r = cli('get', 'cli-key');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not found/);
    r = cli('stat');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /alive/);
  });

  test('a TypeScript file compiles against owlcache/client from the built package', () => {
    const root = repoRoot();
    // The build emits the package's declarations (tsconfig.json: declaration).
    assert.ok(existsSync(join(root, 'dist', 'src', 'client', 'index.d.ts')), 'the built package has its types');
    const dir = tempDir('owlcache-client-types-');
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(root, join(dir, 'node_modules', 'owlcache'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types'), join(dir, 'node_modules', '@types'), 'dir');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'] },
        include: ['app.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'app.ts'),
      [
        "import { OwlClient, OwlNotFound, OwlUnavailable, type JobStatus } from 'owlcache/client';",
        "const client = new OwlClient({ endpoints: ['http://127.0.0.1:7721'], password: 'secret', timeoutMs: 2000, retries: 2 });",
        'export async function use(): Promise<string> {',
        "  await client.set('k', Buffer.from('v'), { ttlSeconds: 60 });",
        "  const v: Buffer = await client.get('k');",
        "  const ok: boolean = await client.delete('k');",
        "  const job: JobStatus = await client.job('j1');",
        "  const s: 'queued' | 'running' | 'done' | 'failed' = job.status;",
        '  // @ts-expect-error: a key is a string',
        '  await client.get(42);',
        '  // @ts-expect-error: ttlSeconds is a number',
        "  await client.set('k', 'v', { ttlSeconds: '60' });",
        "  try { await client.get('x'); } catch (e) { if (e instanceof OwlNotFound) return e.key; if (e instanceof OwlUnavailable) return e.nodes.join(); }",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the line is TypeScript source for the compiled file, template included
        '  return `${v.length} ${ok} ${s}`;',
        '}',
        '',
      ].join('\n'),
    );
    const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], {
      encoding: 'utf8',
      timeout: 120_000,
      cwd: dir,
    });
    assert.equal(r.status, 0, `tsc: ${r.stdout}${r.stderr}`);
  });
});
