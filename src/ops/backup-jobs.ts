import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { readBackup, writeBackup } from '../persistence/backup.js';
import type { EntryRecord } from '../store/entry.js';
import { compareVersions } from '../store/hlc.js';
import type { OpsDeps } from './context.js';
import { OpsError, fieldError } from './errors.js';
import { isObject, optEnum, optString, reqString, type Input } from './fields.js';
import type { Job, Jobs } from './jobs.js';
import { askPeer, settleAll } from './peers.js';

/**
 * The coldbackup and coldrestore jobs (docs/operations.md, "Backup and
 * restore") and get_status. A backup is this node's store at one moment;
 * a restore brings it back without undoing newer work:
 *
 * - a key whose current value is newer than the backup's keeps it;
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
 * the job and leaves the store as it was.
 */

/** What the jobs need of the store (Store's public API). */
export interface BackupStore {
  readonly nodeId: string;
  allRecords(): IterableIterator<EntryRecord>;
  entries(): IterableIterator<EntryRecord>;
  peek(key: string): EntryRecord | undefined;
  set(key: string, value: Buffer, ttlMs?: number): EntryRecord;
  /** Several writes, all or none (one append-log write). */
  setMany(items: readonly { key: string; value: Buffer; ttlMs?: number }[]): EntryRecord[];
  delete(key: string): EntryRecord | undefined;
}

export interface JobsDeps {
  registry: Jobs;
  /** The BackupDir setting, resolved (created on first use). */
  backupDir: string;
  store: BackupStore;
}

/** Records a restore applies between two turns of the event loop. */
const APPLY_SLICE = 2000;
const CLUSTER_TIMEOUT_MS = 10_000;

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
    // One turn: records are never changed in place, so these references are a point-in-time picture.
    const records = [...store.allRecords()];
    const createdAt = Date.now();
    run.progress(0, records.length);
    const r = await writeBackup(path, records, { nodeId: store.nodeId, node: deps.node.name(), createdAt }, (n) => run.progress(n));
    return { records: r.records, bytes: r.bytes, ms: r.ms, created_at: new Date(createdAt).toISOString() };
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

function liveAt(r: EntryRecord, now: number): boolean {
  return (r.value !== null || r.hollow === true) && (r.expireAt === 0 || r.expireAt > now);
}

export function coldRestore(deps: OpsDeps, a: RestoreArgs): Job {
  const { registry, backupDir, store } = deps.jobs;
  const path = backupPath(backupDir, a.file);
  checkInside(backupDir, path, a.file);
  return registry.start('coldrestore', a.jobId, a.file, async (run) => {
    // First pass: the whole file checked (and, to replace, its keys listed) before anything changes.
    const keys = new Set<string>();
    const meta = await readBackup(path, async (batch, m) => {
      run.progress(0, m.count);
      if (a.replace) for (const r of batch) if (r.value !== null) keys.add(r.key);
      await yieldTurn();
    });
    let applied = 0;
    let restored = 0;
    let kept = 0;
    let expired = 0;
    let refused = 0;
    await readBackup(path, async (batch) => {
      for (let i = 0; i < batch.length; i += APPLY_SLICE) {
        const now = Date.now();
        const writes: { key: string; value: Buffer; ttlMs: number }[] = [];
        for (const r of batch.slice(i, i + APPLY_SLICE)) {
          applied += 1;
          if (r.value === null) continue;
          if (r.expireAt !== 0 && r.expireAt <= now) {
            expired += 1;
            continue;
          }
          const current = store.peek(r.key);
          if (!a.replace && current !== undefined && liveAt(current, now) && compareVersions(current.vv, r.vv) >= 0) {
            kept += 1;
            continue;
          }
          writes.push({ key: r.key, value: r.value, ttlMs: r.expireAt === 0 ? 0 : r.expireAt - now });
        }
        // One append-log write for the slice; if the store refuses it (a value larger than MaxMemory), one by one.
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
            }
          }
        }
        run.progress(applied);
        await yieldTurn();
      }
    });
    let deleted = 0;
    if (a.replace) {
      const extra: string[] = [];
      for (const e of store.entries()) if (e.value !== null && !keys.has(e.key)) extra.push(e.key);
      for (let i = 0; i < extra.length; i += APPLY_SLICE) {
        for (const k of extra.slice(i, i + APPLY_SLICE)) if (store.delete(k) !== undefined) deleted += 1;
        await yieldTurn();
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
      mode: a.replace ? 'replace' : 'merge',
    };
  });
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
