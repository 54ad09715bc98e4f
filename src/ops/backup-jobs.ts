import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { BackupFileError, checkBackup, readBackup, writeBackup } from '../persistence/backup.js';
import type { EntryRecord } from '../store/entry.js';
import { compareVersions, type Version } from '../store/hlc.js';
import type { StoreCapture } from '../store/store.js';
import type { OpsDeps } from './context.js';
import { OpsError, fieldError } from './errors.js';
import { isObject, optEnum, optString, reqString, type Input } from './fields.js';
import type { Job, JobRun, Jobs } from './jobs.js';
import { askPeer, settleAll } from './peers.js';

/**
 * The coldbackup and coldrestore jobs (docs/operations.md, "Backup and
 * restore") and get_status. A backup is this node's store at one moment
 * (the store's capture, written in slices while the node serves);
 * a restore brings it back without undoing newer work:
 *
 * - a key whose current value is newer than the backup's keeps it, and so
 *   does any key written (or deleted) while the restore runs;
 * - a key absent, deleted or expired now gets the backup's value back as a
 *   new write (a fresh version: it wins over the delete and replicates like
 *   any change). A plain merge would keep every delete made after the
 *   backup, so nothing deleted by mistake could be recovered;
 * - records expired by now are skipped;
 * - `mode: "replace"` makes the store equal to the backup: every backup value
 *   written anew, every live key not in it deleted (tombstoned, so the
 *   cluster follows).
 *
 * The whole file is checked before anything changes: a damaged backup fails
 * the job and leaves the store as it was. The node keeps serving: a backup
 * takes a turn of the event loop after each 256 KiB frame, a restore after
 * each slice of about SLICE_MS.
 */

/** What the jobs need of the store (Store's public API). */
export interface BackupStore {
  readonly nodeId: string;
  readonly hlc: { now(): Version };
  capture(): StoreCapture;
  onChange(listener: (change: { readonly record: EntryRecord }) => void): () => void;
  versionsOf(key: string): { vv: Version; ev: Version; value: boolean } | undefined;
  set(key: string, value: Buffer, ttlMs?: number): EntryRecord;
  /** Several writes, all or none (one append-log write). */
  setMany(items: readonly { key: string; value: Buffer; ttlMs?: number }[]): EntryRecord[];
  /** Several deletes of live keys, all or none (one append-log write). */
  deleteMany(keys: readonly string[]): EntryRecord[];
  liveKeysWrittenBefore(v: Version, from: number, maxSlots: number): { keys: string[]; next: number };
}

/** What a restore needs of persistence (Persistence's public API). */
export interface RestoreLog {
  /** No log-size snapshot until the release is called; one follows it if the log outgrew its limit. */
  holdSizeSnapshots(): () => void;
}

export interface JobsDeps {
  registry: Jobs;
  /** The BackupDir setting, resolved (created on first use). */
  backupDir: string;
  store: BackupStore;
  /** Absent when the node keeps no data directory writes (tests with a bare store). */
  log?: RestoreLog;
}

/** How long a restore works before it lets the node serve (a turn of the event loop). */
const SLICE_MS = 10;
/** Records per store write (one append-log write each): small, so a slice ends close to SLICE_MS. */
const WRITE_BATCH = 256;
/** Slots a replace looks at per scan for keys not in the backup. */
const SCAN_SLOTS = 4096;
const CLUSTER_TIMEOUT_MS = 10_000;

/** Work in slices: `spent()` after each piece, and a turn of the event loop once SLICE_MS are used up. */
class Slices {
  private since = performance.now();

  async spent(): Promise<void> {
    if (performance.now() - this.since < SLICE_MS) return;
    await yieldTurn();
    this.since = performance.now();
  }
}

