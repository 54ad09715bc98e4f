import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  TEST_AUTH_KEY,
  getToken,
  qs,
  request,
  restartNode,
  startNode,
  stopAllNodes,
  tempDir,
  waitFor,
  type HttpResult,
  type NodeHandle,
} from '../helpers/node-process.js';

interface ServerAnswer {
  Cmd: string;
  Status: number;
  Results: string;
  Address: string;
  Data: unknown;
  Message?: string;
}

const dirs: string[] = [];
after(async () => {
  await stopAllNodes();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function server(node: NodeHandle, params: Record<string, string | undefined>): Promise<{ r: HttpResult; a: ServerAnswer }> {
  const r = await request(node.httpPort, `/server/?${qs(params)}`);
  assert.equal(r.status, 200, `/server/ always answers HTTP 200: ${r.text}`);
  assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
  const a = r.json<ServerAnswer>();
  assert.deepEqual(Object.keys(a).slice(0, 5), ['Cmd', 'Status', 'Results', 'Address', 'Data'], 'field order as the original');
  return { r, a };
}

describe('/server/ in owlcache mode', () => {
  it('add / get / getall / delete, errors in the body, passwords never echoed, all kept across a restart', async () => {
    let node = await startNode();
    let token = await getToken(node.httpPort);
    const secret = 'peer-secret-pass-7723';

    // No token: 401 in the body, HTTP 200.
    let { a } = await server(node, { cmd: 'getall' });
    assert.equal(a.Status, 401);
    assert.equal(a.Results, 'NOT_PASS');
    ({ a } = await server(node, { cmd: 'add', address: '127.0.0.1:7723', token: 'not-a-token' }));
    assert.equal(a.Status, 401);
    assert.equal(a.Cmd, '');

    // Never written: Data null.
    ({ a } = await server(node, { cmd: 'getall', token }));
    assert.deepEqual(a, { Cmd: 'getall', Status: 200, Results: 'SUCCESS', Address: '', Data: null });

    // add: Cmd comes back "", Data null.
    ({ a } = await server(node, { cmd: 'add', address: 'http://127.0.0.1:7723', pass: secret, token }));
    assert.deepEqual(a, { Cmd: '', Status: 200, Results: 'SUCCESS', Address: 'http://127.0.0.1:7723', Data: null });
    ({ a } = await server(node, { cmd: 'add', address: '127.0.0.1:7725', token }));
    assert.equal(a.Status, 200);
    // Form body works too.
    const posted = await request(node.httpPort, '/server/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: qs({ cmd: 'add', address: 'http://127.0.0.1:7727', pass: secret, token }),
    });
    assert.equal(posted.json<ServerAnswer>().Status, 200);

    // Bad address: 500 with a Message saying why.
    for (const bad of ['127.0.0.1', 'ftp://127.0.0.1:21', 'http://127.0.0.1:7723/data/', '']) {
      ({ a } = await server(node, { cmd: 'add', address: bad, token }));
      assert.equal(a.Status, 500, bad);
      assert.equal(a.Results, 'ERROR');
      assert.equal(a.Cmd, '');
      assert.ok(typeof a.Message === 'string' && a.Message.length > 0, bad);
    }

    // get: the entry, password blanked; unknown: 404.
    let r: HttpResult;
    ({ r, a } = await server(node, { cmd: 'get', address: 'http://127.0.0.1:7723', token }));
    assert.equal(a.Status, 200);
    assert.deepEqual(a.Data, { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: '', Token: '' });
    assert.ok(!r.text.includes(secret));
    ({ a } = await server(node, { cmd: 'get', address: '127.0.0.1:9', token }));
    assert.equal(a.Status, 404);
    assert.equal(a.Results, 'NOT_FOUND');
    ({ a } = await server(node, { cmd: 'delete', address: '127.0.0.1:9', token }));
    assert.equal(a.Status, 404);
    assert.equal(a.Cmd, '');

    // Unknown or missing cmd: 501.
    ({ a } = await server(node, { cmd: 'frobnicate', token }));
    assert.equal(a.Status, 501);
    assert.equal(a.Results, 'UNKNOWN_COMMAND');
    assert.equal(a.Cmd, 'frobnicate');
    ({ a } = await server(node, { token }));
    assert.equal(a.Status, 501);

    // getall: every entry, passwords blanked.
    ({ r, a } = await server(node, { cmd: 'getall', token }));
    assert.deepEqual(a.Data, [
      { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: '', Token: '' },
      { Cmd: '', Address: '127.0.0.1:7725', Pass: '', Token: '' },
      { Cmd: '', Address: 'http://127.0.0.1:7727', Pass: '', Token: '' },
    ]);
    assert.ok(!r.text.includes(secret));

    // The gossip seed list is a list of its own.
    ({ a } = await server(node, { cmd: 'getall', group_type: 'gossip', token }));
    assert.equal(a.Data, null);
    ({ a } = await server(node, { cmd: 'add', group_type: 'gossip', address: '127.0.0.1:7946', token }));
    assert.equal(a.Status, 200);
    ({ a } = await server(node, { cmd: 'add', group_type: 'gossip', address: 'http://127.0.0.1:7946', token }));
    assert.equal(a.Status, 500, 'a gossip seed has no scheme');
    ({ a } = await server(node, { cmd: 'getall', group_type: 'nonsense', token }));
    assert.equal(a.Status, 500);

    // Saved at once, in the original's format, password stored, owner-only.
    const file = join(node.dataDir, 'server_group_config.json');
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(saved[0], { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: secret, Token: '' });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const gossipFile = join(node.dataDir, 'server_group_gossip_config.json');
    assert.deepEqual(JSON.parse(readFileSync(gossipFile, 'utf8')), [{ Cmd: '', Address: '127.0.0.1:7946', Pass: '', Token: '' }]);

    ({ a } = await server(node, { cmd: 'delete', address: '127.0.0.1:7725', token }));
    assert.deepEqual(a, { Cmd: '', Status: 200, Results: 'SUCCESS', Address: '127.0.0.1:7725', Data: null });

    // Restart: both lists come back as they were.
    await node.stop();
    node = await restartNode(node);
    token = await getToken(node.httpPort);
    ({ a } = await server(node, { cmd: 'getall', token }));
    assert.deepEqual(a.Data, [
      { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: '', Token: '' },
      { Cmd: '', Address: 'http://127.0.0.1:7727', Pass: '', Token: '' },
    ]);
    ({ a } = await server(node, { cmd: 'getall', group_type: 'gossip', token }));
    assert.deepEqual(a.Data, [{ Cmd: '', Address: '127.0.0.1:7946', Pass: '', Token: '' }]);
    ({ a } = await server(node, { cmd: 'get', address: '127.0.0.1:7725', token }));
    assert.equal(a.Status, 404, 'a delete survives the restart');
    // The password survived too (stored, not shown).
    assert.equal(JSON.parse(readFileSync(file, 'utf8'))[0].Pass, secret);
  });

  it('loads a server_group_config.json written by the original', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    writeFileSync(
      join(dataDir, 'server_group_config.json'),
      JSON.stringify([
        { Cmd: '', Address: 'http://127.0.0.1:7721', Pass: 'shi!jie9he?ping6', Token: 'cd2a7809d92157f2330669a0bf079799' },
        { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: 'shi!jie9he?ping6', Token: 'cd2a7809d92157f2330669a0bf079799' },
      ]),
    );
    const node = await startNode({ dataDir });
    const token = await getToken(node.httpPort);
    const { r, a } = await server(node, { cmd: 'getall', token });
    assert.deepEqual(a.Data, [
      { Cmd: '', Address: 'http://127.0.0.1:7721', Pass: '', Token: '' },
      { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: '', Token: '' },
    ]);
    assert.ok(!r.text.includes('shi!jie9he'));
    await node.stop();
  });
});

