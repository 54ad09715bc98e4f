import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Commands } from '../../src/api/commands.js';
import { setQuiet } from '../../src/log.js';
import { Persistence, PersistenceError, type PersistenceOptions } from '../../src/persistence/persistence.js';
import { Store } from '../../src/store/store.js';

/**
 * The write path through persistence: the append log takes a client's change
 * before the store makes it, so a change the log refused is not made at all.
 * "Failing disk" here is the log writer closed underneath: every append throws.
 */

setQuiet(true);
const dirs: string[] = [];
const opened: Persistence[] = [];
after(async () => {
  for (const p of opened) await p.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function node(extra: Partial<PersistenceOptions> = {}, dataDir?: string) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'owl-write-'));
  if (dataDir === undefined) dirs.push(dir);
  const store = new Store({ nodeId: 'node-a' });
  const p = await Persistence.open({ dataDir: dir, store, appendLog: true, fsync: 1000, snapshotEveryMs: 0, ...extra });
  opened.push(p);
  const commands = new Commands(store, { maxKeyLength: 250, maxValueSize: 1 << 20 });
  return { dir, store, p, commands };
}

async function breakLog(p: Persistence): Promise<void> {
  await (p as unknown as { log: { close(): Promise<void> } }).log.close();
}

describe('persistence: a write the log refuses is not made', () => {
  it("store, digest and listeners are untouched by a refused client write; a peer's change is still taken", async () => {
    const a = await node();
    a.store.set('ok', Buffer.from('1'));
    const heard: string[] = [];
    a.store.onChange((c) => heard.push(c.record.key));
    const digest = a.store.digest.root();
    const stats = a.store.stats();
    await breakLog(a.p);

    assert.throws(
      () => a.store.set('lost', Buffer.from('2')),
      (err: unknown) => err instanceof PersistenceError && /write refused, nothing was changed/.test(err.message),
    );
    assert.throws(() => a.store.set('ok', Buffer.from('changed')), PersistenceError);
    assert.throws(() => a.store.delete('ok'), PersistenceError);
    assert.equal(a.store.get('lost'), undefined, 'a refused set is not readable');
    assert.equal(a.store.peek('lost'), undefined);
    assert.equal(a.store.get('ok')?.value?.toString(), '1', 'a refused overwrite or delete leaves the old value');
    assert.equal(a.store.digest.root(), digest, 'anti-entropy sees no change');
    assert.equal(a.store.stats().keys, stats.keys);
    assert.deepEqual(heard, [], 'no listener heard of refused writes');
    assert.equal(a.commands.setMs('viaCommands', Buffer.from('x'), 0).status, 500);
    assert.equal(a.store.get('viaCommands'), undefined);

    const v = a.store.hlc.now();
    assert.ok(a.store.merge({ key: 'peer', value: Buffer.from('3'), created: 1, vv: v, expireAt: 0, ev: v }));
    assert.equal(a.store.get('peer')?.value?.toString(), '3', "a peer's change is held in memory");
    assert.deepEqual(heard, ['peer']);
    assert.ok(a.p.stats().unwritableSince !== null);
    assert.equal(a.p.stats().refusedWrites, 4);
  });

  it('MSET (setManyMs) is all or nothing, and its pairs reach the log together', async () => {
    const a = await node();
    assert.equal(
      a.commands.setManyMs([
        { key: 'm1', value: Buffer.from('a') },
        { key: 'm2', value: Buffer.from('b') },
        { key: 'm1', value: Buffer.from('c') },
      ]).status,
      200,
    );
    assert.equal(a.store.get('m1')?.value?.toString(), 'c', 'a key given twice keeps the last value, as in Redis');
    const tooBig = a.commands.setManyMs([
      { key: 'n1', value: Buffer.from('a') },
      { key: 'n2', value: Buffer.alloc((1 << 20) + 1) },
    ]);
    assert.equal(tooBig.status, 413);
    assert.equal(a.store.get('n1'), undefined, 'a bad pair anywhere refuses the whole MSET');

    // The digest of a setMany with a repeated key is the digest of the same sets one by one.
    const b = new Store({ nodeId: 'node-b' });
    for (const r of a.store.entries()) b.merge(r);
    assert.equal(b.digest.root(), a.store.digest.root());

    const digest = a.store.digest.root();
    const heard: string[] = [];
    a.store.onChange((c) => heard.push(c.record.key));
    await breakLog(a.p);
    const refused = a.commands.setManyMs([
      { key: 'x1', value: Buffer.from('a') },
      { key: 'x2', value: Buffer.from('b') },
    ]);
    assert.equal(refused.status, 500);
    assert.match(refused.message ?? '', /write refused/);
    assert.equal(a.store.get('x1'), undefined);
    assert.equal(a.store.get('x2'), undefined);
    assert.equal(a.store.digest.root(), digest);
    assert.deepEqual(heard, []);
  });

  it('an acknowledged set is in the file when set() returns (AppendFsync 1): a crash right after keeps it', async () => {
    const a = await node();
    a.store.set('k', Buffer.from('v'));
    a.commands.setManyMs([
      { key: 'm1', value: Buffer.from('1') },
      { key: 'm2', value: Buffer.from('2') },
    ]);
    // A "crash": no close, no end of turn; a second Persistence reads what write(2) left.
    const b = await node({}, a.dir);
    assert.equal(b.store.get('k')?.value?.toString(), 'v');
    assert.equal(b.store.get('m2')?.value?.toString(), '2');
  });

  it('refused writes open no new log files', async () => {
    const a = await node();
    a.store.set('ok', Buffer.from('1'));
    await breakLog(a.p);
    const before = readdirSync(a.dir).sort();
    for (let i = 0; i < 50; i++) assert.throws(() => a.store.set(`k${i}`, Buffer.from('v')), PersistenceError);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(readdirSync(a.dir).sort(), before);
  });

  it("recovers by itself: a snapshot saves the peers' changes taken while the log failed, and client writes resume", async () => {
    const a = await node();
    a.store.set('before', Buffer.from('1'));
    await breakLog(a.p);
    assert.throws(() => a.store.set('refused', Buffer.from('x')), PersistenceError);
    const v = a.store.hlc.now();
    a.store.merge({ key: 'peer', value: Buffer.from('3'), created: 1, vv: v, expireAt: 0, ev: v });
    const deadline = Date.now() + 10_000;
    while (a.p.stats().unwritableSince !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.p.stats().unwritableSince, null, 'writable again without help');
    a.store.set('after', Buffer.from('2'));
    const b = await node({}, a.dir);
    assert.equal(b.store.get('before')?.value?.toString(), '1');
    assert.equal(b.store.get('peer')?.value?.toString(), '3', "the peer's change held in memory was saved");
    assert.equal(b.store.get('after')?.value?.toString(), '2');
    assert.equal(b.store.get('refused'), undefined);
  });
});

