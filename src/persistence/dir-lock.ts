import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { logger } from '../log.js';
import { DataDirRefusedError } from './files.js';
import { LOCK_FILE } from './layout.js';

const log = logger('persistence');

/**
 * One process per data directory: `LOCK` is created with O_EXCL, holds the
 * holder's PID and stays open while it runs. A second process started on the
 * same directory (the same conf by mistake) finds it, sees the holder alive
 * and stops before reading or writing anything else there. A lock left by a
 * process that is gone (kill -9, power loss) is stale and taken over.
 * docs/data-directory.md describes it for operators.
 */
export class DataDirLock {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly ino: number,
  ) {
    this.fd = fd;
    held.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const l of held) l.release();
      });
    }
  }

  /**
   * Takes the lock of `dir` (which must exist). Throws DataDirRefusedError
   * naming the PID when a live process holds it.
   */
  static acquire(dir: string): DataDirLock {
    const path = join(dir, LOCK_FILE);
    for (const l of held) {
      if (l.path === path) throw new DataDirRefusedError(`data directory ${dir} is already in use by this process (${process.pid})`);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST')
          throw new Error(`cannot create the lock file ${path} (${code ?? (err as Error).message}): check DBfile and the folder's permissions`);
        const holder = readHolder(path);
        if (holder === null) continue; // released meanwhile
        if (holder.pid !== null && holder.pid !== process.pid && isAlive(holder.pid)) {
          throw new DataDirRefusedError(
            `data directory ${dir} is in use by process ${holder.pid} (lock file ${path}): another owlcache node runs on it. ` +
              `Stop that node or give this one another DBfile; if process ${holder.pid} is not an owlcache node, remove ${path}`,
          );
        }
        // Stale. Removed only if it is still the file judged stale, not one another starting process just made.
        if (sameFile(path, holder.ino)) {
          try {
            unlinkSync(path);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          }
          log.warn('removed the stale lock %s (%s)', path, holder.pid === null ? 'no PID in it' : `process ${holder.pid} is gone`);
        }
        continue;
      }
      try {
        const pid = Buffer.from(`${process.pid}\n`);
        writeSync(fd, pid, 0, pid.length, 0);
        return new DataDirLock(path, fd, fstatSync(fd).ino);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    throw new DataDirRefusedError(`cannot take the lock ${path}: other processes keep creating it; is another owlcache node starting on ${dir}?`);
  }

  get held(): boolean {
    return this.fd !== null;
  }

  /** Removes LOCK (if it is still this one) and closes it. Safe to call twice. */
  release(): void {
    if (this.fd === null) return;
    if (sameFile(this.path, this.ino)) {
      try {
        unlinkSync(this.path);
      } catch {
        // Gone already: nothing to release.
      }
    }
    closeSync(this.fd);
    this.fd = null;
    held.delete(this);
  }
}

const held = new Set<DataDirLock>();
let exitHook = false;

function sameFile(path: string, ino: number): boolean {
  try {
    return lstatSync(path).ino === ino;
  } catch {
    return false;
  }
}

/** `process.kill(pid, 0)` sends nothing: it only asks whether the process exists (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The PID in an existing LOCK (null if it holds none), or null for the whole
 * result if the file is gone. A holder writes its PID right after creating
 * the file, so an empty one is re-read for a moment before it counts as
 * stale (a power loss can leave it empty for good).
 */
function readHolder(path: string): { pid: number | null; ino: number } | null {
  for (let i = 0; ; i++) {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP') throw new DataDirRefusedError(`the lock file ${path} is a symbolic link; remove it`);
      throw err;
    }
    let text: string;
    let ino: number;
    try {
      ino = fstatSync(fd).ino;
      const b = Buffer.alloc(32);
      text = b.subarray(0, readSync(fd, b, 0, b.length, 0)).toString('latin1');
    } finally {
      closeSync(fd);
    }
    const m = /^(\d{1,10})\n?$/.exec(text);
    const pid = m === null ? null : Number(m[1]);
    if ((pid !== null && pid > 0) || i >= 10) return { pid: pid !== null && pid > 0 ? pid : null, ino };
    sleepSync(50);
  }
}
