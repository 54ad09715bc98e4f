import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { clusterMode, gossipClusterOptions, gossipMode, owlcacheMode, type NodeSelf } from '../../src/compose/cluster-mode.js';
import { respMembers } from '../../src/compose/front-ends.js';
import { Late } from '../../src/compose/late.js';
import { nodeSelf } from '../../src/compose/parts.js';
import { StopStack } from '../../src/compose/stop-stack.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/settings.js';
import { Persistence } from '../../src/persistence/persistence.js';
import { Store } from '../../src/store/store.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const confDir = mkdtempSync(join(tmpdir(), 'owl-compose-conf-'));
dirs.push(confDir);

/** Defaults and flags, read as the node reads them (no conf file in confDir). */
function config(...flags: string[]): Config {
  const r = loadConfig(flags, confDir);
  assert.ok(!('kind' in r));
  return (r as LoadedConfig).config;
}

function modeParts(): { dataDir: string; store: Store; persistence: Persistence } {
  const dataDir = mkdtempSync(join(tmpdir(), 'owl-compose-'));
  dirs.push(dataDir);
  const store = new Store({ nodeId: 'n1' });
  // Not loaded yet, as when the node builds its mode: the modes read nothing of it until they start.
  const persistence = new Persistence({ dataDir, store, appendLog: false, fsync: 'no', snapshotEveryMs: 0 });
  return { dataDir, store, persistence };
}

const self: NodeSelf = { name: 'node-a', http: '127.0.0.1:7721', httpPort: 7721 };

describe('Late', () => {
  it('throws, naming the value, when read before it is set; is set once', () => {
    const port = new Late<number>('the HTTP port');
    assert.equal(port.isSet, false);
    assert.throws(() => port.get(), /the HTTP port is not known yet/);
    port.set(0);
    assert.equal(port.isSet, true);
    assert.equal(port.get(), 0);
    assert.throws(() => port.set(1), /the HTTP port is set twice/);
  });
});

describe('StopStack', () => {
  it('stops the last part first, goes on past a step that fails, and runs once', async () => {
    const order: string[] = [];
    const stops = new StopStack();
    stops.push('lock', () => void order.push('lock'));
    stops.push('ports', async () => {
      order.push('ports');
      throw new Error('EBUSY');
    });
    stops.push('cluster', () => void order.push('cluster'));
    const first = stops.run();
    assert.equal(stops.run(), first, 'a second stop waits for the first');
    await first;
    assert.deepEqual(order, ['cluster', 'ports', 'lock']);
    assert.throws(() => stops.push('late part', () => {}), /while the node stops/);
  });
});

