import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { TEST_AUTH_KEY, request, sleep, stopAllNodes, waitFor, type NodeHandle } from '../helpers/node-process.js';
import { startGossipNode, tokenOf } from '../helpers/cluster.js';
import { DatagramSealer } from '../../src/cluster/security.js';
import { MEMBERSHIP_PURPOSE } from '../../src/cluster/membership/membership.js';
import { DATA_GOSSIP_PURPOSE } from '../../src/cluster/dissemination/disseminator.js';
import { AUTH_HEADER, RequestSigner } from '../../src/cluster/request-signing.js';
import { CaseCounter, assertCanary, assertHealthy, bytesArb, clusterStatus, fcParams, plantCanary, runs, type Canary } from './fuzz-helpers.js';

/**
 * Node-to-node input of one long-lived gossip node: SWIM datagrams, data-gossip
 * datagrams and the internal HTTP routes. Unauthenticated, truncated, stale,
 * replayed and wrong-purpose input is dropped and counted, and changes nothing;
 * input with a valid MAC but garbage inside (we hold the test key) is dropped as
 * malformed, never a crash.
 */

const counter = new CaseCounter('cluster');
let node: NodeHandle & { gossip: string };
let token: string;
let canary: Canary;
let swimPort: number;
let dataPort: number;
let udp: dgram.Socket;

before(async () => {
  node = await startGossipNode([]);
  const m = /data deltas on UDP (\d+)/.exec(node.stdout());
  assert.ok(m, `no data-gossip port in:\n${node.stdout()}`);
  dataPort = Number(m[1]);
  swimPort = Number(node.gossip.split(':').pop());
  token = await tokenOf(node);
  canary = await plantCanary(node, token);
  udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
});

after(async () => {
  udp?.close();
  await stopAllNodes();
  counter.report();
});

function sendUdp(port: number, b: Buffer): Promise<void> {
  return new Promise((resolve) => udp.send(b, port, '127.0.0.1', () => resolve()));
}

type Stats = { membership: Record<string, number>; push: Record<string, number>; internalHttp: Record<string, number> };
async function stats(): Promise<{ digest: string; r: Stats }> {
  const s = await clusterStatus(node, token);
  return { digest: s.store.digest as string, r: s.replication as Stats };
}

const rejected = (o: Record<string, number>) => (o.rejectedBadMac ?? 0) + (o.rejectedStale ?? 0) + (o.rejectedReplay ?? 0) + (o.rejectedMalformed ?? 0);

const sealer = (purpose: string, skewMs = 0) =>
  new DatagramSealer(TEST_AUTH_KEY, purpose, { encrypt: false, windowMs: 30_000, now: () => Date.now() + skewMs });

/** Datagrams that must not authenticate: random bytes, other keys or purposes, stale, tampered or truncated seals. */
function unauthenticatedArb(purpose: string): fc.Arbitrary<{ kind: string; bytes: Buffer }> {
  const other = purpose === MEMBERSHIP_PURPOSE ? DATA_GOSSIP_PURPOSE : MEMBERSHIP_PURPOSE;
  return fc.oneof(
    bytesArb(300).map((bytes) => ({ kind: 'random', bytes })),
    bytesArb(200).map((p) => ({ kind: 'other purpose', bytes: sealer(other).seal(p) })),
    bytesArb(200).map((p) => ({
      kind: 'other key',
      bytes: new DatagramSealer('not-the-cluster-key-0123', purpose, { encrypt: false, windowMs: 30_000 }).seal(p),
    })),
    bytesArb(200).map((p) => ({ kind: 'stale', bytes: sealer(purpose, -120_000).seal(p) })),
    fc.tuple(bytesArb(200), fc.nat(10_000)).map(([p, i]) => {
      const d = Buffer.from(sealer(purpose).seal(p));
      d[i % d.length]! ^= 1 << (i % 8);
      return { kind: 'tampered', bytes: d };
    }),
    fc.tuple(bytesArb(200), fc.nat(10_000)).map(([p, i]) => {
      const d = sealer(purpose).seal(p);
      return { kind: 'truncated', bytes: d.subarray(0, i % d.length) };
    }),
  );
}

