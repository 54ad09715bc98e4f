import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pack, unpack as msgpackrUnpack } from 'msgpackr';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parseConfText } from '../../src/config/conf-file.js';
import { SETTING_NAMES } from '../../src/config/settings.js';
import { parseForm, percentDecode } from '../../src/api/http/params.js';
import { LineSplitter, type NextLine } from '../../src/api/tcp/lines.js';
import { handleLine } from '../../src/api/tcp/handler.js';
import { Commands, parseExptime } from '../../src/api/commands.js';
import { Store } from '../../src/store/store.js';
import { RespParser, RespProtocolError, splitInline, DEFAULT_LIMITS } from '../../src/api/resp/parser.js';
import { decodeRecord, decodeRecords, encodeRecord, recordFromArray, RecordFormatError } from '../../src/store/record-codec.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { parseDatagram } from '../../src/cluster/membership/wire.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { RequestSigner } from '../../src/cluster/request-signing.js';
import { TokenService } from '../../src/api/http/tokens.js';
import { parseListText } from '../../src/cluster/groups/list-file.js';
import { loadSeeds } from '../../src/cluster/groups/seed-file.js';
import { ServerList } from '../../src/cluster/groups/server-list.js';
import { checkAddress } from '../../src/cluster/groups/address.js';
import { HybridLogicalClock } from '../../src/store/hlc.js';
import { TEST_AUTH_KEY } from '../helpers/node-process.js';
import { CaseCounter, bytesArb, encodeParamBytes, fcParams, runs, textArb } from './fuzz-helpers.js';

/**
 * In-process fuzzing of the pure parts every network surface stands on: the
 * conf parser, percent-decoding, the TCP line splitter and line handler, the
 * RESP parser, the record codec, SWIM's datagram reader, datagram sealing,
 * request signing, tokens, and the server-list files. Cheap, so most cases run here.
 */

const counter = new CaseCounter('in-process units');
const scratch = mkdtempSync(join(tmpdir(), 'owlcache-fuzz-units-'));
after(() => {
  rmSync(scratch, { recursive: true, force: true });
  counter.report();
});

/** Runs a property and counts its cases under `surface`. */
function check<T>(surface: string, base: number, arb: fc.Arbitrary<T>, body: (v: T) => void): void {
  const n = runs(base);
  fc.assert(
    fc.property(arb, (v) => {
      counter.add(surface);
      body(v);
    }),
    fcParams(n),
  );
}

// ------------------------------------------------------------------- owlcache.conf