describe('cluster modes', () => {
  it('GroupWorkMode picks the mode once (GroupDataSync 1 means gossip)', () => {
    const parts = modeParts();
    assert.equal(clusterMode(config(), parts).name, 'owlcache');
    assert.equal(clusterMode(config('--GroupWorkMode=gossip', '--GossipDataSyncAuthKey=0123456789ab'), parts).name, 'gossip');
    assert.equal(clusterMode(config('--GroupDataSync=1', '--GossipDataSyncAuthKey=0123456789ab'), parts).name, 'gossip');
  });

  it('owlcache mode: /group_data/ asks the owlcache list, kept in server_group_config.json; no internal routes, no cluster status', async () => {
    const { dataDir, store } = modeParts();
    const mode = owlcacheMode({ dataDir, store });
    assert.deepEqual(mode.groupNodes.httpAddresses(), []);
    mode.lists.owlcache.add('127.0.0.1:7723', '');
    mode.lists.owlcache.flush();
    assert.deepEqual(mode.groupNodes.httpAddresses(), ['127.0.0.1:7723']);
    assert.ok(existsSync(join(dataDir, 'server_group_config.json')));
    assert.equal(mode.internal, null);
    await mode.start(self);
    assert.deepEqual(mode.members(self), { node: { name: 'node-a', http: '127.0.0.1:7721', gossip: null }, members: [] });
    assert.equal(mode.status(), null);
    assert.equal(mode.udp(), null);
    await mode.stop();
  });

  it('gossip mode before its cluster starts: internal calls refused, nobody else asked, this node alone', async () => {
    const parts = modeParts();
    const mode = gossipMode(config('--GroupWorkMode=gossip', '--GossipDataSyncAuthKey=0123456789ab'), parts);
    assert.ok(mode.internal !== null);
    assert.equal(mode.internal.screen('v2 anything'), false);
    assert.equal(mode.internal.verify('GET', '/internal/entry?key=a', 'v2 anything', Buffer.alloc(0)), false);
    assert.deepEqual(mode.groupNodes.httpAddresses(), []);
    mode.lists.owlcache.add('127.0.0.1:7723', '');
    mode.lists.owlcache.flush();
    assert.deepEqual(mode.groupNodes.httpAddresses(), [], 'the owlcache list is not the cluster in gossip mode');
    assert.ok(existsSync(join(parts.dataDir, 'server_group_owlcache_config.json')));
    assert.deepEqual(mode.members(self).members, []);
    assert.equal(mode.status(), null);
    assert.equal(mode.udp(), null);
    await mode.stop();
    await parts.persistence.close();
  });

  it('the gossip cluster gets one slice per part, each from its settings', () => {
    const { dataDir, store } = modeParts();
    const c = config('--GroupWorkMode=gossip', '--GossipDataSyncAuthKey=0123456789ab', '--Gossipport=7946', '--DataGossipPort=7947', '--ResponseHost=10.0.0.5');
    const mode = owlcacheMode({ dataDir, store });
    const opts = gossipClusterOptions(c, { store, lists: mode.lists, dataDir }, nodeSelf(c, 7721));
    assert.equal(opts.name, '10.0.0.5:7721');
    assert.equal(opts.selfHttp, '10.0.0.5:7721');
    assert.deepEqual(opts.transport.ports, { data: 7947, membership: 7946 });
    assert.equal(opts.transport.authKey, '0123456789ab');
    assert.equal('advertiseAddr' in opts.membership, false, 'no GossipAdvertiseAddr: membership picks its address');
    assert.equal(opts.replication.maxValueSize, c.MaxValueSize);
    assert.equal(opts.membersFile, join(dataDir, 'gossip_members.json'));
    const behindNat = config('--GroupWorkMode=gossip', '--GossipDataSyncAuthKey=0123456789ab', '--GossipAdvertiseAddr=edge.example:17946', '--NodeName=edge');
    const nat = gossipClusterOptions(behindNat, { store, lists: mode.lists, dataDir }, nodeSelf(behindNat, 7721));
    assert.equal(nat.name, 'edge');
    assert.equal(nat.selfHttp, 'edge.example:7721');
    assert.equal(nat.membership.advertiseAddr, 'edge.example:17946');
  });
});

describe('INFO member rows', () => {
  it('lists this node alone without members, else each member by name and HTTP address (gossip address when unknown)', () => {
    assert.deepEqual(respMembers({ node: { name: 'a', http: '127.0.0.1:1', gossip: null }, members: [] }), [
      { name: 'a', address: '127.0.0.1:1', state: 'alive' },
    ]);
    const row = { incarnation: 1, data: null, proto: null, local: false, since: '' };
    assert.deepEqual(
      respMembers({
        node: { name: 'a', http: '127.0.0.1:1', gossip: '127.0.0.1:2' },
        members: [
          { ...row, name: 'b', state: 'suspect', gossip: '127.0.0.1:4', http: '127.0.0.1:3' },
          { ...row, name: null, state: 'alive', gossip: '127.0.0.1:6', http: null },
        ],
      }),
      [
        { name: 'b', address: '127.0.0.1:3', state: 'suspect' },
        { name: '127.0.0.1:6', address: '127.0.0.1:6', state: 'alive' },
      ],
    );
  });
});
