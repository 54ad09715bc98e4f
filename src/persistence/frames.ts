import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import zlib from 'node:zlib';

/**
 * The framing shared by the snapshot and the append log:
 *
 *   file  = magic (8 bytes) · format version (u32 BE) · frame*
 *   frame = payload length (u32 BE) · kind (1 byte) · CRC-32 of kind+payload (u32 BE) · payload
 *
 * The first frame of every file is a header frame (kind 'H', a msgpack map).
 * A frame is trusted only when it is complete and its checksum matches, so a
 * write cut short by a crash is recognised and everything before it kept, and
 * damage in the middle costs the damaged frames only (readFramedFile).
 */

export const FILE_HEAD_BYTES = 12;
export const FRAME_HEAD_BYTES = 9;

export const KIND_HEADER = 0x48; // 'H'
export const KIND_RECORDS = 0x52; // 'R'
export const KIND_END = 0x45; // 'E'

/** zlib.crc32 exists from Node 20.15; without it every length goes to tableCrc32. */
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/**
 * Below this many bytes tableCrc32 is faster than a call into zlib (a record
 * frame of a small value is 60-130 bytes: 58 against 205 ns for 60 bytes,
 * 117 against 193 for 130; zlib wins from about 300).
 */
const ZLIB_FROM_BYTES = 256;

/** CRC-32 (IEEE) of data, continuing from `initial`. */
export function crc32(data: Uint8Array, initial = 0): number {
  return zlibCrc32 !== undefined && data.length >= ZLIB_FROM_BYTES ? zlibCrc32(data, initial) : tableCrc32(data, initial);
}

/** Eight 256-entry tables (slice-by-8): table k is the CRC of a byte followed by k zero bytes. */
let tables: Int32Array | null = null;

function crcTables(): Int32Array {
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
}

/** CRC-32 (IEEE) of data[start, end) in JavaScript, eight bytes a step, continuing from `initial`. */
export function tableCrc32(data: Uint8Array, initial = 0, start = 0, end = data.length): number {
  if (tables === null) tables = crcTables();
  const t = tables;
  let c = ~initial;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of each kind byte alone, by kind: the start value of its frames' checksums. */
const kindCrc: (number | undefined)[] = [];

function kindStart(kind: number): number {
  let start = kindCrc[kind];
  if (start === undefined) {
    start = crc32(Uint8Array.of(kind));
    kindCrc[kind] = start;
  }
  return start;
}

/** The checksum a frame of `kind` with `payload` carries (CRC-32 of the kind byte, then the payload). */
export function frameCrc(kind: number, payload: Uint8Array): number {
  return crc32(payload, kindStart(kind));
}

export function fileHead(magic: Buffer, version: number): Buffer {
  if (magic.length !== 8) throw new Error('magic must be 8 bytes');
  const b = Buffer.allocUnsafe(FILE_HEAD_BYTES);
  magic.copy(b, 0);
  b.writeUInt32BE(version, 8);
  return b;
}

/** One frame as a single buffer (one write call, so a frame is never interleaved). */
export function frame(kind: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEAD_BYTES + payload.length);
  b.set(payload, FRAME_HEAD_BYTES);
  return frameInPlace(kind, b);
}

/** Completes a frame whose payload was written after FRAME_HEAD_BYTES of headroom in b. */
export function frameInPlace(kind: number, b: Buffer): Buffer {
  frameAt(kind, b, 0, b.length);
  return b;
}

/** Completes the frame in b[start, end) whose payload was written from start + FRAME_HEAD_BYTES. */
export function frameAt(kind: number, b: Buffer, start: number, end: number): void {
  const from = start + FRAME_HEAD_BYTES;
  const length = end - from;
  b.writeUInt32BE(length, start);
  b[start + 4] = kind;
  // A short payload is checked in place, without a view made for zlib.
  const crc = length < ZLIB_FROM_BYTES ? tableCrc32(b, kindStart(kind), from, end) : frameCrc(kind, b.subarray(from, end));
  b.writeUInt32BE(crc, start + 5);
}

export type FramedReadEnd =
  /** Every byte belonged to a complete, valid frame (or to a skipped region followed by one). */
  | { kind: 'complete' }
  /** The file is shorter than its magic and version: nothing was ever written in full. */
  | { kind: 'empty' }
  /** The first 8 bytes are not the expected magic: not our file, or overwritten. */
  | { kind: 'bad-magic' }
  /** Written by a newer format this code cannot read. */
  | { kind: 'bad-version'; version: number }
  /**
   * A frame from `offset` on is cut short or fails its checksum, and no valid
   * frame follows it: the `dropped` bytes from there to the end were not used.
   */
  | { kind: 'damaged'; offset: number; dropped: number; reason: string };

