import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setQuiet } from '../../src/log.js';
import { listLogs } from '../../src/persistence/append-log.js';
import { SNAPSHOT_FILE } from '../../src/persistence/layout.js';
import { Persistence, PersistenceError, type PersistenceOptions } from '../../src/persistence/persistence.js';
import { Store } from '../../src/store/store.js';

/**
 * The Persistence composition against crashes at each step. A "crash" here is
 * dropping the Persistence object without close(): whatever write(2) put in
 * the files is what a killed process leaves behind.
 */

setQuiet(true);
const dirs: string[] = [];
const open: Persistence[] = [];
after(async () => {
  for (const p of open) await p.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'owl-recovery-'));
  dirs.push(d);
  return d;
}

let clock = Date.now();
const now = () => clock;

async function node(dataDir: string, extra: Partial<PersistenceOptions> = {}) {
  const store = new Store({ nodeId: 'node-a', now, tombstoneTtlMs: 60_000 });
  const p = await Persistence.open({ dataDir, store, appendLog: true, fsync: 'always', snapshotEveryMs: 0, ...extra });
  open.push(p);
  return { store, p };
}

/** Everything a store holds, comparable across stores. */
function dump(s: Store) {
  return [...s.entries()].sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('persistence: load, log, snapshot', () => {
  it('restores sets, deletes and expiries from the log alone (crash before any snapshot)', async () => {
    const dir = tmp();
    const a = await node(dir);
    for (let i = 0; i < 300; i++) a.store.set(`k${i}`, Buffer.from(`v${i}`), i % 3 === 0 ? 600_000 : 0);
    a.store.delete('k1');
    a.store.expire('k2', 1000);
    const b = await node(dir);
    assert.deepEqual(dump(b.store), dump(a.store));
    assert.equal(b.p.loaded.logRecords, 302);
    assert.equal(b.p.loaded.keys, 299);
  });

  it('drops what expired while the node was down', async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('short', Buffer.from('x'), 1000);
    a.store.set('long', Buffer.from('y'), 3_600_000);
    clock += 5000;
    const b = await node(dir);
    assert.equal(b.store.get('short'), undefined);
    assert.equal(b.store.get('long')?.value?.toString(), 'y');
    clock += 120_000; // past the tombstone TTL: the expired entry is collected
    const c = await node(dir);
    assert.equal(c.store.peek('short'), undefined);
    assert.ok(c.p.loaded.savedAt > 0);
  });

  it('snapshot then log: changes during a snapshot land in the next generation', async () => {
    const dir = tmp();
    const a = await node(dir);
    for (let i = 0; i < 1000; i++) a.store.set(`k${i}`, Buffer.alloc(200, i));
    const snap = a.p.snapshot();
    // Written while the snapshot is being streamed out.
    for (let i = 0; i < 50; i++) a.store.set(`k${i}`, Buffer.from(`new${i}`));
    a.store.delete('k999');
    await snap;
    a.store.set('after', Buffer.from('z'));
    assert.deepEqual(
      listLogs(dir).map((l) => l.generation),
      [2],
    );
    const b = await node(dir);
    assert.deepEqual(dump(b.store), dump(a.store));
    assert.equal(b.p.loaded.snapshotRecords, 1000);
    assert.equal(b.p.loaded.logRecords, 52);
  });

  it('a crash between the snapshot rename and the log deletion replays nothing twice and loses nothing', async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('x', Buffer.from('1'));
    a.store.delete('x');
    a.store.set('y', Buffer.from('2'));
    const saved = join(tmp(), 'old.log');
    copyFileSync(listLogs(dir)[0]!.path, saved);
    await a.p.snapshot();
    copyFileSync(saved, join(dir, 'append-0000000001.log')); // as if the deletion never happened
    const b = await node(dir);
    assert.deepEqual(dump(b.store), dump(a.store));
    assert.equal(existsSync(join(dir, 'append-0000000001.log')), false);
    assert.equal(b.p.loaded.logRecords, 0);
  });

  it('a failed snapshot keeps the logs, and everything is recovered from them', async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('before', Buffer.from('1'));
    // A directory where the snapshot goes makes the rename fail (root can't override that).
    mkdirSync(join(dir, SNAPSHOT_FILE));
    writeFileSync(join(dir, SNAPSHOT_FILE, 'x'), '');
    await assert.rejects(a.p.snapshot());
    a.store.set('after', Buffer.from('2'));
    assert.deepEqual(
      listLogs(dir).map((l) => l.generation),
      [1, 2],
    );
    rmSync(join(dir, SNAPSHOT_FILE), { recursive: true });
    const b = await node(dir);
    assert.deepEqual(dump(b.store), dump(a.store));
  });

  it('close writes a final snapshot and removes the logs; the next start reads the snapshot only', async () => {
    const dir = tmp();
    const a = await node(dir, { fsync: 1000 });
    for (let i = 0; i < 100; i++) a.store.set(`k${i}`, Buffer.from(`v${i}`));
    await a.p.close();
    assert.deepEqual(readdirSync(dir).sort(), [SNAPSHOT_FILE]);
    assert.equal(statSync(join(dir, SNAPSHOT_FILE)).mode & 0o777, 0o600);
    const b = await node(dir);
    assert.deepEqual(dump(b.store), dump(a.store));
    assert.equal(b.p.loaded.logFiles, 0);
    assert.equal(b.p.loaded.snapshotRecords, 100);
  });

  it('keeps the records before a torn log tail', async () => {
    const dir = tmp();
    const a = await node(dir);
    for (let i = 0; i < 20; i++) a.store.set(`k${i}`, Buffer.from(`v${i}`));
    const log = listLogs(dir)[0]!.path;
    const keep = statSync(log).size;
    a.store.set('torn', Buffer.alloc(1000, 1));
    truncateSync(log, keep + 500);
    const b = await node(dir);
    assert.equal(b.p.loaded.tornLogs, 1);
    assert.equal(b.store.get('torn'), undefined);
    for (let i = 0; i < 20; i++) assert.equal(b.store.get(`k${i}`)?.value?.toString(), `v${i}`);
  });

  it('moves a damaged snapshot aside by the next snapshot, keeps starting, and still replays the logs', async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('logged', Buffer.from('1'));
    const junk = Buffer.from('definitely not a snapshot, just some bytes');
    writeFileSync(join(dir, SNAPSHOT_FILE), junk);
    const b = await node(dir);
    assert.deepEqual(b.p.loaded.damagedFiles, [join(dir, SNAPSHOT_FILE)]);
    assert.equal(b.store.get('logged')?.value?.toString(), '1');
    await b.p.moveDamagedAside();
    assert.equal(b.p.loaded.movedAside.length, 1);
    assert.match(b.p.loaded.movedAside[0]!, /store\.snapshot\.corrupt-\d{8}T\d{6}Z$/);
    assert.deepEqual(readFileSync(b.p.loaded.movedAside[0]!), junk);
    const c = await node(dir);
    assert.deepEqual(c.p.loaded.damagedFiles, []);
    assert.equal(c.store.get('logged')?.value?.toString(), '1');
  });

  it('AppendLog off: no log files, snapshots only', async () => {
    const dir = tmp();
    const a = await node(dir, { appendLog: false });
    a.store.set('k', Buffer.from('v'));
    assert.deepEqual(listLogs(dir), []);
    await a.p.close();
    const b = await node(dir, { appendLog: false });
    assert.equal(b.store.get('k')?.value?.toString(), 'v');
  });

  it('AppendLog off after running with it on: replays the old logs, then removes them at the next snapshot', async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('k', Buffer.from('v'));
    const b = await node(dir, { appendLog: false });
    assert.equal(b.store.get('k')?.value?.toString(), 'v');
    await b.p.snapshot();
    assert.deepEqual(listLogs(dir), []);
  });

  it("a client write that cannot be logged is not acknowledged (nor made); a peer's is kept and counted", async () => {
    const dir = tmp();
    const a = await node(dir);
    a.store.set('ok', Buffer.from('1'));
    // Simulate a failing disk: the log writer is closed underneath.
    await (a.p as unknown as { log: { close(): Promise<void> } }).log.close();
    assert.throws(() => a.store.set('lost', Buffer.from('2')), PersistenceError);
    assert.equal(a.store.get('lost'), undefined);
    const v = a.store.hlc.now();
    a.store.merge({ key: 'peer', value: Buffer.from('3'), created: 1, vv: v, expireAt: 0, ev: v });
    assert.equal(a.store.get('peer')?.value?.toString(), '3');
    // The peer's change is not tried against a log already failing: one error counted.
    assert.equal(a.p.stats().writeErrors, 1);
  });

  it('savedAt follows the last write, and an idle node refreshes it', async () => {
    const dir = tmp();
    const a = await node(dir, { snapshotEveryMs: 20 });
    a.store.set('k', Buffer.from('v'));
    await a.p.snapshot();
    const written = statSync(join(dir, SNAPSHOT_FILE)).mtimeMs;
    a.p.start();
    const deadline = Date.now() + 5000;
    while (statSync(join(dir, SNAPSHOT_FILE)).mtimeMs <= written + 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const touched = statSync(join(dir, SNAPSHOT_FILE)).mtimeMs;
    assert.ok(touched > written + 30, 'the idle tick refreshed the snapshot time');
    const b = await node(dir);
    assert.ok(b.p.loaded.savedAt >= Math.floor(touched));
  });

  it('an unusable data directory is a clear PersistenceError', async () => {
    const dir = tmp();
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const store = new Store({ nodeId: 'node-a' });
    await assert.rejects(
      Persistence.open({ dataDir: join(file, 'db'), store, appendLog: true, fsync: 1000, snapshotEveryMs: 0 }),
      (err: unknown) => err instanceof PersistenceError && /ENOTDIR/.test(err.message) && err.message.includes(join(file, 'db')),
    );
  });
});