const confValueArb = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '1',
    '-1',
    '7721',
    '65536',
    '99999999999999999999',
    '1.5',
    '64kb',
    '1gb',
    '1tb',
    '10s',
    '500ms',
    '5m',
    '1d',
    '-5s',
    'always',
    'no',
    'everysec',
    'gossip',
    'owlcache',
    'true',
    'yes',
    '0x10',
    '1e3',
    '  spaced  value ',
    '#notacomment',
  ),
  textArb,
  bytesArb(20).map((b) => b.toString('latin1')),
);
const confLineArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...SETTING_NAMES), fc.constantFrom(' ', '\t', '  '), confValueArb).map(([n, sp, v]) => `${n}${sp}${v}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '[Owlcache]',
      '[TCP]',
      '[ bad',
      '[]',
      '[[x]]',
      '# comment',
      '#',
      '',
      '   ',
      'Unknown_Setting 1',
      '1Name x',
      'Pass',
      '=',
      '\uFEFFHttpport 1',
    ),
  },
  { weight: 1, arbitrary: textArb },
);
const confFileArb = fc
  .tuple(fc.array(confLineArb, { maxLength: 14 }), fc.constantFrom('\n', '\r\n', '\r'), fc.boolean(), bytesArb(6))
  .map(([lines, eol, badTail, tail]) => {
    const text = Buffer.from(lines.join(eol), 'utf8');
    return badTail ? Buffer.concat([text, tail]) : text;
  });

describe('owlcache.conf', () => {
  test('loadConfig returns or throws ConfigError, never anything else', () => {
    const dir = join(scratch, 'conf');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'owlcache.conf');
    let loaded = 0;
    check('owlcache.conf (loadConfig)', 1000, confFileArb, (bytes) => {
      writeFileSync(file, bytes);
      try {
        const r = loadConfig(['-config', file], dir);
        if ('config' in r) loaded += 1;
      } catch (err) {
        if (!(err instanceof ConfigError))
          throw new Error(`loadConfig threw ${(err as Error)?.name}: ${(err as Error)?.stack}\nfile: ${JSON.stringify(bytes.toString('latin1'))}`);
        assert.ok((err as Error).message.length > 0);
      }
    });
    // The generator must reach the success path too, or the property says little.
    assert.ok(loaded > 0, 'no generated conf file was accepted');
  });

  test('flags: loadConfig returns or throws ConfigError', () => {
    const dir = join(scratch, 'flags');
    mkdirSync(dir, { recursive: true });
    const argArb = fc.oneof(
      fc.constantFrom(
        '-config',
        '--config',
        '-c',
        '-help',
        '-version',
        '-host',
        '-pass',
        '--',
        '-',
        '---x',
        '--Httpport=',
        '--httpport=1',
        '--Pass=short',
        '--GroupWorkMode=gossip',
        '--MaxValueSize=0',
        '-log',
      ),
      fc.tuple(fc.constantFrom(...SETTING_NAMES), confValueArb).map(([n, v]) => `--${n}=${v}`),
      textArb,
    );
    check('owlcache flags (loadConfig argv)', 300, fc.array(argArb, { maxLength: 6 }), (argv) => {
      try {
        loadConfig(argv, dir);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw new Error(`loadConfig(${JSON.stringify(argv)}) threw ${(err as Error)?.stack}`);
      }
    });
  });

  test('parseConfText: settings parsed or ConfigError naming the line', () => {
    check('owlcache.conf (parseConfText)', 500, fc.array(confLineArb, { maxLength: 20 }), (lines) => {
      try {
        const out = parseConfText(lines.join('\n'), 'x.conf');
        for (const l of out) assert.match(l.name, /^[A-Za-z_][A-Za-z0-9_]*$/);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        assert.match((err as Error).message, /^x\.conf:\d+: /);
      }
    });
  });
});

// ------------------------------------------------------------------- percent-decoding

describe('HTTP parameters', () => {
  test('percentDecode never throws, never grows, and undoes full encoding', () => {
    check('percent-decoding', 800, fc.tuple(bytesArb(200), fc.nat(5)), ([b, style]) => {
      const enc = Buffer.from(encodeParamBytes(b, style), 'latin1');
      const d = percentDecode(enc, 0, enc.length);
      assert.ok(d.length <= enc.length);
      if (style % 3 === 0) assert.deepEqual(d, b);
      const raw = percentDecode(b, 0, b.length);
      assert.ok(raw.length <= b.length);
    });
  });

  test('parseForm: first value of each encoded name survives any surrounding garbage', () => {
    check('form parsing', 600, fc.tuple(bytesArb(60), bytesArb(60), bytesArb(80)), ([v, w, junk]) => {
      const form = Buffer.concat([Buffer.from(`key=${encodeParamBytes(v, 0)}&key=${encodeParamBytes(w, 0)}&`), junk]);
      const m = parseForm(form);
      assert.deepEqual(m.get('key')?.[0], v);
      parseForm(junk);
    });
  });

  test('parseExptime never throws and refuses negatives', () => {
    check('exptime parsing', 300, textArb, (t) => {
      const r = parseExptime(t);
      if (r.ok) assert.ok(Number.isSafeInteger(r.ms) && r.ms >= 0);
    });
  });
});

// ------------------------------------------------------------------- TCP

function referenceLines(data: Buffer, maxLine: number): (string | 'overflow')[] {
  const out: (string | 'overflow')[] = [];
  const parts = data.toString('latin1').split('\n');
  const tail = parts.pop()!;
  for (const p of parts) {
    const line = p.endsWith('\r') ? p.slice(0, -1) : p;
    if (line.length > maxLine) {
      out.push('overflow');
      return out;
    }
    out.push(line);
  }
  if (tail.length > maxLine + 1) out.push('overflow');
  return out;
}

describe('TCP', () => {
  test('LineSplitter cuts any chunking of any bytes exactly like a reference splitter', () => {
    const dataArb = fc.array(
      fc.oneof(
        { weight: 4, arbitrary: bytesArb(30) },
        { weight: 1, arbitrary: fc.constantFrom(Buffer.from('\n'), Buffer.from('\r\n'), Buffer.from('\r'), Buffer.alloc(70, 0x61)) },
      ),
      { maxLength: 12 },
    );
    check('TCP line splitter', 800, fc.tuple(dataArb, fc.integer({ min: 1, max: 64 })), ([chunks, maxLine]) => {
      const s = new LineSplitter(maxLine);
      const got: (string | 'overflow')[] = [];
      let over = false;
      for (const c of chunks) {
        s.push(c);
        for (let i = 0; i < 10_000 && !over; i++) {
          const l: NextLine = s.next();
          if (l === null) break;
          if (l === 'overflow') over = true;
          got.push(l === 'overflow' ? l : l.toString('latin1'));
        }
      }
      assert.deepEqual(got, referenceLines(Buffer.concat(chunks), maxLine));
    });
  });

  test('handleLine answers every line with one newline-terminated answer, never throwing', () => {
    const commands = new Commands(new Store({ nodeId: 'fuzz-tcp' }), { maxKeyLength: 64, maxValueSize: 256 });
    const deps = { commands, responseHost: () => '127.0.0.1:7720' };
    const lineArb = fc
      .oneof(
        fc
          .tuple(
            fc.constantFrom('get', 'set', 'expire', 'delete', 'exist', 'ping', 'GET', 'info', ''),
            fc.constantFrom(' ', '  ', '\t', ''),
            bytesArb(20),
            fc.constantFrom(' ', ''),
            bytesArb(300),
          )
          .map(([c, sp, k, sp2, rest]) => Buffer.concat([Buffer.from(c + sp), k, Buffer.from(sp2), rest])),
        bytesArb(100),
      )
      .map((b) => Buffer.from(b.toString('latin1').replace(/\n/g, ' '), 'latin1'));
    check('TCP line handler', 800, lineArb, (line) => {
      const answer = Buffer.concat(handleLine(deps, line));
      assert.equal(answer[answer.length - 1], 0x0a);
      const word = line.toString('utf8', 0, line.indexOf(0x20) === -1 ? line.length : line.indexOf(0x20));
      if (!['get', 'set', 'expire', 'delete', 'exist', 'ping'].includes(word)) {
        const e = JSON.parse(answer.toString('utf8')) as { Status: number; Cmd: string };
        assert.equal(e.Status, 501);
        assert.equal(e.Cmd, '');
      } else if (word !== 'get' && word !== 'ping') {
        const e = JSON.parse(answer.toString('utf8')) as { Status: number };
        assert.ok([200, 404, 413, 500, 501].includes(e.Status), `status ${e.Status}`);
      }
    });
  });
});

// ------------------------------------------------------------------- RESP

function parseAll(p: RespParser, chunks: Buffer[]): { cmds: string[][]; error: string | null } {
  const cmds: string[][] = [];
  try {
    for (const c of chunks) {
      p.push(c);
      for (let i = 0; i < 10_000; i++) {
        const args = p.next();
        if (args === null) break;
        cmds.push(args.map((a) => a.toString('latin1')));
      }
    }
  } catch (err) {
    if (!(err instanceof RespProtocolError)) throw err;
    return { cmds, error: err.message };
  }
  return { cmds, error: null };
}

export const respFrameArb: fc.Arbitrary<Buffer> = fc.oneof(
  // Well-formed multibulk commands, then mangled.
  fc
    .tuple(fc.array(bytesArb(12), { minLength: 1, maxLength: 5 }), fc.integer({ min: -2, max: 2 }), fc.integer({ min: -3, max: 3 }), fc.nat(100), fc.boolean())
    .map(([args, dn, dl, cut, mangle]) => {
      const parts = [`*${args.length + (mangle ? dn : 0)}\r\n`];
      const bufs: Buffer[] = [Buffer.from(parts[0]!)];
      args.forEach((a, i) => {
        bufs.push(Buffer.from(`$${a.length + (mangle && i === 0 ? dl : 0)}\r\n`), a, Buffer.from('\r\n'));
      });
      const all = Buffer.concat(bufs);
      return mangle && cut % 3 === 0 ? all.subarray(0, cut % (all.length + 1)) : all;
    }),
  fc
    .constantFrom(
      '*1\r\n$-1\r\n',
      '*-1\r\n',
      '*0\r\n',
      '*999999999999\r\n',
      '$5\r\nhello\r\n',
      '*1\r\n$99999999999999999999\r\n',
      '*2\r\n$3\r\nGET\r\n:1\r\n',
      '"unbalanced\r\n',
      "'x\r\n",
      'SET "a\\x4" b\r\n',
      '\r\n\r\n',
      '*1\r\n$4\r\nPING\r\r\n',
      '*x\r\n',
      '*\r\n',
      '*-\r\n',
    )
    .map((s) => Buffer.from(s)),
  fc
    .tuple(fc.constantFrom('PING', 'GET', 'SET', 'AUTH', 'ECHO', 'QUIT', 'DEL', 'MSET', 'SCAN'), bytesArb(40))
    .map(([c, rest]) => Buffer.concat([Buffer.from(`${c} `), rest, Buffer.from('\r\n')])),
  bytesArb(120),
);

describe('RESP', () => {
  test('the parser throws only RespProtocolError and gives the same commands however the bytes are chunked', () => {
    const limits = { ...DEFAULT_LIMITS, maxBulk: 1000, maxArgs: 64, maxInline: 200, maxCommandBytes: 10_000 };
    check('RESP parser', 1000, fc.tuple(fc.array(respFrameArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(400), { maxLength: 6 })), ([frames, cuts]) => {
      const all = Buffer.concat(frames);
      const whole = parseAll(new RespParser(limits), [all]);
      const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let at = 0;
      for (const p of [...points, all.length]) {
        chunks.push(all.subarray(at, p));
        at = p;
      }
      const split = parseAll(new RespParser(limits), chunks);
      assert.deepEqual(split.cmds, whole.cmds.slice(0, split.cmds.length));
      assert.equal(split.error === null, whole.error === null);
      assert.deepEqual(split.cmds, whole.cmds);
    });
  });

  test('splitInline throws only RespProtocolError', () => {
    check('RESP inline splitter', 400, bytesArb(80), (b) => {
      try {
        splitInline(b);
      } catch (err) {
        if (!(err instanceof RespProtocolError)) throw err;
      }
    });
  });
});

// ------------------------------------------------------------------- record codec

const versionArb = fc.tuple(fc.nat({ max: 2 ** 48 }), fc.nat({ max: 1000 }), fc.string({ minLength: 1, maxLength: 16 })).map(([t, c, n]) => ({ t, c, n }));
const recordArb: fc.Arbitrary<EntryRecord> = fc
  .tuple(
    fc.string({ maxLength: 30 }),
    fc.option(bytesArb(50)),
    fc.nat({ max: 2 ** 52 }),
    versionArb,
    versionArb,
    fc.nat({ max: 2 ** 50 }),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([key, value, created, vv, ev, expireAt, sameEv, hollow]) => {
    const r: EntryRecord = { key, value: hollow ? null : value, created, vv, ev: sameEv ? vv : ev, expireAt };
    if (hollow) r.hollow = true;
    return r;
  });

/** msgpack-able junk, with the shapes records have (8 / 11 element arrays) over-represented. */
const junkValueArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, 2 ** 64, -(2 ** 63), NaN, '', 'k'),
    fc.string({ maxLength: 10 }),
    bytesArb(10),
    fc.array(tie('v'), { maxLength: 11 }),
    fc.array(tie('v'), { minLength: 8, maxLength: 8 }),
    fc.dictionary(fc.constantFrom('toString', 'valueOf', '__proto__', 'constructor', 'key', 'a'), tie('v'), { maxKeys: 3 }),
  ),
})).v;

describe('record codec', () => {
  test('records round-trip, and any bytes decode to a valid record or RecordFormatError', () => {
    check('record codec (round trip)', 300, recordArb, (r) => {
      const back = decodeRecord(encodeRecord(r));
      assert.equal(back.key, r.key);
      assert.deepEqual(back.vv, r.vv);
      assert.deepEqual(back.ev, r.ev);
      assert.deepEqual(back.value === null ? null : Buffer.from(back.value), r.value === null ? null : Buffer.from(r.value));
    });
    check(
      'record codec (bytes)',
      600,
      fc.oneof(
        bytesArb(80),
        recordArb.chain((r) =>
          fc.tuple(fc.constant(encodeRecord(r)), fc.nat(200), byteArbInt()).map(([b, i, x]) => {
            const c = Buffer.from(b);
            if (c.length > 0) c[i % c.length] = x;
            return i % 2 === 0 ? c : c.subarray(0, i % (c.length + 1));
          }),
        ),
      ),
      (b) => {
        for (const decode of [() => decodeRecord(b), () => decodeRecords(b, () => {})]) {
          try {
            decode();
          } catch (err) {
            if (!(err instanceof RecordFormatError)) throw new Error(`codec threw ${(err as Error)?.stack} for ${b.toString('hex')}`);
          }
        }
      },
    );
  });

  test('recordFromArray: any decoded value is a record or RecordFormatError', () => {
    // Records with one field replaced by junk reach the deepest checks (a key that is an object, flags that are a string, ...).
    const nearRecordArb = fc.tuple(recordArb, fc.nat(10), junkValueArb).map(([r, i, junk]) => {
      const a: unknown[] = [r.key, r.value, r.created, r.vv.t, r.vv.c, r.vv.n, r.expireAt, r.hollow ? 1 : 0, r.ev.t, r.ev.c, r.ev.n];
      a[i] = junk;
      // Through msgpack, as a datagram or a snapshot would deliver it.
      return unpackOrJunk(pack(i < 8 && i % 2 === 0 ? a.slice(0, 8) : a));
    });
    check('record codec (decoded values)', 600, fc.oneof(junkValueArb, nearRecordArb), (v) => {
      try {
        recordFromArray(v);
      } catch (err) {
        if (!(err instanceof RecordFormatError)) throw new Error(`recordFromArray threw ${(err as Error)?.stack}`);
      }
    });
  });
});

function unpackOrJunk(b: Buffer): unknown {
  try {
    return msgpackrUnpack(b);
  } catch {
    return b;
  }
}

function byteArbInt(): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: 255 });
}

// ------------------------------------------------------------------- cluster datagrams

describe('cluster datagrams', () => {
  // The decoder swim uses (package.json's overrides map swim's msgpack to msgpackr).
  const decode = (b: Buffer): unknown => msgpackrUnpack(b);
  test("SWIM's wire reader returns messages or throws, whatever the bytes", () => {
    const memberArb = fc.record(
      {
        host: fc.oneof(fc.constant('127.0.0.1:1'), fc.string()),
        state: fc.integer({ min: -1, max: 5 }),
        incarnation: fc.oneof(fc.nat(), fc.double()),
        meta: fc.oneof(fc.constant(undefined), junkValueArb),
      },
      { requiredKeys: [] },
    );
    const msgArb = fc
      .tuple(
        fc.constantFrom(0, 10, 11, 12, 13, 14, 99),
        fc.oneof(memberArb, fc.record({ seq: fc.oneof(fc.nat(), fc.double()), destination: fc.string() }, { requiredKeys: [] }), junkValueArb),
      )
      .map(([t, body]) => Buffer.concat([Buffer.from([t]), pack(body)]));
    const datagramArb = fc.oneof(
      msgArb,
      fc.array(msgArb, { maxLength: 4 }).chain((ms) =>
        fc.integer({ min: -1, max: 2 }).map((d) => {
          const parts: Buffer[] = [Buffer.from([0, 0, 0])];
          parts[0]!.writeUInt16LE(Math.max(0, ms.length + d), 1);
          for (const m of ms) {
            const len = Buffer.alloc(2);
            len.writeUInt16LE(m.length);
            parts.push(len, m);
          }
          return Buffer.concat(parts);
        }),
      ),
      bytesArb(100),
    );
    check('SWIM wire reader', 800, datagramArb, (b) => {
      try {
        const msgs = parseDatagram(b, decode);
        assert.ok(Array.isArray(msgs) && msgs.length > 0);
      } catch (err) {
        assert.ok(err instanceof Error);
      }
    });
  });

  test('DatagramSealer.open never throws; tampered, truncated, replayed and stale datagrams are refused', () => {
    const now = Date.now();
    const mk = (t = now) => new DatagramSealer(TEST_AUTH_KEY, 'owlcache/fuzz', { encrypt: false, windowMs: 30_000, now: () => t });
    const mkEnc = () => new DatagramSealer(TEST_AUTH_KEY, 'owlcache/fuzz', { encrypt: true, windowMs: 30_000, now: () => now });
    check('datagram sealing', 700, fc.tuple(bytesArb(200), fc.nat(2000), fc.boolean(), bytesArb(60)), ([payload, pos, enc, junk]) => {
      const tx = enc ? mkEnc() : mk();
      const rx = enc ? mkEnc() : mk();
      const d = tx.seal(payload);
      assert.equal(rx.open(junk), null);
      const flipped = Buffer.from(d);
      flipped[pos % d.length]! ^= 1 << (pos % 8);
      assert.equal(rx.open(flipped), null, 'a flipped bit was accepted');
      assert.equal(rx.open(d.subarray(0, pos % d.length)), null, 'a truncated datagram was accepted');
      assert.deepEqual(rx.open(d), payload);
      assert.equal(rx.open(d), null, 'a replay was accepted');
      assert.equal(rx.stats.rejectedReplay, 1);
      if (!enc) assert.equal(mk(now + 31_000).open(d), null, 'a stale datagram was accepted');
      assert.equal(new DatagramSealer('another-key-0123456789', 'owlcache/fuzz', { encrypt: enc, windowMs: 30_000, now: () => now }).open(d), null);
    });
  });

  test('RequestSigner.verify never throws and accepts only fresh, untampered, first-seen signatures', () => {
    // One signer and one late verifier for all cases, as a node has (each holds a 100 000-entry replay cache).
    const t = Date.now();
    const signer = new RequestSigner(TEST_AUTH_KEY, 30_000, { self: 'a:1', now: () => t });
    const late = new RequestSigner(TEST_AUTH_KEY, 30_000, { self: 'a:1', now: () => t + 60_000 });
    check('internal HTTP signing', 400, fc.tuple(textArb, fc.string({ maxLength: 40 }), bytesArb(40), fc.nat(3)), ([header, path, body, which]) => {
      assert.equal(signer.verify('POST', '/internal/sync', header, body), false);
      const sig = signer.sign('POST', which === 3 ? 'b:1' : 'a:1', `/internal/sync${path}`, body);
      if (which === 3) {
        assert.equal(signer.verify('POST', `/internal/sync${path}`, sig, body), false, 'a call signed for another node was accepted');
        return;
      }
      if (which === 0) assert.equal(signer.verify('POST', `/internal/sync${path}x`, sig, body), false);
      if (which === 1) assert.equal(signer.verify('POST', `/internal/sync${path}`, sig, Buffer.concat([body, Buffer.from('!')])), false);
      if (which === 2) assert.equal(late.verify('POST', `/internal/sync${path}`, sig, body), false);
      assert.equal(signer.verify('POST', `/internal/sync${path}`, sig, body), true);
      assert.equal(signer.verify('POST', `/internal/sync${path}`, sig, body), false, 'a replayed signature was accepted');
    });
  });
});

// ------------------------------------------------------------------- tokens

describe('tokens', () => {
  test('TokenService.verify never throws and refuses any token but an untampered, unexpired one for the same IP', async () => {
    let t = Date.now();
    const svc = new TokenService('jwt-secret-for-fuzz-0123', 'fuzz-password-0123', 60_000, () => t);
    const other = new TokenService('another-secret-0123456', 'fuzz-password-0123', 60_000, () => t);
    const good = await svc.issue('127.0.0.1');
    const foreign = await other.issue('127.0.0.1');
    const jwt = Buffer.from(good, 'base64').toString('utf8');
    const n = runs(400);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          textArb,
          fc.nat(jwt.length * 8).map((i) => {
            const b = Buffer.from(jwt);
            b[Math.floor(i / 8) % b.length]! ^= 1 << (i % 8);
            return b.toString('latin1');
          }),
        ),
        async (tok) => {
          counter.add('tokens');
          if (tok === good || tok === jwt) return;
          if (await svc.verify(tok, '127.0.0.1')) {
            // Base64url's last character carries spare bits: a token that decodes to the very same signed bytes is the same token.
            const parts = (s: string) =>
              s
                .split('.')
                .map((p) => Buffer.from(p, 'base64url').toString('hex'))
                .join('.');
            assert.equal(parts(tok), parts(jwt), `accepted a token that is not the one issued: ${JSON.stringify(tok)}`);
          }
        },
      ),
      fcParams(n),
    );
    assert.equal(await svc.verify(good, '127.0.0.1'), true);
    assert.equal(await svc.verify(jwt, '127.0.0.1'), true);
    assert.equal(await svc.verify(good, '127.0.0.2'), false);
    assert.equal(await svc.verify(foreign, '127.0.0.1'), false);
    t += 61_000;
    assert.equal(await svc.verify(good, '127.0.0.1'), false, 'an expired token was accepted');
  });
});

// ------------------------------------------------------------------- server lists

const listEntryArb = fc.oneof(
  fc.record(
    {
      Cmd: fc.constant(''),
      Address: fc.oneof(
        fc.constantFrom('127.0.0.1:7721', 'http://127.0.0.1:7721/', '[::1]:1', 'host_a:80', 'https://X.example:443', '1.2.3:4', '127.0.0.1:0', ':80', 'a:b:c'),
        fc.string({ maxLength: 20 }),
      ),
      Pass: fc.oneof(fc.string(), fc.nat()),
      Token: fc.string(),
    },
    { requiredKeys: [] },
  ),
  junkValueArb,
);
const listTextArb = fc.oneof(
  fc.array(listEntryArb, { maxLength: 6 }).map((a) => JSON.stringify(a)),
  junkValueArb.map((v) => JSON.stringify(v) ?? ''),
  fc.constantFrom('', ' ', 'null', '[', '{}', '[null]', '\uFEFF[]', '[{"address":"127.0.0.1:1","ADDRESS":5}]', '1e999'),
  bytesArb(60).map((b) => b.toString('latin1')),
);
const versionsTextArb = fc.oneof(
  fc
    .array(
      fc.record(
        {
          Address: fc.oneof(fc.constant('127.0.0.1:7721'), fc.string()),
          Version: fc.oneof(versionArb, junkValueArb),
          Deleted: fc.oneof(fc.boolean(), junkValueArb),
          PassDigest: fc.string(),
        },
        { requiredKeys: [] },
      ),
      { maxLength: 4 },
    )
    .map((entries) => JSON.stringify({ format: 1, entries })),
  junkValueArb.map((v) => JSON.stringify(v) ?? ''),
  fc.constant(''),
);

describe('server_group_config.json', () => {
  test('loadSeeds, ServerList.open and list edits report problems, never throw', () => {
    let i = 0;
    check(
      'server list files',
      500,
      fc.tuple(listTextArb, listTextArb, versionsTextArb, fc.boolean(), fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 30 })), { maxLength: 3 })),
      ([main, gossip, versions, gossipMode, edits]) => {
        const dir = join(scratch, `lists-${i++}`);
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'server_group_config.json'), main);
        writeFileSync(join(dir, 'server_group_gossip_config.json'), gossip);
        writeFileSync(join(dir, 'server_group_config.versions.json'), versions);
        const seeds = loadSeeds(dir);
        assert.ok(Array.isArray(seeds.seeds) && Array.isArray(seeds.problems));
        for (const s of seeds.seeds) assert.equal(checkAddress(s, 'gossip').ok, true);
        const list = ServerList.open(join(dir, 'server_group_config.json'), gossipMode ? 'gossip' : 'owlcache', new HybridLogicalClock('fuzz'));
        for (const [add, addr] of edits) {
          const r = add ? list.add(addr, 'pw-0123456789') : list.remove(addr);
          if (!r.ok) assert.ok([404, 500].includes(r.status));
        }
        list.live();
        rmSync(dir, { recursive: true, force: true });
      },
    );
  });

  test('parseListText and checkAddress never throw', () => {
    check('server list text', 400, listTextArb, (text) => {
      const r = parseListText(text, 'f.json', 'owlcache');
      assert.ok(['ok', 'invalid'].includes(r.state));
    });
    check(
      'list addresses',
      500,
      fc.oneof(
        textArb,
        fc
          .tuple(fc.constantFrom('', 'http://', 'https://', 'ftp://', '['), fc.string({ maxLength: 20 }), fc.constantFrom('', ':', ':80', ']:1', '/'))
          .map((p) => p.join('')),
      ),
      (a) => {
        for (const kind of ['owlcache', 'gossip'] as const) {
          const c = checkAddress(a, kind);
          if (c.ok) assert.equal(checkAddress(c.address, kind).ok, true, `normalised ${c.address} is not accepted again`);
        }
      },
    );
  });
});
