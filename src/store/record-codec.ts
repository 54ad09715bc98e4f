import { Packr } from 'msgpackr';
import { isCounterState, type CounterState } from './counter.js';
import { isEntryRecord, type EntryRecord } from './entry.js';
import type { Version } from './hlc.js';
import { utf8Length, writeUtf8 } from './utf8.js';

/**
 * One EntryRecord as a msgpack array (positional, so a million of them stay
 * small and decode fast):
 *
 *   [key, value|nil, created, vv.t, vv.c, vv.n, expireAt, flags]              when ev equals vv
 *   [key, value|nil, created, vv.t, vv.c, vv.n, expireAt, flags, ev.t, ev.c, ev.n]
 *
 *   [key, value|nil, created, vv.t, vv.c, vv.n, expireAt, flags, ev.t, ev.c, ev.n, counter]   a counter (flag bit 1)
 *
 * counter: [epoch.t, epoch.c, epoch.n, reborn 0|1, base|nil, [node, up, down, node, up, down, …]]
 * (src/store/counter.ts; the totals are decimal strings). Records of the first
 * two forms are the format before counters and decode unchanged.
 *
 * flags: bit 0 = hollow, bit 1 = counter. Every other bit is reserved and must be 0.
 * The same encoding is used by the snapshot (arrays of these per chunk) and the
 * append log (one per frame).
 */

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });

const FLAG_HOLLOW = 1;
const FLAG_COUNTER = 2;

function counterToArray(c: CounterState): unknown[] {
  return [c.epoch.t, c.epoch.c, c.epoch.n, c.reborn ? 1 : 0, c.base, c.totals.flat()];
}

function counterFromArray(a: unknown): CounterState {
  if (!Array.isArray(a) || a.length !== 6 || !Array.isArray(a[5]) || a[5].length % 3 !== 0) throw new RecordFormatError('counter is not a 6-element array');
  const flat = a[5] as unknown[];
  const totals: [string, string, string][] = [];
  for (let i = 0; i < flat.length; i += 3) totals.push([flat[i], flat[i + 1], flat[i + 2]] as [string, string, string]);
  const c = { epoch: { t: a[0], c: a[1], n: a[2] }, reborn: a[3] === 1, base: a[4], totals };
  if (!isCounterState(c) || (a[3] !== 0 && a[3] !== 1)) throw new RecordFormatError('counter is not valid');
  return c;
}

export class RecordFormatError extends Error {}

function sameVersion(a: Version, b: Version): boolean {
  return a === b || (a.t === b.t && a.c === b.c && a.n === b.n);
}

export function recordToArray(r: EntryRecord): unknown[] {
  const flags = (r.hollow ? FLAG_HOLLOW : 0) | (r.counter !== undefined ? FLAG_COUNTER : 0);
  const head: unknown[] = [r.key, r.value, r.created, r.vv.t, r.vv.c, r.vv.n, r.expireAt, flags];
  if (!sameVersion(r.vv, r.ev) || r.counter !== undefined) head.push(r.ev.t, r.ev.c, r.ev.n);
  if (r.counter !== undefined) head.push(counterToArray(r.counter));
  return head;
}

/**
 * Decodes and validates one record. Values are copied out of the read buffer so
 * a long-lived entry does not pin the whole block it was read from. `names`
 * interns node ids (a handful of distinct strings across a million versions).
 */
export function recordFromArray(a: unknown, names?: Map<string, string>, valueIsCopy = false): EntryRecord {
  if (!Array.isArray(a) || (a.length !== 8 && a.length !== 11 && a.length !== 12)) throw new RecordFormatError('record is not an 8-, 11- or 12-element array');
  const flags = a[7];
  if (typeof flags !== 'number' || (flags & ~(FLAG_HOLLOW | FLAG_COUNTER)) !== 0) throw new RecordFormatError('record has unknown flags');
  if (((flags & FLAG_COUNTER) !== 0) !== (a.length === 12)) throw new RecordFormatError("record's counter flag does not match its length");
  const intern = (n: unknown): string => {
    if (typeof n !== 'string' || names === undefined) return n as string;
    const known = names.get(n);
    if (known !== undefined) return known;
    if (names.size < 10_000) names.set(n, n);
    return n;
  };
  const raw = a[1];
  const vv: Version = { t: a[3], c: a[4], n: intern(a[5]) };
  const record: EntryRecord = {
    key: a[0],
    value: raw instanceof Uint8Array ? (valueIsCopy ? (raw as Buffer) : Buffer.from(raw)) : (raw as null),
    created: a[2],
    vv,
    expireAt: a[6],
    ev: a.length >= 11 ? { t: a[8], c: a[9], n: intern(a[10]) } : vv,
  };
  if ((flags & FLAG_HOLLOW) !== 0) record.hollow = true;
  if (a.length === 12) record.counter = counterFromArray(a[11]);
  // String() of a decoded map can itself throw (a `toString` field that is not a function): name non-string keys by type.
  const shownKey = typeof a[0] === 'string' ? a[0].slice(0, 80) : `<${a[0] === null ? 'null' : typeof a[0]}>`;
  if (!isEntryRecord(record)) throw new RecordFormatError(`record for key ${JSON.stringify(shownKey)} is not valid`);
  return record;
}

