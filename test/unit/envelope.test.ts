import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { envelope, envelopeJson, RESULTS, type Status } from '../../src/api/envelope.js';

/** Strings JSON must escape or that a hand-built text could get wrong. */
const AWKWARD = [
  '',
  'plain',
  'quote "q"',
  'back\\slash',
  'ctl \u0000\u0001\u001f',
  'lines\n\r\t\b\f',
  'sep \u2028\u2029',
  'lone \ud800 surrogate',
  'low \udc00',
  '你好',
  'ключ',
  'emoji 😀',
  'tag </script>',
  '{"Cmd":"x"}',
];

describe('envelopeJson', () => {
  test('is JSON.stringify(envelope(...)) byte for byte for every status, awkward strings, data, times and messages', () => {
    const statuses = Object.keys(RESULTS).map(Number) as Status[];
    const datas: unknown[] = [null, '', 'token.abc', ...AWKWARD, undefined, 0, 42, true, { a: 1 }, ['x'], { toJSON: () => 'shown' }];
    const times = [
      0, -1, 1_700_000_000_123_456, 1_700_000_000_000_000, 1_700_000_000_000_010, 1_700_000_000_100_000, 1_700_000_000_000_001, 1_700_000_000_999_999,
      1_700_000_000_123_456.5, 253_402_300_799_000_000,
    ];
    const messages = [undefined, '', 'internal error', ...AWKWARD];
    const hosts = ['127.0.0.1:7721', '[::1]:7722', 'host "quoted"'];
    let compared = 0;
    for (const status of statuses) {
      for (const text of AWKWARD) {
        for (const data of datas) {
          for (const host of hosts) {
            const cases: [string, string, number, string | undefined][] = [
              [text, 'k', times[compared % times.length]!, messages[compared % messages.length]],
              ['set', text, times[(compared + 3) % times.length]!, undefined],
              ['expire', 'key', 0, text],
            ];
            for (const [cmd, key, created, message] of cases) {
              const want = JSON.stringify(envelope(cmd, status, key, data, host, created, message));
              assert.equal(envelopeJson(cmd, status, key, data, host, created, message), want);
              compared++;
            }
          }
        }
      }
    }
    assert.ok(compared > 5000, `${compared} cases compared`);
  });

  test('keeps the fields in the order of the original and puts Message last', () => {
    const text = envelopeJson('set', 413, 'k', null, 'h:1', 0, 'too big');
    assert.equal(
      text,
      '{"Cmd":"set","Status":413,"Results":"ERROR","Key":"k","Data":null,"ResponseHost":"h:1","KeyCreateTime":"0001-01-01T00:00:00Z","Message":"too big"}',
    );
    assert.equal(
      envelopeJson('set', 200, 'k', '', 'h:1', 1_700_000_000_120_000),
      '{"Cmd":"set","Status":200,"Results":"SUCCESS","Key":"k","Data":"","ResponseHost":"h:1","KeyCreateTime":"2023-11-14T22:13:20.12Z"}',
    );
  });
});