describe('persistence: the log-size snapshot', () => {
  const value = Buffer.alloc(1000, 'v');
  const logs = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('append-'));
  /** Turns of the event loop until `done()` (bounded). */
  const until = async (done: () => boolean) => {
    for (let turn = 0; turn < 10_000 && !done(); turn++) await new Promise((r) => setTimeout(r, 1));
    return done();
  };

  it('a log larger than logSnapshotBytes is replaced by a snapshot and a new generation', async () => {
    const a = await node({ logSnapshotBytes: 64 * 1024 });
    const first = a.p.stats().logGeneration!;
    for (let i = 0; i < 100; i++) a.store.set(`k${i}`, value);
    assert.ok(await until(() => a.p.stats().logGeneration !== first && existsSync(a.p.snapshotPath)), 'a snapshot followed');
    assert.ok(await until(() => logs(a.dir).length === 1), logs(a.dir).join());
  });

  it('holdSizeSnapshots: the log grows past the limit with every write in it and no snapshot; one snapshot follows the release', async () => {
    const a = await node({ logSnapshotBytes: 64 * 1024 });
    const first = a.p.stats().logGeneration!;
    const release = a.p.holdSizeSnapshots();
    const again = a.p.holdSizeSnapshots();
    for (let i = 0; i < 300; i++) a.store.setMany([{ key: `k${i}`, value }]);
    for (let turn = 0; turn < 50; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(a.p.stats().logGeneration, first, 'no snapshot while held');
    assert.ok(a.p.stats().logBytes > 3 * 64 * 1024, `the log grew to ${a.p.stats().logBytes} bytes`);
    assert.equal(existsSync(a.p.snapshotPath), false);
    // A crash now: the files as they are hold every write.
    const copy = mkdtempSync(join(tmpdir(), 'owl-write-copy-'));
    dirs.push(copy);
    cpSync(a.dir, copy, { recursive: true });
    const b = await node({}, copy);
    assert.equal(b.store.stats().keys, 300);
    assert.equal(b.store.get('k299')?.value?.length, 1000);
    await b.p.close();

    release();
    release();
    for (let turn = 0; turn < 50; turn++) await new Promise((r) => setImmediate(r));
    assert.equal(a.p.stats().logGeneration, first, 'still held by the second holder (a second release of the first changes nothing)');
    again();
    assert.ok(await until(() => a.p.stats().logGeneration === first + 1 && existsSync(a.p.snapshotPath)), 'one snapshot after the last release');
    assert.ok(await until(() => logs(a.dir).length === 1), logs(a.dir).join());
    assert.ok(a.p.stats().logBytes < 64 * 1024);
  });
});
