import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PassGuard, guardKey, type PassCheckOutcome, type PassGuardOptions } from '../../src/api/pass-guard.js';

/**
 * The password guard on a virtual clock: sleeps are timers the test fires in
 * time order, so delays of seconds are checked exactly and at once.
 */

function virtualTime() {
  let now = 1_000_000;
  const timers: { at: number; seq: number; fire: () => void }[] = [];
  let seq = 0;
  const settle = () => new Promise<void>((r) => setImmediate(r));
  return {
    now: () => now,
    sleep: (ms: number) => new Promise<void>((fire) => timers.push({ at: now + ms, seq: seq++, fire })),
    advance: (ms: number) => {
      now += ms;
    },
    /** Fires timers in time order until nothing is left to run (bounded). */
    async run(): Promise<void> {
      for (let i = 0; i < 100_000; i++) {
        await settle();
        if (timers.length === 0) return;
        timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
        const t = timers.shift()!;
        now = Math.max(now, t.at);
        t.fire();
      }
      throw new Error('timers never ran out');
    },
  };
}

function setup(opts: Partial<PassGuardOptions> = {}) {
  const time = virtualTime();
  const guard = new PassGuard({ baseDelayMs: 100, checksPerSecond: 0, now: time.now, sleep: time.sleep, ...opts });
  /** Starts an attempt; its check records when it ran. */
  const attempt = (ip: string, right: boolean, checkedAt: number[] = []) =>
    guard.check(ip, () => {
      checkedAt.push(time.now());
      return right;
    });
  return { time, guard, attempt };
}

