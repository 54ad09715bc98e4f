import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KIND_RECORDS, readFramedFile } from '../../src/persistence/frames.js';
import { readSnapshot, SNAPSHOT_MAGIC, SnapshotFormatError, writeSnapshot, type SnapshotMeta } from '../../src/persistence/snapshot.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';
import { repoRoot } from '../helpers/repo.js';

after(removeTempDirs);
const tmp = () => tempDir('owl-snap-');

function records(n: number): EntryRecord[] {
  const out: EntryRecord[] = [];
  for (let i = 0; i < n; i++) {
    const vv = { t: 1_700_000_000_000 + i, c: i % 5, n: i % 2 ? 'node-a' : 'node-b' };
    const kind = i % 10;
    if (kind === 0) out.push({ key: `k${i}`, value: null, created: 0, vv, expireAt: 0, ev: { ...vv, t: vv.t - 5 } });
    else if (kind === 1) out.push({ key: `k${i}`, value: null, created: 9, vv, expireAt: vv.t + 10, ev: vv, hollow: true });
    else out.push({ key: `k${i}`, value: Buffer.alloc((i * 37) % 3000, i), created: vv.t * 1000 + 7, vv, expireAt: kind === 2 ? vv.t + 1e6 : 0, ev: vv });
  }
  return out;
}

const meta: SnapshotMeta = { nodeId: 'node-a', createdAt: 1_700_000_000_999, replayFrom: 42 };

async function write(dir: string, recs: EntryRecord[]) {
  const file = join(dir, 'store.snapshot');
  const res = await writeSnapshot(file, join(dir, 'store.snapshot.tmp'), recs, meta);
  return { file, res };
}

describe('snapshot', () => {
  it('writes every record in chunks and reads them back exactly', async () => {
    const dir = tmp();
    const recs = records(10_000);
    const { file, res } = await write(dir, recs);
    assert.equal(res.records, 10_000);
    assert.equal(statSync(file).size, res.bytes);
    const back: EntryRecord[] = [];
    const read = await readSnapshot(file, (r) => back.push(r));
    assert.deepEqual(read, { status: 'ok', meta, records: 10_000, bytes: res.bytes });
    assert.deepEqual(back, recs);
    let chunks = 0;
    await readFramedFile(file, SNAPSHOT_MAGIC, 1, (kind) => {
      if (kind === KIND_RECORDS) chunks += 1;
    });
    assert.ok(chunks > 10, `expected many chunks, got ${chunks}`);
  });

  it("names the capture's record count in its header, told to the reader before the first record", async () => {
    const dir = tmp();
    const recs = records(3000);
    const file = join(dir, 'store.snapshot');
    await writeSnapshot(file, join(dir, 'store.snapshot.tmp'), recs, { ...meta, records: recs.length });
    const seen: string[] = [];
    const read = await readSnapshot(
      file,
      () => seen.push('record'),
      {},
      (m) => seen.push(`header ${m.records}`),
    );
    assert.equal(read.status, 'ok');
    assert.equal(seen[0], 'header 3000');
    assert.equal(seen.length, 3001);
    // A header without the count (an older build's) reads as before.
    const { file: old } = await write(tmp(), recs);
    const back = await readSnapshot(
      old,
      () => {},
      {},
      (m) => assert.equal(m.records, undefined),
    );
    assert.deepEqual(back, { status: 'ok', meta, records: 3000, bytes: statSync(old).size });
  });

  it('is owner-only, leaves no temp file, and replaces the previous snapshot', async () => {
    const dir = tmp();
    await write(dir, records(10));
    const { file } = await write(dir, records(3));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(existsSync(join(dir, 'store.snapshot.tmp')), false);
    const read = await readSnapshot(file, () => {});
    assert.equal(read.status === 'ok' && read.records, 3);
  });

  it('writes and reads an empty store', async () => {
    const dir = tmp();
    const { file } = await write(dir, []);
    assert.deepEqual(await readSnapshot(file, () => {}), { status: 'ok', meta, records: 0, bytes: statSync(file).size });
  });

  it('reports a missing snapshot as missing', async () => {
    assert.deepEqual(await readSnapshot(join(tmp(), 'nope'), () => {}), { status: 'missing' });
  });

  it('reports a cut-short snapshot as damaged, with the records read before the cut', async () => {
    const dir = tmp();
    const { file, res } = await write(dir, records(5000));
    truncateSync(file, Math.floor(res.bytes * 0.6));
    let n = 0;
    const read = await readSnapshot(file, () => (n += 1));
    assert.equal(read.status, 'damaged');
    assert.ok(read.status === 'damaged' && read.records === n && n > 0 && n < 5000);
    // Missing only part of the end frame: still not trusted as whole.
    const whole = await write(dir, records(20));
    truncateSync(whole.file, whole.res.bytes - 1);
    assert.equal((await readSnapshot(whole.file, () => {})).status, 'damaged');
  });

  it('reports random bytes as damaged, and refuses a newer format', async () => {
    const dir = tmp();
    const file = join(dir, 'store.snapshot');
    const junk = Buffer.alloc(4096);
    for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(file, junk);
    const read = await readSnapshot(file, () => assert.fail('no record from junk'));
    assert.equal(read.status, 'damaged');
    const { file: good } = await write(dir, records(5));
    const bytes = readFileSync(good);
    bytes.writeUInt32BE(2, 8);
    writeFileSync(good, bytes);
    await assert.rejects(
      readSnapshot(good, () => {}),
      SnapshotFormatError,
    );
  });

  it('reads a snapshot written by the format-1 writer before damaged chunks were skipped (test/fixtures/snapshot-format1.bin)', async () => {
    const back: EntryRecord[] = [];
    const read = await readSnapshot(join(repoRoot(), 'test', 'fixtures', 'snapshot-format1.bin'), (r) => back.push(r));
    assert.deepEqual(read, { status: 'ok', meta: { nodeId: 'node-a', createdAt: 1_700_000_000_999, replayFrom: 3 }, records: 4, bytes: 292 });
    assert.deepEqual(
      back.map((r) => [r.key, r.value?.toString('hex') ?? null, r.expireAt, r.hollow === true, r.ev.t]),
      [
        ['plain', Buffer.from('value-1').toString('hex'), 0, false, 1_700_000_000_000],
        ['with-ttl', '000102ff', 1_800_000_000_000, false, 1_700_000_000_101],
        ['deleted', null, 0, false, 1_700_000_000_195],
        ['evicted', null, 1_700_000_000_310, true, 1_700_000_000_300],
      ],
    );
  });
});
