import { existsSync, renameSync, rmSync } from 'node:fs';
import type { EntryRecord } from '../store/entry.js';
import { fsyncDirAsync, keepCopyAs, openTemp } from './files.js';
import {
  FILE_HEAD_BYTES,
  FRAME_HEAD_BYTES,
  KIND_END,
  KIND_HEADER,
  KIND_RECORDS,
  fileHead,
  frame,
  frameInPlace,
  readFramedFile,
  type FramedReadEnd,
  type ReadSlicing,
} from './frames.js';
import { decodeMap, decodeRecords, encodeMap, encodeRecords, RecordFormatError } from '../store/record-codec.js';

/**
 * The store snapshot: every record the store holds (live values, tombstones,
 * expired and evicted stubs), in the framing of frames.ts:
 *
 *   "OWLSNAP\n" · u32 format · H{nodeId, createdAt, replayFrom, records?} · R[records]* · E{count}
 *
 * Written streamed, chunk by chunk, to a temp file that is fsynced and then
 * renamed over the previous snapshot, so a crash mid-write leaves the old one
 * whole. A snapshot without its end frame, or with a bad checksum, is damaged;
 * a damaged chunk costs its own records only.
 */

export const SNAPSHOT_MAGIC = Buffer.from('OWLSNAP\n', 'latin1');
export const SNAPSHOT_FORMAT = 1;

/** Encoded bytes per chunk frame: big enough to amortise the framing, small enough to keep memory flat. */
const CHUNK_BYTES = 256 * 1024;

export interface SnapshotMeta {
  /** The node that wrote it. */
  nodeId: string;
  /** When the records were captured (ms since the epoch). */
  createdAt: number;
  /** First append-log generation not contained in this snapshot: replay it and every later one. */
  replayFrom: number;
  /**
   * Records the store held when the capture began, so a reader can size the
   * store before the first record (a hint: the end frame's count is the check).
   * Absent in snapshots of older builds, which read this field as unknown and ignore it.
   */
  records?: number;
}

export interface SnapshotWriteResult {
  records: number;
  bytes: number;
  ms: number;
  /** Where the replaced snapshot was kept (keepOldAs given), else null. */
  keptOldAs: string | null;
}

/**
 * Records handed out a chunk at a time (the store's capture): `next` returns
 * about `maxBytes` of them, null when there are no more. Each chunk is
 * encoded and written before the next is asked for.
 */
export interface RecordSource {
  next(maxBytes: number): readonly EntryRecord[] | null;
}

/** An array that does not change while it is written, as a RecordSource. */
export function arraySource(records: readonly EntryRecord[]): RecordSource {
  let i = 0;
  return {
    next(maxBytes) {
      if (i >= records.length) return null;
      let size = 0;
      const start = i;
      while (i < records.length && size < maxBytes) {
        const r = records[i]!;
        size += r.key.length + (r.value?.length ?? 0) + 48;
        i += 1;
      }
      return records.slice(start, i);
    },
  };
}

/**
 * Writes every record of `source` as records frames of about CHUNK_BYTES, one
 * chunk made, encoded and written (awaited) at a time: what the snapshot and
 * the backup files hold between their header and end frames. `write` must take
 * a turn of the event loop (a file write does) for the node to keep serving.
 * Returns how many records were written.
 */
export async function writeRecordFrames(
  source: RecordSource,
  write: (frame: Buffer) => Promise<void>,
  onChunk: (records: number) => void = () => {},
): Promise<number> {
  let count = 0;
  for (let chunk = source.next(CHUNK_BYTES); chunk !== null; chunk = source.next(CHUNK_BYTES)) {
    if (chunk.length === 0) continue;
    count += chunk.length;
    await write(frameInPlace(KIND_RECORDS, encodeRecords(chunk, FRAME_HEAD_BYTES)));
    onChunk(count);
  }
  return count;
}

/**
 * Writes records as the snapshot `file`, through `tempFile`. `records` is a
 * consistent picture: an array that does not change while this runs, or a
 * source such as the store's capture, which keeps the picture as of its start
 * while the store goes on changing. Awaits between chunks, so the node keeps
 * serving: one chunk is made, encoded and written per turn.
 */
export async function writeSnapshot(
  file: string,
  tempFile: string,
  records: readonly EntryRecord[] | RecordSource,
  meta: SnapshotMeta,
  /** Keep the snapshot being replaced under this name (it was found damaged; see keepCopyAs). */
  keepOldAs?: string,
): Promise<SnapshotWriteResult> {
  const started = Date.now();
  // Not 'w': a link planted as the temp file would have its target overwritten.
  const fh = await openTemp(tempFile, 0o600);
  let bytes = 0;
  let count = 0;
  let ok = false;
  try {
    await fh.chmod(0o600);
    const write = async (b: Buffer) => {
      let done = 0;
      while (done < b.length) {
        const { bytesWritten } = await fh.write(b, done, b.length - done);
        done += bytesWritten;
      }
      bytes += b.length;
    };
    await write(Buffer.concat([fileHead(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT), frame(KIND_HEADER, encodeMap({ ...meta }))]));
    count = await writeRecordFrames(isRecordSource(records) ? records : arraySource(records), write);
    await write(frame(KIND_END, encodeMap({ count })));
    await fh.datasync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) rmSync(tempFile, { force: true });
  }
  // A hard link first, then the rename: the damaged copy is kept and `file` is never missing.
  const keptOldAs = keepOldAs !== undefined && existsSync(file) ? keepCopyAs(file, keepOldAs) : null;
  renameSync(tempFile, file);
  await fsyncDirAsync(file);
  return { records: count, bytes, ms: Date.now() - started, keptOldAs };
}

