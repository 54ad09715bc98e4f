import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isWord } from '../../src/api/resp/args.js';
import { ReplyWriter } from '../../src/api/resp/reply.js';
import { SetRun, SetTurn } from '../../src/api/resp/set-run.js';
import { StoreError, type StoreChange } from '../../src/store/store.js';
import { respHarness, wire } from '../helpers/resp-harness.js';

const words = (...w: string[]) => w.map((x) => Buffer.from(x));

/** A run over the harness's store, with the append log's place taken by a hook that records each write. */
function setup(refuse: (changes: readonly StoreChange[]) => boolean = () => false) {
  const h = respHarness({ maxValueSize: 16 });
  const writes: string[][] = [];
  h.store.setWriteAhead((changes) => {
    if (refuse(changes)) throw new StoreError('the append log cannot be written: disk full');
    writes.push(changes.map((c) => c.record.key));
  });
  const out = new ReplyWriter();
  const run = new SetRun(h.deps, h.conn, out, h.stats, undefined);
  return { ...h, writes, out, run };
}

describe('RESP: runs of plain SETs', () => {
  it('consecutive SETs are written together, each answered +OK in its place', () => {
    const t = setup();
    for (const k of ['a', 'b', 'a']) assert.equal(t.run.take(words('SET', k, `v-${k}`)), true);
    assert.equal(wire(t.out), '', 'nothing is answered before the run is written');
    t.run.store();
    assert.deepEqual(t.writes, [['a', 'b', 'a']], 'one write for the run');
    assert.equal(wire(t.out), '+OK\r\n+OK\r\n+OK\r\n');
    assert.equal(t.store.get('a')?.value?.toString(), 'v-a');
    assert.equal(t.stats.totalCommands, 3);
  });

  it('a key or value a lone SET would refuse is refused alone; the others are stored', () => {
    const t = setup();
    t.run.take(words('set', 'ok1', 'x'));
    t.run.take(words('Set', 'big', 'v'.repeat(17)));
    t.run.take(words('SET', '', 'x'));
    t.run.take(words('SET', 'ok2', 'y'));
    t.run.store();
    assert.deepEqual(t.writes, [['ok1', 'ok2']]);
    assert.equal(wire(t.out), '+OK\r\n-ERR value is larger than MaxValueSize (16 bytes)\r\n-ERR key is required\r\n+OK\r\n');
  });

  it('a run the log refuses as a whole is retried one by one, so each SET gets its own answer', () => {
    const t = setup((changes) => changes.some((c) => c.record.key === 'doomed'));
    for (const k of ['a', 'doomed', 'b']) t.run.take(words('SET', k, 'v'));
    t.run.store();
    assert.deepEqual(t.writes, [['a'], ['b']]);
    assert.equal(wire(t.out), '+OK\r\n-ERR the append log cannot be written: disk full\r\n+OK\r\n');
    assert.equal(t.store.get('doomed'), undefined, 'a refused write leaves no trace');
  });

  it('SET with options, inside MULTI, before AUTH or with a key that is not UTF-8 is left to dispatch()', () => {
    const t = setup();
    assert.equal(t.run.take(words('SET', 'k', 'v', 'EX', '10')), false);
    assert.equal(t.run.take(words('GET', 'k', 'v')), false);
    assert.equal(t.run.take([Buffer.from('SET'), Buffer.from([0xff, 0xfe]), Buffer.from('v')]), false);
    t.conn.multi = { commands: [], failed: false };
    assert.equal(t.run.take(words('SET', 'k', 'v')), false);
    t.conn.multi = null;
    t.conn.authed = false;
    assert.equal(t.run.take(words('SET', 'k', 'v')), false);
    t.run.store();
    assert.deepEqual(t.writes, []);
  });

  it('the runs of several connections in one event-loop turn are written together at its end, then each is answered', async () => {
    const t = setup();
    const second = t.connect();
    const out2 = new ReplyWriter();
    const run2 = new SetRun(t.deps, second.conn, out2, t.stats, undefined);
    const turn = new SetTurn(t.deps);
    t.run.take(words('SET', 'x', '1'));
    run2.take(words('SET', 'y', '2'));
    run2.take(words('SET', 'x', '3'));
    const answered: string[] = [];
    const both = new Promise<void>((resolve) => {
      turn.join(t.run, () => answered.push('first'));
      turn.join(run2, () => {
        answered.push('second');
        resolve();
      });
    });
    assert.deepEqual(t.writes, [], 'nothing is written before the end of the turn');
    await both;
    assert.deepEqual(t.writes, [['x', 'y', 'x']], 'one write for both connections');
    assert.deepEqual(answered, ['first', 'second']);
    assert.equal(wire(t.out), '+OK\r\n');
    assert.equal(wire(out2), '+OK\r\n+OK\r\n');
    assert.equal(t.store.get('x')?.value?.toString(), '3');
  });
});

describe('RESP: command words of the fast paths', () => {
  it('match their name in any case and nothing else', () => {
    for (const w of ['set', 'SET', 'sEt']) assert.equal(isWord(Buffer.from(w), 'set'), true, w);
    for (const w of ['se', 'sett', 'get', 's\u00c5t', 'S@T', '']) assert.equal(isWord(Buffer.from(w, 'latin1'), 'set'), false, w);
  });
});
