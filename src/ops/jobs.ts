import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../persistence/files.js';
import { OpsError } from './errors.js';

/**
 * Kunlun-style jobs (docs/operations.md, "Jobs"): coldbackup and coldrestore
 * run in the background under a job id, each moving queued → running → done
 * or failed, with progress. At most one job of each type runs at a time; a
 * second gets 409 naming the running one. Jobs are kept in the data
 * directory (layout.ts, JOBS_FILE) for a day after they end; a job that was
 * running when the node stopped is marked failed on the next start.
 */

export type JobType = 'coldbackup' | 'coldrestore';
export type JobState = 'queued' | 'running' | 'done' | 'failed';

export interface Job {
  job_id: string;
  job_type: JobType;
  status: JobState;
  progress: { records: number; total: number };
  /** ISO times; null until the job starts / ends. */
  queued: string;
  started: string | null;
  finished: string | null;
  /** The backup file, inside BackupDir. */
  file: string;
  error: string | null;
  /** What the job did (counts), once done. */
  result: Record<string, unknown> | null;
}

/** A running job's handle: progress and the end are reported through it. */
export interface JobRun {
  progress(records: number, total?: number): void;
}

export const JOB_KEEP_MS = 24 * 60 * 60 * 1000;
/** Progress is written to the jobs file at most this often (state changes at once). */
const SAVE_PROGRESS_EVERY_MS = 1000;
const JOB_ID = /^[A-Za-z0-9._-]{1,64}$/;

export class Jobs {
  private readonly jobs = new Map<string, Job>();
  private lastSave = 0;
  /** Why the jobs file could not be read at start, or null. */
  readonly problem: string | null = null;

  constructor(
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {
    if (existsSync(file)) {
      try {
        const saved = JSON.parse(readFileSync(file, 'utf8')) as { jobs?: Job[] };
        for (const j of saved.jobs ?? []) {
          if (typeof j?.job_id !== 'string') continue;
          if (j.status === 'queued' || j.status === 'running') {
            j.status = 'failed';
            j.error = 'the node stopped before the job finished';
            j.finished = new Date(this.now()).toISOString();
          }
          this.jobs.set(j.job_id, j);
        }
      } catch (err) {
        this.problem = `${file} cannot be read (${(err as Error).message}): the jobs listed in it are forgotten`;
      }
    }
    this.prune();
  }

  list(): Job[] {
    this.prune();
    return [...this.jobs.values()].map((j) => structuredClone(j));
  }

  get(id: string): Job | undefined {
    this.prune();
    const j = this.jobs.get(id);
    return j === undefined ? undefined : structuredClone(j);
  }

  /** The running (or queued) job of a type, if any. */
  active(type: JobType): Job | undefined {
    return [...this.jobs.values()].find((j) => j.job_type === type && (j.status === 'queued' || j.status === 'running'));
  }

  /**
   * Queues a job and starts it on the next turn of the event loop; returns
   * it as queued. 409 if a job of the type is active or the id is taken.
   */
  start(type: JobType, id: string | undefined, file: string, run: (job: JobRun) => Promise<Record<string, unknown>>): Job {
    const busy = this.active(type);
    if (busy !== undefined) throw new OpsError(409, `a ${type} job is ${busy.status} on this node: ${busy.job_id} (one at a time)`, { job_id: busy.job_id });
    if (id !== undefined && !JOB_ID.test(id)) throw new OpsError(400, 'job_id: must be 1 to 64 letters, digits, ".", "_" or "-"', { field: 'job_id' });
    const jobId = id ?? `${type}-${new Date(this.now()).toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
    if (this.jobs.has(jobId)) throw new OpsError(409, `job_id: ${jobId} is taken by another job`, { field: 'job_id', job_id: jobId });
    const job: Job = {
      job_id: jobId,
      job_type: type,
      status: 'queued',
      progress: { records: 0, total: 0 },
      queued: new Date(this.now()).toISOString(),
      started: null,
      finished: null,
      file,
      error: null,
      result: null,
    };
    this.jobs.set(jobId, job);
    this.save(true);
    const snapshot = structuredClone(job);
    setImmediate(() => {
      job.status = 'running';
      job.started = new Date(this.now()).toISOString();
      this.save(true);
      const handle: JobRun = {
        progress: (records, total) => {
          job.progress.records = records;
          if (total !== undefined) job.progress.total = total;
          this.save(false);
        },
      };
      run(handle).then(
        (result) => {
          job.status = 'done';
          job.result = result;
          this.end(job);
        },
        (err: unknown) => {
          job.status = 'failed';
          job.error = (err as Error)?.message ?? String(err);
          this.end(job);
        },
      );
    });
    return snapshot;
  }

  private end(job: Job): void {
    job.finished = new Date(this.now()).toISOString();
    this.save(true);
  }

  private prune(): void {
    const cutoff = this.now() - JOB_KEEP_MS;
    for (const [id, j] of this.jobs) if (j.finished !== null && Date.parse(j.finished) < cutoff) this.jobs.delete(id);
  }

  private save(now: boolean): void {
    if (!now && this.now() - this.lastSave < SAVE_PROGRESS_EVERY_MS) return;
    this.lastSave = this.now();
    this.prune();
    try {
      writeFileAtomic(this.file, `${JSON.stringify({ jobs: [...this.jobs.values()] }, null, 2)}\n`);
    } catch {
      // The jobs stay known in memory; the next save tries again.
    }
  }
}
