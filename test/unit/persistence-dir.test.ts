import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setQuiet } from '../../src/log.js';
import { AppendLogWriter, listLogs } from '../../src/persistence/append-log.js';
import { DataDirLock } from '../../src/persistence/dir-lock.js';
import { DataDirRefusedError, ensureWritableDir, writeFileAtomic } from '../../src/persistence/files.js';
import { LOCK_FILE, logFileName, logGeneration, SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from '../../src/persistence/layout.js';
import { Persistence } from '../../src/persistence/persistence.js';
import { readSnapshot, writeSnapshot } from '../../src/persistence/snapshot.js';
import { Store } from '../../src/store/store.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

/** The data directory's own defences: its lock, strict modes, temp files, file names. */

setQuiet(true);
const open: Persistence[] = [];
const locks: DataDirLock[] = [];
after(async () => {
  for (const p of open) await p.close().catch(() => {});
  for (const l of locks) l.release();
  removeTempDirs();
});
const tmp = () => tempDir('owl-dir-');

/** A process that runs until killed, and its PID. */
function sleeper(): { pid: number; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
      clearTimeout(timer);
    },
  };
}

describe('data directory lock', () => {
  it('holds the PID, owner-only, and is removed on release', () => {
    const dir = tmp();
    const lock = DataDirLock.acquire(dir);
    locks.push(lock);
    const path = join(dir, LOCK_FILE);
    assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.throws(
      () => DataDirLock.acquire(dir),
      (e: unknown) => e instanceof DataDirRefusedError && /already in use by this process/.test(e.message),
    );
    lock.release();
    assert.equal(existsSync(path), false);
    lock.release();
  });

  it('refuses a directory whose LOCK names a live process, naming it, and leaves the LOCK alone', async () => {
    const dir = tmp();
    const other = sleeper();
    try {
      writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
      assert.throws(
        () => DataDirLock.acquire(dir),
        (e: unknown) => e instanceof DataDirRefusedError && e.message.includes(`in use by process ${other.pid}`) && e.message.includes(join(dir, LOCK_FILE)),
      );
      assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${other.pid}\n`);
    } finally {
      await other.stop();
    }
    // Its process is gone now: a stale lock, taken over.
    const lock = DataDirLock.acquire(dir);
    locks.push(lock);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`);
    lock.release();
  });

  it('takes over an empty LOCK (a power loss right after its creation)', () => {
    const dir = tmp();
    writeFileSync(join(dir, LOCK_FILE), '');
    const lock = DataDirLock.acquire(dir);
    locks.push(lock);
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`);
    lock.release();
  });
});

describe('strict modes', () => {
  it('refuses a data directory writable by group or others, and says how to fix it', () => {
    const dir = tmp();
    for (const mode of [0o770, 0o757, 0o777]) {
      chmodSync(dir, mode);
      assert.throws(
        () => ensureWritableDir(dir),
        (e: unknown) => e instanceof DataDirRefusedError && /writable by/.test(e.message) && e.message.includes(`chmod go-w ${dir}`),
      );
    }
    chmodSync(dir, 0o755);
    ensureWritableDir(dir);
  });

  it('creates missing folders owner-only', () => {
    const dir = join(tmp(), 'a', 'b');
    ensureWritableDir(dir);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, '..')).mode & 0o777, 0o700);
  });
});

describe('temp files are never opened through a planted link', () => {
  it('a store.snapshot.tmp symlink does not make the snapshot overwrite its target', async () => {
    const dir = tmp();
    const victim = join(tmp(), 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(dir, SNAPSHOT_TEMP_FILE));
    const vv = { t: 1, c: 0, n: 'n' };
    await writeSnapshot(join(dir, SNAPSHOT_FILE), join(dir, SNAPSHOT_TEMP_FILE), [{ key: 'k', value: Buffer.from('v'), created: 1, vv, expireAt: 0, ev: vv }], {
      nodeId: 'n',
      createdAt: 1,
      replayFrom: 1,
    });
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.equal((await readSnapshot(join(dir, SNAPSHOT_FILE), () => {})).status, 'ok');
  });

  it('nor does a symlink at the temp name of an atomically written file, or at the probe at start', async () => {
    const dir = tmp();
    const victim = join(tmp(), 'victim');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(dir, `auth.json.tmp-${process.pid}`));
    writeFileAtomic(join(dir, 'auth.json'), '{}');
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
    assert.equal(readFileSync(join(dir, 'auth.json'), 'utf8'), '{}');

    symlinkSync(victim, join(dir, SNAPSHOT_TEMP_FILE));
    const p = await Persistence.open({ dataDir: dir, store: new Store({ nodeId: 'n' }), appendLog: true, fsync: 'always', snapshotEveryMs: 0 });
    open.push(p);
    assert.equal(readFileSync(victim, 'utf8'), 'precious');
  });
});

describe('append-log generations', () => {
  it('round-trip through their file names past ten digits, up to the largest safe integer', () => {
    for (const g of [1, 9_999_999_999, 10_000_000_000, 123_456_789_012_345, Number.MAX_SAFE_INTEGER]) {
      assert.equal(logGeneration(logFileName(g)), g, String(g));
    }
    assert.throws(() => logFileName(Number.MAX_SAFE_INTEGER + 1), RangeError);
    assert.equal(logGeneration('append-00000000001.log'), null, 'not a name the node writes');
    assert.equal(logGeneration('append-99999999999999999.log'), null);
  });

  it('a node past append-9999999999.log keeps what it writes next across a restart', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 9_999_999_999, 'node-a', 'always');
    const vv = { t: 1, c: 0, n: 'node-a' };
    w.append({ key: 'old', value: Buffer.from('1'), created: 1, vv, expireAt: 0, ev: vv });
    await w.close();
    const a = new Store({ nodeId: 'node-a' });
    const pa = await Persistence.open({ dataDir: dir, store: a, appendLog: true, fsync: 'always', snapshotEveryMs: 0 });
    open.push(pa);
    a.set('new', Buffer.from('2'));
    assert.deepEqual(
      listLogs(dir).map((l) => l.generation),
      [9_999_999_999, 10_000_000_000],
    );
    // A crash (no close), then a restart.
    const b = new Store({ nodeId: 'node-a' });
    const pb = await Persistence.open({ dataDir: dir, store: b, appendLog: true, fsync: 'always', snapshotEveryMs: 0 });
    open.push(pb);
    assert.equal(b.get('new')?.value?.toString(), '2');
    assert.equal(b.get('old')?.value?.toString(), '1');
    assert.equal(pb.stats().logGeneration, 10_000_000_001);
  });
});