function isRecordSource(r: readonly EntryRecord[] | RecordSource): r is RecordSource {
  return !Array.isArray(r);
}

export type SnapshotReadResult =
  | { status: 'missing' }
  | { status: 'ok'; meta: SnapshotMeta; records: number; bytes: number }
  /**
   * Damaged: `records` were still read (and handed to onRecord), every chunk
   * that validated, before and after the damage. `lost` is how many records
   * the damaged chunks held (from the end frame's count), null when the end
   * frame is lost too.
   */
  | { status: 'damaged'; reason: string; records: number; meta: SnapshotMeta | null; lost: number | null };

export class SnapshotFormatError extends Error {}

/**
 * Reads the snapshot at `file`, handing each record to onRecord as it is
 * decoded (memory stays at one chunk). A damaged chunk loses that chunk only:
 * the reader resynchronises on the next valid frame (readFramedFile). A
 * snapshot in a newer format throws SnapshotFormatError: it is not damaged,
 * this build is too old for it. Read in slices of the event loop (ReadSlicing).
 * A record's value is a view of the block read from the file, as in readAppendLog.
 */
export async function readSnapshot(
  file: string,
  onRecord: (r: EntryRecord) => void,
  slicing: ReadSlicing = {},
  /** Told the header before the first record (the store sizes itself by `records`). */
  onMeta?: (meta: SnapshotMeta) => void,
): Promise<SnapshotReadResult> {
  if (!existsSync(file)) return { status: 'missing' };
  let meta: SnapshotMeta | null = null;
  let records = 0;
  let count = -1;
  const names = new Map<string, string>();
  const res = await readFramedFile(
    file,
    SNAPSHOT_MAGIC,
    SNAPSHOT_FORMAT,
    (kind, payload, offset) => {
      const first = offset === FILE_HEAD_BYTES;
      if (count >= 0) throw new RecordFormatError('data after the end frame');
      if (kind === KIND_HEADER) {
        if (!first) throw new RecordFormatError('header frame after the start');
        meta = parseMeta(decodeMap(payload));
        onMeta?.(meta);
        return;
      }
      if (first) throw new RecordFormatError('first frame is not the header');
      if (kind === KIND_RECORDS) {
        records += decodeRecords(payload, onRecord, names, true);
      } else if (kind === KIND_END) {
        const n = decodeMap(payload).count;
        if (!Number.isSafeInteger(n) || (n as number) < records) throw new RecordFormatError(`end frame counts ${String(n)} records, read ${records}`);
        count = n as number;
      } else {
        throw new RecordFormatError(`unknown frame kind 0x${kind.toString(16)}`);
      }
    },
    slicing,
  );
  if (res.end.kind === 'bad-version') {
    throw new SnapshotFormatError(`${file} is in snapshot format ${res.end.version}; this build reads format ${SNAPSHOT_FORMAT} (newer owlcache?)`);
  }
  const problems: string[] = res.skipped.map((r) => `${r.reason} at byte ${r.offset} (${r.bytes} bytes skipped)`);
  const tail = describeEnd(res.end);
  if (tail !== null) problems.push(tail);
  if (meta === null && res.end.kind !== 'bad-magic' && res.end.kind !== 'empty') problems.push('no header');
  if (count < 0 && tail === null) problems.push('no end frame (cut short)');
  if (count >= 0 && count !== records && problems.length === 0) problems.push(`end frame counts ${count} records, read ${records}`);
  if (problems.length > 0) {
    return { status: 'damaged', reason: problems.join('; '), records, meta, lost: count >= 0 ? count - records : null };
  }
  return { status: 'ok', meta: meta!, records, bytes: res.size };
}

function parseMeta(m: Record<string, unknown>): SnapshotMeta {
  const { nodeId, createdAt, replayFrom, records } = m;
  if (typeof nodeId !== 'string' || !Number.isSafeInteger(createdAt) || !Number.isSafeInteger(replayFrom)) {
    throw new RecordFormatError('header lacks nodeId, createdAt or replayFrom');
  }
  const meta: SnapshotMeta = { nodeId, createdAt: createdAt as number, replayFrom: replayFrom as number };
  if (Number.isSafeInteger(records) && (records as number) >= 0) meta.records = records as number;
  return meta;
}

function describeEnd(end: FramedReadEnd): string | null {
  switch (end.kind) {
    case 'complete':
      return null;
    case 'empty':
      return 'shorter than its header';
    case 'bad-magic':
      return 'not a snapshot (wrong magic bytes)';
    case 'bad-version':
      return `format ${end.version}`;
    case 'damaged':
      return `${end.reason} at byte ${end.offset}`;
  }
}
