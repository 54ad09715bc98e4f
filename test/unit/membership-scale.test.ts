// Defect 5: membership datagrams over the budget were dropped silently. Once
// sealed, swim's fullest datagrams (member-list syncs, piggybacked updates) would
// exceed 1400 bytes; with 32 members they are the rule, not the exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Membership } from '../../src/cluster/membership/membership.js';
import { Nodes, seesAllAlive, waitFor } from './membership-harness.test.js';

const N = 32;

describe('membership at scale', () => {
  it(`${N} members converge within the default 1400-byte datagram budget`, { timeout: 120_000 }, async () => {
    const nodes = new Nodes();
    try {
      const timing = { probeIntervalMs: 300, pingTimeoutMs: 150, maxDatagram: 1400 };
      const started: Membership[] = [];
      for (let i = 0; i < N; i++) {
        // Names of varied length, as in real clusters, let swim pack datagrams tightly (first fit).
        const name = `owlcache-${String(i).padStart(2, '0')}.${'rack'.repeat(i % 13)}.cache.example.internal`;
        const seeds = started.slice(0, 2).map((m) => m.localAddress());
        const m = await nodes.start(name, seeds, {
          ...timing,
          meta: { name, http: `10.20.30.${i}:7720`, data: `10.20.30.${i}:7721`, proto: 1 },
        });
        started.push(m);
      }
      const all = started.map((m) => m.localAddress());
      await waitFor(`all ${N} see ${N} alive`, () => started.every((m) => seesAllAlive(m, all)), 60_000, 200);

      let largest = 0;
      for (const m of started) {
        const s = m.stats();
        assert.equal(s.droppedOversized, 0, `${m.localAddress()} dropped oversized datagrams`);
        assert.ok(s.maxDatagramOut <= 1400, `${m.localAddress()} sent ${s.maxDatagramOut} bytes`);
        largest = Math.max(largest, s.maxDatagramOut);
      }
      // The budget was actually used: full datagrams were needed, and fit.
      assert.ok(largest > 1300, `largest datagram ${largest} bytes`);
      const meta = started[0]!.members().find((x) => x.address === all[N - 1]);
      assert.equal(meta?.meta?.data, `10.20.30.${N - 1}:7721`);
    } finally {
      await nodes.stopAll();
    }
  });
});
