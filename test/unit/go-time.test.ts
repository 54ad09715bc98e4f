import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goTimeString, goTimeStringNs, parseGoTime, rfc3339Nano, rfc3339NanoNs } from '../../src/go-time.js';

describe('go-time: the forms Go OwlCache prints', () => {
  it('prints microseconds as RFC3339Nano and time.String(), trailing zeros of the fraction trimmed', () => {
    assert.equal(rfc3339Nano(1_700_000_000_123_456), '2023-11-14T22:13:20.123456Z');
    assert.equal(rfc3339Nano(1_700_000_000_000_000), '2023-11-14T22:13:20Z');
    assert.equal(goTimeString(1_700_000_000_120_000), '2023-11-14 22:13:20.12 +0000 UTC');
  });

  it('trims the fraction at any digit, and prints the same text for a time printed twice in a row', () => {
    assert.equal(rfc3339Nano(1_700_000_000_000_001), '2023-11-14T22:13:20.000001Z');
    assert.equal(rfc3339Nano(1_700_000_000_000_010), '2023-11-14T22:13:20.00001Z');
    assert.equal(rfc3339Nano(1_700_000_000_100_000), '2023-11-14T22:13:20.1Z');
    assert.equal(goTimeString(1_700_000_000_100_000), '2023-11-14 22:13:20.1 +0000 UTC');
    assert.equal(rfc3339Nano(1_700_000_000_999_990), '2023-11-14T22:13:20.99999Z');
    assert.equal(rfc3339Nano(1_700_000_001_000_000), '2023-11-14T22:13:21Z');
    assert.equal(rfc3339Nano(1_700_000_000_000_010), '2023-11-14T22:13:20.00001Z', 'a second earlier again');
    assert.equal(rfc3339NanoNs(1_700_000_000_000_010_000n), rfc3339Nano(1_700_000_000_000_010));
  });

  it('prints nanoseconds the same way', () => {
    assert.equal(rfc3339NanoNs(1_763_806_434_172_891_543n), '2025-11-22T10:13:54.172891543Z');
    assert.equal(goTimeStringNs(1_763_806_434_100_000_000n), '2025-11-22 10:13:54.1 +0000 UTC');
    assert.equal(rfc3339NanoNs(1_700_000_000_123_456_000n), rfc3339Nano(1_700_000_000_123_456), 'one instant, one text in either unit');
    assert.equal(goTimeStringNs(1_700_000_000_123_456_000n), goTimeString(1_700_000_000_123_456));
  });

  it("prints Go's zero time for 0, negatives and null", () => {
    for (const s of [rfc3339Nano(0), rfc3339Nano(-1), rfc3339NanoNs(null), rfc3339NanoNs(0n)]) assert.equal(s, '0001-01-01T00:00:00Z');
    for (const s of [goTimeString(0), goTimeStringNs(null), goTimeStringNs(-5n)]) assert.equal(s, '0001-01-01 00:00:00 +0000 UTC');
  });

  it('reads time.String() with any zone and the monotonic suffix, and reads back what it prints', () => {
    assert.equal(parseGoTime('2026-11-22 12:13:54.5 +0200 EET m=+40.44'), 1_795_342_434_500_000_000n);
    assert.equal(parseGoTime(goTimeStringNs(1_763_806_434_172_891_543n)), 1_763_806_434_172_891_543n);
    assert.equal(parseGoTime('0001-01-01 00:00:00 +0000 UTC'), null);
    assert.equal(parseGoTime(undefined), null);
    assert.equal(parseGoTime('2026-13-01 00:00:00 +0000 UTC'), null);
  });
  it('prints the right date and time whatever order times come in (the last second is remembered)', () => {
    const times = [1_796_122_362_881_123, 1_796_122_362_999_999, 1_796_122_363_000_001, 946_684_799_999_999, 946_684_800_000_000, 1_796_122_362_500_000];
    for (let round = 0; round < 3; round++) {
      for (const micros of times) {
        const iso = new Date(Math.floor(micros / 1000)).toISOString().slice(0, 19);
        assert.ok(rfc3339Nano(micros).startsWith(iso), `${micros}: ${rfc3339Nano(micros)} vs ${iso}`);
        assert.ok(goTimeString(micros).startsWith(iso.replace('T', ' ')), `${micros}: ${goTimeString(micros)}`);
      }
    }
  });
});
