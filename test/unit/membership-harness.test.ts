/**
 * Shared helpers of the membership tests (no tests here; the name only keeps it
 * among the membership test files). Instances run in this process on 127.0.0.1,
 * port 0, short timings; every wait is bounded.
 *
 * OWLCACHE_TEST_DISABLE_FIX=suspicion,incarnation,leave,auth,budget,parse runs the
 * tests with those swim fixes switched off, to check that each test catches its defect.
 */
import { Membership, type MemberState, type MembershipOptions } from '../../src/cluster/membership/membership.js';
import type { Fix } from '../../src/cluster/membership/patches.js';

export const KEY = 'membership-test-key';

export function disabledFixes(): Fix[] {
  const raw = process.env.OWLCACHE_TEST_DISABLE_FIX ?? '';
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0) as Fix[];
}

export function options(name: string, over: Partial<MembershipOptions> = {}): MembershipOptions {
  return {
    bindHost: '127.0.0.1',
    port: 0,
    authKey: KEY,
    encrypt: false,
    meta: { name, http: `127.0.0.1:8${name.length}00`, data: '127.0.0.1:9000', proto: 1 },
    probeIntervalMs: 200,
    pingTimeoutMs: 100,
    suspicionMult: 3,
    maxDatagram: 1400,
    reapFaultyAfterMs: 24 * 3600_000,
    macWindowMs: 30_000,
    ...over,
  };
}

/** Every instance a test makes, stopped by stopAll() (call it in after/finally). */
export class Nodes {
  readonly all: Membership[] = [];

  async start(name: string, seeds: string[], over: Partial<MembershipOptions> = {}): Promise<Membership> {
    const m = new Membership(options(name, over), { disableFixes: disabledFixes() });
    this.all.push(m);
    await m.start(seeds);
    return m;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((m) => m.stop().catch(() => {})));
  }
}

/** Polls cond until it holds; throws (naming what was awaited) after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000, stepMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(stepMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function stateOf(m: Membership, address: string): MemberState | undefined {
  return m.members().find((x) => x.address === address)?.state;
}

/** True when m sees exactly `addresses` (itself included), all alive. */
export function seesAllAlive(m: Membership, addresses: readonly string[]): boolean {
  const ms = m.members();
  return ms.length === addresses.length && addresses.every((a) => ms.some((x) => x.address === a && x.state === 'alive'));
}

/** As kill -9: the socket closes, nobody is told. (The instance's timers tick on, sending nothing, until stop().) */
export async function crash(m: Membership): Promise<void> {
  await (m as unknown as { transport: { close(): Promise<void> } }).transport.close();
}
