import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Store } from '../../src/store/store.js';
import { respHarness } from '../helpers/resp-harness.js';

describe('MULTI / EXEC / DISCARD / WATCH', () => {
  test('queued commands answer QUEUED and run at EXEC, their replies in one array', async () => {
    const { run } = respHarness();
    assert.equal(await run('MULTI'), '+OK\r\n');
    assert.equal(await run('SET', 'a', '1'), '+QUEUED\r\n');
    assert.equal(await run('GET', 'a'), '+QUEUED\r\n');
    assert.equal(await run('GET', 'nope'), '+QUEUED\r\n');
    assert.equal(await run('EXEC'), '*3\r\n+OK\r\n$1\r\n1\r\n$-1\r\n');
    assert.equal(await run('EXEC'), '-ERR EXEC without MULTI\r\n');
    assert.equal(await run('DISCARD'), '-ERR DISCARD without MULTI\r\n');
  });

  test('an error while queueing aborts the whole transaction: EXECABORT, nothing runs', async () => {
    const { run, store } = respHarness();
    await run('MULTI');
    await run('SET', 'a', '1');
    assert.equal(await run('GET'), "-ERR wrong number of arguments for 'get' command\r\n");
    assert.match(await run('NOSUCH', 'x'), /^-ERR unknown command 'NOSUCH'/);
    assert.equal(await run('EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n');
    assert.equal(store.get('a'), undefined);
  });

  test('a run-time error inside EXEC is one reply of the array; the other commands run', async () => {
    const { run } = respHarness();
    await run('MULTI');
    await run('SET', 'a', '1');
    await run('SET', 'a', '2', 'EX', '0');
    await run('GET', 'a');
    assert.equal(await run('EXEC'), "*3\r\n+OK\r\n-ERR invalid expire time in 'set' command\r\n$1\r\n1\r\n");
  });

  test('DISCARD drops the queue: no command of it runs', async () => {
    const { run, store } = respHarness();
    await run('MULTI');
    await run('SET', 'a', '1');
    await run('DEL', 'b');
    assert.equal(await run('DISCARD'), '+OK\r\n');
    assert.equal(store.get('a'), undefined);
    assert.equal(await run('GET', 'a'), '$-1\r\n');
  });

  test('nesting and commands not allowed inside a transaction', async () => {
    const { run } = respHarness();
    await run('MULTI');
    assert.equal(await run('MULTI'), '-ERR MULTI calls can not be nested\r\n');
    assert.equal(await run('WATCH', 'x'), '-ERR WATCH inside MULTI is not allowed\r\n');
    assert.equal(await run('EXEC'), '*0\r\n');
    await run('MULTI');
    assert.equal(await run('HELLO', '3'), '-ERR Command not allowed inside a transaction\r\n');
    assert.equal(await run('EXEC'), '-EXECABORT Transaction discarded because of previous errors.\r\n');
  });

  test('WATCH: a change from another connection makes EXEC answer null (RESP2 and RESP3)', async () => {
    const h = respHarness();
    const other = h.connect();
    await h.run('WATCH', 'w');
    await other.run('SET', 'w', 'changed');
    await h.run('MULTI');
    await h.run('SET', 'w', 'mine');
    assert.equal(await h.run('EXEC'), '*-1\r\n');
    assert.equal(h.store.get('w')?.value?.toString(), 'changed');
    // EXEC forgot the watch: the next transaction runs.
    await h.run('MULTI');
    await h.run('SET', 'w', 'mine');
    assert.equal(await h.run('EXEC'), '*1\r\n+OK\r\n');
    await h.run('HELLO', '3');
    await h.run('WATCH', 'w');
    await other.run('DEL', 'w');
    await h.run('MULTI');
    assert.equal(await h.run('EXEC'), '_\r\n');
  });

  test('WATCH: a change learned from a peer (merge) also aborts; UNWATCH and an untouched key do not', async () => {
    const h = respHarness();
    await h.run('WATCH', 'r');
    const peer = new Store({ nodeId: 'peer-node' });
    h.store.merge(peer.set('r', Buffer.from('remote')), 'remote');
    await h.run('MULTI');
    assert.equal(await h.run('EXEC'), '*-1\r\n');
    await h.run('WATCH', 'r');
    await h.run('UNWATCH');
    h.store.merge(peer.set('r', Buffer.from('again')), 'sync');
    await h.run('WATCH', 'quiet');
    await h.run('MULTI');
    await h.run('GET', 'r');
    assert.equal(await h.run('EXEC'), '*1\r\n$5\r\nagain\r\n');
  });
});
