import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Params, parseForm, parseQuery } from '../../src/api/http/params.js';

/** The form parser's definition, part by part and byte by byte: what parseForm's shortcuts must equal. */
function referenceForm(src: Buffer): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  const text = src.toString('latin1');
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = percentDecodeText(eq === -1 ? part : part.slice(0, eq)).toString('utf8');
    const value = eq === -1 ? Buffer.alloc(0) : percentDecodeText(part.slice(eq + 1));
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

function percentDecodeText(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const hex = text.slice(i + 1, i + 3);
    if (c === '+') bytes.push(0x20);
    else if (c === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(text.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

const reference = (query: string) => referenceForm(Buffer.from(query, 'latin1'));

describe('parseQuery', () => {
  test('equals the definition on escapes, plus signs, empty and repeated parts and non-ASCII', () => {
    const cases = [
      '',
      'a',
      'a=',
      '=x',
      '=',
      '&',
      '&&a=1&&',
      'a=1&a=2&a=',
      'a==b',
      'a=b=c',
      'cmd=set&key=k&valuedata=hello&token=abc.def',
      'key=%',
      'key=ab%',
      'key=%4',
      'key=%41',
      'key=%zz',
      'key=%4g',
      '%6Bey=v',
      'key=a+b',
      '+=+',
      'key=%2B',
      'key=%E4%BD%A0%E5%A5%BD',
      'key=%FF%00%FE',
      'k\u00e9y=1',
      'key=\u00e9\u00ff',
      'key=caf\u00c3\u00a9',
      'key=a%20b&key=second',
      'valuedata=' + 'v'.repeat(3000),
    ];
    for (const q of cases) assert.deepEqual(parseQuery(q), reference(q), JSON.stringify(q));
  });

  test('equals the definition on random query strings', () => {
    const alphabet = fc.constantFrom('a', 'k', '=', '&', '%', '+', '4', '1', 'F', 'z', ' ', '\u00e9', '\u00ff', '.', '~', '\u0126');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), (chars) => {
        const q = chars.join('');
        assert.deepEqual(parseQuery(q), reference(q), JSON.stringify(q));
      }),
      { numRuns: 3000 },
    );
  });

  test('parseForm equals the definition on random bytes, many parts and long plain runs', () => {
    const part = fc.oneof(
      fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
      fc.constantFrom('&', '=', '%', '+', '%4', '%41', '%zz', '%E4%BD%A0', '&&', '==').map((t) => Buffer.from(t, 'latin1')),
      fc.integer({ min: 0, max: 300 }).map((n) => Buffer.from('v'.repeat(n))),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 30 }), (parts) => {
        const form = Buffer.concat(parts);
        assert.deepEqual(parseForm(form), referenceForm(form));
      }),
      { numRuns: 3000 },
    );
    const many = Buffer.from(`${'&a'.repeat(5000)}=1&b=%41${'&c'.repeat(5000)}=&d`);
    assert.deepEqual(parseForm(many), referenceForm(many));
  });

  test('a form of many parts is scanned once for each of & = % +, not once per part (a hostile body of 100 000 names)', () => {
    const form = Buffer.from(`${'&a'.repeat(100_000)}=1`);
    const indexOf = form.indexOf.bind(form);
    let scanned = 0;
    form.indexOf = ((value: number, from: number) => {
      const i = indexOf(value, from);
      scanned += (i === -1 ? form.length : i) - from;
      return i;
    }) as typeof form.indexOf;
    const parsed = parseForm(form);
    assert.equal(parsed.get('a')?.length, 100_000);
    assert.deepEqual(parsed.get('a')?.[99_999], Buffer.from('1'));
    assert.ok(scanned <= 4 * form.length, `${scanned} bytes searched in a form of ${form.length}`);
  });

  test('a value is a copy, not a view of the request bytes', () => {
    const src = Buffer.from('small=x&big=' + 'y'.repeat(10000));
    const small = parseForm(src).get('small')![0]!;
    assert.notEqual(small.buffer, src.buffer);
  });

  test('Params reads the first value of a name, the body before the query', () => {
    const p = new Params(parseForm(Buffer.from('key=body')), parseQuery('key=query&cmd=set&cmd=get&token=t&empty='));
    assert.equal(p.str('key'), 'body');
    assert.equal(p.str('cmd'), 'set');
    assert.equal(p.strAny('owl_token', 'token'), 't');
    assert.deepEqual(p.bytes('empty'), Buffer.alloc(0));
    assert.equal(p.str('missing'), undefined);
    assert.equal(new Params(new Map(), parseQuery('key=%E4%BD%A0%E5%A5%BD')).str('key'), '你好');
  });
});
