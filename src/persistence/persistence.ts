import { closeSync, rmSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { logger } from '../log.js';
import { type ChangeListener, type Store, StoreError } from '../store/store.js';
import { AppendLogFormatError, AppendLogWriter, listLogs, readAppendLog, type FsyncPolicy } from './append-log.js';
import { fsyncDirAsync, moveAside, openTempSync } from './files.js';
import { corruptName, logFileName, SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from './layout.js';
import { readSnapshot, SnapshotFormatError, writeSnapshot } from './snapshot.js';

const log = logger('persistence');

/**
 * What the node composes: loads the data directory into the store at start,
 * appends every change to the log as the store makes it (before the client is
 * answered; AppendFsync says when it reaches the disk), snapshots the store
 * periodically and at shutdown.
 *
 * Ordering that makes a crash at any point of a snapshot lose nothing:
 * 1. a snapshot first opens log generation g+1 and captures the store's
 *    records in the same tick (so every change is either in the capture or in
 *    g+1 or later);
 * 2. it writes the capture to a temp file, fsyncs, renames it over the old
 *    snapshot (header: replayFrom = g+1), fsyncs the directory;
 * 3. only then deletes generations <= g.
 * A crash before 2 completes leaves the old snapshot and every log since it;
 * a crash between 2 and 3 leaves logs that start-up recognises as covered
 * (generation < replayFrom) and deletes without replaying them.
 */

export interface PersistenceOptions {
  dataDir: string;
  store: Store;
  /** AppendLog: false = snapshots only. */
  appendLog: boolean;
  /** AppendFsync: 'always', 'no', or milliseconds between fsyncs. */
  fsync: FsyncPolicy;
  /** Task_DataBackup in ms; 0 = snapshot only at shutdown (and when the log grows large). */
  snapshotEveryMs: number;
  /** A log larger than this (and than the last snapshot) triggers a snapshot early. Default 64 MiB. */
  logSnapshotBytes?: number;
}

export interface LoadReport {
  /** Live keys in the store after loading. */
  keys: number;
  /** Tombstones and expired or evicted stubs kept after loading. */
  stubs: number;
  snapshotRecords: number;
  logRecords: number;
  logFiles: number;
  /** Entries that expired or were collected while the node was down. */
  swept: number;
  ms: number;
  /** Damaged files moved aside (full paths), by the snapshot that first covered their records. */
  movedAside: string[];
  /**
   * Files found damaged (full paths): every valid frame in them was loaded, and
   * each stays in place, still replayable, until a snapshot holds its records
   * and moves it aside (never deletes it).
   */
  damagedFiles: string[];
  /** Records known lost in damaged files (a damaged snapshot whose end frame is lost too adds none: unknown). */
  lostRecords: number;
  /** Append-log tails dropped because a crash cut a record short. */
  tornLogs: number;
  /**
   * The latest moment the loaded state is known to be complete (ms since the
   * epoch): the snapshot's time (refreshed while nothing changes) or the last
   * log write. 0 = nothing was loaded.
   */
  savedAt: number;
}

/** A StoreError, so every front end answers a failed save as a failed write, in its own protocol. */
export class PersistenceError extends StoreError {}

const DEFAULT_LOG_SNAPSHOT_BYTES = 64 * 1024 * 1024;

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

export class Persistence {
  private log: AppendLogWriter | null = null;
  private nextGeneration = 1;
  private unsubscribe: (() => void) | null = null;
  private timers: NodeJS.Timeout[] = [];
  private snapshotting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** The files on disk do not hold the store as a snapshot alone: worth a snapshot. */
  private dirty = false;
  /** The periodic snapshot (the `snapshot` run-time switch); the append log and the final snapshot at close go on regardless. */
  periodicSnapshots = true;
  private lastSnapshotBytes = 0;
  private writeErrors = 0;
  private snapshotQueued = false;
  /** begin() ran: the files may be written. */
  private begun = false;
  /** Covered by the snapshot (a crash between its rename and their removal): removed by begin(). */
  private coveredLogs: string[] = [];
  /** Damaged files still in place: the next snapshot moves them aside instead of deleting or replacing them. */
  private damaged = new Set<string>();
  readonly snapshotPath: string;
  readonly loaded: LoadReport;

  private constructor(private readonly opts: PersistenceOptions) {
    this.snapshotPath = join(opts.dataDir, SNAPSHOT_FILE);
    this.loaded = this.load();
  }

  /**
   * Loads the snapshot and the logs into the store and sweeps what expired
   * meanwhile, writing nothing: the node binds its ports between this and
   * begin(), so a process that cannot serve leaves the directory untouched.
   * Until begin(), clients' changes are refused (nothing would log them).
   * Throws PersistenceError with a message for the operator if the data
   * directory cannot be read.
   */
  static load(opts: PersistenceOptions): Persistence {
    let p: Persistence;
    try {
      p = new Persistence(opts);
    } catch (err) {
      if (err instanceof PersistenceError) throw err;
      throw new PersistenceError(`cannot use the data directory ${opts.dataDir} (${errText(err)}): check DBfile and the folder's permissions`);
    }
    p.unsubscribe = opts.store.onChange(p.onChange);
    return p;
  }

  /** load() then begin(), for callers with no ports to bind in between. */
  static open(opts: PersistenceOptions): Persistence {
    const p = Persistence.load(opts);
    try {
      p.begin();
    } catch (err) {
      p.unsubscribe?.();
      throw err;
    }
    return p;
  }

  /**
   * The first writes: removes what load() found obsolete (a leftover temp
   * file, logs the snapshot covers), proves the snapshot can be written, opens
   * a new log generation and accepts changes.
   */
  begin(): void {
    if (this.begun) return;
    const { dataDir } = this.opts;
    try {
      try {
        unlinkSync(join(dataDir, SNAPSHOT_TEMP_FILE));
      } catch {
        // Absent, or not removable: probeWritable says what is wrong.
      }
      for (const path of this.coveredLogs) {
        rmSync(path, { force: true });
        log.info('append log %s is covered by the snapshot: removed', path);
      }
      this.coveredLogs = [];
      this.probeWritable();
      if (this.opts.appendLog) this.log = this.createLog();
    } catch (err) {
      if (err instanceof PersistenceError) throw err;
      throw new PersistenceError(`cannot use the data directory ${dataDir} (${errText(err)}): check DBfile and the folder's permissions`);
    }
    this.begun = true;
  }

  /**
   * When load() found damaged files: a snapshot now, which holds every record
   * read from them and moves them aside. Until it is on disk they stay where
   * they are, so a crash meanwhile replays them again and loses nothing more.
   * A failed snapshot leaves them in place for the next one.
   */
  async moveDamagedAside(): Promise<void> {
    if (this.damaged.size === 0) return;
    this.dirty = true;
    await this.snapshot();
  }

  /** Starts the periodic fsync and snapshot timers. */
  start(): void {
    const { fsync, snapshotEveryMs } = this.opts;
    if (this.opts.appendLog && typeof fsync === 'number' && fsync > 0) {
      this.every(fsync, () => {
        this.log?.sync().catch((err: unknown) => log.error('append log fsync failed: %s', errText(err)));
      });
    }
    if (snapshotEveryMs > 0) {
      this.every(snapshotEveryMs, () => {
        if (!this.periodicSnapshots) return;
        if (this.dirty) this.snapshot().catch(() => {});
        else this.touchSnapshot();
      });
    }
  }

  /** Writes a snapshot now (or joins the one running). Rejects if it could not be written; the logs are then kept. */
  snapshot(): Promise<void> {
    if (this.closing !== null) return this.closing;
    if (!this.begun) return Promise.reject(new PersistenceError('the data directory is not in use yet (begin() has not run)'));
    this.snapshotting ??= this.writeSnapshotNow(false).finally(() => {
      this.snapshotting = null;
    });
    return this.snapshotting;
  }

  /** Final snapshot, then closes the log. Call after everything that changes the store has stopped. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.begun) {
        // Never started (the ports could not be bound): leave the files exactly as they were.
        this.unsubscribe?.();
        this.unsubscribe = null;
        return;
      }
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      await this.snapshotting?.catch(() => {});
      try {
        await this.writeSnapshotNow(true);
      } finally {
        this.unsubscribe?.();
        this.unsubscribe = null;
        await this.log?.close().catch(() => {});
        this.log = null;
      }
    })();
    return this.closing;
  }

  stats(): { logGeneration: number | null; logBytes: number; writeErrors: number; snapshotBytes: number } {
    return {
      logGeneration: this.log?.generation ?? null,
      logBytes: this.log?.size ?? 0,
      writeErrors: this.writeErrors,
      snapshotBytes: this.lastSnapshotBytes,
    };
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /**
   * Nothing changed since the snapshot, so it is the whole store as of now: its
   * mtime says so, and savedAt at the next start (after a crash) is that recent,
   * not the time of the last change (the TombstoneTTL check, docs/architecture.md).
   */
  private touchSnapshot(): void {
    try {
      const t = new Date();
      utimesSync(this.snapshotPath, t, t);
    } catch {
      // No snapshot yet (empty store since start) or not touchable: savedAt stays older, which is safe.
    }
  }

  private readonly onChange: ChangeListener = (change) => {
    if (change.origin === 'load') return;
    if (!this.begun && change.origin === 'local') throw new PersistenceError('the node is still starting: the change was not saved; try again');
    this.dirty = true;
    const w = this.log;
    if (w === null) return;
    try {
      w.append(change.record);
    } catch (err) {
      this.writeFailed(w.path, err);
      // A client's write must not be acknowledged as saved; a peer's is still held and re-synced by anti-entropy.
      if (change.origin === 'local') throw new PersistenceError(`the change could not be saved: append log error ${errText(err)}`);
      return;
    }
    const limit = Math.max(this.opts.logSnapshotBytes ?? DEFAULT_LOG_SNAPSHOT_BYTES, this.lastSnapshotBytes);
    if (w.size > limit) this.snapshotSoon();
  };

  /**
   * A log write failed (disk full, I/O error): the store still holds the
   * change, so a snapshot, which opens a fresh generation, saves it again.
   */
  private writeFailed(path: string, err: unknown): void {
    this.writeErrors += 1;
    if (this.writeErrors === 1 || this.writeErrors % 1000 === 0) {
      log.error('cannot write to the append log %s (%s); %d failed writes so far; a snapshot will save the store', path, errText(err), this.writeErrors);
    }
    this.dirty = true;
    this.snapshotSoon();
  }

  private snapshotSoon(): void {
    if (this.snapshotting !== null || this.closing !== null || this.snapshotQueued) return;
    this.snapshotQueued = true;
    setImmediate(() => {
      this.snapshotQueued = false;
      if (this.snapshotting === null && this.closing === null) this.snapshot().catch(() => {});
    });
  }

  private createLog(): AppendLogWriter {
    const generation = this.nextGeneration++;
    try {
      const dir = this.opts.dataDir;
      return AppendLogWriter.create(dir, generation, this.opts.store.nodeId, this.opts.fsync, (err) => this.writeFailed(join(dir, logFileName(generation)), err));
    } catch (err) {
      throw new PersistenceError(
        `cannot create the append log in ${this.opts.dataDir} (${errText(err)}): check DBfile, the folder's permissions and free space`,
      );
    }
  }

  /** Fails at start, not at the first snapshot, if the snapshot cannot be written. */
  private probeWritable(): void {
    const tmp = join(this.opts.dataDir, SNAPSHOT_TEMP_FILE);
    try {
      closeSync(openTempSync(tmp));
      rmSync(tmp, { force: true });
    } catch (err) {
      throw new PersistenceError(`cannot write the snapshot's temp file ${tmp} (${errText(err)}): check DBfile and the folder's permissions`);
    }
  }

  private async writeSnapshotNow(final: boolean): Promise<void> {
    const { dataDir, store } = this.opts;
    const old = this.log;
    // Every change from here on goes to the next generation (or nowhere, after the final capture).
    let replayFrom: number;
    if (final || !this.opts.appendLog) {
      replayFrom = this.nextGeneration;
      if (final) {
        this.unsubscribe?.();
        this.unsubscribe = null;
      }
      this.log = null;
    } else {
      try {
        this.log = this.createLog();
      } catch (err) {
        log.error('snapshot skipped: %s', (err as Error).message);
        throw err;
      }
      replayFrom = this.log.generation;
    }
    const records = Array.from(store.entries());
    const capturedAt = Date.now();
    const wasDirty = this.dirty;
    this.dirty = false;
    try {
      await old?.close();
      const replacingDamaged = this.damaged.has(this.snapshotPath);
      const res = await writeSnapshot(this.snapshotPath, join(dataDir, SNAPSHOT_TEMP_FILE), records, {
        nodeId: store.nodeId,
        createdAt: capturedAt,
        replayFrom,
      }, replacingDamaged ? corruptName(this.snapshotPath) : undefined);
      if (res.keptOldAs !== null || replacingDamaged) this.damaged.delete(this.snapshotPath);
      if (res.keptOldAs !== null) this.movedAsideNow(this.snapshotPath, res.keptOldAs);
      this.lastSnapshotBytes = res.bytes;
      let removed = 0;
      for (const l of listLogs(dataDir)) {
        if (l.generation >= replayFrom) continue;
        if (this.damaged.has(l.path)) {
          // Damaged, so kept for inspection: the snapshot now holds what could be read from it.
          this.movedAsideNow(l.path, moveAside(l.path, corruptName(l.path)));
          this.damaged.delete(l.path);
        } else {
          rmSync(l.path, { force: true });
        }
        removed += 1;
      }
      if (removed > 0) await fsyncDirAsync(join(dataDir, SNAPSHOT_FILE));
      log.info('snapshot%s: %d records, %d bytes in %d ms', final ? ' (shutdown)' : '', res.records, res.bytes, res.ms);
    } catch (err) {
      this.dirty ||= wasDirty || records.length > 0;
      log.error('snapshot failed, the append logs are kept: %s', errText(err));
      throw err;
    }
  }

  private load(): LoadReport {
    const { dataDir, store } = this.opts;
    const started = performance.now();
    const report: LoadReport = {
      keys: 0, stubs: 0, snapshotRecords: 0, logRecords: 0, logFiles: 0, swept: 0, ms: 0,
      movedAside: [], damagedFiles: [], lostRecords: 0, tornLogs: 0, savedAt: 0,
    };
    const merge = (r: Parameters<Store['merge']>[0]) => {
      store.merge(r, 'load');
    };
    const foundDamaged = (path: string) => {
      this.damaged.add(path);
      report.damagedFiles.push(path);
    };

    let replayFrom = 0;
    let snap;
    try {
      snap = readSnapshot(this.snapshotPath, merge);
    } catch (err) {
      if (err instanceof SnapshotFormatError) throw new PersistenceError(err.message);
      throw new PersistenceError(`cannot read the snapshot ${this.snapshotPath} (${errText(err)})`);
    }
    if (snap.status === 'ok') {
      replayFrom = snap.meta.replayFrom;
      report.snapshotRecords = snap.records;
      report.savedAt = Math.max(snap.meta.createdAt, this.mtime(this.snapshotPath));
      this.lastSnapshotBytes = snap.bytes;
    } else if (snap.status === 'damaged') {
      // Every log is replayed (replayFrom stays 0): an older one may still hold what the damage cost.
      report.snapshotRecords = snap.records;
      report.lostRecords += snap.lost ?? 0;
      foundDamaged(this.snapshotPath);
      this.dirty = true;
      log.warn('snapshot %s is damaged (%s): loaded the %d records of its valid chunks, lost %s; it is moved aside by the next snapshot',
        this.snapshotPath, snap.reason, snap.records, snap.lost === null ? 'an unknown number (its end frame is lost too)' : `${snap.lost}`);
    }

    let lastGeneration = 0;
    let logs;
    try {
      logs = listLogs(dataDir);
    } catch (err) {
      throw new PersistenceError(`cannot list the data directory ${dataDir} (${errText(err)})`);
    }
    for (const l of logs) {
      lastGeneration = Math.max(lastGeneration, l.generation);
      if (l.generation < replayFrom) {
        // Contained in the snapshot: a crash came between its rename and this log's removal (or
        // its move aside, if damaged: checked, not replayed, so a damaged one is still kept).
        let covered;
        try {
          covered = readAppendLog(l.path, l.generation, () => {});
        } catch {
          covered = null;
        }
        if (covered !== null && covered.end.kind !== 'bad-magic' && covered.damaged.length === 0) this.coveredLogs.push(l.path);
        else foundDamaged(l.path);
        continue;
      }
      let res;
      try {
        res = readAppendLog(l.path, l.generation, merge);
      } catch (err) {
        if (err instanceof AppendLogFormatError) throw new PersistenceError(err.message);
        throw new PersistenceError(`cannot read the append log ${l.path} (${errText(err)})`);
      }
      report.logFiles += 1;
      report.logRecords += res.records;
      if (res.records > 0) this.dirty = true;
      if (res.end.kind === 'bad-magic') {
        foundDamaged(l.path);
        log.warn('append log %s is not an owlcache append log (wrong magic bytes): it is moved aside by the next snapshot', l.path);
      } else if (res.damaged.length > 0) {
        foundDamaged(l.path);
        report.lostRecords += res.lostRecords;
        log.warn('append log %s is damaged in the middle (%s): skipped %d damaged record(s), replayed the %d valid ones; it is moved aside by the next snapshot',
          l.path, res.damaged.map((d) => `${d.reason} at byte ${d.offset}, ${d.bytes} bytes`).join('; '), res.lostRecords, res.records);
      }
      if (res.end.kind === 'torn') {
        report.tornLogs += 1;
        log.warn('append log %s: dropped a torn record (%s) at byte %d, %d bytes; kept the %d records before it',
          l.path, res.end.reason, res.end.offset, res.end.dropped, res.records);
      }
      if (res.records > 0) report.savedAt = Math.max(report.savedAt, this.mtime(l.path));
    }
    this.nextGeneration = Math.max(replayFrom, lastGeneration + 1, 1);
    if (report.damagedFiles.length > 0 && report.lostRecords > 0) {
      log.warn('%d record(s) lost to damage in %s', report.lostRecords, report.damagedFiles.join(', '));
    }

    report.swept = store.sweep();
    const s = store.stats();
    report.keys = s.keys;
    report.stubs = s.stubs;
    report.ms = Math.round(performance.now() - started);
    log.info('loaded %d keys (%d stubs) in %d ms: %d snapshot records, %d append-log records from %d files, %d expired or collected',
      report.keys, report.stubs, report.ms, report.snapshotRecords, report.logRecords, report.logFiles, report.swept);
    return report;
  }

  private mtime(path: string): number {
    try {
      return Math.floor(statSync(path).mtimeMs);
    } catch {
      return 0;
    }
  }

  private movedAsideNow(path: string, to: string): void {
    this.loaded.movedAside.push(to);
    log.warn('damaged file %s moved aside to %s (never deleted; the snapshot holds what could be read from it)', path, to);
  }
}
