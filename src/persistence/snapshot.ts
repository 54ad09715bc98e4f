import { existsSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { EntryRecord } from '../store/entry.js';
import { fsyncDir, fsyncDirAsync } from './files.js';
import { FRAME_HEAD_BYTES, KIND_END, KIND_HEADER, KIND_RECORDS, fileHead, frame, frameInPlace, readFramedFile, type FramedReadEnd } from './frames.js';
import { decodeMap, decodeRecords, encodeMap, encodeRecords, RecordFormatError } from '../store/record-codec.js';

/**
 * The store snapshot: every record the store holds (live values, tombstones,
 * expired and evicted stubs), in the framing of frames.ts:
 *
 *   "OWLSNAP\n" · u32 format · H{nodeId, createdAt, replayFrom} · R[records]* · E{count}
 *
 * Written streamed, chunk by chunk, to a temp file that is fsynced and then
 * renamed over the previous snapshot, so a crash mid-write leaves the old one
 * whole. A snapshot without its end frame, or with a bad checksum, is damaged.
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
}

export interface SnapshotWriteResult {
  records: number;
  bytes: number;
  ms: number;
}

/**
 * Writes records as the snapshot `file`, through `tempFile`. `records` must not
 * change while this runs (pass a captured array): entry records are never
 * mutated in place, so an array of references taken in one tick is a
 * consistent picture. Awaits between chunks, so the node keeps serving.
 */
export async function writeSnapshot(
  file: string,
  tempFile: string,
  records: readonly EntryRecord[],
  meta: SnapshotMeta,
): Promise<SnapshotWriteResult> {
  const started = Date.now();
  const fh = await open(tempFile, 'w', 0o600);
  let bytes = 0;
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
    let i = 0;
    while (i < records.length) {
      let size = 0;
      const start = i;
      while (i < records.length && size < CHUNK_BYTES) {
        const r = records[i]!;
        size += r.key.length + (r.value?.length ?? 0) + 48;
        i += 1;
      }
      await write(frameInPlace(KIND_RECORDS, encodeRecords(records.slice(start, i), FRAME_HEAD_BYTES)));
    }
    await write(frame(KIND_END, encodeMap({ count: records.length })));
    await fh.datasync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) rmSync(tempFile, { force: true });
  }
  renameSync(tempFile, file);
  await fsyncDirAsync(file);
  return { records: records.length, bytes, ms: Date.now() - started };
}

export type SnapshotReadResult =
  | { status: 'missing' }
  | { status: 'ok'; meta: SnapshotMeta; records: number; bytes: number }
  /** Unusable from some point on; `records` were read (and handed to onRecord) before it. */
  | { status: 'damaged'; reason: string; records: number; meta: SnapshotMeta | null };

export class SnapshotFormatError extends Error {}

/**
 * Reads the snapshot at `file`, handing each record to onRecord as it is
 * decoded (memory stays at one chunk). A snapshot in a newer format throws
 * SnapshotFormatError: it is not damaged, this build is too old for it.
 */
export function readSnapshot(file: string, onRecord: (r: EntryRecord) => void): SnapshotReadResult {
  if (!existsSync(file)) return { status: 'missing' };
  let meta: SnapshotMeta | null = null;
  let records = 0;
  let expected = -1;
  const names = new Map<string, string>();
  const res = readFramedFile(file, SNAPSHOT_MAGIC, SNAPSHOT_FORMAT, (kind, payload) => {
    if (expected >= 0) throw new RecordFormatError('data after the end frame');
    if (meta === null) {
      if (kind !== KIND_HEADER) throw new RecordFormatError('first frame is not the header');
      meta = parseMeta(decodeMap(payload));
      return;
    }
    if (kind === KIND_RECORDS) {
      records += decodeRecords(payload, onRecord, names);
    } else if (kind === KIND_END) {
      const count = decodeMap(payload).count;
      if (count !== records) throw new RecordFormatError(`end frame counts ${String(count)} records, read ${records}`);
      expected = records;
    } else {
      throw new RecordFormatError(`unknown frame kind 0x${kind.toString(16)}`);
    }
  });
  if (res.end.kind === 'bad-version') {
    throw new SnapshotFormatError(`${file} is in snapshot format ${res.end.version}; this build reads format ${SNAPSHOT_FORMAT} (newer owlcache?)`);
  }
  const reason = describeEnd(res.end);
  if (reason !== null) return { status: 'damaged', reason, records, meta };
  if (meta === null || expected < 0) return { status: 'damaged', reason: meta === null ? 'no header' : 'no end frame (cut short)', records, meta };
  return { status: 'ok', meta, records, bytes: res.size };
}

function parseMeta(m: Record<string, unknown>): SnapshotMeta {
  const { nodeId, createdAt, replayFrom } = m;
  if (typeof nodeId !== 'string' || !Number.isSafeInteger(createdAt) || !Number.isSafeInteger(replayFrom)) {
    throw new RecordFormatError('header lacks nodeId, createdAt or replayFrom');
  }
  return { nodeId, createdAt: createdAt as number, replayFrom: replayFrom as number };
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

/** Moves a damaged file aside (kept for inspection, never overwritten); returns the new path. */
export function moveAside(file: string, to: string): string {
  renameSync(file, to);
  fsyncDir(to);
  return to;
}