describe('PassGuard', () => {
  it('answers parallel attempts from one address one after another, each after the delay its predecessors earned', async () => {
    const { time, attempt } = setup({ baseDelayMs: 100 });
    const start = time.now();
    const checkedAt: number[] = [];
    const outcomes = Array.from({ length: 6 }, () => attempt('10.0.0.1', false, checkedAt));
    await time.run();
    assert.deepEqual(await Promise.all(outcomes), Array<PassCheckOutcome>(6).fill('wrong'));
    // 0, then 100, 200, 400, 800, 1600 ms (each a little less: the delay decays while it is waited).
    const gaps = checkedAt.map((t, i) => t - (i === 0 ? start : checkedAt[i - 1]!));
    assert.equal(gaps[0], 0);
    const nominal = [0, 100, 200, 400, 800, 1600];
    for (let i = 1; i < 6; i++) {
      assert.ok(gaps[i]! >= nominal[i]! * 0.85 && gaps[i]! <= nominal[i]!, `attempt ${i + 1} waited ${gaps[i]} ms, expected about ${nominal[i]}`);
    }
    assert.ok(checkedAt[5]! - start >= 0.85 * 3100, 'the total is the sum of the delays, not the largest');
  });

  it('makes a right password wait its turn and its delay like a wrong one, then clears the slow-down', async () => {
    const { time, guard, attempt } = setup({ baseDelayMs: 100 });
    const checkedAt: number[] = [];
    const wrong = [attempt('10.0.0.2', false, checkedAt), attempt('10.0.0.2', false, checkedAt), attempt('10.0.0.2', false, checkedAt)];
    const right = attempt('10.0.0.2', true, checkedAt);
    await time.run();
    assert.deepEqual(await Promise.all(wrong), ['wrong', 'wrong', 'wrong']);
    assert.equal(await right, 'ok');
    assert.equal(checkedAt.length, 4);
    assert.ok(checkedAt[3]! - checkedAt[2]! >= 0.85 * 400, `the right password waited only ${checkedAt[3]! - checkedAt[2]!} ms after the third wrong one`);
    assert.equal(guard.delayFor('10.0.0.2'), 0, 'a right password clears the slow-down');
  });

  it('lets the delay halve every 10 s of quiet and forgets it after 60 s', async () => {
    const { time, guard, attempt } = setup({ baseDelayMs: 1000 });
    for (let i = 0; i < 4; i++) {
      const p = attempt('10.0.0.3', false);
      await time.run();
      await p;
    }
    const d0 = guard.delayFor('10.0.0.3');
    // 1, 2, 4, 8 s nominal, less what decayed while the earlier delays were waited.
    assert.ok(d0 > 4000 && d0 <= 8000, `after four failures the delay is ${d0} ms`);
    time.advance(10_000);
    assert.ok(Math.abs(guard.delayFor('10.0.0.3') - d0 / 2) <= 1, 'halved after 10 s');
    time.advance(20_000);
    assert.ok(Math.abs(guard.delayFor('10.0.0.3') - d0 / 8) <= 1, 'an eighth after 30 s');
    time.advance(30_000);
    assert.equal(guard.delayFor('10.0.0.3'), 0, 'forgotten after 60 s without a failure');
    // Capped: many failures never wait more than 10 s.
    for (let i = 0; i < 12; i++) {
      const p = attempt('10.0.0.4', false);
      await time.run();
      await p;
    }
    assert.ok(guard.delayFor('10.0.0.4') <= PassGuard.MAX_DELAY_MS);
  });

  it("bounds checks per second across all addresses (a burst of one second's budget, then the rate)", async () => {
    const { time, attempt } = setup({ baseDelayMs: 0, checksPerSecond: 10 });
    const start = time.now();
    const checkedAt: number[] = [];
    const all = Array.from({ length: 40 }, (_, i) => attempt(`10.1.${i}.1`, false, checkedAt));
    await time.run();
    assert.equal((await Promise.all(all)).length, 40);
    checkedAt.sort((a, b) => a - b);
    for (let k = 0; k < 40; k++) {
      const earliest = Math.max(0, (k - 9) * 100);
      assert.ok(checkedAt[k]! - start >= earliest - 1, `check #${k + 1} ran at +${checkedAt[k]! - start} ms, before +${earliest} ms`);
    }
    assert.ok(checkedAt[39]! - start >= 3000, 'forty checks at ten a second take three seconds beyond the burst');
  });

  it('refuses attempts beyond the waiting bounds at once, without checking them', async () => {
    const { time, attempt, guard } = setup({ baseDelayMs: 100, maxWaiting: 5, maxWaitingPerAddress: 3 });
    const checked: number[] = [];
    // All started in one go, so none has finished while the next is registered.
    const same = Array.from({ length: 4 }, () => attempt('10.0.0.5', false, checked));
    const others = [attempt('10.0.0.6', false, checked), attempt('10.0.0.7', false, checked), attempt('10.0.0.8', false, checked)];
    assert.equal(guard.waitingCount(), 5);
    assert.equal(await same[3], 'busy', 'a fourth attempt from one address while three wait');
    assert.equal(await others[2], 'busy', 'a sixth attempt while five wait');
    await time.run();
    assert.equal(checked.length, 5, 'refused attempts were never checked');
    assert.equal(guard.waitingCount(), 0);
    const again = attempt('10.0.0.5', true);
    await time.run();
    assert.equal(await again, 'ok', 'accepted again once the queue drained');
  });

  it('counts an IPv6 client per /64 and an IPv4-mapped address as its IPv4 address', () => {
    assert.equal(guardKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(guardKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(guardKey('2001:DB8:1:3::1'), '2001:db8:1:3::/64');
    assert.equal(guardKey('::1'), '0:0:0:0::/64');
    assert.equal(guardKey('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(guardKey('127.0.0.1'), '127.0.0.1');
  });

  it('keeps the delays of at most maxAddresses addresses', async () => {
    const { time, attempt, guard } = setup({ baseDelayMs: 100, maxAddresses: 10 });
    const all = Array.from({ length: 50 }, (_, i) => attempt(`10.2.${i}.1`, false));
    await time.run();
    await Promise.all(all);
    const slowed = Array.from({ length: 50 }, (_, i) => guard.delayFor(`10.2.${i}.1`)).filter((d) => d > 0);
    assert.equal(slowed.length, 10);
  });
});
