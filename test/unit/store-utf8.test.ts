import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SHORT_STRING, utf8Length, writeUtf8 } from '../../src/store/utf8.js';

const samples = [
  '',
  'k',
  'key:000000000042',
  'a'.repeat(SHORT_STRING),
  'a'.repeat(SHORT_STRING + 1),
  'ключ',
  `${'a'.repeat(SHORT_STRING - 1)}é`,
  'emoji 🦉',
  'lone \ud800 surrogate',
  '\u007f\u0080',
  'x'.repeat(1000),
];

test('utf8Length and writeUtf8 give the bytes Buffer gives, for ASCII and the rest, short and long', () => {
  for (const s of samples) {
    const expected = Buffer.from(s, 'utf8');
    const n = utf8Length(s);
    assert.equal(n, expected.length, JSON.stringify(s));
    const b = Buffer.alloc(n + 4, 0xee);
    assert.equal(writeUtf8(s, n, b, 2), 2 + n);
    assert.deepEqual(b.subarray(2, 2 + n), expected, JSON.stringify(s));
    assert.equal(b[0], 0xee);
    assert.equal(b[n + 2], 0xee, 'nothing written past the end');
  }
});
