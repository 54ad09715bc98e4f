import { closeSync, fdatasync, fdatasyncSync, ftruncateSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../metrics/metrics.js';
import type { EntryRecord } from '../store/entry.js';
import { fsyncDir, fsyncDirAsync } from './files.js';
import {
  FILE_HEAD_BYTES,
  FRAME_HEAD_BYTES,
  KIND_HEADER,
  KIND_RECORDS,
  fileHead,
  frame,
  frameAt,
  frameInPlace,
  readFramedFile,
  type ReadSlicing,
  type SkippedRegion,
} from './frames.js';
import { logFileName, logGeneration } from './layout.js';
import { decodeMap, decodeRecord, encodeMap, encodeRecord, RecordFormatError, recordSize, writeRecord } from '../store/record-codec.js';

/**
 * The append-only log: one file per generation, each
 *
 *   "OWLALOG\n" · u32 format · H{generation, nodeId, createdAt} · R[record]*
 *
 * with one record per frame (FsyncPolicy says when they reach the disk). A
 * generation is never appended to after its writer closes: each start and each
 * snapshot opens the next one, so a torn tail stays a tail.
 */

export const LOG_MAGIC = Buffer.from('OWLALOG\n', 'latin1');
export const LOG_FORMAT = 1;

/**
 * When appended records reach the disk. A client's change is written (write(2)
 * done, so in the kernel) before the store changes and before it is answered,
 * whatever the policy (appendNow); a peer's change is written at the end of the
 * turn with the turn's other peer changes, in one write(2) (append). Then:
 * - 'always': fdatasync'ed before appendNow/append returns;
 * - a number n (ms): the owner calls sync() every n ms;
 * - 'no': the OS decides when to flush.
 * So a killed process loses no acknowledged change, a power loss at most the
 * last n ms of them (like Redis's appendfsync everysec).
 */
export type FsyncPolicy = 'always' | 'no' | number;

export class AppendLogFormatError extends Error {}

/** Pending appends past this size are written at once instead of at the end of the turn. */
const FLUSH_AT_BYTES = 1 << 20;

/** Writes b at `position`, looping over short writes. */
function writeAllAt(fd: number, b: Buffer, position: number): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done, position + done);
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Writers with appends not yet written: flushed if the process exits (process.exit, uncaught exception). */
const unflushed = new Set<AppendLogWriter>();
let exitHook = false;

export class AppendLogWriter {
  private fd: number | null;
  private closing: Promise<void> | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushQueued = false;
  /** Bytes written to the file, always a whole number of frames. */
  private written = 0;
  private unsynced = false;
  private dirUnsynced = false;
  private syncing: Promise<void> | null = null;
  private broken: Error | null = null;
  /** Bytes appended (written or pending). */
  size = 0;
  records = 0;

  private constructor(
    readonly path: string,
    readonly generation: number,
    private readonly policy: FsyncPolicy,
    fd: number,
    private readonly onError: (err: Error) => void,
    private readonly metrics: Metrics | undefined,
  ) {
    this.fd = fd;
  }

  /**
   * Creates generation `generation` in dir; fails if that file exists
   * (generations are never reused). `onError` hears about failed writes made
   * at the end of a turn, after the changes were answered.
   */
  static create(
    dir: string,
    generation: number,
    nodeId: string,
    policy: FsyncPolicy,
    onError: (err: Error) => void = () => {},
    metrics?: Metrics,
  ): AppendLogWriter {
    const path = join(dir, logFileName(generation));
    const fd = openSync(path, 'wx', 0o600);
    const w = new AppendLogWriter(path, generation, policy, fd, onError, metrics);
    try {
      const head = Buffer.concat([fileHead(LOG_MAGIC, LOG_FORMAT), frame(KIND_HEADER, encodeMap({ generation, nodeId, createdAt: Date.now() }))]);
      writeAllAt(fd, head, 0);
      w.written = head.length;
      w.size = head.length;
      if (policy === 'always') {
        // The file and its name must be on disk before a record in it is acknowledged.
        fdatasyncSync(fd);
        fsyncDir(path);
      } else {
        // Off the event loop, with the first periodic sync: on ext4 an fsync here
        // can wait for every dirty block of the previous generation.
        w.unsynced = true;
        w.dirUnsynced = true;
      }
    } catch (err) {
      // Not usable (disk full, I/O error): leave no file behind, or every failed attempt would add one.
      closeSync(fd);
      rmSync(path, { force: true });
      throw err;
    }
    return w;
  }

