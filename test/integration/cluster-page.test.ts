import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { PageState } from '../../src/cluster-page/page-state.js';
import { browserMissing, launchBrowser, type Browser } from '../helpers/browser.js';
import { FAST_GOSSIP, dataCmd, startGossipCluster } from '../helpers/cluster.js';
import { TEST_PASSWORD, getToken, request, startNode, stopAllNodes, waitFor } from '../helpers/node-process.js';

/** GET /ui/: the page's files and its JSON over HTTP, then the page itself in Debian's Chromium against real nodes. */

after(stopAllNodes);

describe('cluster page over HTTP', () => {
  it('serves its files with a strict CSP, its state only with a token bound to the client address', async () => {
    const node = await startNode();
    const index = await request(node.httpPort, '/ui/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /^text\/html/);
    assert.match(String(index.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(index.text, /<script>|https?:\/\//, 'no inline script, nothing from another origin');
    const js = await request(node.httpPort, '/ui/page.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.doesNotMatch(js.text, /https?:\/\//);
    assert.equal((await request(node.httpPort, '/ui')).status, 301);
    for (const path of ['/ui/nothing.js', '/ui/..%2Fpackage.json', '/ui/%2e%2e/package.json']) {
      assert.equal((await request(node.httpPort, path)).status, 404, path);
    }

    const anonymous = await request(node.httpPort, '/ui/api/state');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json().Results, 'NOT_PASS');
    const token = await getToken(node.httpPort);
    const elsewhere = await request(node.httpPort, '/ui/api/state', { headers: { Authorization: `Bearer ${token}` }, localAddress: '127.0.0.2' });
    assert.equal(elsewhere.status, 401, 'a token is bound to the address that asked for it');
    const r = await request(node.httpPort, '/ui/api/state', { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'no-store');
    const state = r.json<PageState>();
    assert.equal(state.gossip, false);
    assert.equal(state.node.mode, 'owlcache');
    assert.equal(state.members.length, 1);
    assert.equal(state.members[0]!.local, true);
    assert.equal(state.members[0]!.keys, 0);
  });
});

const skip = browserMissing();
if (skip !== null) console.log(`browser tests skipped: ${skip}`);

describe('cluster page in a browser', { skip: skip ?? false }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  async function signIn(page: Page, port: number): Promise<void> {
    await page.goto(`http://127.0.0.1:${port}/ui/`);
    await page.locator('#password').fill('not-the-password-123');
    await page.locator('#login button').click();
    await page.locator('#login-error').filter({ hasText: 'wrong password' }).waitFor({ timeout: 10_000 });
    await page.locator('#password').fill(TEST_PASSWORD);
    await page.locator('#login button').click();
    await page.locator('#members tbody tr').first().waitFor({ timeout: 10_000 });
  }

  const rowStates = (page: Page) =>
    page.$$eval('#members tbody tr', (rows) => rows.map((r) => ({ member: r.getAttribute('data-member') ?? '', state: r.getAttribute('data-state') ?? '' })));

  it('three gossip nodes: three alive members; kill -9 one: it turns faulty on the page without a reload', async (t) => {
    const nodes = await startGossipCluster(3, { MaxMemory: '64mb' });
    const [a, b, c] = nodes;
    for (let i = 0; i < 5; i++) await dataCmd(a!, { cmd: 'set', key: `k${i}`, valuedata: `value ${i}` });
    const page = await browser.context.newPage();
    await signIn(page, a!.httpPort);
    await waitFor(
      'three alive members on the page',
      async () => {
        const rows = await rowStates(page);
        return rows.length === 3 && rows.every((r) => r.state === 'alive');
      },
      10_000,
      100,
    );
    const shown = (await rowStates(page)).map((r) => r.member).sort();
    assert.deepEqual(shown, [a!.gossip, b!.gossip, c!.gossip].sort());
    assert.equal(await page.locator('#not-gossip').isHidden(), true);
    assert.match((await page.locator('#members tbody tr.local td[data-label="Keys"]').textContent()) ?? '', /^5$/);
    assert.match((await page.locator('#members tbody tr.local td[data-label="Memory"]').textContent()) ?? '', / of 64\.0 MB$/);
    // The peers' round trips come from this node's SWIM probes: shown once the first probes are answered.
    await waitFor(
      'a measured round trip for every peer',
      async () => {
        const cells = await page.$$eval('#members tbody tr:not(.local) td[data-label="Round trip"]', (tds) => tds.map((td) => td.textContent ?? ''));
        return cells.length === 2 && cells.every((text) => /\d/.test(text));
      },
      20_000,
      200,
    );

    // A reload would lose this marker: the page must change by itself.
    await page.evaluate('window.owlNoReload = true');
    await c!.stop('SIGKILL');
    const killedAt = Date.now();
    // SWIM's bound: the dead member is probed within N-1 probe periods, a direct and an indirect
    // ping time out, then the suspicion timeout (mult x max(1, log10 N) x probe period) runs out;
    // the page adds up to two polls. Three times that is allowed for a loaded machine.
    const probe = 200;
    const detectionMs = 2 * probe + 2 * 100 + Number(FAST_GOSSIP.GossipSuspicionMult) * probe;
    const boundMs = 3 * (detectionMs + 2 * 1000);
    await waitFor(
      'the killed member faulty on the page',
      async () => (await rowStates(page)).find((r) => r.member === c!.gossip)?.state === 'faulty',
      boundMs,
      50,
    );
    t.diagnostic(`faulty on the page ${Date.now() - killedAt} ms after kill -9 (bound ${boundMs} ms, SWIM detection ${detectionMs} ms)`);
    assert.equal(await page.evaluate('window.owlNoReload'), true, 'no reload');
    const states = await rowStates(page);
    assert.deepEqual(
      states
        .filter((r) => r.state === 'alive')
        .map((r) => r.member)
        .sort(),
      [a!.gossip, b!.gossip].sort(),
    );
    await page.locator('#events li[data-event="faulty"]').first().waitFor({ timeout: 5000 });

    if (process.env.OWLCACHE_SCREENSHOT) await page.screenshot({ path: process.env.OWLCACHE_SCREENSHOT, fullPage: true });

    // The token is kept for the tab: a reload does not ask for the password again.
    await page.reload();
    await page.locator('#members tbody tr').first().waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#login').isHidden(), true);
    await page.close();
  });

  it('owlcache mode: a clear message instead of a membership, and readable on a phone', async () => {
    const node = await startNode();
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await signIn(phone, node.httpPort);
    assert.equal(await phone.locator('#not-gossip').isVisible(), true);
    assert.match((await phone.locator('#not-gossip').textContent()) ?? '', /owlcache[\s\S]*mode/);
    assert.equal((await rowStates(phone)).length, 1);
    const fits = await phone.evaluate('document.documentElement.scrollWidth <= window.innerWidth');
    assert.equal(fits, true, 'no sideways scrolling on a 390 px wide screen');
    await phone.close();
  });
});
