import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { DatagramSealer } from '../../src/cluster/security.js';
import { MEMBERSHIP_PURPOSE } from '../../src/cluster/membership/membership.js';
import { members, restartGossipNode, startGossipCluster, startGossipNode, stateOf, status, type StatusDoc } from '../helpers/cluster.js';
import { TEST_AUTH_KEY, request, sleep, stopAllNodes, waitFor } from '../helpers/node-process.js';

/** Issue 4 against real processes: three gossip nodes from seed files, failures, restarts, leaves, intruders. */

after(stopAllNodes);

async function sendUdp(port: number, datagrams: Buffer[]): Promise<void> {
  const s = dgram.createSocket('udp4');
  try {
    for (const d of datagrams) await new Promise<void>((res, rej) => s.send(d, port, '127.0.0.1', (err) => (err ? rej(err) : res())));
  } finally {
    s.close();
  }
}

describe('gossip membership (real processes)', () => {
  it('three nodes see each other alive; kill -9 → faulty; restart → alive; SIGTERM → left', async () => {
    const [a, b, c] = await startGossipCluster(3);
    assert.match(a!.stdout(), /local member 127\.0\.0\.1:\d+/);
    await waitFor(
      'three alive members everywhere',
      async () => {
        const views = await Promise.all([a!, b!, c!].map(members));
        return views.every((v) => v.length === 3 && v.every((m) => m.state === 'alive'));
      },
      5000,
    );

    await c!.stop('SIGKILL');
    await waitFor('c faulty on a and b', async () => (await stateOf(a!, c!.gossip)) === 'faulty' && (await stateOf(b!, c!.gossip)) === 'faulty', 10_000);

    const c2 = await restartGossipNode(c!);
    await waitFor('c alive again on a and b', async () => (await stateOf(a!, c2.gossip)) === 'alive' && (await stateOf(b!, c2.gossip)) === 'alive', 5000);
    const row = (await members(a!)).find((m) => m.gossip === c2.gossip)!;
    assert.equal(row.http, `127.0.0.1:${c2.httpPort}`);

    assert.equal(await b!.stop('SIGTERM'), 0);
    await waitFor('b left (not faulty) on a and c', async () => (await stateOf(a!, b!.gossip)) === 'left' && (await stateOf(c2, b!.gossip)) === 'left', 5000);
    await sleep(1000);
    assert.equal(await stateOf(a!, b!.gossip), 'left', 'stays left');
    await Promise.all([a!.stop(), c2.stop()]);
  });

  it('a node with the wrong GossipDataSyncAuthKey never joins; garbage, forged and replayed datagrams change nothing', async () => {
    const [a, b] = await startGossipCluster(2);
    await waitFor('two alive', async () => (await members(a!)).filter((m) => m.state === 'alive').length === 2, 5000);
    const intruder = await startGossipNode([a!.gossip], { GossipDataSyncAuthKey: 'not-the-cluster-key-42' });
    const gossipPort = Number(a!.gossip.split(':')[1]);

    // Random bytes, truncated datagrams, a valid MAC over garbage, and one valid datagram replayed.
    const sealer = new DatagramSealer(TEST_AUTH_KEY, MEMBERSHIP_PURPOSE, { encrypt: false, windowMs: 30_000 });
    const forged = sealer.seal(randomBytes(200));
    const junk = [randomBytes(1), randomBytes(37), randomBytes(1400), forged.subarray(0, 20), forged, forged, Buffer.alloc(0)];
    const before = await status(a!);
    await sendUdp(gossipPort, junk);
    await sleep(3000);

    for (const n of [a!, b!]) {
      const view = await members(n);
      assert.ok(!view.some((m) => m.gossip === intruder.gossip), `${n.gossip} lists the intruder`);
      assert.equal(view.filter((m) => m.state === 'alive').length, 2);
    }
    assert.ok(!(await members(intruder)).some((m) => m.gossip === a!.gossip && m.state === 'alive'));
    const after = await status(a!);
    const m0 = before.replication.membership;
    const m1 = after.replication.membership;
    const rejected = (m: StatusDoc['replication']['membership']) => m.rejectedBadMac! + m.rejectedMalformed! + m.rejectedReplay! + m.rejectedStale!;
    assert.ok(rejected(m1) - rejected(m0) >= junk.length - 1, `rejections counted: ${JSON.stringify(m1)}`);
    assert.ok(m1.rejectedReplay! > m0.rejectedReplay!, 'the replayed datagram was refused as a replay');
    assert.equal((await request(a!.httpPort, '/data/?cmd=ping')).text, 'PONG', 'still serving');
    await Promise.all([a!.stop(), b!.stop(), intruder.stop()]);
  });
});

describe('owlcache members / status (client subcommands)', () => {
  it('prints the member table and the status document; refuses a wrong password', async () => {
    const { runToExit, TEST_PASSWORD: pass } = await import('../helpers/node-process.js');
    const [a, b] = await startGossipCluster(2);
    await waitFor('two alive', async () => (await members(a!)).filter((m) => m.state === 'alive').length === 2, 5000);
    const r = await runToExit(['members', '-node', a!.httpAddr, '-pass', pass], a!.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /NAME\s+STATE\s+HTTP\s+GOSSIP/);
    assert.ok(r.stdout.includes(b!.gossip), r.stdout);
    assert.match(r.stdout, /2 of 2 members alive/);
    const s = await runToExit(['status', '-node', a!.httpAddr, '-pass', pass], a!.dir);
    assert.equal(s.code, 0, s.stderr);
    assert.match(JSON.parse(s.stdout).store.digest, /^[0-9a-f]{16}$/);
    const bad = await runToExit(['members', '-node', a!.httpAddr, '-pass', 'wrong-password-9'], a!.dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /refused the password/);
    await Promise.all([a!.stop(), b!.stop()]);
  });
});

describe('rejoining without seeds', () => {
  it('a restarted node whose seed is gone rejoins through the member list it saved', async () => {
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const [a, b, c] = await startGossipCluster(3);
    await waitFor(
      'three alive everywhere',
      async () => {
        const views = await Promise.all([a!, b!, c!].map(members));
        return views.every((v) => v.filter((m) => m.state === 'alive').length === 3);
      },
      5000,
    );
    await waitFor('c saved its member list', () => existsSync(join(c!.dataDir, 'gossip_members.json')), 5000);
    await c!.stop('SIGTERM');
    await a!.stop('SIGTERM'); // c's only seed is gone
    const c2 = await restartGossipNode(c!);
    await waitFor('c and b see each other alive', async () => (await stateOf(c2, b!.gossip)) === 'alive' && (await stateOf(b!, c2.gossip)) === 'alive', 10_000);
    await Promise.all([b!.stop(), c2.stop()]);
  });
});
