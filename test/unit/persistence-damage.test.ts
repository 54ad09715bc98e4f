import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setQuiet } from '../../src/log.js';
import { AppendLogWriter, listLogs, LOG_MAGIC, readAppendLog } from '../../src/persistence/append-log.js';
import { FRAME_HEAD_BYTES, KIND_RECORDS, readFramedFile } from '../../src/persistence/frames.js';
import { SNAPSHOT_FILE } from '../../src/persistence/layout.js';
import { Persistence, type PersistenceOptions } from '../../src/persistence/persistence.js';
import { readSnapshot, SNAPSHOT_MAGIC, writeSnapshot } from '../../src/persistence/snapshot.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { Store } from '../../src/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

/**
 * Damage that is not a torn tail: a flipped bit in the middle of a log or a
 * snapshot costs the damaged frame only, and the damaged file is kept.
 */

setQuiet(true);
const open: Persistence[] = [];
after(async () => {
  for (const p of open) await p.close().catch(() => {});
  removeTempDirs();
});
const tmp = () => tempDir('owl-damage-');

function rec(i: number, size = 20): EntryRecord {
  const vv = { t: 1_000 + i, c: 0, n: 'node-a' };
  return { key: `key-${i}`, value: Buffer.alloc(size, i % 256), created: (1_000 + i) * 1000, vv, expireAt: 0, ev: vv };
}

/** File offsets and lengths of the frames of `kind` in a framed file. */
async function frames(path: string, magic: Buffer, kind: number): Promise<{ offset: number; len: number }[]> {
  const out: { offset: number; len: number }[] = [];
  await readFramedFile(path, magic, 1, (k, payload, offset) => {
    if (k === kind) out.push({ offset, len: payload.length });
  });
  return out;
}

function flip(path: string, at: number, mask = 0x10): void {
  const b = readFileSync(path);
  b[at]! ^= mask;
  writeFileSync(path, b);
}

describe('append log: damage in the middle', () => {
  it('a flipped bit in one record costs that record only; the ones after it are replayed', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 3, 'node-a', 'always');
    for (let i = 0; i < 100; i++) w.append(rec(i));
    await w.close();
    const f = await frames(w.path, LOG_MAGIC, KIND_RECORDS);
    flip(w.path, f[50]!.offset + FRAME_HEAD_BYTES + 3);
    const got: string[] = [];
    const res = await readAppendLog(w.path, 3, (r) => got.push(r.key));
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => `key-${i}`).filter((k) => k !== 'key-50'),
    );
    assert.equal(res.end.kind, 'complete');
    assert.equal(res.lostRecords, 1);
    assert.equal(res.damaged.length, 1);
    assert.deepEqual({ ...res.damaged[0], reason: '' }, { offset: f[50]!.offset, bytes: FRAME_HEAD_BYTES + f[50]!.len, frames: 1, reason: '' });
  });

  it('a damaged length field: resynchronises on the next valid frame all the same', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 4, 'node-a', 'always');
    for (let i = 0; i < 40; i++) w.append(rec(i, 300));
    await w.close();
    const f = await frames(w.path, LOG_MAGIC, KIND_RECORDS);
    flip(w.path, f[10]!.offset + 2, 0x01); // the length now points 64 KiB further: past the file's end
    flip(w.path, f[20]!.offset + 3, 0x04); // points 4 bytes into the next frame
    const got: string[] = [];
    const res = await readAppendLog(w.path, 4, (r) => got.push(r.key));
    assert.equal(got.length, 38);
    assert.ok(!got.includes('key-10') && !got.includes('key-20') && got.includes('key-39'));
    assert.equal(res.end.kind, 'complete');
    assert.equal(res.damaged.length, 2);
    assert.equal(res.lostRecords, 2);
  });

  it('damage at the very end is still a torn tail', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 5, 'node-a', 'always');
    for (let i = 0; i < 10; i++) w.append(rec(i));
    await w.close();
    const f = await frames(w.path, LOG_MAGIC, KIND_RECORDS);
    flip(w.path, f[9]!.offset + FRAME_HEAD_BYTES + 1);
    const res = await readAppendLog(w.path, 5, () => {});
    assert.equal(res.records, 9);
    assert.equal(res.end.kind, 'torn');
    assert.deepEqual(res.damaged, []);
  });
});