/** One record's msgpack bytes, after `headroom` free bytes (room for a frame header, so nothing is copied). */
export function encodeRecord(r: EntryRecord, headroom = 0): Buffer {
  const b = Buffer.allocUnsafe(headroom + recordSize(r));
  writeRecord(r, b, headroom);
  return b;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One record (an append-log frame); `views` as for decodeRecords. */
export function decodeRecord(bytes: Uint8Array, names?: Map<string, string>, views = false): EntryRecord {
  const fast = new Cursor(asBuffer(bytes), views);
  try {
    const r = recordFromArray(fast.recordArray(), names, true);
    if (fast.atEnd()) return r;
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
  }
  return recordFromArray(unpack(bytes), names);
}

/** Many records in one msgpack array (a snapshot chunk), after `headroom` free bytes. */
export function encodeRecords(records: readonly EntryRecord[], headroom = 0): Buffer {
  let size = arrayHeadSize(records.length);
  for (const r of records) size += recordSize(r);
  const b = Buffer.allocUnsafe(headroom + size);
  let at = writeArrayHead(records.length, b, headroom);
  for (const r of records) at = writeRecord(r, b, at);
  return b;
}

/**
 * Decodes a chunk of records, handing each to `each`. With `views`, values are
 * views of `bytes`, not copies: for a caller that copies what it keeps before
 * `bytes` is reused (the store copies every value into its arena).
 */
export function decodeRecords(bytes: Uint8Array, each: (r: EntryRecord) => void, names?: Map<string, string>, views = false): number {
  // Fast path first: records straight from the bytes. If the chunk uses an
  // encoding the cursor does not know, msgpackr decodes the whole chunk again;
  // records are only handed out once the fast pass has finished without surprise.
  const fast = new Cursor(asBuffer(bytes), views);
  try {
    const n = fast.arrayLength();
    if (n > bytes.length) throw new RecordFormatError(`chunk claims ${n} records in ${bytes.length} bytes`);
    const out: EntryRecord[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = recordFromArray(fast.recordArray(), names, true);
    if (fast.atEnd()) {
      for (const r of out) each(r);
      return n;
    }
  } catch (err) {
    if (!(err instanceof Unsupported)) throw err;
  }
  const list = unpack(bytes);
  if (!Array.isArray(list)) throw new RecordFormatError('chunk is not an array of records');
  for (const a of list) each(recordFromArray(a, names));
  return list.length;
}

export function encodeMap(m: Record<string, unknown>): Buffer {
  return packr.pack(m);
}

export function decodeMap(bytes: Uint8Array): Record<string, unknown> {
  const m = unpack(bytes);
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new RecordFormatError('header is not a map');
  return m as Record<string, unknown>;
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new RecordFormatError(`not valid msgpack: ${(err as Error).message}`);
  }
}

/** The cursor met an encoding it does not decode itself; msgpackr will. */
class Unsupported extends Error {}
const UNSUPPORTED = new Unsupported('encoding not handled by the fast path');

/**
 * A decoder for the msgpack subset records use (arrays, nil, numbers, strings,
 * bin), about twice as fast as a general decoder at start-up because it builds
 * no intermediate views: bin values are copied straight into their own buffers
 * (or handed out as views of the chunk, for a caller that copies them anyway).
 */
class Cursor {
  private pos = 0;
  private lastName: Buffer | null = null;
  private lastNameText = '';
  /** `views`: bin values are views of `b` instead of copies. */
  constructor(
    private readonly b: Buffer,
    private readonly views = false,
  ) {}

  atEnd(): boolean {
    return this.pos === this.b.length;
  }

  private need(n: number): void {
    if (this.pos + n > this.b.length) throw new RecordFormatError('record data cut short');
  }

  arrayLength(): number {
    const b = this.b;
    this.need(1);
    const t = b[this.pos++]!;
    if (t >= 0x90 && t <= 0x9f) return t & 0x0f;
    if (t === 0xdc) {
      this.need(2);
      this.pos += 2;
      return b.readUInt16BE(this.pos - 2);
    }
    if (t === 0xdd) {
      this.need(4);
      this.pos += 4;
      return b.readUInt32BE(this.pos - 4);
    }
    throw UNSUPPORTED;
  }

  recordArray(): unknown[] {
    const n = this.arrayLength();
    if (n !== 8 && n !== 11 && n !== 12) throw new RecordFormatError('record is not an 8-, 11- or 12-element array');
    const a: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) a[i] = i === 5 || i === 10 ? this.nodeName() : this.scalar();
    return a;
  }

  /**
   * A version's node id: a chunk holds a handful of distinct ones, so the last
   * one's bytes are compared before a string is made.
   */
  private nodeName(): unknown {
    const b = this.b;
    const t = b[this.pos];
    if (t === undefined || t < 0xa0 || t > 0xbf) return this.scalar();
    const len = t & 0x1f;
    const at = this.pos + 1;
    const last = this.lastName;
    if (last !== null && last.length === len && at + len <= b.length) {
      let i = 0;
      while (i < len && last[i] === b[at + i]) i++;
      if (i === len) {
        this.pos = at + len;
        return this.lastNameText;
      }
    }
    const name = this.scalar();
    this.lastName = b.subarray(at, at + len);
    this.lastNameText = name as string;
    return name;
  }

  private take(n: number): number {
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private str(len: number): string {
    const at = this.take(len);
    return this.b.toString('utf8', at, at + len);
  }

  private bin(len: number): Buffer {
    const at = this.take(len);
    if (this.views) return this.b.subarray(at, at + len);
    const copy = Buffer.allocUnsafe(len);
    this.b.copy(copy, 0, at, at + len);
    return copy;
  }

  private scalar(): unknown {
    const b = this.b;
    const t = b[this.take(1)]!;
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t >= 0xa0 && t <= 0xbf) return this.str(t & 0x1f);
    switch (t) {
      case 0xc0:
        return null;
      case 0xcc:
        return b[this.take(1)]!;
      case 0xcd:
        return b.readUInt16BE(this.take(2));
      case 0xce:
        return b.readUInt32BE(this.take(4));
      case 0xcf:
        return Number(b.readBigUInt64BE(this.take(8)));
      case 0xd0:
        return b.readInt8(this.take(1));
      case 0xd1:
        return b.readInt16BE(this.take(2));
      case 0xd2:
        return b.readInt32BE(this.take(4));
      case 0xd3:
        return Number(b.readBigInt64BE(this.take(8)));
      case 0xca:
        return b.readFloatBE(this.take(4));
      case 0xcb:
        return b.readDoubleBE(this.take(8));
      case 0xd9:
        return this.str(b[this.take(1)]!);
      case 0xda:
        return this.str(b.readUInt16BE(this.take(2)));
      case 0xdb:
        return this.str(b.readUInt32BE(this.take(4)));
      case 0xc4:
        return this.bin(b[this.take(1)]!);
      case 0xc5:
        return this.bin(b.readUInt16BE(this.take(2)));
      case 0xc6:
        return this.bin(b.readUInt32BE(this.take(4)));
      default:
        throw UNSUPPORTED;
    }
  }
}