describe('/server/ refuses addresses a node must never contact', () => {
  it('add refuses link-local, unspecified, multicast, non-canonical numeric and metadata hosts in both lists; nothing is listed', async () => {
    const node = await startNode();
    const token = await getToken(node.httpPort);
    const refused = [
      'http://169.254.169.254',
      'http://169.254.169.254:80',
      'http://[fe80::1]:7721',
      'http://0.0.0.0:7721',
      'http://[::]:7721',
      'http://224.0.0.1:7721',
      'http://[ff02::1]:7721',
      'http://255.255.255.255:7721',
      'http://0x7f.1',
      'http://0x7f.1:7721',
      'http://2130706433:7721',
      'http://0177.0.0.1:7721',
      'http://127.1:7721',
      'http://[::ffff:127.0.0.1]:7721',
      'http://metadata.google.internal',
      'http://metadata.google.internal.:80',
      'http://metadata:80',
    ];
    for (const address of refused) {
      const { a } = await server(node, { cmd: 'add', address, pass: '', token });
      assert.equal(a.Status, 500, `${address} was accepted`);
      assert.equal(a.Results, 'ERROR');
      assert.match(a.Message ?? '', /never contacts|four decimal numbers/, address);
      const seed = address.replace(/^http:\/\//, '').replace(/^([^:\]]+|\[.*\])$/, '$1:7946');
      const g = await server(node, { cmd: 'add', address: seed, group_type: 'gossip', token });
      assert.equal(g.a.Status, 500, `gossip seed ${seed} was accepted`);
    }
    for (const type of ['owlcache', 'gossip']) {
      const { a } = await server(node, { cmd: 'getall', group_type: type, token });
      assert.equal(a.Data, null, `the ${type} list was written: ${JSON.stringify(a.Data)}`);
    }
    // Only now, with nothing listed, is /group_data/ asked: it reads this node alone.
    const r = await request(node.httpPort, `/group_data/?${qs({ cmd: 'get', key: 'nothing-here' })}`);
    assert.equal(r.status, 404);
    await node.stop();
  });
});

describe('gossip mode seed files: the node starts whatever the file holds, and says what is wrong', () => {
  const gossip = { GroupWorkMode: 'gossip', GossipDataSyncAuthKey: TEST_AUTH_KEY };
  const cases: { name: string; content: string | null; expect: RegExp }[] = [
    { name: 'missing', content: null, expect: /server_group_config\.json does not exist/ },
    { name: 'empty', content: '', expect: /server_group_config\.json is empty/ },
    { name: 'malformed JSON', content: '[{"Cmd":"","Address":"127.0.0.1:7946"', expect: /server_group_config\.json is not valid JSON/ },
    {
      name: 'naming an unreachable node',
      content: JSON.stringify([
        { Cmd: '', Address: 'owl-seed.invalid:7946', Pass: '', Token: '' },
        { Cmd: '', Address: '127.0.0.1:1', Pass: '', Token: '' },
      ]),
      expect: /owl-seed\.invalid:7946 \(from .*server_group_config\.json\).*does not resolve/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const dataDir = tempDir();
      dirs.push(dataDir);
      mkdirSync(dataDir, { recursive: true });
      const seedFile = join(dataDir, 'server_group_config.json');
      if (c.content !== null) writeFileSync(seedFile, c.content);
      const node = await startNode({ dataDir, settings: gossip });
      // It answers, and it said what is wrong, naming the file.
      const ping = await request(node.httpPort, '/data/?cmd=ping');
      assert.equal(ping.text, 'PONG');
      await waitFor(`a log line matching ${c.expect}`, () => c.expect.test(node.stderr()), 10_000);
      // The user's seed file is read, never rewritten; /server/ keeps its lists in other files.
      const token = await getToken(node.httpPort);
      const added = await request(node.httpPort, `/server/?${qs({ cmd: 'add', address: '127.0.0.1:7723', token })}`);
      assert.equal(added.json<ServerAnswer>().Status, 200);
      assert.ok(existsSync(join(dataDir, 'server_group_owlcache_config.json')));
      if (c.content === null) assert.equal(existsSync(seedFile), false);
      else assert.equal(readFileSync(seedFile, 'utf8'), c.content);
      await node.stop();
    });
  }
});