/** Sends datagrams in small paced batches (so the OS does not drop them) and waits until the node has counted them. */
async function sendAll(port: number, list: Buffer[], field: 'membership' | 'push'): Promise<number> {
  const inField = field === 'membership' ? 'datagramsIn' : 'datagramsReceived';
  const before = (await stats()).r[field][inField] ?? 0;
  for (let i = 0; i < list.length; i++) {
    await sendUdp(port, list[i]!);
    if (i % 20 === 19) await sleep(3);
  }
  // UDP may drop some under load (not the node's fault): wait until all are counted or the count stops moving.
  let last = -1;
  let still = 0;
  const received =
    (await waitFor(
      `${field} datagrams to be received`,
      async () => {
        const n = ((await stats()).r[field][inField] ?? 0) - before;
        still = n === last ? still + 1 : 0;
        last = n;
        return n >= list.length || still >= 10 ? n + 1 : 0;
      },
      20_000,
      100,
    )) - 1;
  assert.ok(received >= list.length * 0.5, `${field}: only ${received} of ${list.length} datagrams arrived`);
  return received;
}

describe('cluster datagram fuzz', () => {
  for (const [name, purpose, field, port] of [
    ['SWIM', MEMBERSHIP_PURPOSE, 'membership', () => swimPort],
    ['data gossip', DATA_GOSSIP_PURPOSE, 'push', () => dataPort],
  ] as const) {
    test(`${name}: unauthenticated, stale, tampered and truncated datagrams are dropped, counted, and change nothing`, async () => {
      const s0 = await stats();
      const cases = fc.sample(unauthenticatedArb(purpose), runs(450));
      counter.add(`${name} datagrams (unauthenticated)`, cases.length);
      const received = await sendAll(
        port(),
        cases.map((c) => c.bytes),
        field,
      );
      const s1 = await stats();
      const refused = rejected(s1.r[field]) - rejected(s0.r[field]);
      assert.equal(refused, received, `${name}: ${received} bad datagrams arrived, ${refused} counted as rejected`);
      assert.equal(s1.digest, s0.digest, `${name}: unauthenticated datagrams changed the store`);
      if (field === 'push') assert.equal(s1.r.push.deltasReceived, s0.r.push.deltasReceived);
      await assertHealthy(node, `${name} unauthenticated`);
      await assertCanary(node, canary, `${name} unauthenticated`);
    });

    test(`${name}: a valid datagram replayed is refused as a replay`, async () => {
      const s0 = await stats();
      const d = sealer(purpose).seal(Buffer.from([0xc0]));
      await sendAll(port(), [d, d, d], field);
      const s1 = await stats();
      counter.add(`${name} datagrams (replayed)`, 3);
      assert.ok(s1.r[field].rejectedReplay! - s0.r[field].rejectedReplay! >= 2, `${name}: replays not counted`);
    });
  }

  test('valid MAC, garbage inside: SWIM and data-gossip payloads that are not what they claim are dropped, never a crash', async () => {
    const junk: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.constantFrom(null, true, 0, -1, 1.5, 2 ** 64, '', 'k', '127.0.0.1:1', Number.MAX_SAFE_INTEGER),
        fc.string({ maxLength: 8 }),
        bytesArb(8),
        fc.array(tie('v'), { maxLength: 11 }),
        fc.dictionary(fc.constantFrom('toString', 'valueOf', '__proto__', 'seq', 'host', 'state', 'incarnation', 'meta', 'destination', 'v', 'h'), tie('v'), {
          maxKeys: 4,
        }),
      ),
    })).v;
    const swimPayload = fc.oneof(
      fc.tuple(fc.constantFrom(0, 10, 11, 12, 13, 14, 3, 255), junk).map(([t, v]) => Buffer.concat([Buffer.from([t]), pack(v)])),
      fc
        .tuple(
          fc.constantFrom(12, 14),
          fc.record(
            { host: fc.constantFrom('127.0.0.1:1', '', 'x'), state: fc.integer({ min: -1, max: 4 }), incarnation: fc.oneof(fc.nat(), fc.double()), meta: junk },
            { requiredKeys: [] },
          ),
        )
        .map(([t, v]) => Buffer.concat([Buffer.from([t]), pack(v)])),
      bytesArb(200),
    );
    const rec = (k: unknown, flags: unknown = 0) => [k, Buffer.from('v'), Date.now() * 1000, Date.now(), 0, 'fuzz-node', 0, flags];
    const dataPayload = fc.oneof(
      fc.tuple(junk, fc.array(junk, { maxLength: 3 })).map(([h, rs]) => Buffer.concat([pack(h), ...rs.map((r) => pack(r))])),
      fc.tuple(fc.array(fc.tuple(junk, fc.nat(7), junk), { minLength: 1, maxLength: 3 })).map(([rs]) =>
        Buffer.concat([
          pack({ v: 1, h: '127.0.0.1:1' }),
          ...rs.map(([k, i, j]) => {
            const r = rec(`fuzz-${String(typeof k)}`);
            r[i] = j;
            return pack(r);
          }),
        ]),
      ),
      // The regression: a record whose key is a map with a `toString` field crashed the node (record-codec's error message).
      fc.constant(Buffer.concat([pack({ v: 1, h: '127.0.0.1:1' }), pack(rec({ toString: 1 }, 0))])),
      bytesArb(200),
    );
    const s0 = await stats();
    const swim = fc.sample(swimPayload, runs(300)).map((p) => sealer(MEMBERSHIP_PURPOSE).seal(p));
    const data = fc.sample(dataPayload, runs(300)).map((p) => sealer(DATA_GOSSIP_PURPOSE).seal(p));
    counter.add('SWIM datagrams (valid MAC, garbage inside)', swim.length);
    counter.add('data-gossip datagrams (valid MAC, garbage inside)', data.length);
    await sendAll(swimPort, swim, 'membership');
    await sendAll(dataPort, data, 'push');
    await sleep(200);
    const afterwards = await stats();
    assert.ok(afterwards.r.push.deltasMalformed! > s0.r.push.deltasMalformed!, 'no garbage delta was counted as malformed');
    await assertHealthy(node, 'valid MAC, garbage inside');
    await assertCanary(node, canary, 'valid MAC, garbage inside');
  });
});

