import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { Unpackr } from 'msgpackr';
import { crc32, fileHead, frame, FRAME_HEAD_BYTES, KIND_HEADER, KIND_RECORDS, readFramedFile, tableCrc32 } from '../../src/persistence/frames.js';
import { decodeRecord, decodeRecords, encodeRecord, encodeRecords, RecordFormatError, recordFromArray, recordToArray } from '../../src/store/record-codec.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

after(removeTempDirs);
const tmp = () => tempDir('owl-codec-');

const v = (t: number, c = 0, n = 'node-a') => ({ t, c, n });

const samples: EntryRecord[] = [
  { key: 'plain', value: Buffer.from('hello'), created: 1_763_800_000_123_456, vv: v(1_763_800_000_123), expireAt: 0, ev: v(1_763_800_000_123) },
  { key: 'clé 🦉', value: Buffer.from([0, 255, 1, 254, 0x80]), created: 5, vv: v(10, 3), expireAt: 99_999, ev: v(12, 0, 'node-b') },
  { key: 'empty', value: Buffer.alloc(0), created: 1, vv: v(1), expireAt: 0, ev: v(1) },
  { key: 'tomb', value: null, created: 0, vv: v(20, 1, 'node-c'), expireAt: 0, ev: v(3) },
  { key: 'stub', value: null, created: 7, vv: v(30), expireAt: 31, ev: v(30), hollow: true },
];