  /** A failed write could not be cut back: nothing more can go to this file, only to a new generation. */
  get isBroken(): boolean {
    return this.broken !== null;
  }

  get open(): boolean {
    return this.fd !== null && this.closing === null;
  }

  /**
   * Appends records with what is pending, in one write(2) done when this
   * returns (and fdatasync'ed with 'always'). If that fails none of `records`
   * is in the file (it is cut back to whole frames) and this throws.
   */
  appendNow(records: readonly EntryRecord[]): void {
    this.checkOpen();
    // What is pending, then each record's frame, encoded straight into the one buffer written.
    let framesBytes = 0;
    for (const r of records) framesBytes += FRAME_HEAD_BYTES + recordSize(r);
    const b = Buffer.allocUnsafe(this.pendingBytes + framesBytes);
    let at = 0;
    for (const p of this.pending) at += p.copy(b, at);
    for (const r of records) {
      const end = writeRecord(r, b, at + FRAME_HEAD_BYTES);
      frameAt(KIND_RECORDS, b, at, end);
      at = end;
    }
    const before = this.written;
    this.writeNow(b);
    this.pending = [];
    this.pendingBytes = 0;
    unflushed.delete(this);
    if (this.policy === 'always') {
      try {
        this.fdatasyncNow();
      } catch (err) {
        // Refused, so it must not come back at the next start either ('always' keeps nothing pending).
        this.cutBackTo(before);
        throw err;
      }
    }
    this.size += framesBytes;
    this.records += records.length;
  }

  /** Appends one record: written at the end of this turn (on disk when this returns with 'always'). */
  append(record: EntryRecord): void {
    this.checkOpen();
    const b = frameInPlace(KIND_RECORDS, encodeRecord(record, FRAME_HEAD_BYTES));
    if (this.policy === 'always') {
      this.writeNow(b);
      this.fdatasyncNow();
      this.size += b.length;
      this.records += 1;
    } else {
      this.pending.push(b);
      this.pendingBytes += b.length;
      this.size += b.length;
      this.records += 1;
      if (this.pendingBytes >= FLUSH_AT_BYTES) {
        this.flush();
      } else if (!this.flushQueued) {
        this.flushQueued = true;
        unflushed.add(this);
        if (!exitHook) {
          exitHook = true;
          process.on('exit', flushAllOnExit);
        }
        setImmediate(this.flushAtEndOfTurn);
      }
    }
  }

  /** Forgets the appends not yet written (after a failed write: the owner saves them another way). Returns how many. */
  dropPending(): number {
    const n = this.pending.length;
    this.size -= this.pendingBytes;
    this.records -= n;
    this.pending = [];
    this.pendingBytes = 0;
    unflushed.delete(this);
    return n;
  }

  private checkOpen(): void {
    if (this.fd === null || this.closing !== null) throw new Error(`append log ${this.path} is closed`);
    if (this.broken !== null) throw this.broken;
  }

  private fdatasyncNow(): void {
    const started = performance.now();
    fdatasyncSync(this.fd!);
    this.metrics?.fsynced(performance.now() - started);
    this.unsynced = false;
  }

  /** Writes pending appends now, in one write. Throws if that fails; they stay pending for the next try. */
  flush(): void {
    if (this.fd === null || this.pendingBytes === 0) return;
    if (this.broken !== null) throw this.broken;
    const b = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.writeNow(b);
    this.pending = [];
    this.pendingBytes = 0;
    unflushed.delete(this);
  }

  private readonly flushAtEndOfTurn = (): void => {
    this.flushQueued = false;
    try {
      this.flush();
    } catch (err) {
      this.onError(err as Error);
    }
  };

  private writeNow(b: Buffer): void {
    const fd = this.fd!;
    try {
      writeAllAt(fd, b, this.written);
    } catch (err) {
      // A partial frame followed by whole ones would hide those from replay: cut back to whole frames.
      this.cutBackTo(this.written);
      throw err;
    }
    this.written += b.length;
    this.unsynced = true;
    this.metrics?.appendLogWritten(b.length);
  }

