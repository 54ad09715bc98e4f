import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setQuiet } from '../../src/log.js';
import { AppendLogWriter, LOG_MAGIC } from '../../src/persistence/append-log.js';
import { FRAME_HEAD_BYTES, KIND_RECORDS, readFramedFile } from '../../src/persistence/frames.js';
import { SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from '../../src/persistence/layout.js';
import { type LoadReport, Persistence } from '../../src/persistence/persistence.js';
import { writeSnapshot } from '../../src/persistence/snapshot.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { Store } from '../../src/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

/**
 * Persistence.load reads the data directory in slices with a turn of the event
 * loop between them (so the node answers its probes meanwhile): the store and
 * the load report must be those of one unbroken pass, damage included.
 */

setQuiet(true);
after(removeTempDirs);

const NOW = 1_800_000_000_000;
const now = () => NOW;

function rec(key: string, t: number, value: string | null, extra: Partial<EntryRecord> = {}): EntryRecord {
  const vv = { t, c: 0, n: 'node-a' };
  return { key, value: value === null ? null : Buffer.from(value), created: t * 1000, vv, expireAt: 0, ev: vv, ...extra };
}

/** Flips one bit in the middle of the `n`th record frame of a log. */
async function damageFrame(path: string, n: number): Promise<void> {
  const offsets: number[] = [];
  await readFramedFile(path, LOG_MAGIC, 1, (kind, _payload, offset) => {
    if (kind === KIND_RECORDS) offsets.push(offset);
  });
  const bytes = readFileSync(path);
  bytes[offsets[n]! + FRAME_HEAD_BYTES + 2]! ^= 0x10;
  writeFileSync(path, bytes);
}

/**
 * A data directory with everything the load handles: a snapshot of many chunks
 * (values, tombstones, expiring and already expired entries), a log the snapshot
 * covers, logs after it that overwrite and delete, one damaged in the middle,
 * one with a torn tail.
 */
async function dataDir(): Promise<string> {
  const dir = tempDir('owl-load-');
  const records: EntryRecord[] = [];
  for (let i = 0; i < 20_000; i++) {
    const t = NOW - 100_000 + i;
    if (i % 10 === 0) records.push(rec(`k${i}`, t, null));
    else if (i % 10 === 1) records.push(rec(`k${i}`, t, `expired-${i}`, { expireAt: NOW - 5 }));
    else if (i % 10 === 2) records.push(rec(`k${i}`, t, `expiring-${i}`, { expireAt: NOW + 60_000 }));
    else records.push(rec(`k${i}`, t, `value-${i}-${'v'.repeat(i % 50)}`));
  }
  await writeSnapshot(join(dir, SNAPSHOT_FILE), join(dir, SNAPSHOT_TEMP_FILE), records, { nodeId: 'node-a', createdAt: NOW - 1000, replayFrom: 3 });
  const log = async (generation: number, recs: EntryRecord[]) => {
    const w = AppendLogWriter.create(dir, generation, 'node-a', 'no');
    for (const r of recs) w.append(r);
    await w.close();
    return w.path;
  };
  // Covered by the snapshot (replayFrom 3): checked, not replayed.
  await log(2, [rec('k5', NOW - 200_000, 'older, covered')]);
  await log(3, [
    ...Array.from({ length: 500 }, (_, i) => rec(`k${i * 3}`, NOW - 50_000 + i, `rewritten-${i}`)),
    ...Array.from({ length: 200 }, (_, i) => rec(`k${i * 7 + 1}`, NOW - 40_000 + i, null)),
    rec('k4', NOW - 200_000, 'older than the snapshot: loses the merge'),
  ]);
  const damaged = await log(
    4,
    Array.from({ length: 300 }, (_, i) => rec(`new-${i}`, NOW - 30_000 + i, `new-${i}`)),
  );
  await damageFrame(damaged, 150);
  const torn = await log(
    5,
    Array.from({ length: 100 }, (_, i) => rec(`late-${i}`, NOW - 20_000 + i, `late-${i}`)),
  );
  truncateSync(torn, statSync(torn).size - 7);
  return dir;
}

/** Everything the store holds, in key order: live values, tombstones, stubs, guards. */
function contents(store: Store): EntryRecord[] {
  return [...store.allRecords()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Loads a copy of `dir`, counting the turns of the event loop that ran during the load. */
async function load(dir: string, sliceMs: number): Promise<{ store: Store; report: LoadReport; turns: number; p: Persistence }> {
  const copy = tempDir('owl-load-copy-');
  cpSync(dir, copy, { recursive: true });
  const store = new Store({ nodeId: 'node-a', now, tombstoneTtlMs: 3_600_000 });
  const p = new Persistence({ dataDir: copy, store, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
  let turns = 0;
  let loading = true;
  const turn = () => {
    if (!loading) return;
    turns += 1;
    setImmediate(turn);
  };
  setImmediate(turn);
  const report = await p.load({ sliceMs });
  loading = false;
  return { store, report, turns, p };
}

const withoutTime = ({ ms: _ms, damagedFiles, ...rest }: LoadReport) => ({ ...rest, damagedFiles: damagedFiles.map((f) => f.slice(f.lastIndexOf('/'))) });

describe('persistence: the load leaves a deferred digest deferred', () => {
  it('nothing on the load path asks for the digest (which would hash every record before the node serves)', async () => {
    const dir = await dataDir();
    const kept = await load(dir, 3_600_000);
    const copy = tempDir('owl-load-copy-');
    cpSync(dir, copy, { recursive: true });
    const store = new Store({ nodeId: 'node-a', now, tombstoneTtlMs: 3_600_000 });
    store.deferDigest();
    const p = new Persistence({ dataDir: copy, store, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
    const report = await p.load({ sliceMs: 3_600_000 });
    assert.ok(report.keys > 0);
    assert.equal(store.catchUpDigest(0), false, 'the digest is still to be caught up after the load');
    assert.equal(store.sizes().keys, report.keys, 'sizes() does not need it either');
    assert.equal(store.catchUpDigest(0), false);
    assert.equal(store.stats().digest, kept.store.stats().digest, 'asked for, it is complete');
    assert.equal(store.catchUpDigest(0), true);
    await p.close();
    await kept.p.close();
  });
});

describe('persistence: the data directory is loaded in slices', () => {
  it('gives the store and the load report of one unbroken pass, damage included, while the event loop turns', async () => {
    const dir = await dataDir();
    // A slice longer than the whole load: one pass without a turn of the event loop, as a synchronous load.
    const whole = await load(dir, 3_600_000);
    const sliced = await load(dir, 0);
    assert.equal(whole.turns, 0, 'one unbroken pass');
    assert.ok(sliced.turns > 100, `the event loop turned during the sliced load (${sliced.turns} turns)`);

    assert.deepEqual(withoutTime(sliced.report), withoutTime(whole.report));
    assert.equal(whole.report.snapshotRecords, 20_000);
    assert.equal(whole.report.logFiles, 3);
    assert.equal(whole.report.logRecords, 701 + 299 + 99);
    assert.equal(whole.report.lostRecords, 1);
    assert.equal(whole.report.tornLogs, 1);
    assert.deepEqual(withoutTime(whole.report).damagedFiles, ['/append-0000000004.log']);
    assert.deepEqual(contents(sliced.store), contents(whole.store));
    assert.equal(sliced.store.stats().digest, whole.store.stats().digest);
    assert.equal(whole.store.get('k11'), undefined, 'expired while the node was down');
    assert.equal(whole.store.get('k32')?.value?.toString(), 'expiring-32');
    assert.equal(whole.store.get('k3')?.value?.toString(), 'rewritten-1');
    assert.equal(whole.store.get('k4')?.value?.toString(), `value-4-${'v'.repeat(4)}`);
    assert.equal(whole.store.get('new-150'), undefined, 'the damaged frame');
    assert.equal(whole.store.get('new-151')?.value?.toString(), 'new-151');
    assert.equal(whole.store.get('late-99'), undefined, 'the torn tail');

    const progress = sliced.p.progress();
    assert.equal(progress.records, 20_000 + 701 + 299 + 99);
    assert.ok(progress.bytesTotal > 0);
    assert.equal(progress.bytesRead, progress.bytesTotal);
    // Both may still be started: begin() takes the covered log away, as after a synchronous load.
    for (const { p } of [whole, sliced]) {
      p.begin();
      await p.close();
    }
  });

  it('reports its progress between slices, and stops at the next one when aborted, writing nothing', async () => {
    const dir = tempDir('owl-load-abort-');
    const records = Array.from({ length: 20_000 }, (_, i) => rec(`k${i}`, NOW - 100_000 + i, `value-${i}`));
    await writeSnapshot(join(dir, SNAPSHOT_FILE), join(dir, SNAPSHOT_TEMP_FILE), records, { nodeId: 'node-a', createdAt: NOW, replayFrom: 1 });
    const files = readdirSync(dir).sort();
    const snapshot = readFileSync(join(dir, SNAPSHOT_FILE));

    const store = new Store({ nodeId: 'node-a', now });
    const p = new Persistence({ dataDir: dir, store, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
    const abort = new AbortController();
    const seen: number[] = [];
    const watch = () => {
      const { records: n, bytesRead, bytesTotal } = p.progress();
      assert.ok(bytesRead <= bytesTotal);
      seen.push(n);
      if (n > 5000) abort.abort(new Error('stop: SIGTERM'));
      else setImmediate(watch);
    };
    setImmediate(watch);
    await assert.rejects(p.load({ sliceMs: 0, signal: abort.signal }), /stop: SIGTERM/);
    assert.ok(seen.length > 2 && seen.at(-1)! > seen[0]!, `progress moved: ${seen.join(', ')}`);
    assert.ok(store.stats().keys < 20_000, 'stopped part-way');
    assert.throws(() => store.set('x', Buffer.from('y')), /still starting/, 'client writes are refused until begin()');
    await p.close();
    assert.deepEqual(readdirSync(dir).sort(), files, 'nothing written');
    assert.ok(readFileSync(join(dir, SNAPSHOT_FILE)).equals(snapshot));

    const again = new Store({ nodeId: 'node-a', now });
    const q = await Persistence.open({ dataDir: dir, store: again, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
    assert.equal(q.loaded.keys, 20_000);
    await q.close();
  });
});
