import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OwlUnavailable } from '../../../src/client/errors.js';
import { Topology, baseUrl } from '../../../src/client/topology.js';

const shards = (ports: number[], states: Record<number, string> = {}) => ({
  nodeId: 'a',
  leaderId: '',
  uriScheme: 'http',
  shards: Object.fromEntries(ports.map((p) => [`127.0.0.1:${p}`, { nodeId: `127.0.0.1:${p}`, httpAddr: `127.0.0.1:${p}`, state: states[p] ?? 'alive' }])),
});

describe('client topology', () => {
  it('base URLs from host:port or URLs; other schemes refused', () => {
    assert.equal(baseUrl('127.0.0.1:7721'), 'http://127.0.0.1:7721');
    assert.equal(baseUrl('https://h:1/x?y'), 'https://h:1');
    assert.equal(baseUrl('[::1]:7721'), 'http://[::1]:7721');
    assert.throws(() => baseUrl('ftp://h:1'), /only http and https/);
  });

  it('learns every shard; a key keeps to one healthy node; a down node is skipped until it is up again', () => {
    const t = new Topology(['127.0.0.1:1']);
    assert.equal(t.learn(shards([1, 2, 3])), 3);
    assert.equal(t.view().length, 3, 'the given endpoint and its shard are one node');
    const first = t.order('some-key')[0]!;
    for (let i = 0; i < 5; i++) assert.equal(t.order('some-key')[0], first);
    const spread = new Set(Array.from({ length: 60 }, (_, i) => t.order(`k${i}`)[0]));
    assert.equal(spread.size, 3, 'keys spread over every node');
    t.failed(first);
    const next = t.order('some-key');
    assert.notEqual(next[0], first);
    assert.equal(next.at(-1), first, 'a down node is tried last');
    t.up(first);
    assert.equal(t.order('some-key')[0], first);
    assert.equal(t.order()[0], 'http://127.0.0.1:1', 'operations go to the first given endpoint');
  });

  it('members the cluster reports not alive come after the alive ones; garbage shards are ignored', () => {
    const t = new Topology(['127.0.0.1:1']);
    t.learn(shards([1, 2], { 2: 'faulty' }));
    assert.equal(t.learn({ shards: { x: { httpAddr: 42 }, y: null } }), 0);
    assert.equal(t.learn('nope'), 0);
    assert.deepEqual(t.order('k'), ['http://127.0.0.1:1', 'http://127.0.0.1:2']);
  });

  it('OwlUnavailable names every node tried', () => {
    const e = new OwlUnavailable([
      { node: 'a:1', error: 'ECONNREFUSED' },
      { node: 'b:2', error: 'no answer in 500 ms' },
    ]);
    assert.deepEqual(e.nodes, ['a:1', 'b:2']);
    assert.match(e.message, /a:1 \(ECONNREFUSED\), b:2 \(no answer in 500 ms\)/);
  });
});