/** A file name inside the backup folder; anything that leaves it is refused. */
export function backupPath(dir: string, name: string, field = 'file'): string {
  if (name.includes('\0')) throw fieldError(field, 'must not contain NUL');
  if (isAbsolute(name)) throw fieldError(field, `must be a file name inside the backup folder (BackupDir), not an absolute path`);
  const full = resolve(dir, name);
  const rel = relative(dir, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw fieldError(field, `${JSON.stringify(name)} leaves the backup folder (BackupDir): refused`);
  return full;
}

/** A restore reads only a regular file whose real path is inside the backup folder (no link out of it). */
function checkInside(dir: string, file: string, name: string): void {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    throw new OpsError(404, `file: ${JSON.stringify(name)} is not in the backup folder (BackupDir)`, { field: 'file' });
  }
  if (!st.isFile()) throw fieldError('file', `${JSON.stringify(name)} is not a regular file`);
  const real = realpathSync(file);
  if (!real.startsWith(realpathSync(dir) + sep)) throw fieldError('file', `${JSON.stringify(name)} leaves the backup folder (BackupDir): refused`);
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

function defaultName(node: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `${node.replace(/[^A-Za-z0-9._-]+/g, '_')}-${stamp}.owlbackup.gz`;
}

export interface BackupArgs {
  jobId: string | undefined;
  file: string | undefined;
  cluster: boolean;
}

export function parseBackup(input: Input): BackupArgs {
  return { jobId: optString(input, 'job_id'), file: optString(input, 'file'), cluster: optEnum(input, 'scope', ['node', 'cluster'] as const) === 'cluster' };
}

/** Starts a backup job here; returns it as queued. */
export function startBackup(deps: OpsDeps, jobId: string | undefined, file: string | undefined): Job {
  const { registry, backupDir, store } = deps.jobs;
  const name = file ?? defaultName(deps.node.name(), Date.now());
  const path = backupPath(backupDir, name);
  return registry.start('coldbackup', jobId, name, async (run) => {
    ensureDir(backupDir);
    // A consistent picture as of now, handed out in slices while the store goes on changing.
    const capture = store.capture();
    const createdAt = Date.now();
    try {
      run.progress(0, capture.size);
      const r = await writeBackup(path, capture, { nodeId: store.nodeId, node: deps.node.name(), createdAt, count: capture.size }, (n) => run.progress(n));
      return { records: r.records, bytes: r.bytes, ms: r.ms, created_at: new Date(createdAt).toISOString() };
    } finally {
      capture.close();
    }
  });
}

export async function coldBackup(deps: OpsDeps, a: BackupArgs): Promise<unknown> {
  const local = startBackup(deps, a.jobId, a.file);
  if (!a.cluster) return local;
  const c = deps.cluster();
  const others = c === null ? [] : c.memberList().filter((m) => !m.local && m.state === 'alive' && m.http !== null);
  const answers = await settleAll(others, (m) =>
    askPeer<Job>(
      c!,
      m.http!,
      { op: 'coldbackup', ...(a.jobId !== undefined ? { job_id: a.jobId } : {}), ...(a.file !== undefined ? { file: a.file } : {}) },
      CLUSTER_TIMEOUT_MS,
    ),
  );
  return {
    ...local,
    jobs: [
      { node_name: deps.node.name(), ok: true, job_id: local.job_id, file: local.file },
      ...others.map((m, i) => {
        const x = answers[i]!;
        return x.ok
          ? { node_name: m.name ?? m.gossip, ok: true, job_id: x.value.job_id, file: x.value.file }
          : { node_name: m.name ?? m.gossip, ok: false, error: x.error };
      }),
    ],
  };
}

export interface RestoreArgs {
  jobId: string | undefined;
  file: string;
  replace: boolean;
}

export function parseRestore(input: Input): RestoreArgs {
  return { jobId: optString(input, 'job_id'), file: reqString(input, 'file'), replace: optEnum(input, 'mode', ['merge', 'replace'] as const) === 'replace' };
}

function newer(a: Version, b: Version): boolean {
  return compareVersions(a, b) > 0;
}

export function coldRestore(deps: OpsDeps, a: RestoreArgs): Job {
  const { registry, backupDir, store, log } = deps.jobs;
  const path = backupPath(backupDir, a.file);
  checkInside(backupDir, path, a.file);
  return registry.start('coldrestore', a.jobId, a.file, async (run) => {
    // Every write of the restore is in the append log before it is made; the log-size snapshots of
    // the whole store wait until it ends (its next writes would outgrow each one again).
    const release = log?.holdSizeSnapshots() ?? (() => {});
    try {
      return await restore(store, path, a.replace, run);
    } finally {
      release();
    }
  });
}

async function restore(store: BackupStore, path: string, replace: boolean, run: JobRun): Promise<Record<string, unknown>> {
  const slices = new Slices();
  // Whatever is written from here on, by anyone, is newer work than the restore: it is kept. Every
  // version held now is older than the fence (the clock observes each one it takes in), so only a
  // key changed from here on by someone else can hold a newer one: replace looks up those only.
  const fence = store.hlc.now();
  const changedSince = new Set<string>();
  let writing = false;
  const unsubscribe = store.onChange(({ record }) => {
    if (!writing && (newer(record.vv, fence) || newer(record.ev, fence))) changedSince.add(record.key);
  });
  try {
    // First pass: the whole file checked (gzip, checksums, counts) before anything changes.
    const meta = await checkBackup(path, async (m) => {
      run.progress(0, m.count);
      await slices.spent();
    });
    // Keys of the backup whose value is not written (expired by now, refused): replace leaves them as they are.
    const held = new Set<string>();
    let applied = 0;
    let restored = 0;
    let kept = 0;
    let expired = 0;
    let refused = 0;
    const write = (writes: { key: string; value: Buffer; ttlMs: number }[]): void => {
      // One append-log write for the batch; if the store refuses it (a value larger than MaxMemory), one by one.
      try {
        store.setMany(writes);
        restored += writes.length;
      } catch {
        for (const w of writes) {
          try {
            store.set(w.key, w.value, w.ttlMs);
            restored += 1;
          } catch {
            refused += 1;
            if (replace) held.add(w.key);
          }
        }
      }
    };
    const apply = async (batch: EntryRecord[]): Promise<void> => {
      for (let i = 0; i < batch.length; i += WRITE_BATCH) {
        const now = Date.now();
        const writes: { key: string; value: Buffer; ttlMs: number }[] = [];
        const end = Math.min(batch.length, i + WRITE_BATCH);
        for (let j = i; j < end; j++) {
          const r = batch[j]!;
          applied += 1;
          if (r.value === null) continue;
          if (r.expireAt !== 0 && r.expireAt <= now) {
            expired += 1;
            if (replace) held.add(r.key);
            continue;
          }
          const current = replace && !changedSince.has(r.key) ? undefined : store.versionsOf(r.key);
          if (current !== undefined) {
            const since = newer(current.vv, fence) || newer(current.ev, fence);
            if (since || (!replace && current.value && compareVersions(current.vv, r.vv) >= 0)) {
              kept += 1;
              continue;
            }
          }
          writes.push({ key: r.key, value: r.value, ttlMs: r.expireAt === 0 ? 0 : r.expireAt - now });
        }
        writing = true;
        try {
          write(writes);
        } finally {
          writing = false;
        }
        run.progress(applied);
        await slices.spent();
      }
    };
    try {
      await readBackup(path, apply);
    } catch (err) {
      // The file passed the check: a record written invalid (or a file changed since) fails here, part way.
      if (err instanceof BackupFileError) throw new BackupFileError(`${err.message}; ${restored} of its ${meta.count} records were restored before it`);
      throw err;
    }
    unsubscribe();
    let deleted = 0;
    if (replace) {
      // Every backup value was written after the fence (or kept as newer, or held): a live key written
      // before it is one the backup does not hold.
      for (let from = 0; from >= 0; ) {
        const found = store.liveKeysWrittenBefore(fence, from, SCAN_SLOTS);
        from = found.next;
        const doomed = held.size === 0 ? found.keys : found.keys.filter((k) => !held.has(k));
        if (doomed.length > 0) deleted += store.deleteMany(doomed).length;
        await slices.spent();
      }
    }
    return {
      backup_node: meta.node,
      backup_created_at: new Date(meta.createdAt).toISOString(),
      records: meta.count,
      restored,
      kept_newer: kept,
      skipped_expired: expired,
      refused,
      deleted,
      mode: replace ? 'replace' : 'merge',
    };
  } finally {
    unsubscribe();
  }
}

export function parseJobId(input: Input): string {
  return reqString(input, 'job_id');
}

export function getStatus(deps: OpsDeps, id: string): Job {
  const j = deps.jobs.registry.get(id);
  if (j === undefined)
    throw new OpsError(404, `job_id: no job ${JSON.stringify(id.slice(0, 64))} on this node (jobs are kept a day after they end)`, { field: 'job_id' });
  return j;
}

export function listJobs(deps: OpsDeps): { jobs: Job[]; backup_dir: string } {
  return { jobs: deps.jobs.registry.list(), backup_dir: deps.jobs.backupDir };
}

/** A peer's internal coldbackup request. */
export function internalBackup(deps: OpsDeps, req: Input): Job {
  if (!isObject(req)) throw new OpsError(400, 'bad request');
  return startBackup(deps, optString(req, 'job_id'), optString(req, 'file'));
}
