import { createReadStream, existsSync, linkSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import zlib from 'node:zlib';
import type { EntryRecord } from '../store/entry.js';
import { decodeMap, decodeRecords, encodeMap, RecordFormatError } from '../store/record-codec.js';
import { fsyncDirAsync, openTemp } from './files.js';
import { FILE_HEAD_BYTES, FRAME_HEAD_BYTES, KIND_END, KIND_HEADER, KIND_RECORDS, fileHead, frame, frameCrc } from './frames.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_MAGIC, writeRecordFrames, type RecordSource } from './snapshot.js';

/**
 * Backup files (docs/operations.md, "Backup and restore"): the snapshot's
 * framing and record format (snapshot.ts, frames.ts), checksums included,
 * through a gzip stream:
 *
 *   gzip( "OWLSNAP\n" · u32 format · H{nodeId, node, createdAt, count, replayFrom: 0, backup: true} · R[records]* · E{count} )
 *
 * Written from the store's capture in 256 KiB frames (writeRecordFrames, as
 * the snapshot) with a turn of the event loop between them (gzip runs on the
 * thread pool), to a temp file linked into place once complete. Read
 * streamed; any damage (bad gzip, bad checksum, cut short, counts that
 * disagree) is a BackupFileError. checkBackup proves all of that without
 * decoding a record, so a restore checks the whole file before it changes
 * anything and decodes each record once.
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

/**
 * Uncompressed bytes per chunk read (zlib's default is 16 KiB; a frame is 256 KiB). zlib hands
 * each chunk back on the main thread, one per turn of the event loop: a chunk must hold more
 * records than a restore applies in one slice, or the reader waits a turn for every chunk (and
 * the turns between slices multiply).
 */
const READ_CHUNK_BYTES = 1024 * 1024;
/** Uncompressed bytes inflated ahead of the reader. */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;
/** Largest frame a reader accepts: a chunk is far smaller; more is damage. */
const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Writes the records of `source` (a consistent picture: the store's capture,
 * which keeps the records as of its start while the store goes on changing)
 * as the backup `file`, which must not exist yet. `meta.count` is how many
 * records the source hands out (the capture's size): the header states it
 * before they are written, so a source that hands out another number fails
 * the backup rather than leave a file no restore would accept.
 */
export async function writeBackup(
  file: string,
  source: RecordSource,
  meta: BackupMeta,
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
  // A turn of the event loop after each frame (gzip compresses on the thread pool), or until gzip drains.
  const put = async (b: Buffer) => {
    if (gzip.write(b)) await yieldTurn();
    else await Promise.race([once(gzip, 'drain'), drained]);
  };
  let count = 0;
  try {
    await put(Buffer.concat([fileHead(SNAPSHOT_MAGIC, SNAPSHOT_FORMAT), frame(KIND_HEADER, encodeMap({ ...meta, replayFrom: 0, backup: true }))]));
    count = await writeRecordFrames(source, put, onProgress);
    if (count !== meta.count) throw new BackupFileError(`${count} records were captured, not the ${meta.count} the header states: no backup written`);
    await put(frame(KIND_END, encodeMap({ count })));
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
  return { records: count, bytes, ms: Date.now() - started };
}

/**
 * Reads the backup `file`, handing the records of each frame to `onRecords`
 * (awaited: the caller may take turns of the event loop). Throws
 * BackupFileError at the first sign of damage, saying what and where. The
 * records' values are views of their frame (a buffer of its own, never
 * reused): one kept long pins the frame, so a caller that keeps values copies them.
 */
export function readBackup(file: string, onRecords: (records: EntryRecord[], meta: BackupMeta) => void | Promise<void>): Promise<BackupMeta> {
  const names = new Map<string, string>();
  return scanBackup(file, async (payload, meta) => {
    const batch: EntryRecord[] = [];
    // Values as views of the frame (never reused): the store copies each into its arena when it is written.
    const n = decodeRecords(payload, (r) => batch.push(r), names, true);
    await onRecords(batch, meta);
    return n;
  });
}

/**
 * Checks the whole backup `file` without decoding its records: the gzip
 * stream (its own CRC-32 and length), the magic and format, every frame's
 * checksum and order, and that the header, the records frames (the length of
 * each frame's record array) and the end frame count the same records.
 * `onFrame` is awaited after each records frame. Throws BackupFileError as
 * readBackup does. The records themselves are validated where they are
 * decoded (readBackup): a file passing this check was written so, not damaged
 * after.
 */
export function checkBackup(file: string, onFrame: (meta: BackupMeta) => void | Promise<void> = () => {}): Promise<BackupMeta> {
  return scanBackup(file, async (payload, meta) => {
    const n = recordsIn(payload);
    await onFrame(meta);
    return n;
  });
}

/** How many records a records frame holds: the length of its msgpack array (as encodeRecords writes it). */
function recordsIn(payload: Buffer): number {
  const t = payload[0];
  let n = -1;
  if (t !== undefined && t >= 0x90 && t <= 0x9f) n = t & 0x0f;
  else if (t === 0xdc && payload.length >= 3) n = payload.readUInt16BE(1);
  else if (t === 0xdd && payload.length >= 5) n = payload.readUInt32BE(1);
  if (n < 0) throw new RecordFormatError('a records frame does not hold an array of records');
  if (n > payload.length) throw new RecordFormatError(`chunk claims ${n} records in ${payload.length} bytes`);
  return n;
}

/**
 * Streams the backup `file` frame by frame, checking everything but the
 * records, and hands each records frame's payload to `onRecords`, which
 * returns how many records it holds.
 */
async function scanBackup(file: string, onRecords: (payload: Buffer, meta: BackupMeta) => Promise<number>): Promise<BackupMeta> {
  if (!existsSync(file)) throw new BackupFileError(`${file} does not exist`);
  // Inflated ahead on the thread pool while the records before are applied (highWaterMark is a
  // stream option zlib passes on; its typings leave it out).
  const gunzip = zlib.createGunzip({ chunkSize: READ_CHUNK_BYTES, highWaterMark: READ_AHEAD_BYTES } as zlib.ZlibOptions);
  const source = createReadStream(file).pipe(gunzip);
  // Chunks are joined once there is enough for the next frame, not at every chunk (a frame spans many).
  let parts: Buffer[] = [];
  let have = 0;
  let need = FILE_HEAD_BYTES;
  let offset = 0;
  let meta: BackupMeta | null = null;
  let records = 0;
  let ended = false;
  const damaged = (why: string) => new BackupFileError(`${file} is damaged at byte ${offset} (uncompressed): ${why}`);
  try {
    for await (const chunk of source) {
      parts.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      if (have < need) continue;
      let buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
      if (offset === 0) {
        if (!buf.subarray(0, 8).equals(SNAPSHOT_MAGIC)) throw new BackupFileError(`${file} is not an owlcache backup (no OWLSNAP header)`);
        const format = buf.readUInt32BE(8);
        if (format !== SNAPSHOT_FORMAT) throw new BackupFileError(`${file} is in format ${format}; this build reads format ${SNAPSHOT_FORMAT}`);
        buf = buf.subarray(FILE_HEAD_BYTES);
        offset = FILE_HEAD_BYTES;
      }
      need = FRAME_HEAD_BYTES;
      while (buf.length >= FRAME_HEAD_BYTES) {
        const len = buf.readUInt32BE(0);
        if (len > MAX_FRAME_BYTES) throw damaged(`a frame claims ${len} bytes`);
        if (buf.length < FRAME_HEAD_BYTES + len) {
          need = FRAME_HEAD_BYTES + len;
          break;
        }
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
            records += await onRecords(payload, meta);
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
      parts = buf.length === 0 ? [] : [buf];
      have = buf.length;
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
