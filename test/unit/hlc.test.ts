import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HybridLogicalClock, compareVersions, type Version } from '../../src/store/hlc.js';

describe('hybrid logical clock', () => {
  it('is strictly monotonic even when the wall clock stands still or goes back', () => {
    let wall = 1000;
    const clock = new HybridLogicalClock('a', () => wall);
    let prev = clock.now();
    for (let i = 0; i < 1000; i++) {
      if (i % 7 === 0) wall += 1;
      if (i % 13 === 0) wall -= 5; // the wall clock steps back
      const next = clock.now();
      assert.ok(compareVersions(next, prev) > 0, `${JSON.stringify(next)} after ${JSON.stringify(prev)}`);
      prev = next;
    }
  });

  it('advances past every version it observes', () => {
    const clock = new HybridLogicalClock('a', () => 1000);
    const remote: Version = { t: 5000, c: 7, n: 'z' };
    clock.observe(remote);
    const v = clock.now();
    assert.ok(compareVersions(v, remote) > 0);
    clock.observe({ t: 10, c: 99, n: 'q' }); // an old one changes nothing
    assert.ok(compareVersions(clock.now(), v) > 0);
  });

  it('orders by time, then counter, then node id', () => {
    assert.ok(compareVersions({ t: 1, c: 9, n: 'z' }, { t: 2, c: 0, n: 'a' }) < 0);
    assert.ok(compareVersions({ t: 2, c: 1, n: 'a' }, { t: 2, c: 0, n: 'z' }) > 0);
    assert.ok(compareVersions({ t: 2, c: 1, n: 'b' }, { t: 2, c: 1, n: 'a' }) > 0);
    assert.equal(compareVersions({ t: 2, c: 1, n: 'b' }, { t: 2, c: 1, n: 'b' }), 0);
  });
});