describe('record codec', () => {
  it('round-trips every kind of record exactly', () => {
    for (const r of samples) {
      const back = decodeRecord(encodeRecord(r));
      assert.deepEqual(back, r);
      if (r.value !== null) assert.ok(Buffer.isBuffer(back.value));
    }
  });

  it('writes the expiry version only when it differs from the value version', () => {
    assert.equal(recordToArray(samples[0]!).length, 8);
    assert.equal(recordToArray(samples[1]!).length, 11);
  });

  it('copies values out of the buffer they were read from', () => {
    const bytes = encodeRecord(samples[0]!);
    const back = decodeRecord(bytes);
    bytes.fill(0);
    assert.equal(back.value!.toString(), 'hello');
  });

  it('round-trips a chunk and interns node ids', () => {
    const names = new Map<string, string>();
    const out: EntryRecord[] = [];
    const n = decodeRecords(encodeRecords(samples), (r) => out.push(r), names);
    assert.equal(n, samples.length);
    assert.deepEqual(out, samples);
    assert.ok(names.has('node-a') && names.has('node-b'));
  });

  it('tells apart node ids of the same length in one chunk, in any order', () => {
    const ids = ['node-a', 'node-b', 'node-a', 'node-a', 'node-ab', 'node-b', 'node-c'];
    const recs: EntryRecord[] = ids.map((n, i) => ({
      key: `k${i}`,
      value: Buffer.from([i]),
      created: 1,
      vv: v(100 + i, 0, n),
      expireAt: 0,
      ev: v(100 + i, 1, ids[(i + 3) % ids.length]!),
    }));
    const out: EntryRecord[] = [];
    decodeRecords(encodeRecords(recs), (r) => out.push(r), new Map());
    assert.deepEqual(out, recs);
  });

  it('hands out values as views of the chunk only when asked to (the store copies them)', () => {
    const bytes = encodeRecords(samples);
    const copies: EntryRecord[] = [];
    const views: EntryRecord[] = [];
    decodeRecords(bytes, (r) => copies.push(r));
    decodeRecords(bytes, (r) => views.push(r), undefined, true);
    assert.deepEqual(views, samples);
    bytes.fill(0);
    assert.deepEqual(copies, samples, 'copies do not change with the chunk');
    assert.equal(views[0]!.value!.toString(), '\0'.repeat(5), 'views do');
  });

  it('writes plain msgpack: msgpackr reads every string, bin and number width back', () => {
    const lengths = [0, 1, 31, 32, 255, 256, 65_535, 65_536];
    const numbers = [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
    const records: EntryRecord[] = [];
    for (const n of lengths) {
      records.push({
        key: 'k'.repeat(Math.max(1, n)),
        value: Buffer.alloc(n, 7),
        created: numbers[lengths.indexOf(n)]!,
        vv: v(numbers[9 - lengths.indexOf(n)]!),
        expireAt: 0,
        ev: v(1, 2, 'é'.repeat((n % 40) + 1)),
      });
    }
    for (const x of numbers) records.push({ key: `n${x}`, value: null, created: x, vv: v(x, x, 'node'), expireAt: x, ev: v(x, x, 'node'), hollow: true });
    records.push({ key: '🦉'.repeat(20), value: Buffer.from('ü'), created: 3, vv: v(4), expireAt: 5, ev: v(4) });
    const unpackr = new Unpackr({ useRecords: false });
    for (const r of records) {
      assert.deepEqual(unpackr.unpack(encodeRecord(r)), recordToArray(r));
      assert.deepEqual(decodeRecord(encodeRecord(r)), r);
    }
    for (const n of [0, 15, 16, 65_535, 65_536]) {
      const many = Array.from({ length: n }, (_, i) => records[i % records.length]!).map((r) => ({ ...r, value: r.value?.subarray(0, 10) ?? null }));
      const bytes = encodeRecords(many);
      assert.equal((unpackr.unpack(bytes) as unknown[]).length, n);
      const back: EntryRecord[] = [];
      decodeRecords(bytes, (r) => back.push(r));
      assert.deepEqual(back, many);
    }
  });

  it('decodes every msgpack number and string width the same as msgpackr', () => {
    const node = 'n'.repeat(40);
    // [fixstr key, bin8 value, uint64 created, int64 vv.t, int8 vv.c, str8 vv.n, float32 expireAt, fixint flags]
    const bytes = Buffer.concat([
      Buffer.from([0x98, 0xa1, 0x6b, 0xc4, 0x02, 0x01, 0x02, 0xcf]),
      (() => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64BE(1_700_000_000_000_000n);
        return b;
      })(),
      Buffer.from([0xd3]),
      (() => {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(1_700_000_000_000n);
        return b;
      })(),
      Buffer.from([0xd0, 0x05, 0xd9, node.length]),
      Buffer.from(node),
      Buffer.from([0xca, 0, 0, 0, 0, 0x00]),
    ]);
    const expected: EntryRecord = {
      key: 'k',
      value: Buffer.from([1, 2]),
      created: 1_700_000_000_000_000,
      vv: { t: 1_700_000_000_000, c: 5, n: node },
      expireAt: 0,
      ev: { t: 1_700_000_000_000, c: 5, n: node },
    };
    assert.deepEqual(decodeRecord(bytes), expected);
    const chunk = Buffer.concat([Buffer.from([0xdc, 0, 2]), bytes, bytes]);
    const out: EntryRecord[] = [];
    assert.equal(
      decodeRecords(chunk, (r) => out.push(r)),
      2,
    );
    assert.deepEqual(out, [expected, expected]);
    // Bytes after the record are not silently ignored.
    assert.throws(() => decodeRecord(Buffer.concat([bytes, Buffer.from([0])])), RecordFormatError);
  });

  it('falls back to msgpackr for encodings the fast path does not know, and still validates', () => {
    // created as a msgpack timestamp extension: decodable, but not a valid create time.
    const bytes = Buffer.from([0x98, 0xa1, 0x6b, 0xc0, 0xd6, 0xff, 0, 0, 0, 1, 0x01, 0x00, 0xa1, 0x6e, 0x00, 0x00]);
    assert.throws(() => decodeRecord(bytes), RecordFormatError);
    assert.throws(() => decodeRecords(Buffer.concat([Buffer.from([0x91]), bytes]), () => assert.fail('no record')), RecordFormatError);
  });

  it('rejects records that are not valid', () => {
    const good = recordToArray(samples[0]!);
    const bad: unknown[] = [
      'not an array',
      good.slice(0, 7),
      [...good.slice(0, 7), 2],
      [42, ...good.slice(1)],
      [good[0], 'text', ...good.slice(2)],
      [...good.slice(0, 3), -1, ...good.slice(4)],
      [...good.slice(0, 5), '', ...good.slice(6)],
      [good[0], Buffer.from('x'), good[2], good[3], good[4], good[5], good[6], 1],
    ];
    for (const b of bad) assert.throws(() => recordFromArray(b), RecordFormatError, JSON.stringify(b));
    assert.throws(() => decodeRecord(Buffer.from([0xc1])), RecordFormatError);
  });
});