  private cutBackTo(length: number): void {
    try {
      ftruncateSync(this.fd!, length);
      this.written = length;
    } catch (e) {
      this.broken = new Error(`append log ${this.path} cannot be repaired after a failed write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }

  /** Writes what is pending and flushes the file to disk, off the event loop. */
  sync(): Promise<void> {
    try {
      this.flush();
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.syncing !== null) return this.syncing;
    if (this.fd === null || (!this.unsynced && !this.dirUnsynced)) return Promise.resolve();
    const fd = this.fd;
    const dir = this.dirUnsynced;
    this.unsynced = false;
    this.dirUnsynced = false;
    this.syncing = (async () => {
      try {
        const started = performance.now();
        await fdatasyncAsync(fd);
        this.metrics?.fsynced(performance.now() - started);
        if (dir) await fsyncDirAsync(this.path);
      } catch (err) {
        this.unsynced = true;
        this.dirUnsynced ||= dir;
        throw err;
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  /** Writes, syncs (off the event loop) and closes; appends from now on throw. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.fd === null) return;
      try {
        await this.syncing?.catch(() => {});
        await this.sync();
      } finally {
        unflushed.delete(this);
        closeSync(this.fd);
        this.fd = null;
      }
    })();
    return this.closing;
  }

  /** Last resort at process exit: write what is pending (no fsync; the OS keeps it). */
  flushOnExit(): void {
    try {
      this.flush();
    } catch {
      // Exiting: nothing left to tell.
    }
  }
}

function flushAllOnExit(): void {
  for (const w of unflushed) w.flushOnExit();
}

export type LogReadEnd =
  | { kind: 'complete' }
  /** Created but its header never fully written (a crash right at creation): holds nothing. */
  | { kind: 'empty' }
  | { kind: 'bad-magic' }
  /** The records up to `offset` were used; `dropped` bytes from there on held no valid frame (a crash cut the last write short). */
  | { kind: 'torn'; offset: number; dropped: number; reason: string };

export interface LogReadResult {
  generation: number;
  records: number;
  end: LogReadEnd;
  /**
   * Damage in the middle (each region followed by valid frames, which were
   * replayed): not a crash's doing, so the file is kept for inspection.
   */
  damaged: SkippedRegion[];
  /** Records lost in `damaged` regions: one per frame, at least one per region. */
  lostRecords: number;
}

/**
 * Replays one log file into onRecord. A damaged frame followed by valid ones
 * costs that frame only (readFramedFile resynchronises); the first damaged
 * frame with nothing valid after it ends the log as a torn tail. Read in
 * slices of the event loop (ReadSlicing). A record's value is a view of the
 * block read from the file: a caller that keeps it beyond the call copies it,
 * or it pins the whole block (the store copies every value into its arena).
 */
export async function readAppendLog(path: string, generation: number, onRecord: (r: EntryRecord) => void, slicing: ReadSlicing = {}): Promise<LogReadResult> {
  let sawHeader = false;
  let records = 0;
  const names = new Map<string, string>();
  const res = await readFramedFile(
    path,
    LOG_MAGIC,
    LOG_FORMAT,
    (kind, payload, offset) => {
      const first = offset === FILE_HEAD_BYTES;
      if (kind === KIND_HEADER) {
        if (!first) throw new RecordFormatError('header frame after the start');
        const h = decodeMap(payload);
        if (h.generation !== generation) throw new RecordFormatError(`header says generation ${String(h.generation)}, file name ${generation}`);
        sawHeader = true;
        return;
      }
      if (first) throw new RecordFormatError('first frame is not the header');
      if (kind !== KIND_RECORDS) throw new RecordFormatError(`unknown frame kind 0x${kind.toString(16)}`);
      onRecord(decodeRecord(payload, names, true));
      records += 1;
    },
    slicing,
  );
  const damaged = res.skipped;
  const lostRecords = damaged.reduce((n, r) => n + (r.frames ?? 1), 0);
  const result: LogReadResult = { generation, records, end: { kind: 'complete' }, damaged, lostRecords };
  switch (res.end.kind) {
    case 'bad-version':
      throw new AppendLogFormatError(`${path} is in append-log format ${res.end.version}; this build reads format ${LOG_FORMAT} (newer owlcache?)`);
    case 'empty':
    case 'bad-magic':
      result.end = { kind: res.end.kind };
      break;
    case 'damaged':
      result.end =
        sawHeader || res.frames > 0 || damaged.length > 0
          ? { kind: 'torn', offset: res.end.offset, dropped: res.end.dropped, reason: res.end.reason }
          : { kind: 'empty' };
      break;
    case 'complete':
      if (res.frames === 0) result.end = { kind: 'empty' };
      break;
  }
  return result;
}

/** The log generations present in dir, oldest first. */
export function listLogs(dir: string): { generation: number; path: string }[] {
  const out: { generation: number; path: string }[] = [];
  for (const name of readdirSync(dir)) {
    const g = logGeneration(name);
    if (g !== null) out.push({ generation: g, path: join(dir, name) });
  }
  return out.sort((a, b) => a.generation - b.generation);
}
