import { accessSync, closeSync, constants, copyFileSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { atomicTempFileOf } from './layout.js';

/**
 * The node refuses this data directory (another process holds it, or others
 * may write to it): the CLI exits 2, as for a bad configuration, since
 * retrying cannot help.
 */
export class DataDirRefusedError extends Error {}

/** Creates the data directory (owner-only) and proves it is writable, with a message that says what to fix. */
export function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`data directory ${dir} is not usable (${e.code ?? e.message}): check DBfile and the folder's permissions`);
  }
  checkStrictModes(dir);
}

/**
 * Like OpenSSH's StrictModes: a data directory that group or others may write
 * to lets another user plant files or symbolic links the node would then read
 * or write through, so the node refuses it.
 */
export function checkStrictModes(dir: string): void {
  // Windows reports no group/other bits that mean this (ACLs decide instead).
  if (process.platform === 'win32') return;
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o022) !== 0) {
    throw new DataDirRefusedError(
      `data directory ${dir} is writable by ${mode & 0o020 ? 'group' : ''}${(mode & 0o022) === 0o022 ? ' and ' : ''}${mode & 0o002 ? 'others' : ''} ` +
        `(mode ${mode.toString(8).padStart(4, '0')}): another user could plant files or links in it. Run chmod go-w ${dir} (the node creates it 0700) and start again`,
    );
  }
}

/** Flags for a temp file: created by this call, never opened through a link planted in its place. */
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

/** Removes a leftover temp file, or a link planted in its place (unlink removes the link, never its target). */
function removeStale(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Opens a fresh temp file, owner-only: what sat at `path` is removed first, and O_EXCL | O_NOFOLLOW refuse anything planted since. */
export function openTempSync(path: string, mode = 0o600): number {
  removeStale(path);
  return openSync(path, TEMP_FLAGS, mode);
}

/** openTempSync returning a FileHandle. */
export function openTemp(path: string, mode = 0o600): Promise<FileHandle> {
  removeStale(path);
  return open(path, TEMP_FLAGS, mode);
}

/** `to`, or `to-1`, `to-2`, ... : link(2) fails instead of replacing, so nothing kept aside is ever overwritten. */
function linkUnique(file: string, to: string): string {
  for (let i = 0; ; i++) {
    const name = i === 0 ? to : `${to}-${i}`;
    try {
      linkSync(file, name);
      return name;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 100) throw err;
    }
  }
}

/**
 * Keeps the current content of `file` under `to` (or `to-N`) without
 * touching `file`: a hard link, or a copy where the file system has none.
 * Returns the name used.
 */
export function keepCopyAs(file: string, to: string): string {
  let name: string;
  try {
    name = linkUnique(file, to);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EMLINK') throw err;
    name = to;
    copyFileSync(file, name, constants.COPYFILE_EXCL);
  }
  fsyncDir(name);
  return name;
}

/** Moves a damaged file aside (kept for inspection, never overwritten); returns the new path. */
export function moveAside(file: string, to: string): string {
  const name = keepCopyAs(file, to);
  unlinkSync(file);
  fsyncDir(file);
  return name;
}

/** Writes a whole file so that a crash leaves either the old or the new content: temp file, fsync, rename, fsync dir. */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o600): void {
  const tmp = atomicTempFileOf(file);
  const fd = openTempSync(tmp, mode);
  try {
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(file);
}

/** Makes a rename or creation of `file` durable by fsyncing its directory. */
export function fsyncDir(file: string): void {
  try {
    const dfd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}

/** fsyncDir off the event loop. */
export async function fsyncDirAsync(file: string): Promise<void> {
  try {
    const h = await open(dirname(file), 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // As in fsyncDir.
  }
}
