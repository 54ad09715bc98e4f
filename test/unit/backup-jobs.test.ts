import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync, symlinkSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { runBody, runRest } from '../../src/ops/dispatch.js';
import type { OpsDeps } from '../../src/ops/context.js';
import { Jobs, type Job } from '../../src/ops/jobs.js';
import { BackupFileError, readBackup, writeBackup } from '../../src/persistence/backup.js';
import { Persistence } from '../../src/persistence/persistence.js';
import { arraySource } from '../../src/persistence/snapshot.js';
import { setQuiet } from '../../src/log.js';
import { Store } from '../../src/store/store.js';

/** coldbackup / coldrestore / get_status against an in-process store (src/ops/backup-jobs.ts, src/persistence/backup.ts). */

setQuiet(true);
const dirs: string[] = [];
const opened: Persistence[] = [];
after(async () => {
  for (const p of opened) await p.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(store = new Store({ nodeId: 'n1' }), log?: Persistence): { deps: OpsDeps; store: Store; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'owlcache-jobs-'));
  dirs.push(dir);
  const deps = {
    node: { name: () => 'n1' },
    cluster: () => null,
    jobs: { registry: new Jobs(join(dir, 'jobs.json')), backupDir: join(dir, 'backups'), store, ...(log === undefined ? {} : { log }) },
  } as unknown as OpsDeps;
  return { deps, store, dir };
}

async function job(deps: OpsDeps, body: Record<string, unknown>): Promise<{ status: number; body: Job & { error?: string } }> {
  const a = await runBody(deps, { ver: '0.1', ...body });
  return a as { status: number; body: Job & { error?: string } };
}

/** A store of `n` keys k0… (values v0…) and its backup b.gz, done. */
async function backedUp(n: number): Promise<{ deps: OpsDeps; store: Store }> {
  const { deps, store } = setup();
  for (let i = 0; i < n; i++) store.set(`k${i}`, Buffer.from(`v${i}`));
  await job(deps, { job_type: 'coldbackup', job_id: 'b', file: 'b.gz' });
  assert.equal((await finished(deps, 'b')).status, 'done');
  return { deps, store };
}

