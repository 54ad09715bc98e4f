import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter, type NextLine } from '../../src/api/tcp/lines.js';

function drain(s: LineSplitter): NextLine[] {
  const out: NextLine[] = [];
  for (let i = 0; i < 100_000; i++) {
    const l = s.next();
    if (l === null) return out;
    out.push(l);
    if (l === 'overflow') return out;
  }
  throw new Error('splitter did not stop');
}

const text = (ls: NextLine[]) => ls.map((l) => (Buffer.isBuffer(l) ? l.toString('latin1') : l));

test('splits \\n and \\r\\n lines, keeping empty lines and inner \\r', () => {
  const s = new LineSplitter(100);
  s.push(Buffer.from('get a\nset b 1 2\r\n\r\n\nx\ry\n'));
  assert.deepEqual(text(drain(s)), ['get a', 'set b 1 2', '', '', 'x\ry']);
  assert.equal(s.buffered, 0);
});

test('keeps a partial line until its end arrives, across many chunks', () => {
  const s = new LineSplitter(100);
  const input = 'set key some value with spaces\r\nget key\r\nping\n';
  const seen: NextLine[] = [];
  // Every byte its own chunk: every boundary, including between \r and \n.
  for (const byte of Buffer.from(input)) {
    s.push(Buffer.from([byte]));
    seen.push(...drain(s));
  }
  assert.deepEqual(text(seen), ['set key some value with spaces', 'get key', 'ping']);
});

test('a line split into two chunks, and a chunk with several lines and a tail', () => {
  const s = new LineSplitter(100);
  s.push(Buffer.from('get a'));
  assert.equal(s.next(), null);
  s.push(Buffer.from('bc\nping\nset x '));
  assert.deepEqual(text(drain(s)), ['get abc', 'ping']);
  s.push(Buffer.from('1\n'));
  assert.deepEqual(text(drain(s)), ['set x 1']);
});

test('bytes are passed through untouched (no re-encoding)', () => {
  const s = new LineSplitter(100);
  const value = Buffer.from([0x73, 0x65, 0x74, 0x20, 0x6b, 0x20, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a]);
  s.push(value.subarray(0, 7));
  s.push(value.subarray(7));
  const [line] = drain(s);
  assert.ok(Buffer.isBuffer(line));
  assert.deepEqual(line, value.subarray(0, value.length - 1));
});

test('a line of exactly maxLine bytes passes, with \\r\\n or \\n', () => {
  const s = new LineSplitter(10);
  s.push(Buffer.from('0123456789\r\n0123456789\n'));
  assert.deepEqual(text(drain(s)), ['0123456789', '0123456789']);
  // Its \r arriving alone at the end of a chunk is not yet an overflow.
  s.push(Buffer.from('0123456789\r'));
  assert.equal(s.next(), null);
  s.push(Buffer.from('\n'));
  assert.deepEqual(text(drain(s)), ['0123456789']);
});

test('a longer line overflows, finished or not, and stays overflowed', () => {
  const done = new LineSplitter(10);
  done.push(Buffer.from('ok\n01234567890\nping\n'));
  assert.deepEqual(text(drain(done)), ['ok', 'overflow']);
  assert.equal(done.next(), 'overflow');

  // Unfinished: reported as soon as more than maxLine bytes wait, without waiting for the newline.
  const open = new LineSplitter(10);
  open.push(Buffer.from('0123456'));
  assert.equal(open.next(), null);
  open.push(Buffer.from('89abcdef'));
  assert.equal(open.next(), 'overflow');
  open.push(Buffer.from('more\n'));
  assert.equal(open.next(), 'overflow');
  assert.equal(open.buffered, 0);
});

test('an over-long line spread over chunks overflows when its newline arrives', () => {
  const s = new LineSplitter(10);
  s.push(Buffer.from('01234'));
  s.push(Buffer.from('567'));
  assert.equal(s.next(), null);
  s.push(Buffer.from('8901\n'));
  assert.equal(s.next(), 'overflow');
});

test('holds no more than about maxLine bytes while waiting for a newline', () => {
  const s = new LineSplitter(1000);
  let result: NextLine = null;
  for (let i = 0; i < 100 && result === null; i++) {
    s.push(Buffer.alloc(64, 0x61));
    result = s.next();
  }
  assert.equal(result, 'overflow');
  assert.equal(s.buffered, 0);
});

test('many lines in one chunk come out in order', () => {
  const s = new LineSplitter(100);
  const lines = Array.from({ length: 1000 }, (_, i) => `get k${i}`);
  s.push(Buffer.from(`${lines.join('\n')}\n`));
  assert.deepEqual(text(drain(s)), lines);
});
