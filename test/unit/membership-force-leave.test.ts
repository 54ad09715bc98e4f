import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Membership } from '../../src/cluster/membership/membership.js';
import { Nodes, options, seesAllAlive, sleep, stateOf, waitFor } from './membership-harness.test.js';

/**
 * Forced removal (serf's force-leave, made to stick): Membership.forceLeave,
 * the removal floor that refuses the removed node's records, and the removed
 * node leaving when it hears of it.
 */

const FAST = { pushPullIntervalMs: 300 };

describe('membership forceLeave', () => {
  it('a removed member stays left while it keeps running, gossiping and refuting, over many push-pull rounds', async () => {
    const nodes = new Nodes();
    let c: Membership | null = null;
    try {
      const a = await nodes.start('a', [], FAST);
      const b = await nodes.start('b', [a.localAddress()], FAST);
      // c models a node that does not obey its removal (a stale or partitioned peer): with clock incarnations
      // switched off it refutes its Left record and gossips its refutations on.
      c = new Membership(options('c', FAST), { disableFixes: ['incarnation'] });
      await c.start([a.localAddress()]);
      const all = [a.localAddress(), b.localAddress(), c.localAddress()];
      await waitFor('all alive', () => seesAllAlive(a, all) && seesAllAlive(b, all) && seesAllAlive(c!, all));
      const at = Date.now();
      const left = a.forceLeave(c.localAddress(), { at });
      assert.equal(left?.state, 'left');
      b.forceLeave(c.localAddress(), { incarnation: left!.incarnation, at });
      const before = c.members()[0]!.incarnation;
      const until = Date.now() + 4000;
      while (Date.now() < until) {
        assert.equal(stateOf(a, c.localAddress()), 'left', 'a took the removed member back');
        assert.equal(stateOf(b, c.localAddress()), 'left', 'b took the removed member back');
        await sleep(100);
      }
      assert.ok(c.members()[0]!.incarnation > before, 'the removed member refuted (it kept gossiping)');
    } finally {
      await c?.stop();
      await nodes.stopAll();
    }
  });

  it('the removed member hears its removal by gossip and leaves; started again at the same address, it joins again', async () => {
    const nodes = new Nodes();
    let c2: Membership | null = null;
    try {
      const a = await nodes.start('a', [], FAST);
      const b = await nodes.start('b', [a.localAddress()], FAST);
      const c = await nodes.start('c', [a.localAddress()], FAST);
      const all = [a.localAddress(), b.localAddress(), c.localAddress()];
      await waitFor('all alive', () => seesAllAlive(a, all) && seesAllAlive(b, all) && seesAllAlive(c, all));
      let removedEvent = false;
      (c as unknown as { opts: { onRemoved?: () => void } }).opts.onRemoved = () => (removedEvent = true);
      a.forceLeave(c.localAddress());
      await waitFor('c to hear it was removed', () => c.wasRemoved());
      assert.equal(removedEvent, true);
      await waitFor('c to list only itself, left', () => c.members().length === 1 && c.members()[0]!.state === 'left');
      await waitFor('b to record c as left', () => stateOf(b, c.localAddress()) === 'left');
      await sleep(1000);
      assert.equal(stateOf(a, c.localAddress()), 'left');
      assert.equal(stateOf(b, c.localAddress()), 'left');

      const port = Number(c.localAddress().split(':')[1]);
      await c.stop();
      c2 = new Membership(options('c', { ...FAST, port }));
      await c2.start([a.localAddress()]);
      await waitFor('the restarted member alive on a and b', () => stateOf(a, c2!.localAddress()) === 'alive' && stateOf(b, c2!.localAddress()) === 'alive');
    } finally {
      await c2?.stop();
      await nodes.stopAll();
    }
  });

  it('join() joins a member now and lifts a removal; it times out with null for an address nobody answers at', async () => {
    const nodes = new Nodes();
    try {
      const a = await nodes.start('a', [], FAST);
      const b = await nodes.start('b', [], FAST);
      const m = await a.join(b.localAddress(), 5000);
      assert.equal(m?.state, 'alive');
      assert.equal(await a.join('127.0.0.1:9', 300), null);
      assert.throws(() => a.forceLeave(a.localAddress()), /is this node/);
    } finally {
      await nodes.stopAll();
    }
  });
});
