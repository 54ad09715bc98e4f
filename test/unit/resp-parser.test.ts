import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RespParser,
  RespProtocolError,
  OVERSIZED_COMMAND,
  splitInline,
  DEFAULT_LIMITS,
  NOT_PLAIN,
  PLAIN_GET,
  PLAIN_SET,
  type RespParserLimits,
} from '../../src/api/resp/parser.js';
import { globMatcher } from '../../src/api/resp/glob.js';

function frame(...args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

function all(p: RespParser): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < 1_000_000; i++) {
    const cmd = p.next();
    if (cmd === null) return out;
    out.push(cmd.map((b) => b.toString('latin1')));
  }
  throw new Error('parser did not stop');
}

const limits = (over: Partial<RespParserLimits>): RespParserLimits => ({ ...DEFAULT_LIMITS, ...over });

test('parses multibulk commands, several per chunk', () => {
  const p = new RespParser();
  p.push(Buffer.concat([frame('SET', 'k', 'v'), frame('GET', 'k'), frame('PING')]));
  assert.deepEqual(all(p), [['SET', 'k', 'v'], ['GET', 'k'], ['PING']]);
  assert.equal(p.pending, 0);
});

test('every split point of a pipeline gives the same commands', () => {
  const input = Buffer.concat([frame('SET', 'key', 'a value\r\nwith CRLF'), frame('MGET', 'a', '', 'c'), Buffer.from('PING\r\n'), frame('DEL', 'key')]);
  const expected = [['SET', 'key', 'a value\r\nwith CRLF'], ['MGET', 'a', '', 'c'], ['PING'], ['DEL', 'key']];
  for (let cut = 0; cut <= input.length; cut++) {
    for (const second of [input.length, cut + 3]) {
      const p = new RespParser();
      const got: string[][] = [];
      p.push(input.subarray(0, cut));
      got.push(...all(p));
      p.push(input.subarray(cut, Math.min(second, input.length)));
      got.push(...all(p));
      p.push(input.subarray(Math.min(second, input.length)));
      got.push(...all(p));
      assert.deepEqual(got, expected, `cut at ${cut}/${second}`);
    }
  }
});

test('byte-by-byte feeding of a large binary bulk', () => {
  const value = Buffer.alloc(3000);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7) & 0xff;
  const input = frame('SET', 'bin', value);
  const p = new RespParser();
  const got: Buffer[][] = [];
  for (let i = 0; i < input.length; i += 1) {
    p.push(input.subarray(i, i + 1));
    for (let c = p.next(); c !== null; c = p.next()) got.push(c);
  }
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]![2], value);
});

test('arguments that arrive whole are views of the chunk; split ones are joined', () => {
  const input = frame('SET', 'k', 'whole');
  const p = new RespParser();
  p.push(input);
  const [cmd] = [p.next()!];
  assert.equal(cmd[2]!.buffer, input.buffer);
  const p2 = new RespParser();
  p2.push(input.subarray(0, input.length - 4));
  assert.equal(p2.next(), null);
  p2.push(input.subarray(input.length - 4));
  assert.deepEqual(p2.next()!.map(String), ['SET', 'k', 'whole']);
});

test('inline commands, with quotes and escapes, mixed with multibulk', () => {
  const p = new RespParser();
  p.push(Buffer.from("PING\r\nset  k   \"a b\\x41\\n\"\nget 'it\\'s'\r\n\r\n"));
  p.push(frame('GET', 'k'));
  p.push(Buffer.from('EXISTS k\n'));
  assert.deepEqual(all(p), [['PING'], ['set', 'k', 'a bA\n'], ['get', "it's"], ['GET', 'k'], ['EXISTS', 'k']]);
});

test('an inline command split across chunks waits for its newline', () => {
  const p = new RespParser();
  p.push(Buffer.from('SET k'));
  assert.equal(p.next(), null);
  p.push(Buffer.from(' v'));
  assert.equal(p.next(), null);
  p.push(Buffer.from('\r\nGET k\r'));
  assert.deepEqual(all(p), [['SET', 'k', 'v']]);
  p.push(Buffer.from('\n'));
  assert.deepEqual(all(p), [['GET', 'k']]);
});

test('unbalanced quotes are a protocol error', () => {
  assert.throws(() => splitInline(Buffer.from('set "abc')), RespProtocolError);
  assert.throws(() => splitInline(Buffer.from('set "abc"def')), RespProtocolError);
});

test('empty arrays and empty bulks', () => {
  const p = new RespParser();
  p.push(Buffer.from('*0\r\n*-1\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n'));
  assert.deepEqual(all(p), [['GET', '']]);
});

