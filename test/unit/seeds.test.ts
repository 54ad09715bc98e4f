import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Seeds } from '../../src/cluster/membership/seeds.js';
import { sleep, waitFor } from '../helpers/node-process.js';

/**
 * The background seed joiner and the editable gossip list: a seed deleted
 * from the list is no longer tried. The sync hook only records (no datagram
 * is sent); the seeds are IP addresses, so nothing is resolved either.
 */

function recorder() {
  const synced: string[] = [];
  const seeds = new Seeds({ isLive: () => false, isSelf: () => false, sync: (a) => synced.push(a) }, 20, 40);
  const count = (a: string) => synced.filter((s) => s === a).length;
  return { seeds, synced, count };
}

describe('Seeds', () => {
  it('forgets a seed deleted from the gossip list, keeps fixed seeds and the ones still listed', async () => {
    const { seeds, count } = recorder();
    seeds.add(['127.0.0.1:7001']);
    seeds.setListed(['127.0.0.1:7002', '127.0.0.1:7003', '[::1]:7004']);
    seeds.start();
    try {
      await waitFor('every seed tried', () => ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003', '[::1]:7004'].every((a) => count(a) > 0), 5000, 10);
      seeds.setListed(['127.0.0.1:7002']);
      assert.deepEqual(seeds.addresses().sort(), ['127.0.0.1:7001', '127.0.0.1:7002']);
      const after = { gone: count('127.0.0.1:7003'), gone6: count('[::1]:7004'), fixed: count('127.0.0.1:7001'), kept: count('127.0.0.1:7002') };
      // Several backoff periods (at most 40 ms each): the kept seeds are retried, the deleted ones never again.
      await sleep(300);
      assert.equal(count('127.0.0.1:7003'), after.gone, 'a deleted seed was tried again');
      assert.equal(count('[::1]:7004'), after.gone6, 'a deleted IPv6 seed was tried again');
      assert.ok(count('127.0.0.1:7001') > after.fixed, 'the fixed seed is still tried');
      assert.ok(count('127.0.0.1:7002') > after.kept, 'the listed seed is still tried');
    } finally {
      seeds.stop();
    }
  });

  it('a seed both fixed and listed stays when the list drops it; a re-listed seed is tried again', async () => {
    const { seeds, count } = recorder();
    seeds.add(['127.0.0.1:7011']);
    seeds.setListed(['127.0.0.1:7011', '127.0.0.1:7012']);
    seeds.start();
    try {
      seeds.setListed([]);
      assert.deepEqual(seeds.addresses(), ['127.0.0.1:7011']);
      seeds.setListed(['127.0.0.1:7012', 'not an address']);
      assert.deepEqual(seeds.addresses().sort(), ['127.0.0.1:7011', '127.0.0.1:7012']);
      await waitFor('the re-listed seed tried', () => count('127.0.0.1:7012') > 0, 5000, 10);
    } finally {
      seeds.stop();
    }
  });
});
