import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuthDataError, loadOrCreateAuthData } from '../../src/persistence/auth-data.js';

const dir = mkdtempSync(join(tmpdir(), 'owlcache-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('auth.json', () => {
  it('is created once and read back', () => {
    const first = loadOrCreateAuthData(dir, true, true);
    assert.equal(first.generatedPassword, true);
    const again = loadOrCreateAuthData(dir, true, true);
    assert.deepEqual(again.data, first.data);
    assert.equal(again.generatedPassword, false);
  });

  it('a damaged file gives an AuthDataError naming the file and what to do, never a bare JSON error', () => {
    const file = join(dir, 'auth.json');
    for (const [text, problem] of [
      ['{"format": 1, "nodeId": "ab', /not valid JSON .*perhaps truncated/],
      ['', /not valid JSON/],
      ['[1]', /not a JSON object/],
      ['{"format": 1}', /no nodeId/],
      ['{"format": 2, "nodeId": "x"}', /format 2 is not 1/],
      ['{"format": 1, "nodeId": "x", "password": 5}', /password is not a string/],
    ] as const) {
      writeFileSync(file, text);
      assert.throws(
        () => loadOrCreateAuthData(dir, true, true),
        (e: Error) => e instanceof AuthDataError && e.message.startsWith(`${file}: `) && problem.test(e.message) && /move it aside/.test(e.message),
        text,
      );
    }
  });
});