test('a huge declared bulk length is refused at once, before any payload', () => {
  const p = new RespParser(limits({ maxBulk: 1024 * 1024 }));
  p.push(Buffer.from('*3\r\n$999999999999\r\n'));
  assert.throws(() => p.next(), /Protocol error: invalid bulk length/);
  // The parser stays failed.
  assert.throws(() => p.next(), RespProtocolError);
});

test('bulk length at the limit passes; one over is read and dropped, and the next command parses', () => {
  const ok = new RespParser(limits({ maxBulk: 5 }));
  ok.push(frame('SET', 'k', '12345'));
  assert.deepEqual(all(ok), [['SET', 'k', '12345']]);
  const big = new RespParser(limits({ maxBulk: 5 }));
  big.push(Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\n123'));
  assert.equal(big.next(), null);
  big.push(Buffer.from('456\r\n'));
  assert.equal(big.next(), OVERSIZED_COMMAND);
  big.push(frame('GET', 'k'));
  assert.deepEqual(big.next()?.map(String), ['GET', 'k']);
  // Past Redis's own 512 MB bulk limit the length is garbage: a protocol error.
  const bad = new RespParser(limits({ maxBulk: 5 }));
  bad.push(Buffer.from(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${512 * 1024 * 1024 + 1}\r\n`));
  assert.throws(() => bad.next(), /invalid bulk length/);
});

test('multibulk count over the limit is refused', () => {
  const p = new RespParser(limits({ maxArgs: 1000 }));
  p.push(Buffer.from('*1001\r\n'));
  assert.throws(() => p.next(), /invalid multibulk length/);
  const q = new RespParser();
  q.push(Buffer.from('*99999999999999999999\r\n'));
  assert.throws(() => q.next(), /invalid multibulk length/);
});

test('a command larger in total than maxCommandBytes is refused while it arrives', () => {
  const p = new RespParser(limits({ maxBulk: 100, maxCommandBytes: 1000 }));
  const head = Buffer.from('*100\r\n');
  p.push(head);
  let err: unknown = null;
  for (let i = 0; i < 100 && err === null; i++) {
    p.push(Buffer.from(`$100\r\n${'x'.repeat(100)}\r\n`));
    try {
      p.next();
    } catch (e) {
      err = e;
    }
  }
  assert.ok(err instanceof RespProtocolError);
  assert.match((err as Error).message, /too large/);
});

test('malformed headers and framing', () => {
  const cases: [string, RegExp][] = [
    ['*2\r\n+GET\r\n', /expected '\$', got '\+'/],
    ['*1\r\n$abc\r\n', /invalid bulk length/],
    ['*x\r\n', /invalid multibulk length/],
    ['*1\r\n$-5\r\n', /invalid bulk length/],
    ['*1\r\n$3\r\nGETxx', /CRLF/],
    [`*1\r\n$${'1'.repeat(100)}`, /invalid bulk length/],
  ];
  for (const [input, re] of cases) {
    const p = new RespParser();
    p.push(Buffer.from(input));
    assert.throws(() => p.next(), re, input);
  }
});

test('an inline line over maxInline is refused, even before its newline', () => {
  const p = new RespParser(limits({ maxInline: 100 }));
  p.push(Buffer.from(`SET k ${'x'.repeat(200)}`));
  assert.throws(() => p.next(), /too big inline request/);
});

test('10 000 pipelined commands in odd-sized chunks', () => {
  const frames: Buffer[] = [];
  for (let i = 0; i < 10_000; i++) frames.push(i % 2 ? frame('SET', `k${i}`, `v${i}`) : frame('GET', `k${i}`));
  const input = Buffer.concat(frames);
  const p = new RespParser();
  let n = 0;
  for (let at = 0; at < input.length; at += 1499) {
    p.push(input.subarray(at, at + 1499));
    for (let c = p.next(); c !== null; c = p.next()) {
      assert.equal(c[1]!.toString(), `k${n}`);
      n += 1;
    }
  }
  assert.equal(n, 10_000);
});

test('glob patterns as Redis reads them', () => {
  const m = (p: string, s: string) => globMatcher(p)(s);
  assert.ok(m('*', 'anything'));
  assert.ok(m('user:*', 'user:1'));
  assert.ok(!m('user:*', 'usr:1'));
  assert.ok(m('h?llo', 'hello'));
  assert.ok(m('h[ae]llo', 'hallo'));
  assert.ok(!m('h[^e]llo', 'hello'));
  assert.ok(m('h[a-c]llo', 'hbllo'));
  assert.ok(m('h\\*llo', 'h*llo'));
  assert.ok(!m('h\\*llo', 'hello'));
  assert.ok(m('*é*', 'caféx'));
  assert.ok(m('[', '['));
  // No exponential blow-up.
  const start = process.hrtime.bigint();
  assert.ok(!m('*a*a*a*a*a*a*a*a*b', 'a'.repeat(1000)));
  assert.ok(process.hrtime.bigint() - start < 5_000_000_000n);
});

test('glob patterns match as the plain definition does, through every shortcut of the matcher', () => {
  // The definition, recursive over code points: the matcher's shortcuts (a
  // literal start or end, stepping through code points in place) must agree with it.
  const reference = (p: string[], s: string[]): boolean => {
    if (p.length === 0) return s.length === 0;
    const [head, ...rest] = p;
    if (head === '*') return reference(rest, s) || (s.length > 0 && reference(p, s.slice(1)));
    if (s.length === 0) return false;
    const ok = head === '?' ? true : head === '[ab]' ? s[0] === 'a' || s[0] === 'b' : head === '\\*' ? s[0] === '*' : head === s[0];
    return ok && reference(rest, s.slice(1));
  };
  const parts = ['a', 'b', 'é', '😀', '*', '?', '[ab]', '\\*'];
  const texts = ['', 'a', 'b', 'ab', 'ba', 'aab', 'abab', 'é', 'aé', 'éb', 'a*', '*b', 'bbb', 'abé', '😀', 'a😀b', '😀😀a'];
  let checked = 0;
  for (let n = 1; n <= 3; n++) {
    for (let code = 0; code < parts.length ** n; code++) {
      const p: string[] = [];
      for (let c = code, i = 0; i < n; i++, c = Math.floor(c / parts.length)) p.push(parts[c % parts.length]!);
      const match = globMatcher(p.join(''));
      for (const t of texts) {
        assert.equal(match(t), reference(p, [...t]), `${p.join('')} on ${JSON.stringify(t)}`);
        checked += 1;
      }
    }
  }
  assert.equal(checked, (8 + 64 + 512) * texts.length);
});

test('before AUTH: more than 10 arguments or a bulk over 16 KiB is a protocol error at its header, as in Redis 7', () => {
  const many = new RespParser(DEFAULT_LIMITS, false);
  many.push(Buffer.from('*1048576\r\n'));
  assert.throws(
    () => many.next(),
    (e: unknown) => e instanceof RespProtocolError && /unauthenticated multibulk length/.test(e.message),
  );

  const big = new RespParser(DEFAULT_LIMITS, false);
  big.push(Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16385\r\n'));
  assert.throws(
    () => big.next(),
    (e: unknown) => e instanceof RespProtocolError && /unauthenticated bulk length/.test(e.message),
  );

  // At the limits themselves: accepted (AUTH user pass and small commands).
  const ok = new RespParser(DEFAULT_LIMITS, false);
  ok.push(Buffer.concat([frame(...Array.from({ length: 10 }, (_, i) => `a${i}`)), frame('AUTH', 'x'.repeat(16 * 1024))]));
  assert.equal(all(ok).length, 2);
});

test('after authenticate(), the full limits apply to the next command', () => {
  const p = new RespParser(DEFAULT_LIMITS, false);
  p.push(frame('AUTH', 'pw'));
  assert.deepEqual(all(p), [['AUTH', 'pw']]);
  p.authenticate();
  const args = Array.from({ length: 12 }, (_, i) => `k${i}`);
  p.push(Buffer.concat([frame('MSET', ...args), frame('SET', 'k', Buffer.alloc(100_000, 0x61))]));
  const got = all(p);
  assert.equal(got.length, 2);
  assert.equal(got[1]![2]!.length, 100_000);
});

test('a parser made authenticated (no password set) has no unauthenticated limits', () => {
  const p = new RespParser();
  p.push(frame(...Array.from({ length: 20 }, () => 'x')));
  assert.equal(all(p)[0]!.length, 20);
});

/** Every command of the parser as next() alone would give it, taking the plain ones with nextPlain() first. */
function allWithPlain(p: RespParser): { cmds: string[][]; plain: number } {
  const cmds: string[][] = [];
  let plain = 0;
  for (let i = 0; i < 1_000_000; i++) {
    const kind = p.nextPlain();
    if (kind === PLAIN_GET) cmds.push(['GET', p.plainKey]);
    else if (kind === PLAIN_SET) cmds.push(['SET', p.plainKey, p.plainValue.toString('latin1')]);
    if (kind !== NOT_PLAIN) {
      plain += 1;
      continue;
    }
    const cmd = p.next();
    if (cmd === null) return { cmds, plain };
    cmds.push(cmd.map((b) => b.toString('latin1')));
  }
  throw new Error('parser did not stop');
}

test('nextPlain takes GET and SET where they lie, in any case, and leaves the rest to next()', () => {
  const p = new RespParser();
  p.push(Buffer.concat([frame('GET', 'k1'), frame('set', 'k2', 'v\r\n2'), frame('GeT', ''), frame('PING'), frame('SET', 'k', '')]));
  assert.equal(p.nextPlain(), PLAIN_GET);
  assert.equal(p.plainKey, 'k1');
  assert.equal(p.nextPlain(), PLAIN_SET);
  assert.equal(p.plainKey, 'k2');
  assert.equal(p.plainValue.toString(), 'v\r\n2');
  assert.equal(p.nextPlain(), PLAIN_GET);
  assert.equal(p.plainKey, '');
  assert.equal(p.nextPlain(), NOT_PLAIN);
  assert.deepEqual(
    p.next()?.map((b) => b.toString()),
    ['PING'],
  );
  assert.equal(p.nextPlain(), PLAIN_SET);
  assert.equal(p.plainValue.length, 0);
  assert.equal(p.pending, 0);
  assert.equal(p.next(), null);
});

test('nextPlain consumes nothing for what it does not take: next() reads it as before', () => {
  const plain = () => new RespParser();
  const cases: { input: Buffer; why: string; make?: () => RespParser }[] = [
    { input: Buffer.from('GET k\r\n'), why: 'inline' },
    { input: frame('GET', 'ключ'), why: 'non-ASCII key' },
    { input: frame('GET', 'k'.repeat(257)), why: 'key over 256 bytes' },
    { input: frame('GET', 'a', 'b'), why: 'GET with three arguments' },
    { input: frame('SET', 'a'), why: 'SET with two arguments' },
    { input: frame('SET', 'a', 'b', 'EX', '10'), why: 'SET with options' },
    { input: frame('GEX', 'a'), why: 'another name' },
    { input: frame('GETS', 'a'), why: 'a longer name' },
    { input: frame('SET', 'a', 'x'.repeat(11)), why: 'value over maxBulk', make: () => new RespParser(limits({ maxBulk: 10 })) },
    { input: frame('SET', 'a', 'b'), why: 'before AUTH', make: () => new RespParser(DEFAULT_LIMITS, false) },
    { input: frame('GET', 'abc').subarray(0, 20), why: 'a frame not wholly held' },
  ];
  for (const c of cases) {
    const make = c.make ?? plain;
    const reference = make();
    reference.push(c.input);
    const expected = all(reference);
    const p = make();
    p.push(c.input);
    assert.equal(p.nextPlain(), NOT_PLAIN, c.why);
    assert.equal(p.pending, c.input.length, c.why);
    assert.deepEqual(all(p), expected, c.why);
  }
});

test('nextPlain leaves a frame next() refuses to next(), which still refuses it', () => {
  const cases: { input: Buffer; make: () => RespParser; why: string }[] = [
    { input: Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nkX\r\n'), make: () => new RespParser(), why: 'no CRLF after the key' },
    { input: Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nvXY'), make: () => new RespParser(), why: 'no CRLF after the value' },
    { input: frame('SET', 'a', 'b'), make: () => new RespParser(limits({ maxArgs: 2 })), why: 'more arguments than maxArgs' },
    { input: frame('SET', 'a', 'b'.repeat(100)), make: () => new RespParser(limits({ maxCommandBytes: 200 })), why: 'over maxCommandBytes' },
  ];
  for (const c of cases) {
    const p = c.make();
    p.push(c.input);
    assert.equal(p.nextPlain(), NOT_PLAIN, c.why);
    assert.throws(() => p.next(), RespProtocolError, c.why);
  }
});

test('a pipeline read with nextPlain first gives what next() alone gives, at every split point', () => {
  const input = Buffer.concat([
    frame('SET', 'key', 'a value\r\nwith CRLF'),
    frame('GET', 'key'),
    frame('get', 'ключ'),
    Buffer.from('GET inline\r\n'),
    frame('SET', 'k2', ''),
    frame('MGET', 'a', 'b'),
    frame('sEt', 'k3', 'x'.repeat(300)),
    frame('GET', ''),
  ]);
  const reference = new RespParser();
  reference.push(input);
  // Command names as the server matches them, in any case.
  const named = (cmds: string[][]) => cmds.map(([name, ...rest]) => [name!.toUpperCase(), ...rest]);
  const expected = named(all(reference));
  let tookPlain = 0;
  for (let cut = 0; cut <= input.length; cut++) {
    const p = new RespParser();
    p.push(input.subarray(0, cut));
    const first = allWithPlain(p);
    p.push(input.subarray(cut));
    const second = allWithPlain(p);
    assert.deepEqual(named([...first.cmds, ...second.cmds]), expected, `cut at ${cut}`);
    tookPlain += first.plain + second.plain;
  }
  // Most cuts leave most of the GETs and SETs whole: the fast path was taken, not skipped.
  assert.ok(tookPlain > 4 * input.length, `nextPlain took ${tookPlain} commands`);
});
