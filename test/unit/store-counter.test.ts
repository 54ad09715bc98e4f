import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Commands } from '../../src/api/commands.js';
import { counterValue, FIRST_EPOCH } from '../../src/store/counter.js';
import { mergeRecords, type EntryRecord } from '../../src/store/entry.js';
import { ClusterFlush } from '../../src/store/flush.js';
import { decodeRecord, decodeRecords, encodeRecord, encodeRecords, recordToArray } from '../../src/store/record-codec.js';
import { Packr } from 'msgpackr';
import { Store } from '../../src/store/store.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIMITS = { maxKeyLength: 250, maxValueSize: 1024 };

/** What a record says to a reader, whatever version a merge stamped it with. */
function meaning(r: EntryRecord | undefined): unknown {
  if (r === undefined) return undefined;
  const c = r.counter;
  return {
    value: r.value?.toString() ?? null,
    expireAt: r.expireAt,
    counter: c === undefined || c.totals.length === 0 ? null : { epoch: c.epoch, reborn: c.reborn, base: c.base, totals: c.totals },
  };
}

type Op =
  | { kind: 'incr'; node: number; by: number }
  | { kind: 'set'; node: number; value: number }
  | { kind: 'del'; node: number }
  | { kind: 'sync'; from: number; to: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('incr' as const), node: fc.nat(2), by: fc.integer({ min: -5, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('set' as const), node: fc.nat(2), value: fc.integer({ min: -100, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('del' as const), node: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: fc.nat(2), to: fc.nat(2) }) },
);

/** Three nodes running `ops` on key k with one shared, ticking clock; returns the nodes and every record k had on them. */
function run(ops: Op[]) {
  let clock = 1_000_000;
  const now = () => clock;
  const stores = [0, 1, 2].map((i) => new Store({ nodeId: `node-${i}`, now }));
  const commands = stores.map((s) => new Commands(s, LIMITS));
  const seen: EntryRecord[] = [];
  for (const op of ops) {
    clock += 1;
    if (op.kind === 'incr') commands[op.node]!.incrementBy('k', BigInt(op.by));
    else if (op.kind === 'set') commands[op.node]!.setMs('k', Buffer.from(String(op.value)), 0);
    else if (op.kind === 'del') commands[op.node]!.delete('k');
    else {
      const r = stores[op.from]!.peek('k');
      if (r !== undefined) stores[op.to]!.merge(r, 'remote');
    }
    for (const s of stores) {
      const r = s.peek('k');
      if (r !== undefined) seen.push(r);
    }
  }
  return { stores, seen };
}

/** Every node hands its record to every other until nothing changes (bounded). */
function heal(stores: Store[]): void {
  for (let round = 0; round < 10; round++) {
    let changed = false;
    for (const a of stores)
      for (const b of stores) {
        const r = a.peek('k');
        if (a !== b && r !== undefined && b.merge(r, 'sync')) changed = true;
      }
    if (!changed) return;
  }
  assert.fail('merges did not settle in 10 rounds');
}

describe('PN-counter merge', () => {
  test('commutative, associative and idempotent over records of interleaved increments, resets and deletes', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), fc.nat(), (ops, i, j, l) => {
        const { seen } = run(ops);
        if (seen.length === 0) return;
        const a = seen[i % seen.length]!;
        const b = seen[j % seen.length]!;
        const c = seen[l % seen.length]!;
        assert.deepEqual(meaning(mergeRecords(a, a)), meaning(a));
        assert.equal(mergeRecords(a, a), a);
        assert.deepEqual(meaning(mergeRecords(a, b)), meaning(mergeRecords(b, a)));
        assert.deepEqual(meaning(mergeRecords(mergeRecords(a, b), c)), meaning(mergeRecords(a, mergeRecords(b, c))));
        // Merging what is already merged in changes nothing.
        const ab = mergeRecords(a, b);
        assert.deepEqual(meaning(mergeRecords(ab, b)), meaning(ab));
      }),
      { numRuns: 300 },
    );
  });

  test('after healing every node holds the same value; with increments only it is their sum', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const { stores } = run(ops);
        heal(stores);
        const values = stores.map((s) => meaning(s.peek('k')));
        assert.deepEqual(values[1], values[0]);
        assert.deepEqual(values[2], values[0]);
        if (ops.every((o) => o.kind === 'incr' || o.kind === 'sync')) {
          const sum = ops.reduce((t, o) => t + (o.kind === 'incr' ? o.by : 0), 0);
          const got = stores[0]!.get('k');
          if (ops.some((o) => o.kind === 'incr')) assert.equal(got?.value?.toString(), String(sum));
        }
      }),
      { numRuns: 300 },
    );
  });

  test('increments on three partitioned nodes all count; a SET seen by a node resets what it had seen, later increments count', () => {
    const { stores } = run([...Array.from({ length: 30 }, (_, i) => ({ kind: 'incr' as const, node: i % 3, by: 1 }))]);
    heal(stores);
    for (const s of stores) assert.equal(s.get('k')?.value?.toString(), '30');
    new Commands(stores[0]!, LIMITS).setMs('k', Buffer.from('5'), 0);
    heal(stores);
    new Commands(stores[2]!, LIMITS).incrementBy('k', 1n);
    heal(stores);
    for (const s of stores) assert.equal(s.get('k')?.value?.toString(), '6');
  });

  test("a counter record's bytes are the msgpack msgpackr writes for it, however wide its fields", () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
    for (const count of [0, 1, 5, 6, 30]) {
      for (const base of [null, '12345', '-9223372036854775808']) {
        for (const name of ['n', 'x'.repeat(40), 'é'.repeat(200)]) {
          const totals = Array.from(
            { length: count },
            (_, i) => [`${name}${String(i).padStart(3, '0')}`, String(i * 1000), i % 2 === 1 ? '0' : '99999999999999'] as [string, string, string],
          );
          const r: EntryRecord = {
            key: 'k',
            value: Buffer.from('42'),
            created: 1_795_343_830_123_456,
            vv: { t: 1_795_343_830_124, c: 3, n: 'node' },
            expireAt: 0,
            ev: { t: 1_795_343_830_124, c: 3, n: 'node' },
            counter: { epoch: { t: 1_795_343_830_123, c: 70_000, n: name }, reborn: base === null, base, totals },
          };
          assert.deepEqual(encodeRecord(r), packr.pack(recordToArray(r)), `${count} totals, base ${base}, node id of ${name.length}`);
          assert.deepEqual(decodeRecord(encodeRecord(r)), r);
        }
      }
    }
  });

  test('a counter record survives the record codec, and records without one decode as before', () => {
    const s = new Store({ nodeId: 'codec-node' });
    new Commands(s, LIMITS).incrementBy('c', 7n);
    const r = s.peek('c')!;
    assert.equal(counterValue(r.counter!), 7n);
    assert.deepEqual(decodeRecord(encodeRecord(r)), r);
    const plain = s.set('p', Buffer.from('x'));
    const all: EntryRecord[] = [];
    decodeRecords(encodeRecords([plain, r]), (x) => all.push(x));
    // A local write's record is made by a constructor (entry.ts); decoded ones are literals: the fields are compared.
    assert.deepEqual(all, [{ ...plain }, r]);
    assert.equal(encodeRecord(plain).length, encodeRecord({ ...plain }).length);
    assert.equal('counter' in all[0]!, false);
  });
});

