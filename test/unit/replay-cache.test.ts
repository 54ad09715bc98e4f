import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayCache } from '../../src/cluster/replay-cache.js';

describe('replay cache', () => {
  it('admits an id once, refuses it again as a replay', () => {
    const c = new ReplayCache(30_000, 100);
    assert.equal(c.admit('a', 1000, 1000), 'fresh');
    assert.equal(c.admit('a', 1000, 1001), 'replay');
    assert.equal(c.admit('b', 1000, 1001), 'fresh');
  });

  it('refuses times outside the window either way, and unreadable times', () => {
    const c = new ReplayCache(30_000, 100);
    assert.equal(c.admit('old', 1000, 31_001), 'stale');
    assert.equal(c.admit('future', 61_002, 31_001), 'stale');
    assert.equal(c.admit('nan', Number.NaN, 31_001), 'stale');
    assert.equal(c.admit('edge', 1001, 31_001), 'fresh');
  });

  it('when full, evicts the oldest and refuses everything at or below its time: no replay within the window gets through', () => {
    const c = new ReplayCache(30_000, 4);
    let now = 1_000_000;
    const ids: [string, number][] = [];
    for (let i = 0; i < 20; i++) {
      ids.push([`id${i}`, now]);
      assert.equal(c.admit(`id${i}`, now, now), 'fresh');
      now += 1;
    }
    assert.equal(c.size, 4);
    for (const [id, t] of ids) assert.notEqual(c.admit(id, t, now), 'fresh', `${id} was accepted twice`);
    assert.equal(c.admit('late-but-older', ids[10]![1], now), 'stale', 'a new id below the floor is refused');
    assert.equal(c.admit('new', now, now), 'fresh');
  });

  it('forgets ids once they are out of the window, so its size follows the traffic of one window', () => {
    const c = new ReplayCache(1000, 1000);
    for (let i = 0; i < 100; i++) c.admit(`a${i}`, 0, 0);
    assert.equal(c.size, 100);
    assert.equal(c.admit('b', 2000, 2000), 'fresh');
    assert.equal(c.size, 1);
    assert.equal(c.admit('a1', 0, 2000), 'stale');
  });

  it('rejects nonsense sizes', () => {
    assert.throws(() => new ReplayCache(0, 10), RangeError);
    assert.throws(() => new ReplayCache(1000, 0), RangeError);
  });
});

describe('replay cache: counted admission', () => {
  it('counts each refusal under its verdict and admits a fresh message uncounted', () => {
    const c = new ReplayCache(30_000, 100);
    const counters = { rejectedStale: 0, rejectedReplay: 0 };
    assert.equal(c.admitCounted('a', 1000, 1000, counters), true);
    assert.deepEqual(counters, { rejectedStale: 0, rejectedReplay: 0 });
    assert.equal(c.admitCounted('a', 1000, 1001, counters), false);
    assert.deepEqual(counters, { rejectedStale: 0, rejectedReplay: 1 });
    assert.equal(c.admitCounted('b', 1000, 40_000, counters), false);
    assert.deepEqual(counters, { rejectedStale: 1, rejectedReplay: 1 });
  });
});
