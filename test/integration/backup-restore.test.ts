import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OwlClient, OwlRequestError, type JobStatus } from '../../src/client/index.js';
import { members, startGossipNode, status, waitConverged } from '../helpers/cluster.js';
import { BIN_OWLCACHE, TEST_PASSWORD, freePort, stopAllNodes, waitFor } from '../helpers/node-process.js';
import { spawnSync } from 'node:child_process';

/**
 * coldbackup / coldrestore on three real gossip nodes: a backup of one node,
 * changes made cluster-wide after it, then a restore that brings deleted
 * keys back on every node and keeps the newer values, and a replace restore
 * that removes keys created after the backup everywhere.
 */

after(stopAllNodes);

const KEYS = 50_000;

async function mset(redis: Redis, from: number, to: number, value: (i: number) => string): Promise<void> {
  for (let i = from; i < to; i += 1000) {
    const args: string[] = [];
    for (let j = i; j < Math.min(to, i + 1000); j++) args.push(`key:${j}`, value(j));
    await redis.mset(...args);
  }
}

async function waitJob(client: OwlClient, id: string, node: string, seen: string[] = []): Promise<JobStatus> {
  const j = await waitFor(
    `job ${id} to end`,
    async () => {
      const s = await client.job(id, node);
      if (seen.at(-1) !== s.status) seen.push(s.status);
      return s.status === 'done' || s.status === 'failed' ? s : undefined;
    },
    120_000,
    50,
  );
  return j!;
}