/** Damaged bytes in the middle of a file, skipped up to the next valid frame. */
export interface SkippedRegion {
  /** File offset of the first damaged frame. */
  offset: number;
  bytes: number;
  reason: string;
  /**
   * How many frames the region held, when their length fields lead from its
   * start exactly to the next valid frame; null when that chain is broken too
   * (then at least one).
   */
  frames: number | null;
}

export interface FramedReadResult {
  version: number;
  /** Valid frames handed to onFrame. */
  frames: number;
  size: number;
  /** Damaged regions each followed by a valid frame, in file order: reading went on after them. */
  skipped: SkippedRegion[];
  end: FramedReadEnd;
}

const READ_BLOCK = 1 << 20;

/** The frame kinds any framed file holds: resynchronisation only considers these. */
const FRAME_KINDS = new Set([KIND_HEADER, KIND_RECORDS, KIND_END]);

/**
 * The largest frame resynchronisation will land on (a snapshot chunk is about
 * 256 KiB plus one record; a log frame one record, default MaxValueSize 16 MiB).
 * A larger frame right after damage is skipped with it.
 */
export const RESYNC_MAX_FRAME_BYTES = 64 * 1024 * 1024 + 512 * 1024;

/**
 * Checksum work allowed while looking for the next valid frame after one
 * damaged region; past it, the rest of the file is given up as a damaged tail.
 * Bounds the cost of content crafted to look like frame headers.
 */
const RESYNC_WORK_BYTES = 1024 * 1024 * 1024;

/** How long one slice of reading holds the event loop before it yields a turn (a frame is never split). */
export const READ_SLICE_MS = 20;

/** How a read shares the event loop: the node answers its HTTP probes while a large data directory loads. */
export interface ReadSlicing {
  /** Overrides READ_SLICE_MS; 0 yields after every frame (tests). */
  sliceMs?: number;
  /** Told before each yield how far the read is (bytes from the file's start). */
  onProgress?: (offset: number) => void;
  /** Checked at each yield: once aborted, the read stops there and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface FramedReadOptions extends ReadSlicing {
  /** Overrides RESYNC_MAX_FRAME_BYTES (tests). */
  resyncMaxFrameBytes?: number;
}

/** A forward-moving view of the file; old buffers are never reused, so payloads handed out stay valid. */
class FileWindow {
  buf = Buffer.alloc(0);
  /** File offset of buf[0]. */
  at = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  /** Makes the n bytes at `offset` available in buf (the caller checked they exist in the file); returns their index in buf. */
  load(offset: number, n: number): number {
    const end = this.at + this.buf.length;
    if (offset >= this.at && offset + n <= end) return offset - this.at;
    const len = Math.min(Math.max(n, READ_BLOCK), this.size - offset);
    const next = Buffer.allocUnsafe(len);
    const have = offset >= this.at && offset < end ? this.buf.copy(next, 0, offset - this.at) : 0;
    readFully(this.fd, next.subarray(have), offset + have);
    this.buf = next;
    this.at = offset;
    return 0;
  }
}

/**
 * Reads a framed file from start to end in bounded blocks: memory is one block
 * or one frame, whichever is larger. The reading itself is synchronous, in
 * slices of about READ_SLICE_MS with a turn of the event loop between them
 * (ReadSlicing), so the result is the same as one synchronous pass while the
 * process goes on answering. `onFrame` may throw to reject a frame's content;
 * the frame then counts as damaged.
 *
 * A damaged frame is not the end of the file: the reader scans forward byte by
 * byte for the next offset where a frame header and its checksum validate and
 * goes on from there, reporting the bytes in between as a SkippedRegion. Only
 * when no valid frame follows is the damage a tail (`end.kind === 'damaged'`),
 * which is what a write cut short by a crash leaves.
 */