describe('internal HTTP fuzz', () => {
  test('/internal/ without or with bad signatures: 401 and counted; with a valid signature and a garbage body: 400, never a crash', async () => {
    const self = { self: '127.0.0.1:1' };
    const signer = new RequestSigner(TEST_AUTH_KEY, 30_000, self);
    const stale = new RequestSigner(TEST_AUTH_KEY, 30_000, { ...self, now: () => Date.now() - 120_000 });
    const other = new RequestSigner('not-the-cluster-key-0123', 30_000, self);
    const to = node.httpAddr;
    const s0 = await stats();
    let unauth = 0;
    const caseArb = fc.record({
      route: fc.constantFrom('entry', 'sync'),
      key: fc.string({ maxLength: 20 }),
      body: fc.oneof(bytesArb(300), fc.constant(Buffer.from(pack({ v: 1 }))), fc.constant(Buffer.from(pack([1, 2, 3])))),
      auth: fc.constantFrom('none', 'garbage', 'stale', 'other key', 'other node', 'tampered', 'wrong path', 'replayed', 'valid'),
      garbage: fc.string({ maxLength: 120 }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        counter.add('internal HTTP calls');
        const method = c.route === 'entry' ? 'GET' : 'POST';
        const path = c.route === 'entry' ? `/internal/entry?key=${encodeURIComponent(c.key)}` : '/internal/sync';
        const body = c.route === 'entry' ? Buffer.alloc(0) : c.body;
        let header: string | undefined;
        switch (c.auth) {
          case 'none':
            header = undefined;
            break;
          case 'garbage':
            header = c.garbage.replace(/[^\x20-\x7e]/g, '?');
            break;
          case 'stale':
            header = stale.sign(method, to, path, body);
            break;
          case 'other key':
            header = other.sign(method, to, path, body);
            break;
          case 'other node':
            header = signer.sign(method, '127.0.0.1:1', path, body);
            break;
          case 'tampered':
            header = signer.sign(method, to, path, Buffer.concat([body, Buffer.from('x')]));
            break;
          case 'wrong path':
            header = signer.sign(method, to, `${path}x`, body);
            break;
          default:
            header = signer.sign(method, to, path, body);
        }
        const send = () =>
          request(node.httpPort, path, {
            method,
            headers: header === undefined ? {} : { [AUTH_HEADER]: header, 'Content-Type': 'application/msgpack' },
            ...(method === 'POST' ? { body } : {}),
            timeoutMs: 8000,
          });
        let r = await send();
        if (c.auth === 'replayed') r = await send();
        if (c.auth === 'valid') {
          assert.ok([200, 400, 404].includes(r.status), `valid signature: ${r.status} ${r.text.slice(0, 200)}`);
          if (c.route === 'sync' && r.status !== 200) assert.equal(r.status, 400);
          return;
        }
        unauth += 1;
        assert.equal(r.status, 401, `${c.auth} signature on ${path}: ${r.status} ${r.text.slice(0, 200)}`);
      }),
      fcParams(runs(350), true),
    );
    const s1 = await stats();
    const counted = rejected(s1.r.internalHttp) - rejected(s0.r.internalHttp);
    assert.ok(counted >= unauth, `only ${counted} of ${unauth} refused internal calls counted`);
    await assertHealthy(node, 'internal HTTP');
    await assertCanary(node, canary, 'internal HTTP');
  });
});
