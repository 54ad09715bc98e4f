import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getToken, qs, request, sleep, startNode, stopAllNodes, waitFor, type NodeHandle } from '../helpers/node-process.js';

interface Copy {
  Address: string;
  Data: string;
  Key: string;
  KeyCreateTime: string;
  Status: number;
}

const TIMEOUT_MS = 500;

async function setKey(node: NodeHandle, token: string, key: string, value: string): Promise<string> {
  const r = await request(node.httpPort, `/data/?${qs({ cmd: 'set', key, valuedata: value, token })}`);
  const env = r.json<{ Status: number; KeyCreateTime: string }>();
  assert.equal(env.Status, 200, r.text);
  return env.KeyCreateTime;
}

async function addServer(node: NodeHandle, token: string, address: string): Promise<void> {
  const r = await request(node.httpPort, `/server/?${qs({ cmd: 'add', address, token })}`);
  assert.equal(r.json<{ Status: number }>().Status, 200, r.text);
}

function groupData(node: NodeHandle, params: Record<string, string>) {
  return request(node.httpPort, `/group_data/?${qs(params)}`, { timeoutMs: 10_000 });
}

describe('/group_data/ in owlcache mode, three nodes', () => {
  let a: NodeHandle;
  let b: NodeHandle;
  let c: NodeHandle;
  const tokens = new Map<NodeHandle, string>();
  // How c lists a and b: one with a scheme, one without (both forms the original accepts).
  let addrA: string;
  let addrB: string;
  let createdA: string;
  let createdB: string;

  before(async () => {
    const settings = { HttpClientRequestTimeout: TIMEOUT_MS, HttpClientRequestLocalCacheLifeTime: 0 };
    [a, b, c] = await Promise.all([startNode({ settings }), startNode({ settings }), startNode({ settings })]);
    for (const n of [a, b, c]) tokens.set(n, await getToken(n.httpPort));
    addrA = `http://127.0.0.1:${a.httpPort}`;
    addrB = `127.0.0.1:${b.httpPort}`;
    // Each lists the others (and c also lists itself, to show a listed self is read locally, not asked twice).
    for (const n of [a, b, c]) {
      for (const m of [a, b, c]) if (m !== n) await addServer(n, tokens.get(n)!, m === a ? addrA : m === b ? addrB : `127.0.0.1:${m.httpPort}`);
    }
    await addServer(c, tokens.get(c)!, `http://localhost:${c.httpPort}`);
    createdA = await setKey(a, tokens.get(a)!, 'k', 'older');
    await sleep(30);
    createdB = await setKey(b, tokens.get(b)!, 'k', 'newer');
  });

  after(stopAllNodes);

  it('valuedata=info lists each node that holds the key, with its real create time', async () => {
    const r = await groupData(c, { cmd: 'get', key: 'k', valuedata: 'info' });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const copies = r.json<Copy[]>();
    assert.deepEqual(
      copies.map((x) => Object.keys(x)),
      copies.map(() => ['Address', 'Data', 'Key', 'KeyCreateTime', 'Status']),
    );
    const byAddr = new Map(copies.map((x) => [x.Address, x]));
    assert.equal(copies.length, 2, r.text);
    assert.deepEqual(byAddr.get(addrA), { Address: addrA, Data: Buffer.from('older').toString('base64'), Key: 'k', KeyCreateTime: createdA, Status: 200 });
    assert.deepEqual(byAddr.get(addrB), { Address: addrB, Data: Buffer.from('newer').toString('base64'), Key: 'k', KeyCreateTime: createdB, Status: 200 });
    assert.notEqual(createdA, '0001-01-01T00:00:00Z');
  });

  it('get returns the newest copy, whichever node answers first', async () => {
    for (const n of [a, b, c]) {
      const r = await groupData(n, { cmd: 'get', key: 'k' });
      assert.equal(r.status, 200);
      assert.equal(r.text, 'newer', `asked through ${n.httpAddr}`);
    }
    // POST works too.
    const posted = await request(c.httpPort, '/group_data/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: qs({ cmd: 'get', key: 'k' }),
    });
    assert.equal(posted.text, 'newer');
  });

  it('this node takes part even when it does not list itself', async () => {
    await setKey(a, tokens.get(a)!, 'only-on-a', 'here');
    const r = await groupData(b, { cmd: 'get', key: 'only-on-a', valuedata: 'info' });
    assert.deepEqual(
      r.json<Copy[]>().map((x) => x.Address),
      [addrA],
    );
    await setKey(b, tokens.get(b)!, 'only-on-b', 'mine');
    const own = await groupData(b, { cmd: 'get', key: 'only-on-b', valuedata: 'info' });
    assert.deepEqual(
      own.json<Copy[]>().map((x) => x.Address),
      [`127.0.0.1:${b.httpPort}`],
      'an unlisted self appears as ResponseHost:port',
    );
    const listedSelf = await setKey(c, tokens.get(c)!, 'only-on-c', 'c');
    const viaC = (await groupData(c, { cmd: 'get', key: 'only-on-c', valuedata: 'info' })).json<Copy[]>();
    assert.deepEqual(viaC, [
      { Address: `http://localhost:${c.httpPort}`, Data: Buffer.from('c').toString('base64'), Key: 'only-on-c', KeyCreateTime: listedSelf, Status: 200 },
    ]);
  });

  it('honours target=', async () => {
    let r = await groupData(c, { cmd: 'get', key: 'k', target: `127.0.0.1:${a.httpPort}` });
    assert.equal(r.text, 'older');
    r = await groupData(c, { cmd: 'get', key: 'k', target: `127.0.0.1:${b.httpPort}`, valuedata: 'info' });
    assert.deepEqual(
      r.json<Copy[]>().map((x) => x.Address),
      [addrB],
    );
    r = await groupData(c, { cmd: 'get', key: 'k', target: `127.0.0.1:${c.httpPort}` });
    assert.equal(r.status, 404, 'c does not hold k');
    assert.equal(r.body.length, 0);
    r = await groupData(c, { cmd: 'get', key: 'k', target: '127.0.0.1:1' });
    assert.equal(r.status, 404, 'not a listed node: not asked');
  });

  it('404 with an empty body when no node has the key; 501 with an empty body for other commands', async () => {
    let r = await groupData(c, { cmd: 'get', key: 'nowhere' });
    assert.equal(r.status, 404);
    assert.equal(r.body.length, 0);
    r = await groupData(c, { cmd: 'get', key: 'nowhere', valuedata: 'info' });
    assert.equal(r.status, 404);
    assert.equal(r.body.length, 0);
    for (const cmd of ['set', 'frob', '']) {
      r = await groupData(c, { cmd, key: 'k' });
      assert.equal(r.status, 501, cmd);
      assert.equal(r.body.length, 0);
    }
  });

  it('a node that does not answer is left out within the timeout; a stopped one too', async () => {
    // Paused: the port accepts connections but nothing answers.
    b.proc.kill('SIGSTOP');
    try {
      const t0 = Date.now();
      const r = await groupData(c, { cmd: 'get', key: 'k', valuedata: 'info' });
      const took = Date.now() - t0;
      assert.deepEqual(
        r.json<Copy[]>().map((x) => x.Address),
        [addrA],
      );
      assert.ok(took < TIMEOUT_MS + 4000, `answered after ${took} ms`);
      const g = await groupData(c, { cmd: 'get', key: 'k' });
      assert.equal(g.text, 'older');
    } finally {
      b.proc.kill('SIGCONT');
    }
    await b.stop();
    const r = await groupData(c, { cmd: 'get', key: 'k', valuedata: 'info' });
    assert.deepEqual(
      r.json<Copy[]>().map((x) => x.Address),
      [addrA],
    );
  });
});

