import { createReadStream, existsSync, linkSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import zlib from 'node:zlib';
import type { EntryRecord } from '../store/entry.js';
import { decodeMap, decodeRecords, encodeMap, encodeRecords, RecordFormatError } from '../store/record-codec.js';
import { fsyncDirAsync, openTemp } from './files.js';
import { crc32, FILE_HEAD_BYTES, FRAME_HEAD_BYTES, KIND_END, KIND_HEADER, KIND_RECORDS, fileHead, frame, frameInPlace } from './frames.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_MAGIC } from './snapshot.js';

/**
 * Backup files (docs/operations.md, "Backup and restore"): the snapshot's
 * framing and record format (snapshot.ts, frames.ts), checksums included,
 * through a gzip stream:
 *
 *   gzip( "OWLSNAP\n" · u32 format · H{nodeId, node, createdAt, count, replayFrom: 0, backup: true} · R[records]* · E{count} )
 *
 * Written in chunks with a turn of the event loop between them (gzip runs on
 * the thread pool), to a temp file renamed into place once complete. Read
 * streamed; any damage (bad gzip, bad checksum, cut short, counts that
 * disagree) is a BackupFileError: a backup is restored whole or not at all.
 */

export interface BackupMeta {
  nodeId: string;
  /** The node's name in the cluster. */
  node: string;
  /** When the records were captured (ms since the epoch). */
  createdAt: number;
  count: number;
}

export class BackupFileError extends Error {}

/** Encoded bytes per records frame (as the snapshot's chunks). */
const CHUNK_BYTES = 256 * 1024;
/** Largest frame a reader accepts: a chunk is far smaller; more is damage. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Writes `records` (captured in one turn: records are never changed in place,
 * so the array is a point-in-time picture) as the backup `file`, which must
 * not exist yet.
 */
export async function writeBackup(
  file: string,
  records: readonly EntryRecord[],
  meta: Omit<BackupMeta, 'count'>,
  onProgress: (written: number) => void = () => {},
): Promise<{ records: number; bytes: number; ms: number }> {
  const started = Date.now();
  if (existsSync(file)) throw new BackupFileError(`${file} exists already: a backup never overwrites another`);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await openTemp(tmp, 0o600);
  const gzip = zlib.createGzip({ level: 1 });
  let bytes = 0;
  let ok = false;
  const drained = (async () => {
    for await (const chunk of gzip) {
      const b = chunk as Buffer;
      let done = 0;
      while (done < b.length) done += (await fh.write(b, done, b.length - done)).bytesWritten;
      bytes += b.length;
    }
  })();
  const put = async (b: Buffer) => {
    if (!gzip.write(b)) await Promise.race([once(gzip, 'drain'), drained]);
  };
  try {
    await put(
      Buffer.concat([
        fileHead(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT),
        frame(KIND_HEADER, encodeMap({ ...meta, count: records.length, replayFrom: 0, backup: true })),
      ]),
    );
    let i = 0;
    while (i < records.length) {
      const start = i;
      let size = 0;
      while (i < records.length && size < CHUNK_BYTES) {
        const r = records[i]!;
        size += r.key.length + (r.value?.length ?? 0) + 48;
        i += 1;
      }
      await put(frameInPlace(KIND_RECORDS, encodeRecords(records.slice(start, i), FRAME_HEAD_BYTES)));
      onProgress(i);
      await yieldTurn();
    }
    await put(frame(KIND_END, encodeMap({ count: records.length })));
    gzip.end();
    await drained;
    await fh.datasync();
    ok = true;
  } finally {
    if (!ok) gzip.destroy();
    await drained.catch(() => {});
    await fh.close();
    if (!ok) unlinkSync(tmp);
  }
  // link(2), not rename: it fails if a file appeared at `file` meanwhile, which is never replaced.
  try {
    linkSync(tmp, file);
  } finally {
    unlinkSync(tmp);
  }
  await fsyncDirAsync(file);
  return { records: records.length, bytes, ms: Date.now() - started };
}

function frameCrc(kind: number, payload: Uint8Array): number {
  return crc32(payload, crc32(Uint8Array.of(kind)));
}

/**
 * Reads the backup `file`, handing the records of each frame to `onRecords`
 * (awaited: the caller may take turns of the event loop). Throws
 * BackupFileError at the first sign of damage, saying what and where.
 */
export async function readBackup(file: string, onRecords: (records: EntryRecord[], meta: BackupMeta) => void | Promise<void>): Promise<BackupMeta> {
  if (!existsSync(file)) throw new BackupFileError(`${file} does not exist`);
  const gunzip = zlib.createGunzip();
  const source = createReadStream(file).pipe(gunzip);
  const names = new Map<string, string>();
  let buf: Buffer = Buffer.alloc(0);
  let offset = 0;
  let meta: BackupMeta | null = null;
  let records = 0;
  let ended = false;
  const damaged = (why: string) => new BackupFileError(`${file} is damaged at byte ${offset} (uncompressed): ${why}`);
  try {
    for await (const chunk of source) {
      buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
      if (offset === 0) {
        if (buf.length < FILE_HEAD_BYTES) continue;
        if (!buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw new BackupFileError(`${file} is not an owlcache backup (no OWLSNAP header)`);
        const format = buf.readUInt32BE(8);
        if (format !== SNAPSHOT_FORMAT) throw new BackupFileError(`${file} is in format ${format}; this build reads format ${SNAPSHOT_FORMAT}`);
        buf = buf.subarray(FILE_HEAD_BYTES);
        offset = FILE_HEAD_BYTES;
      }
      while (buf.length >= FRAME_HEAD_BYTES) {
        const len = buf.readUInt32BE(0);
        if (len > MAX_FRAME_BYTES) throw damaged(`a frame claims ${len} bytes`);
        if (buf.length < FRAME_HEAD_BYTES + len) break;
        const kind = buf[4]!;
        const payload = buf.subarray(FRAME_HEAD_BYTES, FRAME_HEAD_BYTES + len);
        if (frameCrc(kind, payload) !== buf.readUInt32BE(5)) throw damaged('checksum mismatch');
        if (ended) throw damaged('data after the end frame');
        try {
          if (kind === KIND_HEADER) {
            if (meta !== null) throw damaged('a second header frame');
            meta = parseMeta(decodeMap(payload));
          } else if (meta === null) {
            throw damaged('the first frame is not the header');
          } else if (kind === KIND_RECORDS) {
            const batch: EntryRecord[] = [];
            records += decodeRecords(payload, (r) => batch.push(r), names);
            await onRecords(batch, meta);
          } else if (kind === KIND_END) {
            const n = decodeMap(payload).count;
            if (n !== records || n !== meta.count)
              throw damaged(`the end frame counts ${String(n)} records, the header ${meta.count}, the file holds ${records}`);
            ended = true;
          } else {
            throw damaged(`unknown frame kind 0x${kind.toString(16)}`);
          }
        } catch (err) {
          if (err instanceof RecordFormatError) throw damaged(err.message);
          throw err;
        }
        buf = buf.subarray(FRAME_HEAD_BYTES + len);
        offset += FRAME_HEAD_BYTES + len;
      }
    }
  } catch (err) {
    source.destroy();
    if (err instanceof BackupFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code.startsWith('Z_') || /header check|unexpected end|invalid/i.test((err as Error).message))
      throw new BackupFileError(`${file} is not a readable gzip file: ${(err as Error).message}`);
    throw err;
  }
  if (meta === null) throw new BackupFileError(`${file} is empty or cut short before its header`);
  if (!ended) throw damaged('the file is cut short (no end frame)');
  return meta;
}

function parseMeta(m: Record<string, unknown>): BackupMeta {
  const { nodeId, node, createdAt, count } = m;
  if (typeof nodeId !== 'string' || typeof createdAt !== 'number' || !Number.isSafeInteger(count))
    throw new RecordFormatError('the header lacks nodeId, createdAt or count');
  return { nodeId, node: typeof node === 'string' ? node : nodeId, createdAt, count: count as number };
}