export async function readFramedFile(
  path: string,
  magic: Buffer,
  maxVersion: number,
  onFrame: (kind: number, payload: Buffer, offset: number) => void,
  options: FramedReadOptions = {},
): Promise<FramedReadResult> {
  const maxResyncFrame = options.resyncMaxFrameBytes ?? RESYNC_MAX_FRAME_BYTES;
  const sliceMs = options.sliceMs ?? READ_SLICE_MS;
  const { onProgress, signal } = options;
  signal?.throwIfAborted();
  let sliceStart = performance.now();
  /** The slice has run its time (checked without an await, so a frame costs no extra turn of the microtask queue). */
  const sliceDone = () => performance.now() - sliceStart >= sliceMs;
  /** Ends a slice: reports progress, lets the event loop turn, stops if aborted. */
  const endSlice = async (offset: number): Promise<void> => {
    onProgress?.(offset);
    await nextTurn();
    signal?.throwIfAborted();
    sliceStart = performance.now();
  };
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const result: FramedReadResult = { version: 0, frames: 0, size, skipped: [], end: { kind: 'complete' } };
    if (size < FILE_HEAD_BYTES) {
      result.end = { kind: 'empty' };
      return result;
    }
    const win = new FileWindow(fd, size);
    win.load(0, FILE_HEAD_BYTES);
    const head = win.buf;
    if (!head.subarray(0, 8).equals(magic)) {
      result.end = { kind: 'bad-magic' };
      return result;
    }
    result.version = head.readUInt32BE(8);
    if (result.version === 0 || result.version > maxVersion) {
      result.end = { kind: 'bad-version', version: result.version };
      return result;
    }

    let work = 0;
    /**
     * Tries the frame at `offset`: its length on success (onFrame was called),
     * else why it is not valid. While resynchronising, cheap checks come
     * first: a known kind, a length that fits, and a known kind at the next
     * frame's place (or the end of the file right after).
     */
    const tryFrame = (offset: number, resyncing: boolean): number | string => {
      const left = size - offset;
      if (left < FRAME_HEAD_BYTES) return `${left} bytes, shorter than a frame header`;
      let i = win.load(offset, FRAME_HEAD_BYTES);
      const kind = win.buf[i + 4]!;
      if (resyncing && !FRAME_KINDS.has(kind)) return 'unknown kind';
      const len = win.buf.readUInt32BE(i);
      if (len > left - FRAME_HEAD_BYTES) return `frame of ${len} bytes, only ${left - FRAME_HEAD_BYTES} left in the file`;
      const after = left - FRAME_HEAD_BYTES - len;
      let span = FRAME_HEAD_BYTES + len;
      if (resyncing) {
        if (len > maxResyncFrame) return 'too large';
        work += len;
        if (after >= 5) span += 5;
      }
      i = win.load(offset, span);
      if (resyncing && after >= 5 && !FRAME_KINDS.has(win.buf[i + FRAME_HEAD_BYTES + len + 4]!)) return 'no frame after it';
      const crc = win.buf.readUInt32BE(i + 5);
      const payload = win.buf.subarray(i + FRAME_HEAD_BYTES, i + FRAME_HEAD_BYTES + len);
      if (frameCrc(kind, payload) !== crc) return 'checksum mismatch';
      try {
        onFrame(kind, payload, offset);
      } catch (err) {
        return (err as Error).message;
      }
      return len;
    };

    /** Frames in [from, to) by their length fields, or null if they do not lead exactly to `to`. */
    const chainLength = (from: number, to: number): number | null => {
      let n = 0;
      for (let at = from; at < to; n++) {
        if (to - at < FRAME_HEAD_BYTES) return null;
        const i = win.load(at, FRAME_HEAD_BYTES);
        at += FRAME_HEAD_BYTES + win.buf.readUInt32BE(i);
        if (at > to) return null;
      }
      return n;
    };

    let offset = FILE_HEAD_BYTES;
    while (offset < size) {
      const got = tryFrame(offset, false);
      if (typeof got === 'number') {
        result.frames += 1;
        offset += FRAME_HEAD_BYTES + got;
        if (sliceDone()) await endSlice(offset);
        continue;
      }
      const from = offset;
      work = 0;
      let next = -1;
      let nextLen = 0;
      for (let at = from + 1; at + FRAME_HEAD_BYTES <= size && work <= RESYNC_WORK_BYTES; at++) {
        const r = tryFrame(at, true);
        if (typeof r === 'number') {
          next = at;
          nextLen = r;
          break;
        }
        // The scan over a damaged region can be long (RESYNC_WORK_BYTES): it is sliced too.
        if ((at & 0xfff) === 0 && sliceDone()) await endSlice(from);
      }
      if (next < 0) {
        result.end = { kind: 'damaged', offset: from, dropped: size - from, reason: got };
        return result;
      }
      result.skipped.push({ offset: from, bytes: next - from, reason: got, frames: chainLength(from, next) });
      result.frames += 1;
      offset = next + FRAME_HEAD_BYTES + nextLen;
      if (sliceDone()) await endSlice(offset);
    }
    return result;
  } finally {
    closeSync(fd);
  }
}

function readFully(fd: number, into: Buffer, position: number): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new Error('file shrank while being read');
    done += n;
  }
}
