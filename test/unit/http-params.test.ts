import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Params, parseForm, parseQuery } from '../../src/api/http/params.js';

/** What the full parser makes of a query string: the reference the plain-text split must equal. */
const reference = (query: string) => (query === '' ? new Map<string, Buffer[]>() : parseForm(Buffer.from(query, 'latin1')));

describe('parseQuery', () => {
  test('equals the full form parser on escapes, plus signs, empty and repeated parts and non-ASCII', () => {
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

  test('equals the full form parser on random query strings', () => {
    const alphabet = fc.constantFrom('a', 'k', '=', '&', '%', '+', '4', '1', 'F', 'z', ' ', '\u00e9', '\u00ff', '.', '~');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }), (chars) => {
        const q = chars.join('');
        assert.deepEqual(parseQuery(q), reference(q), JSON.stringify(q));
      }),
      { numRuns: 3000 },
    );
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
