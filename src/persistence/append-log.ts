import { closeSync, fdatasync, fdatasyncSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EntryRecord } from '../store/entry.js';
import { fsyncDir } from './files.js';
import { KIND_HEADER, KIND_RECORDS, fileHead, frame, readFramedFile } from './frames.js';
import { logFileName, logGeneration } from './layout.js';
import { decodeMap, decodeRecord, encodeMap, encodeRecord, RecordFormatError } from './record-codec.js';

/**
 * The append-only log: one file per generation, each
 *
 *   "OWLALOG\n" · u32 format · H{generation, nodeId, createdAt} · R[record]*
 *
 * with one record per frame, written with one write(2) each before the change
 * is acknowledged. A generation is never appended to after its writer closes:
 * each start and each snapshot opens the next one, so a torn tail stays a tail.
 */

export const LOG_MAGIC = Buffer.from('OWLALOG\n', 'latin1');
export const LOG_FORMAT = 1;

/** 'always' = fdatasync before append() returns; 'no' = leave it to the OS; n = the owner calls sync() every n ms. */
export type FsyncPolicy = 'always' | 'no' | number;

export class AppendLogFormatError extends Error {}

function writeAll(fd: number, b: Buffer): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done);
}

export class AppendLogWriter {
  private fd: number | null;
  private dirty = false;
  private syncing: Promise<void> | null = null;
  /** Bytes in the file. */
  size = 0;
  records = 0;

  private constructor(
    readonly path: string,
    readonly generation: number,
    private readonly policy: FsyncPolicy,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Creates generation `generation` in dir; fails if that file exists (generations are never reused). */
  static create(dir: string, generation: number, nodeId: string, policy: FsyncPolicy): AppendLogWriter {
    const path = join(dir, logFileName(generation));
    const fd = openSync(path, 'wx', 0o600);
    const w = new AppendLogWriter(path, generation, policy, fd);
    try {
      const head = Buffer.concat([
        fileHead(LOG_MAGIC, LOG_FORMAT),
        frame(KIND_HEADER, encodeMap({ generation, nodeId, createdAt: Date.now() })),
      ]);
      writeAll(fd, head);
      w.size = head.length;
      // The file's existence must be durable before records in it are acknowledged.
      fdatasyncSync(fd);
      fsyncDir(path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return w;
  }

  get open(): boolean {
    return this.fd !== null;
  }

  /** Appends one record; with 'always', it is on disk when this returns. */
  append(record: EntryRecord): void {
    if (this.fd === null) throw new Error(`append log ${this.path} is closed`);
    const b = frame(KIND_RECORDS, encodeRecord(record));
    writeAll(this.fd, b);
    this.size += b.length;
    this.records += 1;
    if (this.policy === 'always') fdatasyncSync(this.fd);
    else this.dirty = true;
  }

  /** Flushes what was appended since the last sync to disk (off the event loop). */
  sync(): Promise<void> {
    if (this.fd === null || !this.dirty) return this.syncing ?? Promise.resolve();
    if (this.syncing !== null) return this.syncing;
    this.dirty = false;
    const fd = this.fd;
    this.syncing = new Promise<void>((resolve, reject) => {
      fdatasync(fd, (err) => {
        this.syncing = null;
        if (err) {
          this.dirty = true;
          reject(err);
        } else {
          resolve();
        }
      });
    });
    return this.syncing;
  }

  /** Syncs and closes; later appends throw. */
  async close(): Promise<void> {
    if (this.fd === null) return;
    await this.syncing?.catch(() => {});
    const fd = this.fd;
    this.fd = null;
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export type LogReadEnd =
  | { kind: 'complete' }
  /** Created but its header never fully written (a crash right at creation): holds nothing. */
  | { kind: 'empty' }
  | { kind: 'bad-magic' }
  /** The records up to `offset` were used; `dropped` bytes from there on were not. */
  | { kind: 'torn'; offset: number; dropped: number; reason: string };

export interface LogReadResult {
  generation: number;
  records: number;
  end: LogReadEnd;
}

/** Replays one log file into onRecord, stopping at the first incomplete or damaged frame. */
export function readAppendLog(path: string, generation: number, onRecord: (r: EntryRecord) => void): LogReadResult {
  let sawHeader = false;
  let records = 0;
  const names = new Map<string, string>();
  const res = readFramedFile(path, LOG_MAGIC, LOG_FORMAT, (kind, payload) => {
    if (!sawHeader) {
      if (kind !== KIND_HEADER) throw new RecordFormatError('first frame is not the header');
      const h = decodeMap(payload);
      if (h.generation !== generation) throw new RecordFormatError(`header says generation ${String(h.generation)}, file name ${generation}`);
      sawHeader = true;
      return;
    }
    if (kind !== KIND_RECORDS) throw new RecordFormatError(`unknown frame kind 0x${kind.toString(16)}`);
    onRecord(decodeRecord(payload, names));
    records += 1;
  });
  const result: LogReadResult = { generation, records, end: { kind: 'complete' } };
  switch (res.end.kind) {
    case 'bad-version':
      throw new AppendLogFormatError(`${path} is in append-log format ${res.end.version}; this build reads format ${LOG_FORMAT} (newer owlcache?)`);
    case 'empty':
    case 'bad-magic':
      result.end = { kind: res.end.kind };
      break;
    case 'damaged':
      result.end = sawHeader
        ? { kind: 'torn', offset: res.end.offset, dropped: res.end.dropped, reason: res.end.reason }
        : { kind: 'empty' };
      break;
    case 'complete':
      if (!sawHeader) result.end = { kind: 'empty' };
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
