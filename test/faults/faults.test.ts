import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyWrite, EMPTY, expectations, judgeKey, readOf, type WriteRecord } from './checker.js';
import { formatSummary, runFaults } from './harness.js';
import { planFaults } from './injector.js';
import { Rng } from './rng.js';

/** Issue 7: the short fault-injection run (about 2 minutes, 10 faults); `npm run test:faults` is the long one. */

function w(id: number, key: string, op: WriteRecord['op'], outcome: WriteRecord['outcome'], extra: Partial<WriteRecord> = {}): WriteRecord {
  return { id, key, op, node: 0, sentAt: id * 10, doneAt: id * 10 + 5, outcome, ...extra };
}

describe('fault run: the checker', () => {
  it('the last acknowledged write decides; 404 answers and failed writes change nothing; registers are independent', () => {
    const h = [
      w(1, 'a', 'set', 'applied', { hash: 'h1', ttl: 'none' }),
      w(2, 'a', 'expire', 'applied', { ttl: 'short' }),
      w(3, 'a', 'expire', 'noop', { ttl: 'long' }),
      w(4, 'b', 'set', 'applied', { hash: 'h4', ttl: 'short' }),
      w(5, 'b', 'expire', 'applied', { ttl: 'long' }),
      w(6, 'b', 'delete', 'noop'),
      w(7, 'c', 'set', 'applied', { hash: 'h7', ttl: 'long' }),
      w(8, 'c', 'delete', 'applied'),
      w(9, 'c', 'set', 'failed', { hash: 'h9', ttl: 'none' }),
    ];
    const e = expectations(h);
    assert.deepEqual([...e.get('a')!.allowed], [null]);
    assert.deepEqual([...e.get('b')!.allowed], ['h4']);
    assert.deepEqual([...e.get('c')!.allowed], [null]);
    assert.equal(readOf(applyWrite(applyWrite(EMPTY, { op: 'set', hash: 'x', ttl: 'none' }), { op: 'delete' })), null);
  });

  it('an unknown last write allows both outcomes; a write after an unknown one, or overlapping writes, are harness bugs', () => {
    const e = expectations([w(1, 'k', 'set', 'applied', { hash: 'h1', ttl: 'none' }), w(2, 'k', 'delete', 'unknown')]);
    assert.deepEqual(new Set(e.get('k')!.allowed), new Set(['h1', null]));
    assert.throws(() => expectations([w(1, 'k', 'set', 'unknown', { hash: 'h1' }), w(2, 'k', 'set', 'applied', { hash: 'h2' })]));
    assert.throws(() => expectations([w(1, 'k', 'set', 'applied', { hash: 'h1' }), { ...w(2, 'k', 'set', 'applied', { hash: 'h2' }), sentAt: 12 }]));
  });

  it('classifies what a node holds against what it should', () => {
    const e = expectations([w(1, 'k', 'set', 'applied', { hash: 'h1', ttl: 'none' }), w(2, 'k', 'set', 'applied', { hash: 'h2', ttl: 'none' })]).get('k')!;
    assert.deepEqual(
      judgeKey(
        e,
        new Map([
          ['n1', 'h2'],
          ['n2', 'h2'],
        ]),
      ),
      [],
    );
    assert.equal(judgeKey(e, new Map([['n1', 'h1']]))[0]!.kind, 'lost-write');
    assert.equal(judgeKey(e, new Map([['n1', null]]))[0]!.kind, 'lost-write');
    assert.equal(judgeKey(e, new Map([['n1', 'zz']]))[0]!.kind, 'foreign-value');
    const d = expectations([w(1, 'k', 'set', 'applied', { hash: 'h1', ttl: 'none' }), w(2, 'k', 'delete', 'applied')]).get('k')!;
    assert.equal(judgeKey(d, new Map([['n1', 'h1']]))[0]!.kind, 'resurrected');
  });

  it('the plan is a function of the seed, and holds every kind', () => {
    const a = planFaults(new Rng(42), 10, 75_000, 5);
    assert.deepEqual(a, planFaults(new Rng(42), 10, 75_000, 5));
    assert.equal(new Set(a.map((f) => f.kind)).size, 4);
  });
});

describe('fault run (5 real nodes, gossip mode)', () => {
  it('short run: 10 faults over 75 s while a client writes; every node converges to the newest acknowledged writes', { timeout: 10 * 60_000 }, async () => {
    const seed = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : undefined;
    const lines: string[] = [];
    const summary = await runFaults({ seed, faults: 10, phaseMs: 75_000, log: (l) => lines.push(l) });
    const text = formatSummary(summary);
    console.log(`${lines.join('\n')}\n${text}`);
    assert.deepEqual(summary.errors, [], text);
    assert.ok(summary.converged, text);
    assert.equal(summary.violations.length, 0, text);
    assert.ok(summary.writes.applied > 100, text);
  });
});
