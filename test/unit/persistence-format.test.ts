import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setQuiet } from '../../src/log.js';
import { Persistence } from '../../src/persistence/persistence.js';
import { readSnapshot } from '../../src/persistence/snapshot.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { Store } from '../../src/store/store.js';
import { repoRoot } from '../helpers/repo.js';

/**
 * The store's memory layout (slots, arena) is not the data directory's: a
 * directory written before the layout changed loads as it was, and a snapshot
 * taken while the store changes holds the store as of its start.
 */

setQuiet(true);
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'owl-format-'));
  dirs.push(d);
  return d;
}

/** A record as the fixture's expected file has it: values by length and SHA-256. */
function described(r: EntryRecord): unknown {
  const value = r.value === null ? null : { length: r.value.length, sha256: createHash('sha256').update(r.value).digest('hex') };
  const out: Record<string, unknown> = { key: r.key, value, created: r.created, vv: r.vv, expireAt: r.expireAt, ev: r.ev };
  if (r.hollow) out.hollow = true;
  return out;
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
const CENTURY_MS = 100 * 365 * 86_400_000;

describe('persistence: data directories across store layouts', () => {
  it('loads a data directory written by the build before the slot layout (test/fixtures/datadir-main-2026-12) unchanged', async () => {
    const fixture = join(repoRoot(), 'test', 'fixtures', 'datadir-main-2026-12');
    const expected = JSON.parse(readFileSync(`${fixture}.expected.json`, 'utf8')) as { key: string }[];
    const dir = tempDir();
    cpSync(fixture, dir, { recursive: true });
    // The fixture's deletes and its expired entry's guard are from 2026: keep them as they were written.
    const store = new Store({ nodeId: 'reader', tombstoneTtlMs: CENTURY_MS });
    const p = new Persistence({ dataDir: dir, store, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
    await p.load();
    assert.equal(p.loaded.snapshotRecords, 108);
    assert.equal(p.loaded.logRecords, 4);
    assert.deepEqual(p.loaded.damagedFiles, []);
    const got = [...store.allRecords()].map((r) => described(r) as { key: string }).sort(byKey);
    assert.deepEqual(got, [...expected].sort(byKey));
    assert.equal(store.get('plain')?.value?.toString(), 'rewritten after the snapshot');
    assert.equal(store.get('ключ-🔑')?.value?.toString(), 'non-ASCII key');
    assert.equal(store.get('large')?.value?.length, 40_000);
    assert.equal(store.peek('hollow')?.hollow, true);
    assert.ok(store.guard('guarded') !== undefined);
  });

  it('a snapshot taken while the store changes holds the store as of its start, and loads back as it was', async () => {
    const dir = tempDir();
    const store = new Store({ nodeId: 'node-a' });
    const p = await Persistence.open({ dataDir: dir, store, appendLog: true, fsync: 'no', snapshotEveryMs: 0 });
    // Enough records for many chunks (a chunk is 256 KiB).
    for (let i = 0; i < 20_000; i++) store.set(`key:${i}`, Buffer.alloc(200, i % 251), i % 5 === 0 ? 3_600_000 : 0);
    for (let i = 0; i < 500; i++) store.delete(`key:${i * 7}`);
    const picture = new Map([...store.allRecords()].map((r) => [r.key, described(r)]));
    const snapshotting = p.snapshot();
    // While the snapshot is written: rewrites, deletes, new keys, each between two chunks.
    let turns = 0;
    let done = false;
    void snapshotting.finally(() => {
      done = true;
    });
    for (; !done && turns < 10_000; turns++) {
      const i = turns % 20_000;
      store.set(`key:${i}`, Buffer.from(`changed during the snapshot ${turns}`));
      store.delete(`key:${19_999 - i}`);
      store.set(`new:${turns}`, Buffer.from('new'));
      await new Promise((r) => setImmediate(r));
    }
    await snapshotting;
    assert.ok(turns > 3, `the store changed between chunks (${turns} turns)`);
    const back = new Map<string, unknown>();
    const read = await readSnapshot(p.snapshotPath, (r) => back.set(r.key, described(r)));
    assert.equal(read.status, 'ok');
    assert.equal(back.size, picture.size);
    assert.deepEqual(back, picture);
    await p.close();
  });
});