/*
 * The encoder: records are written straight into their frame's buffer, sized
 * exactly beforehand (about three times faster than a general encoder on the
 * append path). The output is plain msgpack, the same that msgpackr writes for
 * recordToArray(r): any msgpack reader decodes it.
 */

function strSize(s: string): number {
  const n = utf8Length(s);
  return n + (n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
}

function binSize(v: Buffer | null): number {
  if (v === null) return 1;
  const n = v.length;
  return n + (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);
}

function numSize(x: number): number {
  if (!(Number.isInteger(x) && x >= 0)) return 9;
  return x < 0x80 ? 1 : x < 0x100 ? 2 : x < 0x10000 ? 3 : x < 0x100000000 ? 5 : 9;
}

/** The bytes writeRecord writes for `r`. */
export function recordSize(r: EntryRecord): number {
  let size = 1 + strSize(r.key) + binSize(r.value) + numSize(r.created) + numSize(r.vv.t) + numSize(r.vv.c) + strSize(r.vv.n) + numSize(r.expireAt) + 1;
  if (!sameVersion(r.vv, r.ev) || r.counter !== undefined) size += numSize(r.ev.t) + numSize(r.ev.c) + strSize(r.ev.n);
  if (r.counter !== undefined) size += counterSize(r.counter);
  return size;
}

function arrayHeadSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** A counter's msgpack: counterToArray's array, [epoch.t, epoch.c, epoch.n, reborn, base|nil, [node, up, down, …]]. */
function counterSize(c: CounterState): number {
  let size =
    1 + numSize(c.epoch.t) + numSize(c.epoch.c) + strSize(c.epoch.n) + 1 + (c.base === null ? 1 : strSize(c.base)) + arrayHeadSize(c.totals.length * 3);
  for (const [node, up, down] of c.totals) size += strSize(node) + strSize(up) + strSize(down);
  return size;
}

function writeStr(s: string, b: Buffer, at: number): number {
  const n = utf8Length(s);
  if (n < 32) {
    b[at++] = 0xa0 | n;
  } else if (n < 0x100) {
    b[at++] = 0xd9;
    b[at++] = n;
  } else if (n < 0x10000) {
    b[at++] = 0xda;
    b.writeUInt16BE(n, at);
    at += 2;
  } else {
    b[at++] = 0xdb;
    b.writeUInt32BE(n, at);
    at += 4;
  }
  return writeUtf8(s, n, b, at);
}

function writeBin(v: Buffer | null, b: Buffer, at: number): number {
  if (v === null) {
    b[at] = 0xc0;
    return at + 1;
  }
  const n = v.length;
  if (n < 0x100) {
    b[at++] = 0xc4;
    b[at++] = n;
  } else if (n < 0x10000) {
    b[at++] = 0xc5;
    b.writeUInt16BE(n, at);
    at += 2;
  } else {
    b[at++] = 0xc6;
    b.writeUInt32BE(n, at);
    at += 4;
  }
  b.set(v, at);
  return at + n;
}

function writeNum(x: number, b: Buffer, at: number): number {
  if (!(Number.isInteger(x) && x >= 0) || x >= 0x100000000) {
    b[at] = 0xcb;
    b.writeDoubleBE(x, at + 1);
    return at + 9;
  }
  if (x < 0x80) {
    b[at] = x;
    return at + 1;
  }
  if (x < 0x100) {
    b[at] = 0xcc;
    b[at + 1] = x;
    return at + 2;
  }
  if (x < 0x10000) {
    b[at] = 0xcd;
    b.writeUInt16BE(x, at + 1);
    return at + 3;
  }
  b[at] = 0xce;
  b.writeUInt32BE(x, at + 1);
  return at + 5;
}

/** Writes `r`'s msgpack into b at `at` (recordSize(r) bytes) and returns the offset after it. */
export function writeRecord(r: EntryRecord, b: Buffer, at: number): number {
  const full = !sameVersion(r.vv, r.ev) || r.counter !== undefined;
  b[at++] = r.counter !== undefined ? 0x9c : full ? 0x9b : 0x98;
  at = writeStr(r.key, b, at);
  at = writeBin(r.value, b, at);
  at = writeNum(r.created, b, at);
  at = writeNum(r.vv.t, b, at);
  at = writeNum(r.vv.c, b, at);
  at = writeStr(r.vv.n, b, at);
  at = writeNum(r.expireAt, b, at);
  b[at++] = (r.hollow ? FLAG_HOLLOW : 0) | (r.counter !== undefined ? FLAG_COUNTER : 0);
  if (full) {
    at = writeNum(r.ev.t, b, at);
    at = writeNum(r.ev.c, b, at);
    at = writeStr(r.ev.n, b, at);
  }
  if (r.counter !== undefined) at = writeCounter(r.counter, b, at);
  return at;
}

function writeArrayHead(n: number, b: Buffer, at: number): number {
  if (n < 16) {
    b[at] = 0x90 | n;
    return at + 1;
  }
  if (n < 0x10000) {
    b[at] = 0xdc;
    b.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  b[at] = 0xdd;
  b.writeUInt32BE(n, at + 1);
  return at + 5;
}

function writeCounter(c: CounterState, b: Buffer, at: number): number {
  b[at++] = 0x96;
  at = writeNum(c.epoch.t, b, at);
  at = writeNum(c.epoch.c, b, at);
  at = writeStr(c.epoch.n, b, at);
  b[at++] = c.reborn ? 1 : 0;
  if (c.base === null) b[at++] = 0xc0;
  else at = writeStr(c.base, b, at);
  at = writeArrayHead(c.totals.length * 3, b, at);
  for (const [node, up, down] of c.totals) {
    at = writeStr(node, b, at);
    at = writeStr(up, b, at);
    at = writeStr(down, b, at);
  }
  return at;
}