describe('snapshot: a damaged chunk', () => {
  function records(n: number): EntryRecord[] {
    return Array.from({ length: n }, (_, i) => rec(i, (i * 53) % 900));
  }
  const meta = { nodeId: 'node-a', createdAt: 1_700_000_000_000, replayFrom: 7 };

  it('costs that chunk only: every other chunk is read, and the loss is counted exactly', async () => {
    const dir = tmp();
    const file = join(dir, SNAPSHOT_FILE);
    const recs = records(6000);
    await writeSnapshot(file, join(dir, 'tmp'), recs, meta);
    const chunks = await frames(file, SNAPSHOT_MAGIC, KIND_RECORDS);
    assert.ok(chunks.length >= 5, `${chunks.length} chunks`);
    const back: string[] = [];
    await readSnapshot(file, (r) => back.push(r.key));
    assert.equal(back.length, 6000);
    flip(file, chunks[2]!.offset + FRAME_HEAD_BYTES + Math.floor(chunks[2]!.len / 2));
    const got: string[] = [];
    const read = await readSnapshot(file, (r) => got.push(r.key));
    assert.equal(read.status, 'damaged');
    if (read.status !== 'damaged') return;
    assert.deepEqual(read.meta, meta);
    assert.ok(got.length < 6000 && got.length > 6000 - 6000 / 3, `read ${got.length}`);
    assert.equal(read.lost, 6000 - got.length);
    assert.equal(read.records, got.length);
    // The records lost are one contiguous run: the third chunk's.
    const lost = back.filter((k) => !got.includes(k));
    const first = back.indexOf(lost[0]!);
    assert.deepEqual(lost, back.slice(first, first + lost.length));
    assert.ok(got.includes(back[back.length - 1]!), 'the chunks after the damage are read');
  });
});

describe('persistence: damaged files are kept, never deleted', () => {
  const clock = Date.now();
  const now = () => clock;
  async function node(dataDir: string, extra: Partial<PersistenceOptions> = {}) {
    const store = new Store({ nodeId: 'node-a', now, tombstoneTtlMs: 60_000 });
    const p = await Persistence.open({ dataDir, store, appendLog: true, fsync: 'always', snapshotEveryMs: 0, ...extra });
    open.push(p);
    return { store, p };
  }

  it('a flipped bit mid-log: later writes survive, the loss is reported, the log is moved aside by the snapshot', async () => {
    const dir = tmp();
    const a = await node(dir);
    for (let i = 0; i < 60; i++) a.store.set(`k${i}`, Buffer.from(`value-${i}`));
    const log = listLogs(dir)[0]!.path;
    const f = await frames(log, LOG_MAGIC, KIND_RECORDS);
    flip(log, f[20]!.offset + FRAME_HEAD_BYTES + 2);
    const damagedBytes = readFileSync(log);

    // A crash before any snapshot: the damaged log is still there and replayed again.
    const b = await node(dir);
    assert.equal(b.p.loaded.lostRecords, 1);
    assert.deepEqual(b.p.loaded.damagedFiles, [log]);
    assert.equal(b.p.loaded.tornLogs, 0);
    assert.equal(b.store.get('k20'), undefined);
    for (let i = 21; i < 60; i++) assert.equal(b.store.get(`k${i}`)?.value?.toString(), `value-${i}`, `k${i}`);

    const c = await node(dir);
    assert.equal(c.store.get('k59')?.value?.toString(), 'value-59');
    await c.p.moveDamagedAside();
    assert.equal(existsSync(log), false);
    assert.equal(c.p.loaded.movedAside.length, 1);
    assert.match(c.p.loaded.movedAside[0]!, /append-0000000001\.log\.corrupt-\d{8}T\d{6}Z$/);
    assert.deepEqual(readFileSync(c.p.loaded.movedAside[0]!), damagedBytes);

    const d = await node(dir);
    assert.deepEqual(d.p.loaded.damagedFiles, []);
    for (let i = 0; i < 60; i++) assert.equal(d.store.get(`k${i}`)?.value?.toString(), i === 20 ? undefined : `value-${i}`);
    assert.equal(readdirSync(dir).filter((n) => n.includes('.corrupt-')).length, 1);
  });

  it('a damaged snapshot chunk: the other chunks are loaded, and the damaged copy is kept beside the new snapshot', async () => {
    const dir = tmp();
    const a = await node(dir);
    for (let i = 0; i < 3000; i++) a.store.set(`k${i}`, Buffer.alloc(400, i % 256));
    await a.p.close();
    const file = join(dir, SNAPSHOT_FILE);
    const chunks = await frames(file, SNAPSHOT_MAGIC, KIND_RECORDS);
    assert.ok(chunks.length >= 3);
    flip(file, chunks[1]!.offset + FRAME_HEAD_BYTES + 100);
    const damaged = readFileSync(file);
    const b = await node(dir);
    const lost = b.p.loaded.lostRecords;
    assert.ok(lost > 0 && lost < 1500, `lost ${lost}`);
    assert.equal(b.p.loaded.keys, 3000 - lost);
    assert.ok(b.store.get('k2999') !== undefined, 'the chunks after the damaged one are loaded');
    await b.p.moveDamagedAside();
    const aside = readdirSync(dir).filter((n) => n.startsWith(`${SNAPSHOT_FILE}.corrupt-`));
    assert.equal(aside.length, 1);
    assert.deepEqual(readFileSync(join(dir, aside[0]!)), damaged);
    const c = await node(dir);
    assert.equal(c.p.loaded.keys, 3000 - lost);
    assert.deepEqual(c.p.loaded.damagedFiles, []);
  });
});