describe('backup and restore jobs', { timeout: 600_000 }, () => {
  test('backup of 50 000 keys; deletes and overwrites cluster-wide; restore and replace on every node; damage and ../ refused; 409', async () => {
    const respPort = await freePort();
    const a = await startGossipNode([], { RespPort: respPort });
    const b = await startGossipNode([a.gossip]);
    const c = await startGossipNode([a.gossip]);
    const nodes = [a, b, c];
    const redis = new Redis({ port: respPort, host: '127.0.0.1', password: TEST_PASSWORD, lazyConnect: true, maxRetriesPerRequest: 1 });
    const client = new OwlClient({ endpoints: [a.httpAddr], password: TEST_PASSWORD, timeoutMs: 20_000, refreshMs: 0 });
    const keysOn = async (n: typeof a) => (await status(n)).store.keys;
    const valueOn = async (n: typeof a, key: string): Promise<string | null> => {
      const r = await fetch(`http://${n.httpAddr}/data/?cmd=get&key=${encodeURIComponent(key)}`);
      return r.status === 200 ? await r.text() : null;
    };
    try {
      await redis.connect();
      await mset(redis, 0, KEYS, (i) => `original-${i}`);
      await waitConverged(nodes, 120_000);
      for (const n of nodes) assert.equal(await keysOn(n), KEYS);

      // One backup at a time: of two started together, one is refused with the other's id.
      const [first, second] = await Promise.allSettled([
        client.backup({ jobId: 'backup-1', file: 'b1.gz' }),
        client.backup({ jobId: 'backup-2', file: 'b2.gz' }),
      ]);
      const started = [first, second].find((x) => x.status === 'fulfilled') as PromiseFulfilledResult<Awaited<ReturnType<OwlClient['backup']>>>;
      const refused = [first, second].find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
      assert.ok(started, 'one backup started');
      assert.equal(started.value.status, 'queued');
      assert.ok(refused, 'the second backup is refused while the first runs');
      assert.ok(refused.reason instanceof OwlRequestError && refused.reason.status === 409, String(refused.reason));
      assert.equal((refused.reason.body as { job_id: string }).job_id, started.value.job_id);
      const seen = ['queued'];
      const backup = await waitJob(client, String(started.value.job_id), started.value.node, seen);
      assert.equal(backup.status, 'done', backup.error ?? '');
      assert.ok(seen.includes('running') || seen.at(-1) === 'done');
      assert.equal(backup.progress.records, KEYS);
      assert.equal(backup.progress.total, KEYS);
      const file = backup.file;

      // After the backup, replicated to every node: 10 000 deleted, 10 000 overwritten, 1000 created.
      for (let i = 0; i < 10_000; i += 1000) await redis.del(...Array.from({ length: 1000 }, (_, j) => `key:${i + j}`));
      await mset(redis, 10_000, 20_000, (i) => `newer-${i}`);
      await mset(redis, KEYS, KEYS + 1000, (i) => `after-${i}`);
      await waitConverged(nodes, 120_000);
      for (const n of nodes) assert.equal(await keysOn(n), KEYS - 10_000 + 1000);

      // A restore path leaving BackupDir is refused; a damaged file fails its job and changes nothing.
      await assert.rejects(
        client.restore('../auth.json'),
        (e) => e instanceof OwlRequestError && e.status === 400 && /leaves the backup folder/.test(e.message),
      );
      writeFileSync(join(a.dataDir, 'backups', 'damaged.gz'), Buffer.from('1f8b0800000000000003', 'hex'));
      const bad = await client.restore('damaged.gz', { jobId: 'restore-bad' });
      const badJob = await waitJob(client, String(bad.job_id), bad.node);
      assert.equal(badJob.status, 'failed');
      assert.match(badJob.error!, /damaged\.gz .*(gzip|cut short|empty)/);
      assert.equal(await keysOn(a), KEYS - 10_000 + 1000, 'a failed restore changes nothing');

      // Restore through the CLI: deleted keys come back everywhere, newer values stay.
      const env = { ...process.env, OWLCACHE_PASS: TEST_PASSWORD, DEBUG: '' };
      const cli = spawnSync(process.execPath, [BIN_OWLCACHE, 'restore', file, '--wait', '--endpoints', a.httpAddr], {
        env,
        encoding: 'utf8',
        timeout: 180_000,
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /coldrestore\) done: 50000\/50000/);
      await waitConverged(nodes, 120_000);
      for (const n of nodes) {
        assert.equal(await keysOn(n), KEYS + 1000, `${n.httpAddr}: every deleted key is back`);
        for (const i of [0, 1234, 9999]) assert.equal(await valueOn(n, `key:${i}`), `original-${i}`);
        for (const i of [10_000, 15_555, 19_999]) assert.equal(await valueOn(n, `key:${i}`), `newer-${i}`);
        assert.equal(await valueOn(n, `key:${KEYS + 5}`), `after-${KEYS + 5}`);
      }

      // Replace: keys created after the backup are gone everywhere; every value is the backup's.
      const rep = await client.restore(file, { replace: true, jobId: 'restore-replace' });
      const repJob = await waitJob(client, String(rep.job_id), rep.node);
      assert.equal(repJob.status, 'done', repJob.error ?? '');
      assert.equal(repJob.result!.deleted, 1000);
      await waitConverged(nodes, 120_000);
      for (const n of nodes) {
        assert.equal(await keysOn(n), KEYS, `${n.httpAddr}: keys created after the backup are gone`);
        assert.equal(await valueOn(n, `key:${KEYS + 5}`), null);
        assert.equal(await valueOn(n, `key:15555`), 'original-15555');
      }

      // Cluster scope: every live member backs itself up. After the heavy restores a loaded machine may
      // still have a member under suspicion: the scope is the members alive now, so wait for all three.
      await waitFor('every member alive on the first node', async () => (await members(a)).filter((m) => m.state === 'alive').length === 3, 60_000, 200);
      const all = await client.backup({ cluster: true });
      const jobs = all.jobs as { node_name: string; ok: boolean; job_id: string }[];
      assert.equal(jobs.length, 3);
      assert.ok(
        jobs.every((j) => j.ok),
        JSON.stringify(jobs),
      );
      const listed = await client.jobs();
      assert.ok(
        (listed.jobs as { job_id: string }[]).some((j) => j.job_id === 'restore-bad'),
        'a failed job stays listed',
      );
      for (const j of jobs) assert.equal((await waitJob(client, j.job_id, (await client.job(j.job_id)).node)).status, 'done', j.node_name);
    } finally {
      redis.disconnect();
      client.close();
    }
  });
});