describe('/group_data/ answer cache', () => {
  after(stopAllNodes);

  it('with a lifetime > 0 a changed value is seen only after it lapses; with 0 at once', async () => {
    const holder = await startNode();
    const cached = await startNode({ settings: { HttpClientRequestTimeout: TIMEOUT_MS, HttpClientRequestLocalCacheLifeTime: 1500 } });
    const uncached = await startNode({ settings: { HttpClientRequestTimeout: TIMEOUT_MS, HttpClientRequestLocalCacheLifeTime: 0 } });
    const ht = await getToken(holder.httpPort);
    for (const n of [cached, uncached]) await addServer(n, await getToken(n.httpPort), `127.0.0.1:${holder.httpPort}`);

    await setKey(holder, ht, 'c', 'v1');
    assert.equal((await groupData(cached, { cmd: 'get', key: 'c' })).text, 'v1');
    assert.equal((await groupData(uncached, { cmd: 'get', key: 'c' })).text, 'v1');
    await setKey(holder, ht, 'c', 'v2');
    assert.equal((await groupData(uncached, { cmd: 'get', key: 'c' })).text, 'v2', 'no cache: seen at once');
    assert.equal((await groupData(cached, { cmd: 'get', key: 'c' })).text, 'v1', 'cached: the old answer');
    await waitFor('the cached answer to lapse', async () => (await groupData(cached, { cmd: 'get', key: 'c' })).text === 'v2', 10_000, 100);
  });
});
