import { closeSync, rmSync, statfsSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { type Store, StoreError, type WriteAheadHook } from '../store/store.js';
import { AppendLogFormatError, AppendLogWriter, listLogs, readAppendLog, type FsyncPolicy } from './append-log.js';
import { fsyncDirAsync, moveAside, openTempSync } from './files.js';
import { corruptName, SNAPSHOT_FILE, SNAPSHOT_TEMP_FILE } from './layout.js';
import { readSnapshot, SnapshotFormatError, writeSnapshot } from './snapshot.js';

const log = logger('persistence');

/**
 * What the node composes: loads the data directory into the store at start,
 * appends every change to the log before the store makes it (a client's change
 * is written before it is made and answered, or refused; AppendFsync says when
 * it reaches the disk), snapshots the store periodically and at shutdown.
 *
 * When the log cannot be written (disk full, I/O error) the node is in one
 * state, "unwritable since T": client writes are refused with that reason,
 * reads go on, peers' changes are still taken in memory, the condition is
 * logged once a minute, and no file is created per failed write. Each client
 * write tries the log again, so writes resume by themselves once there is
 * space; peers' changes taken meanwhile are saved by a snapshot, tried every
 * second once the file system reports room for it.
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
  /** Counts append-log bytes, fsync and snapshot durations (absent = not counted). */
  metrics?: Metrics;
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

/** How far Persistence.load() is (GET /readyz while a large data directory loads). */
export interface LoadProgress {
  /** Records merged into the store so far. */
  records: number;
  /** Bytes read so far of the files the load reads (the snapshot and the logs). */
  bytesRead: number;
  /** Their size when the load began. */
  bytesTotal: number;
}

/** A StoreError, so every front end answers a failed save as a failed write, in its own protocol. */
export class PersistenceError extends StoreError {}

const DEFAULT_LOG_SNAPSHOT_BYTES = 64 * 1024 * 1024;
/** How often the "cannot write" condition is logged while it lasts. */
const UNWRITABLE_LOG_EVERY_MS = 60_000;
/** How often recovery is tried while changes are held in memory only; doubled after each failed snapshot, up to a minute. */
const RECOVERY_EVERY_MS = 1_000;
const RECOVERY_MAX_DELAY_MS = 60_000;

interface Unwritable {
  since: number;
  /** The first error, e.g. "ENOSPC: no space left on device, write". */
  reason: string;
  lastLogged: number;
  refusedSinceLog: number;
  refused: number;
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

/** The code and what it means: "ENOSPC: no space left on device, write". */
function errDetail(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code !== undefined && e.message.startsWith(e.code)) return e.message;
  return e.code !== undefined ? `${e.code}: ${e.message}` : e.message;
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
  /** Holds on the log-size snapshot (a restore running): the log grows meanwhile, one snapshot follows. */
  private sizeSnapshotHolds = 0;
  /** begin() ran: the files may be written. */
  private begun = false;
  /** Covered by the snapshot (a crash between its rename and their removal): removed by begin(). */
  private coveredLogs: string[] = [];
  /** Damaged files still in place: the next snapshot moves them aside instead of deleting or replacing them. */
  private damaged = new Set<string>();
  private unwritable: Unwritable | null = null;
  /** Changes in the store that no log file holds (peers' changes while unwritable): a snapshot must save them. */
  private unsaved = false;
  private recoveryTimer: NodeJS.Timeout | null = null;
  private recoveryDelayMs = RECOVERY_EVERY_MS;
  private nextRecoveryAt = 0;
  readonly snapshotPath: string;
  private report: LoadReport | null = null;
  private loading: Promise<LoadReport> | null = null;
  private readonly progressNow: LoadProgress = { records: 0, bytesRead: 0, bytesTotal: 0 };

  /**
   * Reads nothing yet (load() does). From here on the store's client changes
   * are refused until begin(): nothing would log them.
   */
  constructor(private readonly opts: PersistenceOptions) {
    this.snapshotPath = join(opts.dataDir, SNAPSHOT_FILE);
    opts.store.setWriteAhead(this.writeAhead);
    this.unsubscribe = () => opts.store.setWriteAhead(null);
  }

  /** load() then begin(), for callers with no ports to bind in between. */
  static async open(opts: PersistenceOptions): Promise<Persistence> {
    const p = new Persistence(opts);
    try {
      await p.load();
      p.begin();
    } catch (err) {
      p.unsubscribe?.();
      throw err;
    }
    return p;
  }

  /**
   * Loads the snapshot and the logs into the store and sweeps what expired
   * meanwhile, writing nothing: the node binds its ports around this and
   * calls begin() after it, so a process that cannot serve leaves the
   * directory untouched. The files are read in slices with a turn of the
   * event loop between them (frames.ts, ReadSlicing), so the node answers its
   * health checks meanwhile; progress() says how far it is. Rejects with a
   * PersistenceError with a message for the operator if the data directory
   * cannot be read, or with the signal's reason once `signal` is aborted
   * (between two slices; nothing was written either way). Called once.
   */
  load(options: { signal?: AbortSignal; sliceMs?: number } = {}): Promise<LoadReport> {
    this.loading ??= this.readDirectory(options).then(
      (report) => {
        this.report = report;
        return report;
      },
      (err: unknown) => {
        if (err instanceof PersistenceError || options.signal?.aborted) throw err;
        throw new PersistenceError(`cannot use the data directory ${this.opts.dataDir} (${errText(err)}): check DBfile and the folder's permissions`);
      },
    );
    return this.loading;
  }

  /** What load() found; only once it has finished. */
  get loaded(): LoadReport {
    if (this.report === null) throw new Error('the data directory is not loaded yet');
    return this.report;
  }

  /** How far load() is: records merged so far, bytes read of the files it reads (updated between slices). */
  progress(): LoadProgress {
    return { ...this.progressNow };
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
        // While unwritable, the recovery timer decides when a snapshot has a chance.
        if (this.unwritable !== null) return;
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
      this.stopRecovery();
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

  stats(): {
    logGeneration: number | null;
    logBytes: number;
    writeErrors: number;
    snapshotBytes: number;
    /** Since when (ms since the epoch) the log cannot be written, and why; null when it can. */
    unwritableSince: number | null;
    unwritableReason: string | null;
    refusedWrites: number;
  } {
    return {
      logGeneration: this.log?.generation ?? null,
      logBytes: this.log?.size ?? 0,
      writeErrors: this.writeErrors,
      snapshotBytes: this.lastSnapshotBytes,
      unwritableSince: this.unwritable?.since ?? null,
      unwritableReason: this.unwritable?.reason ?? null,
      refusedWrites: this.unwritable?.refused ?? 0,
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

  /**
   * The store's write-ahead hook. A client's changes are written to the log
   * (one write(2)) before they are made, or refused with a PersistenceError so
   * nothing changes; a peer's are queued for the end of the turn and kept in
   * memory even if the log cannot take them (a snapshot saves them later).
   */
  private readonly writeAhead: WriteAheadHook = (changes) => {
    const origin = changes[0]?.origin;
    if (origin === undefined || origin === 'load') return;
    if (!this.begun && origin === 'local') throw new PersistenceError('the node is still starting: the change was not saved; try again');
    const w = this.log;
    if (w === null) {
      this.dirty = true;
      return;
    }
    if (origin === 'local') {
      try {
        w.appendNow(changes.map((c) => c.record));
      } catch (err) {
        this.writeFailed(w, err);
        this.unwritable!.refused += changes.length;
        this.unwritable!.refusedSinceLog += changes.length;
        throw new PersistenceError(this.refusal());
      }
      this.dirty = true;
      if (this.unwritable !== null) this.recovered();
    } else {
      this.dirty = true;
      if (this.unwritable !== null) {
        // Already failing: trying each peer change would only fail again; the recovery snapshot saves it.
        this.unsaved = true;
        return;
      }
      try {
        for (const c of changes) w.append(c.record);
      } catch (err) {
        this.unsaved = true;
        this.writeFailed(w, err);
        return;
      }
    }
    if (this.sizeSnapshotHolds === 0 && this.logOutgrown(w)) this.snapshotSoon();
  };

  /** The log is larger than the last snapshot and than logSnapshotBytes: a snapshot would make it small again. */
  private logOutgrown(w: AppendLogWriter): boolean {
    return w.size > Math.max(this.opts.logSnapshotBytes ?? DEFAULT_LOG_SNAPSHOT_BYTES, this.lastSnapshotBytes);
  }

  /**
   * Until the returned release is called, a large append log triggers no
   * snapshot: a bulk writer (a restore, whose log grows by about the backup's
   * size) is not slowed by snapshots of the whole store that its next writes
   * would outgrow again. Every change is still written to the log before it
   * is made, so nothing is less safe; only the log is longer meanwhile. On
   * the last release, one snapshot follows if the log outgrew its limit.
   */
  holdSizeSnapshots(): () => void {
    this.sizeSnapshotHolds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.sizeSnapshotHolds -= 1;
      if (this.sizeSnapshotHolds === 0 && this.log !== null && this.logOutgrown(this.log)) this.snapshotSoon();
    };
  }

  /** What a client whose write was refused is told. */
  private refusal(): string {
    const u = this.unwritable!;
    return (
      `write refused, nothing was changed: the data directory ${this.opts.dataDir} cannot be written since ` +
      `${new Date(u.since).toISOString()} (${u.reason}); reads still work, and writes resume by themselves once it can be written again`
    );
  }

  /**
   * A log write failed (disk full, I/O error). Enters the unwritable state (or
   * stays in it), logging at most once a minute; opens no new file, since a
   * new generation would fail alike. Appends that were still queued are
   * dropped: their changes are in the store, and the recovery snapshot saves them.
   */
  private writeFailed(w: AppendLogWriter, err: unknown): void {
    this.writeErrors += 1;
    if (w.dropPending() > 0) this.unsaved = true;
    const now = Date.now();
    const u = this.unwritable;
    if (u === null) {
      this.unwritable = { since: now, reason: errDetail(err), lastLogged: now, refusedSinceLog: 0, refused: 0 };
      log.error(
        'cannot write to the append log %s (%s): client writes are refused until it can be written again; reads go on; ' +
          'this is logged again once a minute while it lasts',
        w.path,
        errDetail(err),
      );
      this.startRecovery();
    } else if (now - u.lastLogged >= UNWRITABLE_LOG_EVERY_MS) {
      log.error(
        'still cannot write to the append log %s since %s (%s): %d client writes refused in the last %d s, %d in all',
        w.path,
        new Date(u.since).toISOString(),
        errDetail(err),
        u.refusedSinceLog,
        Math.round((now - u.lastLogged) / 1000),
        u.refused,
      );
      u.lastLogged = now;
      u.refusedSinceLog = 0;
    }
  }

  /** The log took a write again (or a snapshot saved everything). */
  private recovered(): void {
    const u = this.unwritable;
    if (u === null) return;
    this.unwritable = null;
    log.warn(
      'the append log can be written again after %d s; %d client writes were refused meanwhile%s',
      Math.round((Date.now() - u.since) / 1000),
      u.refused,
      this.unsaved || this.logNeedsReplacing() ? '; a snapshot saves what peers sent meanwhile' : '',
    );
    if (this.unsaved || this.logNeedsReplacing()) {
      this.snapshotSoon();
    } else {
      this.stopRecovery();
    }
  }

  private startRecovery(): void {
    if (this.recoveryTimer !== null) return;
    this.recoveryDelayMs = RECOVERY_EVERY_MS;
    this.nextRecoveryAt = 0;
    this.recoveryTimer = setInterval(() => this.tryRecovery(), RECOVERY_EVERY_MS);
    this.recoveryTimer.unref();
  }

  private stopRecovery(): void {
    if (this.recoveryTimer !== null) clearInterval(this.recoveryTimer);
    this.recoveryTimer = null;
  }

  /**
   * Changes held in memory only (or a log that cannot be appended to) need a
   * snapshot, which opens a new generation: tried once the file system reports
   * room for it, so a still-full disk sees no attempt (and no new file).
   */
  private tryRecovery(): void {
    if (this.closing !== null) return this.stopRecovery();
    const needsSnapshot = this.unsaved || this.logNeedsReplacing();
    if (!needsSnapshot) {
      // Nothing is held in memory only: the next client write tries the log itself.
      if (this.unwritable === null) this.stopRecovery();
      return;
    }
    const now = Date.now();
    if (now < this.nextRecoveryAt || this.snapshotting !== null) return;
    if (!this.roomForSnapshot()) return;
    this.snapshot().then(
      () => {
        this.recoveryDelayMs = RECOVERY_EVERY_MS;
        this.recovered();
        this.stopRecovery();
      },
      () => {
        this.recoveryDelayMs = Math.min(this.recoveryDelayMs * 2, RECOVERY_MAX_DELAY_MS);
        this.nextRecoveryAt = Date.now() + this.recoveryDelayMs;
      },
    );
  }

  /** The current log can take no more appends (a failed write could not be cut back): only a new generation helps. */
  private logNeedsReplacing(): boolean {
    return this.log !== null && (this.log.isBroken || !this.log.open);
  }

  /** Whether the file system reports free space for a snapshot of the store (true if it cannot say). */
  private roomForSnapshot(): boolean {
    try {
      const fs = statfsSync(this.opts.dataDir);
      const need = Math.max(this.lastSnapshotBytes, this.opts.store.sizes().bytes) + (64 << 10);
      return fs.bavail * fs.bsize >= need;
    } catch {
      return true;
    }
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
      const w = AppendLogWriter.create(
        dir,
        generation,
        this.opts.store.nodeId,
        this.opts.fsync,
        (err) => {
          // A peer's changes, written at the end of the turn: they stay in memory (the recovery snapshot saves them).
          this.unsaved = true;
          this.writeFailed(w, err);
        },
        this.opts.metrics,
      );
      return w;
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
    const started = performance.now();
    // A consistent picture as of now, handed out in slices while the store goes on serving.
    const capture = store.capture();
    const capturedAt = Date.now();
    const wasDirty = this.dirty;
    const wasUnsaved = this.unsaved;
    this.dirty = false;
    this.unsaved = false;
    try {
      // The capture holds everything the old log does: a failure to close it must not stop the snapshot.
      await old?.close().catch((err: unknown) => log.warn('closing the append log %s failed (%s); the snapshot covers it', old.path, errText(err)));
      const replacingDamaged = this.damaged.has(this.snapshotPath);
      const res = await writeSnapshot(
        this.snapshotPath,
        join(dataDir, SNAPSHOT_TEMP_FILE),
        capture,
        {
          nodeId: store.nodeId,
          createdAt: capturedAt,
          replayFrom,
          records: capture.size,
        },
        replacingDamaged ? corruptName(this.snapshotPath) : undefined,
      );
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
      this.opts.metrics?.snapshotWritten(true, performance.now() - started);
    } catch (err) {
      this.opts.metrics?.snapshotWritten(false, performance.now() - started);
      this.dirty ||= wasDirty || capture.size > 0;
      this.unsaved ||= wasUnsaved;
      log.error('snapshot failed, the append logs are kept: %s', errText(err));
      throw err;
    } finally {
      capture.close();
    }
  }

  private async readDirectory(options: { signal?: AbortSignal; sliceMs?: number }): Promise<LoadReport> {
    const { dataDir, store } = this.opts;
    const started = performance.now();
    const report: LoadReport = {
      keys: 0,
      stubs: 0,
      snapshotRecords: 0,
      logRecords: 0,
      logFiles: 0,
      swept: 0,
      ms: 0,
      movedAside: [],
      damagedFiles: [],
      lostRecords: 0,
      tornLogs: 0,
      savedAt: 0,
    };
    const progress = this.progressNow;
    const merge = (r: Parameters<Store['merge']>[0]) => {
      store.merge(r, 'load');
      progress.records += 1;
    };
    /** Reading one file of the load: its progress is counted from what the files before it held. */
    const slicing = (file: string) => {
      const base = progress.bytesRead;
      const size = this.size(file);
      return {
        slicing: { signal: options.signal, sliceMs: options.sliceMs, onProgress: (offset: number) => (progress.bytesRead = base + offset) },
        done: () => (progress.bytesRead = base + size),
      };
    };
    const foundDamaged = (path: string) => {
      this.damaged.add(path);
      report.damagedFiles.push(path);
    };

    let logs;
    try {
      logs = listLogs(dataDir);
    } catch (err) {
      throw new PersistenceError(`cannot list the data directory ${dataDir} (${errText(err)})`);
    }
    progress.bytesTotal = this.size(this.snapshotPath) + logs.reduce((n, l) => n + this.size(l.path), 0);

    let replayFrom = 0;
    let snap;
    const snapRead = slicing(this.snapshotPath);
    try {
      // No more records than the file could hold (10 bytes is the smallest record), whatever a damaged header says.
      const fits = Math.floor(this.size(this.snapshotPath) / 10);
      snap = await readSnapshot(this.snapshotPath, merge, snapRead.slicing, (meta) => store.reserve(Math.min(meta.records ?? 0, fits)));
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (err instanceof SnapshotFormatError) throw new PersistenceError(err.message);
      throw new PersistenceError(`cannot read the snapshot ${this.snapshotPath} (${errText(err)})`);
    }
    snapRead.done();
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
      log.warn(
        'snapshot %s is damaged (%s): loaded the %d records of its valid chunks, lost %s; it is moved aside by the next snapshot',
        this.snapshotPath,
        snap.reason,
        snap.records,
        snap.lost === null ? 'an unknown number (its end frame is lost too)' : `${snap.lost}`,
      );
    }

    let lastGeneration = 0;
    for (const l of logs) {
      lastGeneration = Math.max(lastGeneration, l.generation);
      if (l.generation < replayFrom) {
        // Contained in the snapshot: a crash came between its rename and this log's removal (or
        // its move aside, if damaged: checked, not replayed, so a damaged one is still kept).
        let covered;
        const read = slicing(l.path);
        try {
          covered = await readAppendLog(l.path, l.generation, () => {}, read.slicing);
        } catch (err) {
          if (options.signal?.aborted) throw err;
          covered = null;
        }
        read.done();
        if (covered !== null && covered.end.kind !== 'bad-magic' && covered.damaged.length === 0) this.coveredLogs.push(l.path);
        else foundDamaged(l.path);
        continue;
      }
      let res;
      const read = slicing(l.path);
      try {
        res = await readAppendLog(l.path, l.generation, merge, read.slicing);
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (err instanceof AppendLogFormatError) throw new PersistenceError(err.message);
        throw new PersistenceError(`cannot read the append log ${l.path} (${errText(err)})`);
      }
      read.done();
      report.logFiles += 1;
      report.logRecords += res.records;
      if (res.records > 0) this.dirty = true;
      if (res.end.kind === 'bad-magic') {
        foundDamaged(l.path);
        log.warn('append log %s is not an owlcache append log (wrong magic bytes): it is moved aside by the next snapshot', l.path);
      } else if (res.damaged.length > 0) {
        foundDamaged(l.path);
        report.lostRecords += res.lostRecords;
        log.warn(
          'append log %s is damaged in the middle (%s): skipped %d damaged record(s), replayed the %d valid ones; it is moved aside by the next snapshot',
          l.path,
          res.damaged.map((d) => `${d.reason} at byte ${d.offset}, ${d.bytes} bytes`).join('; '),
          res.lostRecords,
          res.records,
        );
      }
      if (res.end.kind === 'torn') {
        report.tornLogs += 1;
        log.warn(
          'append log %s: dropped a torn record (%s) at byte %d, %d bytes; kept the %d records before it',
          l.path,
          res.end.reason,
          res.end.offset,
          res.end.dropped,
          res.records,
        );
      }
      if (res.records > 0) report.savedAt = Math.max(report.savedAt, this.mtime(l.path));
    }
    this.nextGeneration = Math.max(replayFrom, lastGeneration + 1, 1);
    if (report.damagedFiles.length > 0 && report.lostRecords > 0) {
      log.warn('%d record(s) lost to damage in %s', report.lostRecords, report.damagedFiles.join(', '));
    }

    report.swept = store.sweep();
    const s = store.sizes();
    report.keys = s.keys;
    report.stubs = s.stubs;
    report.ms = Math.round(performance.now() - started);
    log.info(
      'loaded %d keys (%d stubs) in %d ms: %d snapshot records, %d append-log records from %d files, %d expired or collected',
      report.keys,
      report.stubs,
      report.ms,
      report.snapshotRecords,
      report.logRecords,
      report.logFiles,
      report.swept,
    );
    return report;
  }

  /** When the snapshot on disk was last written or confirmed current (ms since the epoch; LASTSAVE); null if there is none. */
  lastSnapshotAt(): number | null {
    const t = this.mtime(this.snapshotPath);
    return t === 0 ? null : t;
  }

  /** A file's size, 0 if it cannot be read (load() reports why when it reads it). */
  private size(path: string): number {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  }

  private mtime(path: string): number {
    try {
      return Math.floor(statSync(path).mtimeMs);
    } catch {
      return 0;
    }
  }

  private movedAsideNow(path: string, to: string): void {
    this.report?.movedAside.push(to);
    log.warn('damaged file %s moved aside to %s (never deleted; the snapshot holds what could be read from it)', path, to);
  }
}
