import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import zlib from 'node:zlib';

/**
 * The framing shared by the snapshot and the append log:
 *
 *   file  = magic (8 bytes) · format version (u32 BE) · frame*
 *   frame = payload length (u32 BE) · kind (1 byte) · CRC-32 of kind+payload (u32 BE) · payload
 *
 * The first frame of every file is a header frame (kind 'H', a msgpack map).
 * A frame is trusted only when it is complete and its checksum matches, so a
 * write cut short by a crash is recognised and everything before it kept.
 */

export const FILE_HEAD_BYTES = 12;
export const FRAME_HEAD_BYTES = 9;

export const KIND_HEADER = 0x48; // 'H'
export const KIND_RECORDS = 0x52; // 'R'
export const KIND_END = 0x45; // 'E'

/** CRC-32 (IEEE); zlib.crc32 exists from Node 20.15, the table version covers older 20.x. */
export const crc32: (data: Uint8Array, initial?: number) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (d, i) => zlib.crc32(d, i) : tableCrc32;

let table: Uint32Array | null = null;

export function tableCrc32(data: Uint8Array, initial = 0): number {
  if (table === null) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 of each kind byte alone: the start value of its frames' checksums. */
const kindCrc = new Map<number, number>();

function frameCrc(kind: number, payload: Uint8Array): number {
  let start = kindCrc.get(kind);
  if (start === undefined) {
    start = crc32(Uint8Array.of(kind));
    kindCrc.set(kind, start);
  }
  return crc32(payload, start);
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
  const payload = b.subarray(FRAME_HEAD_BYTES);
  b.writeUInt32BE(payload.length, 0);
  b[4] = kind;
  b.writeUInt32BE(frameCrc(kind, payload), 5);
  return b;
}

export type FramedReadEnd =
  /** Every byte belonged to a complete, valid frame. */
  | { kind: 'complete' }
  /** The file is shorter than its magic and version: nothing was ever written in full. */
  | { kind: 'empty' }
  /** The first 8 bytes are not the expected magic: not our file, or overwritten. */
  | { kind: 'bad-magic' }
  /** Written by a newer format this code cannot read. */
  | { kind: 'bad-version'; version: number }
  /** A frame from `offset` on is cut short or fails its checksum; the bytes from there on were not used. */
  | { kind: 'damaged'; offset: number; dropped: number; reason: string };

export interface FramedReadResult {
  version: number;
  frames: number;
  size: number;
  end: FramedReadEnd;
}

const READ_BLOCK = 1 << 20;

/**
 * Reads a framed file from start to end, synchronously (start-up runs before
 * the node serves anything), in bounded blocks: memory is one block or one
 * frame, whichever is larger. `onFrame` may throw to reject a frame's content;
 * the read then stops there as 'damaged'.
 */
export function readFramedFile(
  path: string,
  magic: Buffer,
  maxVersion: number,
  onFrame: (kind: number, payload: Buffer, offset: number) => void,
): FramedReadResult {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const result: FramedReadResult = { version: 0, frames: 0, size, end: { kind: 'complete' } };
    if (size < FILE_HEAD_BYTES) {
      result.end = { kind: 'empty' };
      return result;
    }
    const head = Buffer.allocUnsafe(FILE_HEAD_BYTES);
    readFully(fd, head, 0);
    if (!head.subarray(0, 8).equals(magic)) {
      result.end = { kind: 'bad-magic' };
      return result;
    }
    result.version = head.readUInt32BE(8);
    if (result.version === 0 || result.version > maxVersion) {
      result.end = { kind: 'bad-version', version: result.version };
      return result;
    }

    let buf = Buffer.alloc(0);
    let bufAt = FILE_HEAD_BYTES; // file offset of buf[0]
    let pos = 0; // read position in buf
    /** Makes n bytes available at pos (caller checked they exist in the file). */
    const ensure = (n: number) => {
      if (buf.length - pos >= n) return;
      const keep = buf.length - pos;
      const want = Math.max(n, READ_BLOCK);
      const avail = Math.min(want, size - (bufAt + pos));
      const next = Buffer.allocUnsafe(avail);
      buf.copy(next, 0, pos);
      readFully(fd, next.subarray(keep), bufAt + buf.length);
      bufAt += pos;
      buf = next;
      pos = 0;
    };

    for (;;) {
      const offset = bufAt + pos;
      const left = size - offset;
      if (left === 0) return result;
      const damaged = (reason: string) => {
        result.end = { kind: 'damaged', offset, dropped: left, reason };
        return result;
      };
      if (left < FRAME_HEAD_BYTES) return damaged(`${left} bytes, shorter than a frame header`);
      ensure(FRAME_HEAD_BYTES);
      const len = buf.readUInt32BE(pos);
      const kind = buf[pos + 4]!;
      const crc = buf.readUInt32BE(pos + 5);
      if (len > left - FRAME_HEAD_BYTES) return damaged(`frame of ${len} bytes, only ${left - FRAME_HEAD_BYTES} left in the file`);
      ensure(FRAME_HEAD_BYTES + len);
      const payload = buf.subarray(pos + FRAME_HEAD_BYTES, pos + FRAME_HEAD_BYTES + len);
      if (frameCrc(kind, payload) !== crc) return damaged('checksum mismatch');
      try {
        onFrame(kind, payload, offset);
      } catch (err) {
        return damaged((err as Error).message);
      }
      result.frames += 1;
      pos += FRAME_HEAD_BYTES + len;
    }
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