describe('frames', () => {
  it('computes CRC-32 like zlib, in the fallback too', () => {
    const data = Buffer.from('The quick brown owl caches the lazy dog');
    assert.equal(tableCrc32(data), zlib.crc32(data));
    assert.equal(tableCrc32(data.subarray(10), tableCrc32(data.subarray(0, 10))), crc32(data));
  });

  it('computes CRC-32 like zlib for every length, offset and start value (eight bytes a step, then the rest)', () => {
    const bytes = Buffer.alloc(700);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 3)) & 0xff;
    for (let length = 0; length <= 600; length += length < 40 ? 1 : 37) {
      for (const offset of [0, 1, 5, 8, 13]) {
        for (const initial of [0, 1, 0x9747b28c, 0xffffffff]) {
          const expected = zlib.crc32(bytes.subarray(offset, offset + length), initial);
          assert.equal(tableCrc32(bytes, initial, offset, offset + length), expected, `length ${length}, offset ${offset}, start ${initial}`);
          assert.equal(crc32(bytes.subarray(offset, offset + length), initial), expected);
        }
      }
    }
  });

  const MAGIC = Buffer.from('TESTMAG\n', 'latin1');

  function writeFramed(payloads: Buffer[]): { path: string; bytes: Buffer; offsets: number[] } {
    const parts = [fileHead(MAGIC, 1), frame(KIND_HEADER, Buffer.from('hdr'))];
    const offsets: number[] = [];
    let at = parts[0]!.length + parts[1]!.length;
    for (const p of payloads) {
      offsets.push(at);
      const f = frame(KIND_RECORDS, p);
      parts.push(f);
      at += f.length;
    }
    const bytes = Buffer.concat(parts);
    const path = join(tmp(), 'f.bin');
    writeFileSync(path, bytes);
    return { path, bytes, offsets };
  }

  async function readAll(path: string) {
    const got: string[] = [];
    const res = await readFramedFile(path, MAGIC, 1, (kind, payload) => {
      if (kind === KIND_RECORDS) got.push(payload.toString());
    });
    return { got, res };
  }

  it('reads back every frame, across read blocks', async () => {
    const payloads = [Buffer.from('a'), Buffer.alloc(3 << 20, 'b'), Buffer.from(''), Buffer.from('c')];
    const { path } = writeFramed(payloads);
    const { got, res } = await readAll(path);
    assert.deepEqual(
      got,
      payloads.map((p) => p.toString()),
    );
    assert.equal(res.end.kind, 'complete');
    assert.equal(res.frames, 5);
  });

  it('stops at a frame cut short, keeping the ones before', async () => {
    const { path, bytes, offsets } = writeFramed([Buffer.from('one'), Buffer.from('two'), Buffer.alloc(100, 'x')]);
    for (const cut of [offsets[2]! + 3, offsets[2]! + FRAME_HEAD_BYTES + 50, bytes.length - 1]) {
      writeFileSync(path, bytes.subarray(0, cut));
      const { got, res } = await readAll(path);
      assert.deepEqual(got, ['one', 'two']);
      assert.equal(res.end.kind, 'damaged');
      if (res.end.kind === 'damaged') {
        assert.equal(res.end.offset, offsets[2]);
        assert.equal(res.end.dropped, cut - offsets[2]!);
      }
    }
  });

  it('detects a flipped bit by its checksum', async () => {
    const { path, bytes, offsets } = writeFramed([Buffer.from('one'), Buffer.from('two')]);
    const copy = Buffer.from(bytes);
    copy[offsets[1]! + FRAME_HEAD_BYTES + 1]! ^= 0x04;
    writeFileSync(path, copy);
    const { got, res } = await readAll(path);
    assert.deepEqual(got, ['one']);
    assert.equal(res.end.kind, 'damaged');
    assert.match(res.end.kind === 'damaged' ? res.end.reason : '', /checksum/);
  });

  it('tells a foreign, a too-new and a too-short file apart', async () => {
    const { path, bytes } = writeFramed([Buffer.from('one')]);
    writeFileSync(path, Buffer.concat([Buffer.from('NOTMAGIC'), bytes.subarray(8)]));
    assert.equal((await readAll(path)).res.end.kind, 'bad-magic');
    const newer = Buffer.from(bytes);
    newer.writeUInt32BE(9, 8);
    writeFileSync(path, newer);
    assert.deepEqual((await readAll(path)).res.end, { kind: 'bad-version', version: 9 });
    writeFileSync(path, bytes.subarray(0, 5));
    assert.equal((await readAll(path)).res.end.kind, 'empty');
  });
});
