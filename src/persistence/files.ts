import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, accessSync, constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Creates the data directory (owner-only) and proves it is writable, with a message that says what to fix. */
export function ensureWritableDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`data directory ${dir} is not usable (${e.code ?? e.message}): check DBfile and the folder's permissions`);
  }
}

/** Writes a whole file so that a crash leaves either the old or the new content: temp file, fsync, rename, fsync dir. */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o600): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
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
