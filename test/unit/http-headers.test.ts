import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DATA_JSON_TYPE, headerSafe, JSON_TYPE } from '../../src/api/http/headers.js';

describe('HTTP header values', () => {
  it('keeps the two JSON spellings of the wire format: /data/ with the trailing ;, /server/ without', () => {
    assert.equal(DATA_JSON_TYPE, 'application/json; charset=utf-8;');
    assert.equal(JSON_TYPE, 'application/json; charset=utf-8');
  });

  it('passes printable ASCII as it is and percent-encodes anything else', () => {
    assert.equal(headerSafe('user:1 a~'), 'user:1 a~');
    assert.equal(headerSafe('é'), '%C3%A9');
    assert.equal(headerSafe('a\r\nX-Injected: 1'), 'a%0D%0AX-Injected%3A%201');
    assert.equal(headerSafe(''), '');
  });
});