async function finished(deps: OpsDeps, id: string, seen: string[] = []): Promise<Job> {
  for (let i = 0; i < 2000; i++) {
    const r = await runRest(deps, 'GET', '/jobs/:job_id', { job_id: id });
    const j = r!.body as Job;
    if (seen.at(-1) !== j.status) seen.push(j.status);
    if (j.status === 'done' || j.status === 'failed') return j;
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(`job ${id} did not finish`);
}

const text = (s: Store, k: string) => s.get(k)?.value?.toString();

describe('coldbackup and coldrestore', () => {
  it('a backup moves queued → running → done with progress, in the snapshot format, gzip, with a header naming node, time and count', async () => {
    const { deps, store } = setup();
    for (let i = 0; i < 20_000; i++) store.set(`k${i}`, Buffer.from(`v${i}`));
    store.delete('k0');
    const start = await job(deps, { job_type: 'coldbackup', job_id: 'b1', file: 'one.gz' });
    assert.equal(start.status, 200);
    assert.equal(start.body.status, 'queued');
    assert.equal(start.body.job_id, 'b1');
    const seen = ['queued'];
    const done = await finished(deps, 'b1', seen);
    assert.deepEqual(seen.filter((s) => s !== 'queued').at(-1), 'done');
    assert.ok(seen.includes('running'), seen.join());
    assert.equal(done.progress.records, 20_000);
    assert.equal(done.progress.total, 20_000);
    const file = join(deps.jobs.backupDir, 'one.gz');
    assert.equal(gunzipSync(readFileSync(file)).subarray(0, 8).toString('latin1'), 'OWLSNAP\n');
    let n = 0;
    const meta = await readBackup(file, (b) => {
      n += b.length;
    });
    assert.equal(meta.node, 'n1');
    assert.equal(meta.count, 20_000);
    assert.equal(n, 20_000);
    assert.ok(Math.abs(meta.createdAt - Date.now()) < 60_000);
    const list = await runRest(deps, 'GET', '/jobs', {});
    assert.equal((list!.body as { jobs: Job[] }).jobs.length, 1);
    // The same file again is refused: a backup never overwrites another.
    await job(deps, { job_type: 'coldbackup', job_id: 'b2', file: 'one.gz' });
    const again = await finished(deps, 'b2');
    assert.equal(again.status, 'failed');
    assert.match(again.error!, /exists already/);
  });

  it('restore: newer values kept, deleted and absent keys back as new writes, expired skipped; replace deletes keys not in the backup', async () => {
    const { deps, store } = setup();
    store.set('kept', Buffer.from('old'));
    store.set('deleted', Buffer.from('before'));
    store.set('short', Buffer.from('x'), 1);
    store.set('ttl', Buffer.from('t'), 3_600_000);
    await job(deps, { job_type: 'coldbackup', job_id: 'b', file: 'b.gz' });
    assert.equal((await finished(deps, 'b')).status, 'done');
    await new Promise((r) => setTimeout(r, 20));
    store.set('kept', Buffer.from('newer'));
    const tomb = store.delete('deleted')!;
    store.delete('ttl');
    store.set('created-after', Buffer.from('new'));
    const r = await job(deps, { job_type: 'coldrestore', job_id: 'r', file: 'b.gz' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const done = await finished(deps, 'r');
    assert.equal(done.status, 'done', done.error ?? '');
    assert.equal(text(store, 'kept'), 'newer');
    assert.equal(text(store, 'deleted'), 'before');
    assert.ok(store.get('deleted')!.vv.t >= tomb.vv.t, 'the restored value is a new write, newer than the delete');
    assert.equal(store.get('short'), undefined, 'expired in the backup: skipped');
    assert.ok(store.get('ttl')!.expireAt > Date.now() + 3_000_000, 'the remaining time to live comes back');
    assert.equal(text(store, 'created-after'), 'new');
    assert.equal(done.result!.kept_newer, 1);

    await job(deps, { job_type: 'coldrestore', job_id: 'r2', file: 'b.gz', mode: 'replace' });
    const replaced = await finished(deps, 'r2');
    assert.equal(replaced.status, 'done', replaced.error ?? '');
    assert.equal(store.get('created-after'), undefined);
    assert.equal(text(store, 'kept'), 'old', 'replace writes every backup value anew');
    assert.equal(replaced.result!.deleted, 1);
  });

  it('a backup taken while keys change holds the store as it was when the backup began', async () => {
    const { deps, store } = setup();
    const N = 50_000;
    for (let i = 0; i < N; i++) store.set(`k${i}`, Buffer.from(`v${i}`));
    store.delete('k1');
    await job(deps, { job_type: 'coldbackup', job_id: 'moving', file: 'moving.gz' });
    // Overwrites, deletes and new keys on every turn while the job runs.
    let changedMidway = 0;
    let n = 0;
    for (let turn = 0; turn < 100_000; turn++) {
      const j = deps.jobs.registry.get('moving')!;
      if (j.status === 'done' || j.status === 'failed') break;
      if (j.status === 'running') {
        if (j.progress.records > 0 && j.progress.records < j.progress.total) changedMidway += 1;
        for (let k = 0; k < 20 && n < N / 2; k++, n++) {
          store.set(`k${n}`, Buffer.from('changed'));
          store.delete(`k${N - 1 - n}`);
          store.set(`new${n}`, Buffer.from('new'));
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    const done = deps.jobs.registry.get('moving')!;
    assert.equal(done.status, 'done', done.error ?? '');
    assert.ok(changedMidway > 0, 'keys changed while the backup was partly written');
    const held = new Map<string, string | null>();
    const meta = await readBackup(join(deps.jobs.backupDir, 'moving.gz'), (b) => {
      for (const r of b) held.set(r.key, r.value === null ? null : r.value.toString());
    });
    assert.equal(meta.count, N);
    assert.equal(held.size, N, 'each key once, no key made after the start');
    assert.equal(held.get('k1'), null, 'the delete made before the start');
    for (let i = 0; i < N; i++) if (i !== 1) assert.equal(held.get(`k${i}`), `v${i}`, `k${i} as it was at the start`);
  });

  it('a backup whose source hands out another number of records than it held fails and leaves no file', async () => {
    const { deps } = setup();
    mkdirSync(deps.jobs.backupDir, { recursive: true });
    const file = join(deps.jobs.backupDir, 'short.gz');
    const records = [{ key: 'a', value: Buffer.from('1'), created: 1, vv: { t: 1, c: 0, n: 'n1' }, expireAt: 0, ev: { t: 1, c: 0, n: 'n1' } }];
    await assert.rejects(writeBackup(file, arraySource(records), { nodeId: 'n1', node: 'n1', createdAt: Date.now(), count: 2 }), BackupFileError);
    assert.deepEqual(readdirSync(deps.jobs.backupDir), []);
  });

  it('a restore keeps what is written and deleted while it runs, in both modes', async () => {
    const N = 30_000;
    const { deps, store } = await backedUp(N);
    const whileRunning = async (id: string, change: () => void) => {
      for (let turn = 0; turn < 10_000 && deps.jobs.registry.get(id)!.status === 'queued'; turn++) await new Promise((r) => setImmediate(r));
      assert.equal(deps.jobs.registry.get(id)!.status, 'running');
      change();
      return finished(deps, id);
    };

    store.set('made-after-backup', Buffer.from('x'));
    store.delete('k5');
    await job(deps, { job_type: 'coldrestore', job_id: 'r1', file: 'b.gz', mode: 'replace' });
    const r1 = await whileRunning('r1', () => {
      store.set(`k${N - 10}`, Buffer.from('during'));
      store.delete(`k${N - 11}`);
      store.set('made-during', Buffer.from('y'));
    });
    assert.equal(r1.status, 'done', r1.error ?? '');
    assert.equal(text(store, `k${N - 10}`), 'during', 'a write made while the restore ran is kept');
    assert.equal(store.get(`k${N - 11}`), undefined, 'a delete made while the restore ran is kept');
    assert.equal(text(store, 'made-during'), 'y', 'replace keeps a key created while it ran');
    assert.equal(store.get('made-after-backup'), undefined, 'replace deletes a key created before it ran, not in the backup');
    assert.equal(text(store, 'k5'), 'v5', 'a key deleted before the restore comes back');
    assert.equal(text(store, 'k0'), 'v0');
    assert.equal(r1.result!.deleted, 1);
    assert.equal(r1.result!.kept_newer, 2);
    assert.equal(r1.result!.restored, N - 2);

    store.delete('k100');
    await job(deps, { job_type: 'coldrestore', job_id: 'r2', file: 'b.gz' });
    const r2 = await whileRunning('r2', () => {
      store.delete('k200');
      store.set('k201', Buffer.from('during'));
    });
    assert.equal(r2.status, 'done', r2.error ?? '');
    assert.equal(text(store, 'k100'), 'v100', 'deleted before the restore: back');
    assert.equal(store.get('k200'), undefined, 'deleted while the restore ran: stays deleted');
    assert.equal(text(store, 'k201'), 'during');
  });

  it("replace keeps a peer's change newer than the restore's start; a peer's change carrying an older version is not newer work", async () => {
    const N = 30_000;
    const { deps, store } = await backedUp(N);
    const old = store.hlc.now();
    store.delete(`k${N - 1}`);
    await job(deps, { job_type: 'coldrestore', job_id: 'r', file: 'b.gz', mode: 'replace' });
    for (let turn = 0; turn < 10_000 && deps.jobs.registry.get('r')!.status === 'queued'; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(deps.jobs.registry.get('r')!.status, 'running');
    const future = { t: Date.now() + 60_000, c: 0, n: 'peer' };
    assert.ok(store.merge({ key: `k${N - 2}`, value: Buffer.from('peer-newer'), created: 1, vv: future, expireAt: 0, ev: future }));
    // Older than the restore's start (and than the delete), so the merge keeps the tombstone; another key, absent, takes it.
    assert.ok(store.merge({ key: 'peer-old', value: Buffer.from('old'), created: 1, vv: old, expireAt: 0, ev: old }));
    const r = await finished(deps, 'r');
    assert.equal(r.status, 'done', r.error ?? '');
    assert.equal(text(store, `k${N - 2}`), 'peer-newer', "a peer's change newer than the restore's start is kept");
    assert.equal(text(store, `k${N - 1}`), `v${N - 1}`, 'deleted before the restore: back');
    assert.equal(store.get('peer-old'), undefined, 'taken in during the restore but older than its start: replace deletes it');
    assert.equal(r.result!.kept_newer, 1);
    assert.equal(r.result!.restored, N - 1);
  });

  it('a damaged backup fails the job with a clear error and changes nothing', async () => {
    const { deps, store } = await backedUp(5000);
    const file = join(deps.jobs.backupDir, 'b.gz');
    const raw = gunzipSync(readFileSync(file));
    raw[raw.length - 40]! ^= 0xff;
    writeFileSync(join(deps.jobs.backupDir, 'flipped.gz'), gzipSync(raw));
    writeFileSync(join(deps.jobs.backupDir, 'cut.gz'), gzipSync(raw.subarray(0, raw.length - 30)));
    writeFileSync(join(deps.jobs.backupDir, 'plain.txt'), 'not gzip at all');
    for (let i = 0; i < 5000; i++) store.delete(`k${i}`);
    for (const [name, why] of [
      ['flipped.gz', /damaged .*checksum mismatch/],
      ['cut.gz', /cut short|damaged/],
      ['plain.txt', /not a readable gzip/],
    ] as const) {
      await job(deps, { job_type: 'coldrestore', job_id: `r-${name}`, file: name });
      const j = await finished(deps, `r-${name}`);
      assert.equal(j.status, 'failed');
      assert.match(j.error!, why);
      assert.equal(store.get('k1'), undefined, `${name}: nothing restored`);
    }
    // The failed job keeps its error in the jobs file, and a new registry (a restart) reads it back.
    const again = new Jobs(join(deps.jobs.backupDir, '..', 'jobs.json'));
    assert.match(again.get('r-flipped.gz')!.error!, /checksum/);
  });

  it('a file whose checksums all hold but which was written with a record that is not valid fails the job, naming the record; replace then deletes nothing', async () => {
    const { deps, store } = setup();
    mkdirSync(deps.jobs.backupDir, { recursive: true });
    const v = { t: Date.now(), c: 0, n: 'n1' };
    const good = Array.from({ length: 2000 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(1000, i), created: 1, vv: v, expireAt: 0, ev: v }));
    // A negative creation time: encoded as written, refused by the decoder. Last, after several frames.
    const records = [...good, { key: 'bad', value: Buffer.from('x'), created: -5, vv: v, expireAt: 0, ev: v }];
    await writeBackup(join(deps.jobs.backupDir, 'bad.gz'), arraySource(records), { nodeId: 'n1', node: 'n1', createdAt: Date.now(), count: records.length });
    store.set('not-in-backup', Buffer.from('stays'));
    await job(deps, { job_type: 'coldrestore', job_id: 'r', file: 'bad.gz', mode: 'replace' });
    const j = await finished(deps, 'r');
    assert.equal(j.status, 'failed');
    assert.match(
      j.error!,
      /bad\.gz is damaged at byte \d+ \(uncompressed\): record for key "bad" is not valid; \d+ of its 2001 records were restored before it/,
    );
    const restored = Number(/; (\d+) of its/.exec(j.error!)![1]);
    assert.ok(restored > 0 && restored < 2000, `${restored}: the frames before the bad record were applied`);
    assert.equal(text(store, 'not-in-backup'), 'stays', 'a replace that failed deletes nothing');
    assert.equal(store.get('bad'), undefined);
  });

  it('a restore takes no log-size snapshot of the store while it runs, and one right after it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'owlcache-jobs-data-'));
    dirs.push(dataDir);
    const store = new Store({ nodeId: 'n1' });
    const p = await Persistence.open({ dataDir, store, appendLog: true, fsync: 1000, snapshotEveryMs: 0, logSnapshotBytes: 64 * 1024 });
    opened.push(p);
    const { deps } = setup(store, p);
    const v = { t: Date.now(), c: 0, n: 'n1' };
    const records = Array.from({ length: 20_000 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(100, i), created: 1, vv: v, expireAt: 0, ev: v }));
    mkdirSync(deps.jobs.backupDir, { recursive: true });
    await writeBackup(join(deps.jobs.backupDir, 'b.gz'), arraySource(records), { nodeId: 'n1', node: 'n1', createdAt: Date.now(), count: records.length });
    const first = p.stats().logGeneration!;
    await job(deps, { job_type: 'coldrestore', job_id: 'r', file: 'b.gz', mode: 'replace' });
    const generations = new Set<number>();
    let turnsRunning = 0;
    for (let turn = 0; turn < 100_000; turn++) {
      const j = deps.jobs.registry.get('r')!;
      if (j.status === 'done' || j.status === 'failed') break;
      if (j.status === 'running') {
        turnsRunning += 1;
        generations.add(p.stats().logGeneration!);
      }
      await new Promise((r) => setImmediate(r));
    }
    const done = deps.jobs.registry.get('r')!;
    assert.equal(done.status, 'done', done.error ?? '');
    assert.ok(turnsRunning > 10, `the job ran over ${turnsRunning} turns`);
    assert.deepEqual([...generations], [first], 'the same log generation throughout: no snapshot while the restore ran');
    assert.ok(p.stats().logBytes > 20 * 64 * 1024, `every restored write is in the log (${p.stats().logBytes} bytes)`);
    for (let i = 0; i < 2000 && !(p.stats().logGeneration === first + 1 && existsSync(p.snapshotPath)); i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(p.stats().logGeneration, first + 1, 'one snapshot right after the restore');
    assert.ok(existsSync(p.snapshotPath));
    assert.equal(text(store, 'k19999'), String.fromCharCode(19999 % 256).repeat(100));
  });

  it('paths leaving BackupDir are refused; a second backup while one runs gets 409 with its id', async () => {
    const { deps, store, dir } = setup();
    mkdirSync(deps.jobs.backupDir, { recursive: true });
    writeFileSync(join(dir, 'outside.gz'), gzipSync(Buffer.from('x')));
    symlinkSync(join(dir, 'outside.gz'), join(deps.jobs.backupDir, 'link.gz'));
    for (const file of ['../outside.gz', '../../etc/passwd', '/etc/passwd', 'a/../../outside.gz', 'link.gz']) {
      const r = await job(deps, { job_type: 'coldrestore', file });
      assert.equal(r.status, 400, `${file}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.error!, /leaves the backup folder|absolute path|not a regular file/);
    }
    assert.equal((await job(deps, { job_type: 'coldbackup', file: '../x.gz' })).status, 400);
    assert.equal(existsSync(join(dir, 'x.gz')), false);
    for (let i = 0; i < 30_000; i++) store.set(`k${i}`, Buffer.alloc(100, i));
    const first = await job(deps, { job_type: 'coldbackup', job_id: 'long' });
    const second = await job(deps, { job_type: 'coldbackup' });
    assert.equal(second.status, 409);
    assert.equal((second.body as unknown as { job_id: string }).job_id, 'long');
    assert.equal((second.body as unknown as { result: string }).result, 'error');
    assert.equal(first.body.status, 'queued');
    assert.equal((await finished(deps, 'long')).status, 'done');
    assert.equal((await runRest(deps, 'GET', '/jobs/:job_id', { job_id: 'nope' }))!.status, 404);
  });
});