describe('versioned flush', () => {
  test('removes what counts from before it, refuses such records later, keeps later writes', () => {
    let clock = 1_000_000;
    const now = () => clock;
    const a = new Store({ nodeId: 'a', now });
    const b = new Store({ nodeId: 'b', now });
    const old = b.set('old', Buffer.from('1'));
    new Commands(b, LIMITS).incrementBy('ctr', 3n);
    const oldCounter = b.peek('ctr')!;
    a.merge(old);
    a.merge(oldCounter);
    clock += 10;
    const flush = new ClusterFlush(a, null);
    const heard: string[] = [];
    flush.onFlush((_v, origin) => heard.push(origin));
    const v = flush.flushAll();
    assert.equal(a.stats().keys, 0);
    assert.deepEqual(heard, ['local']);
    // A late copy from a node that has not heard of the flush is refused; a write made after it is kept.
    assert.equal(a.merge(old), false);
    assert.equal(a.merge(oldCounter), false);
    clock += 10;
    const later = b.set('later', Buffer.from('2'));
    assert.equal(a.merge(later), true);
    // On b the same flush arrives from a peer: the old keys go, the later one stays.
    assert.equal(new ClusterFlush(b, null).apply(v, 'remote'), true);
    assert.equal(b.get('old'), undefined);
    assert.equal(b.get('ctr'), undefined);
    assert.equal(b.get('later')?.value?.toString(), '2');
    // INCR after a flush counts from the flush on every node: the same epoch, so increments add up.
    new Commands(a, LIMITS).incrementBy('ctr', 1n);
    new Commands(b, LIMITS).incrementBy('ctr', 1n);
    b.merge(a.peek('ctr')!);
    assert.equal(b.get('ctr')?.value?.toString(), '2');
    assert.notDeepEqual(b.peek('ctr')!.counter!.epoch, FIRST_EPOCH);
    assert.equal(flush.apply(v, 'remote'), false);
  });

  test('the flush is kept in the data directory and applied on opening, before old records load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'owlcache-flush-'));
    try {
      const first = new Store({ nodeId: 'n1' });
      const old = first.set('k', Buffer.from('v'));
      const v = ClusterFlush.open(first, dir).flush.flushAll();
      const again = new Store({ nodeId: 'n2' });
      const { flush, problem } = ClusterFlush.open(again, dir);
      assert.equal(problem, null);
      assert.deepEqual(flush.version, v);
      assert.equal(again.merge(old, 'load'), false);
      writeFileSync(join(dir, 'flush.json'), '{"format": 9}');
      assert.match(ClusterFlush.open(new Store({ nodeId: 'n3' }), dir).problem ?? '', /not a flush file of format 1/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
