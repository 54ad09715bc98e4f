import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkAddress } from '../../src/cluster/groups/address.js';
import { GroupData } from '../../src/cluster/groups/group-data.js';
import type { FetchedCopy, Target } from '../../src/cluster/groups/group-client.js';
import { goTimeStringNs, parseGoTime, rfc3339NanoNs } from '../../src/go-time.js';
import { parseListText } from '../../src/cluster/groups/list-file.js';
import { versionsFileOf } from '../../src/persistence/layout.js';
import { ServerList, type ServerEntry } from '../../src/cluster/groups/server-list.js';
import { LIST_FILES, listPaths } from '../../src/cluster/groups/lists.js';
import { HybridLogicalClock } from '../../src/store/hlc.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

after(removeTempDirs);
const tmp = () => tempDir('owl-list-');

/** A clock whose wall time the test moves by hand. */
function manualClock(node: string, start = 1_000_000) {
  let wall = start;
  const hlc = new HybridLogicalClock(node, () => wall);
  return { hlc, tick: (ms = 1) => (wall += ms) };
}

function liveView(list: ServerList): string[] {
  return list.live().map((e) => `${e.address}|${e.pass}`);
}

function state(list: ServerList): string {
  return JSON.stringify(
    list
      .entriesWithVersions()
      .map((e) => [e.address, e.deleted, e.deleted ? '' : e.pass, e.version])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

describe('address validation', () => {
  it('accepts host:port and http(s)://host[:port], normalised', () => {
    const ok = (s: string, kind: 'owlcache' | 'gossip' = 'owlcache') => {
      const c = checkAddress(s, kind);
      assert.ok(c.ok, `${s}: ${c.ok ? '' : c.message}`);
      return c.address;
    };
    assert.equal(ok('127.0.0.1:7721'), '127.0.0.1:7721');
    assert.equal(ok(' node-2.example.com:80 '), 'node-2.example.com:80');
    assert.equal(ok('HTTP://127.0.0.1:7723/'), 'http://127.0.0.1:7723');
    assert.equal(ok('http://127.0.0.1'), 'http://127.0.0.1');
    assert.equal(ok('https://Owl.Example:8443'), 'https://owl.example:8443');
    assert.equal(ok('[::1]:7721'), '[::1]:7721');
    assert.equal(ok('http://[::1]:7721'), 'http://[::1]:7721');
    assert.equal(ok('owl_node_1:7721'), 'owl_node_1:7721');
    assert.equal(ok('10.0.85.2:49980', 'gossip'), '10.0.85.2:49980');
  });

  it('refuses anything else with a reason', () => {
    const bad = (s: string, why: RegExp, kind: 'owlcache' | 'gossip' = 'owlcache') => {
      const c = checkAddress(s, kind);
      assert.equal(c.ok, false, s);
      if (!c.ok) assert.match(c.message, why, s);
    };
    bad('', /required/);
    bad('127.0.0.1', /port is missing/);
    bad('127.0.0.1:0', /out of range/);
    bad('127.0.0.1:65536', /out of range/);
    bad('127.0.0.1:http', /not a number/);
    bad('ftp://127.0.0.1:21', /scheme/);
    bad('http://127.0.0.1:7721/data/', /path/);
    bad('http://user@127.0.0.1:7721', /user/);
    bad('127.0.0.1:7721?x=1', /query/);
    bad('::1:7721', /brackets/);
    bad('[::zz]:7721', /IPv6/);
    bad('300.1.1.1:80', /IPv4/);
    bad('bad host:80', /spaces/);
    bad('-bad-.example:80', /host name/);
    bad('http://127.0.0.1:7721', /no scheme/, 'gossip');
    bad('a'.repeat(400), /longer/);
  });
});

describe('hosts a node never contacts', () => {
  const refused: [string, RegExp][] = [
    ['http://169.254.169.254', /link-local/],
    ['169.254.169.254:80', /link-local/],
    ['[fe80::1]:7721', /link-local/],
    ['[fe80::1%25eth0]:7721', /zone/],
    ['0.0.0.0:7721', /unspecified/],
    ['[::]:7721', /unspecified/],
    ['224.0.0.251:5353', /multicast/],
    ['[ff02::1]:7721', /multicast/],
    ['255.255.255.255:7721', /broadcast/],
    ['[::ffff:127.0.0.1]:7721', /IPv4-mapped/],
    ['[::ffff:a9fe:a9fe]:80', /IPv4-mapped/],
    ['[64:ff9b::a9fe:a9fe]:80', /IPv6 form of a link-local/],
    ['http://0x7f.1', /four decimal numbers/],
    ['http://2130706433', /four decimal numbers/],
    ['0177.0.0.1:7721', /four decimal numbers/],
    ['127.1:7721', /four decimal numbers/],
    ['0x7f000001:7721', /four decimal numbers/],
    ['http://metadata.google.internal', /metadata/],
    ['http://METADATA.google.internal.:80', /metadata/],
    ['metadata:80', /metadata/],
    ['instance-data.ec2.internal:80', /metadata/],
    ['100.100.100.200:80', /metadata/],
    ['[fd00:ec2::254]:80', /metadata/],
  ];
  for (const kind of ['owlcache', 'gossip'] as const) {
    it(`refuses them in the ${kind} list, saying why`, () => {
      for (const [address, why] of refused) {
        if (kind === 'gossip' && address.includes('://')) continue;
        const c = checkAddress(address, kind);
        assert.equal(c.ok, false, address);
        if (!c.ok) assert.match(c.message, why, address);
      }
    });
  }

  it('still accepts loopback, private networks and ordinary names', () => {
    for (const a of [
      '127.0.0.1:7721',
      '[::1]:7721',
      '10.0.0.5:7721',
      '192.168.1.20:7721',
      '[fd12:3456::1]:7721',
      'localhost:7721',
      'owl-2.internal:7721',
      'metadata-cache.example.com:80',
    ]) {
      const c = checkAddress(a, 'owlcache');
      assert.ok(c.ok, `${a}: ${c.ok ? '' : c.message}`);
    }
  });

  it('skips such entries in a list file, with a line naming the file, and never lists them', () => {
    const dir = tmp();
    const file = join(dir, 'server_group_config.json');
    writeFileSync(
      file,
      JSON.stringify([
        { Address: 'http://169.254.169.254', Pass: '' },
        { Address: 'http://0x7f.1:7721', Pass: '' },
        { Address: 'http://127.0.0.1:7723', Pass: '' },
      ]),
    );
    const list = ServerList.open(file, 'owlcache', manualClock('n1').hlc);
    assert.deepEqual(list.liveAddresses(), ['http://127.0.0.1:7723']);
    assert.equal(list.problems.filter((p) => p.includes(file) && /never contacts|four decimal/.test(p)).length, 2, list.problems.join('\n'));
    const added = list.add('http://169.254.169.254', '');
    assert.equal(added.ok, false);
  });
});

describe('list file format', () => {
  it("loads the original's file, field names in any case, extra fields ignored", () => {
    const text = JSON.stringify([
      { Cmd: '', Address: 'http://127.0.0.1:7721', Pass: 'shi!jie9he?ping6', Token: 'cd2a7809d92157f2330669a0bf079799' },
      { cmd: '', address: 'http://127.0.0.1:7723', pass: 'p2', token: '', Extra: 1 },
      { Address: '127.0.0.1:7725' },
    ]);
    const r = parseListText(text, 'f.json', 'owlcache');
    assert.equal(r.state, 'ok');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.entries, [
      { address: 'http://127.0.0.1:7721', pass: 'shi!jie9he?ping6' },
      { address: 'http://127.0.0.1:7723', pass: 'p2' },
      { address: '127.0.0.1:7725', pass: '' },
    ]);
  });

  it('reports bad files and bad entries, naming the file', () => {
    assert.match(parseListText('', 'x/s.json', 'gossip').problems[0]!, /x\/s\.json is empty/);
    assert.match(parseListText('[{', 'x/s.json', 'gossip').problems[0]!, /x\/s\.json is not valid JSON/);
    assert.match(parseListText('{"Address":"a:1"}', 'x/s.json', 'gossip').problems[0]!, /must hold a JSON array/);
    assert.equal(parseListText('null', 'x/s.json', 'gossip').state, 'ok');
    const r = parseListText('[1, {"Address": 5}, {"Address":"nope"}, {"Address":"a:1"}, {"Address":"a:1","Pass":"x"}]', 's.json', 'gossip');
    assert.deepEqual(r.entries, [{ address: 'a:1', pass: 'x' }]);
    assert.equal(r.problems.length, 4);
    assert.ok(r.problems.every((p) => p.startsWith('s.json entry #')));
  });
});

describe('ServerList', () => {
  it('adds, replaces, deletes; saves at once, owner-only, in the original format; reloads', () => {
    const dir = tmp();
    const file = join(dir, 'server_group_config.json');
    const { hlc } = manualClock('node-a');
    const list = ServerList.open(file, 'owlcache', hlc);
    assert.equal(list.isWritten(), false);
    assert.ok(list.add('http://127.0.0.1:7723', 'secret-1').ok);
    assert.ok(list.add('127.0.0.1:7725', '').ok);
    assert.ok(list.add('http://127.0.0.1:7723/', 'secret-2').ok, 'adding again replaces');
    assert.equal(list.isWritten(), true);
    assert.deepEqual(liveView(list), ['http://127.0.0.1:7723|secret-2', '127.0.0.1:7725|']);
    const r = list.add('nonsense', '');
    assert.equal(r.ok, false);
    assert.equal(list.remove('127.0.0.1:9999').ok, false);

    const onDisk = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(onDisk, [
      { Cmd: '', Address: 'http://127.0.0.1:7723', Pass: 'secret-2', Token: '' },
      { Cmd: '', Address: '127.0.0.1:7725', Pass: '', Token: '' },
    ]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(versionsFileOf(file)).mode & 0o777, 0o600);

    assert.ok(list.remove('127.0.0.1:7725').ok);
    const again = ServerList.open(file, 'owlcache', manualClock('node-a', 2_000_000).hlc);
    assert.deepEqual(again.problems, []);
    assert.deepEqual(liveView(again), ['http://127.0.0.1:7723|secret-2']);
    assert.equal(state(again), state(list), 'versions and tombstones survive a reload');
    assert.equal(again.get('HTTP://127.0.0.1:7723')?.pass, 'secret-2');
  });

  it('empty after deletes is written ([]), never written is not', () => {
    const dir = tmp();
    const list = ServerList.open(join(dir, 'l.json'), 'owlcache', manualClock('n').hlc);
    list.add('a:1', '');
    list.remove('a:1');
    assert.equal(list.isWritten(), true);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'l.json'), 'utf8')), []);
  });

  it('loads an original file without a side file, and notices hand edits', () => {
    const dir = tmp();
    const file = join(dir, 'server_group_config.json');
    writeFileSync(
      file,
      JSON.stringify([
        { Cmd: '', Address: 'http://127.0.0.1:7721', Pass: 'p', Token: 't' },
        { Cmd: '', Address: '127.0.0.1:7723', Pass: '', Token: '' },
      ]),
    );
    const c = manualClock('n', 5000);
    const list = ServerList.open(file, 'owlcache', c.hlc);
    assert.deepEqual(list.problems, []);
    assert.deepEqual(liveView(list), ['http://127.0.0.1:7721|p', '127.0.0.1:7723|']);
    assert.ok(existsSync(versionsFileOf(file)), 'versions stamped and kept');
    const before = list.entriesWithVersions();

    // Hand edit: drop one entry, change a password, add one.
    writeFileSync(file, JSON.stringify([{ Cmd: '', Address: 'http://127.0.0.1:7721', Pass: 'p2', Token: '' }, { Address: '127.0.0.1:7727' }]));
    c.tick(10);
    const edited = ServerList.open(file, 'owlcache', c.hlc);
    assert.deepEqual(liveView(edited), ['http://127.0.0.1:7721|p2', '127.0.0.1:7727|']);
    const byAddr = new Map(edited.entriesWithVersions().map((e) => [e.address, e]));
    assert.equal(byAddr.get('127.0.0.1:7723')?.deleted, true, 'removed by hand = tombstone');
    const old7721 = before.find((e) => e.address === 'http://127.0.0.1:7721')!;
    assert.ok(byAddr.get('http://127.0.0.1:7721')!.version.t > old7721.version.t, 'changed password = new version');
  });

  it('keeps a malformed file aside before the first overwrite', () => {
    const dir = tmp();
    const file = join(dir, 'server_group_config.json');
    writeFileSync(file, '[{"Address": ');
    const list = ServerList.open(file, 'owlcache', manualClock('n').hlc);
    assert.equal(list.problems.length, 1);
    assert.match(list.problems[0]!, /server_group_config\.json is not valid JSON/);
    assert.deepEqual(list.live(), []);
    assert.equal(readFileSync(file, 'utf8'), '[{"Address": ', 'not rewritten at load');
    list.add('a:1', '');
    assert.equal(readFileSync(`${file}.invalid`, 'utf8'), '[{"Address": ');
  });

  it('files by mode: owlcache list in server_group_config.json, or its own file in gossip mode', () => {
    assert.match(listPaths('/d', LIST_FILES.owlcache).owlcache, /\/d\/server_group_config\.json$/);
    assert.match(listPaths('/d', LIST_FILES.gossip).owlcache, /\/d\/server_group_owlcache_config\.json$/);
    assert.match(listPaths('/d', LIST_FILES.owlcache).gossip, /\/d\/server_group_gossip_config\.json$/);
    assert.match(listPaths('/d', LIST_FILES.gossip).gossip, /\/d\/server_group_gossip_config\.json$/);
  });
});

describe('ServerList merge', () => {
  it('newer version wins per address; tombstones win like writes; idempotent', () => {
    const a = manualClock('a');
    const b = manualClock('b');
    const la = ServerList.open(join(tmp(), 'a.json'), 'owlcache', a.hlc);
    const lb = ServerList.open(join(tmp(), 'b.json'), 'owlcache', b.hlc);
    la.add('x:1', 'pa');
    b.tick(5);
    lb.add('x:1', 'pb'); // later: wins
    assert.equal(la.merge(lb.entriesWithVersions()), true);
    assert.equal(lb.merge(la.entriesWithVersions()), false);
    assert.deepEqual(liveView(la), ['x:1|pb']);
    assert.equal(la.merge(lb.entriesWithVersions()), false, 'idempotent');

    a.tick(10);
    la.remove('x:1');
    lb.merge(la.entriesWithVersions());
    assert.deepEqual(lb.live(), []);
    const tomb = lb.entriesWithVersions().find((e) => e.address === 'x:1')!;
    assert.equal(tomb.deleted, true);
    assert.equal(tomb.pass, '', 'tombstones keep no password');

    // An older add arriving late does not resurrect it.
    const stale: ServerEntry = { address: 'x:1', pass: 'old', version: { t: 1, c: 0, n: 'z' }, deleted: false };
    assert.equal(lb.merge([stale]), false);
    assert.deepEqual(lb.live(), []);
    // Garbage is ignored.
    assert.equal(
      lb.merge([{ address: 'bad', pass: '', version: { t: 9e12, c: 0, n: 'q' }, deleted: false }, { address: 'y:1' } as unknown as ServerEntry]),
      false,
    );
  });

  it('add / delete / re-add on three replicas converge whatever the delivery order', () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 25; round++) {
      const clocks = ['a', 'b', 'c'].map((n) => manualClock(n, 1000));
      const lists = clocks.map((c, i) => ServerList.open(join(tmp(), `r${round}-${i}.json`), 'owlcache', c.hlc));
      const addrs = ['h1:1', 'h2:2', 'h3:3'];
      // Concurrent histories: each replica adds, deletes and re-adds on its own.
      for (let step = 0; step < 12; step++) {
        const i = Math.floor(rand() * 3);
        clocks[i]!.tick(Math.floor(rand() * 3));
        const addr = addrs[Math.floor(rand() * 3)]!;
        if (rand() < 0.6) lists[i]!.add(addr, `p${step}`);
        else lists[i]!.remove(addr);
      }
      // Snapshots delivered in a random order, some twice, to every replica.
      const snaps = lists.map((l) => l.entriesWithVersions());
      const finals = lists.map((l, i) => {
        const order = [0, 1, 2, 0, 1, 2].sort(() => rand() - 0.5);
        for (const j of order) if (j !== i) l.merge(snaps[j]!);
        return state(l);
      });
      assert.equal(finals[0], finals[1], `round ${round}`);
      assert.equal(finals[1], finals[2], `round ${round}`);
      // And the result equals merging everything into an empty list.
      const fresh = ServerList.open(join(tmp(), `f${round}.json`), 'owlcache', manualClock('f').hlc);
      fresh.merge(snaps[2]!);
      fresh.merge(snaps[0]!);
      fresh.merge(snaps[1]!);
      assert.equal(state(fresh), finals[0]);
    }
  });

  it('a re-add after a remote delete wins (the clock moved past the delete)', () => {
    const a = manualClock('a', 1000);
    const b = manualClock('b', 500); // b's wall clock is behind
    const la = ServerList.open(join(tmp(), 'a.json'), 'owlcache', a.hlc);
    const lb = ServerList.open(join(tmp(), 'b.json'), 'owlcache', b.hlc);
    la.add('x:1', '');
    la.remove('x:1');
    lb.merge(la.entriesWithVersions());
    lb.add('x:1', 'back');
    la.merge(lb.entriesWithVersions());
    assert.deepEqual(liveView(la), ['x:1|back']);
    assert.deepEqual(liveView(lb), ['x:1|back']);
  });

  it('collects old tombstones', () => {
    const c = manualClock('a', 10_000);
    const l = ServerList.open(join(tmp(), 'a.json'), 'owlcache', c.hlc);
    l.add('x:1', '');
    l.remove('x:1');
    l.add('y:1', '');
    assert.equal(l.collectTombstones(1000, 10_500), 0);
    assert.equal(l.collectTombstones(1000, 20_000), 1);
    assert.deepEqual(
      l.entriesWithVersions().map((e) => e.address),
      ['y:1'],
    );
  });
});

describe('Go create times', () => {
  it('parses the Keycreatetime header, with or without the monotonic suffix, any offset', () => {
    const ns = parseGoTime('2026-11-22 10:13:54.172891543 +0000 UTC');
    assert.equal(rfc3339NanoNs(ns), '2026-11-22T10:13:54.172891543Z');
    assert.equal(goTimeStringNs(ns), '2026-11-22 10:13:54.172891543 +0000 UTC');
    assert.equal(parseGoTime('2026-11-22 10:13:54.172891543 +0000 UTC m=+40.441'), ns);
    assert.equal(parseGoTime('2026-11-22 18:13:54.172891543 +0800 CST'), ns);
    assert.equal(rfc3339NanoNs(parseGoTime('2026-11-22 10:13:54.1728 +0000 UTC')), '2026-11-22T10:13:54.1728Z');
    assert.equal(rfc3339NanoNs(parseGoTime('2026-11-22 10:13:54 +0000 UTC')), '2026-11-22T10:13:54Z');
    assert.equal(parseGoTime('0001-01-01 00:00:00 +0000 UTC'), null);
    assert.equal(parseGoTime('yesterday'), null);
    assert.equal(parseGoTime(undefined), null);
    assert.equal(rfc3339NanoNs(null), '0001-01-01T00:00:00Z');
  });
});

describe('GroupData (fan-out rules, with a fake client)', () => {
  const self = { scheme: 'http' as const, address: () => '127.0.0.1:7721', port: () => 7721, hosts: () => ['127.0.0.1', 'localhost', '::1'] };
  function setup(listed: string[], answers: Record<number, FetchedCopy | null>, cacheLifeMs = 0) {
    const asked: Target[] = [];
    let local: { value: Buffer; created: number } | undefined = { value: Buffer.from('mine'), created: 1_700_000_000_000_000 };
    const gd = new GroupData({
      nodes: { httpAddresses: () => listed },
      local: { get: () => local },
      self,
      client: {
        getKey: async (t) => {
          asked.push(t);
          return answers[t.port] ?? null;
        },
      },
      timeoutMs: 100,
      cacheLifeMs,
    });
    return { gd, asked, setLocal: (v: typeof local) => (local = v) };
  }
  const copy = (v: string, ns: bigint | null): FetchedCopy => ({ status: 200, value: Buffer.from(v), createdNs: ns });

  it('includes this node when it is not listed, under ResponseHost:port, and reads it locally', async () => {
    const { gd, asked } = setup(['http://127.0.0.1:7723'], { 7723: copy('theirs', 5n) });
    const got = await gd.lookup('k');
    assert.deepEqual(
      got.map((c) => c.address),
      ['127.0.0.1:7721', 'http://127.0.0.1:7723'],
    );
    assert.deepEqual(
      asked.map((t) => t.port),
      [7723],
    );
  });

  it('a listed address of this node is read locally under the listed name; duplicates asked once', async () => {
    const { gd, asked } = setup(['http://localhost:7721', '127.0.0.1:7723', 'http://127.0.0.1:7723'], { 7723: copy('theirs', 5n) });
    const got = await gd.lookup('k');
    assert.deepEqual(
      got.map((c) => c.address),
      ['http://localhost:7721', '127.0.0.1:7723'],
    );
    assert.equal(asked.length, 1);
  });

  it('leaves out nodes that fail or do not hold the key; target narrows to one listed node only', async () => {
    const { gd, asked } = setup(['127.0.0.1:7723', '127.0.0.1:7725', '127.0.0.1:7727'], {
      7723: { status: 404, value: Buffer.alloc(0), createdNs: null },
      7725: copy('v', 9n),
      7727: null,
    });
    assert.deepEqual(
      (await gd.lookup('k')).map((c) => c.address),
      ['127.0.0.1:7721', '127.0.0.1:7725'],
    );
    asked.length = 0;
    assert.deepEqual(
      (await gd.lookup('k', 'http://127.0.0.1:7725')).map((c) => c.address),
      ['127.0.0.1:7725'],
    );
    assert.deepEqual(
      (await gd.lookup('k', '127.0.0.1:7721')).map((c) => c.address),
      ['127.0.0.1:7721'],
    );
    assert.deepEqual(await gd.lookup('k', '10.9.9.9:80'), [], 'not a cluster node: not asked');
    assert.deepEqual(await gd.lookup('k', 'garbage'), []);
    assert.deepEqual(
      asked.map((t) => t.port),
      [7725],
    );
  });

  it('caches answers for the lifetime when it is > 0', async () => {
    const { gd, setLocal } = setup([], {}, 60_000);
    assert.equal((await gd.lookup('k'))[0]!.value.toString(), 'mine');
    setLocal({ value: Buffer.from('new'), created: 1_800_000_000_000_000 });
    assert.equal((await gd.lookup('k'))[0]!.value.toString(), 'mine');
    const fresh = setup([], {}, 0);
    fresh.setLocal({ value: Buffer.from('a'), created: 1 });
    assert.equal((await fresh.gd.lookup('k'))[0]!.value.toString(), 'a');
    fresh.setLocal({ value: Buffer.from('b'), created: 2 });
    assert.equal((await fresh.gd.lookup('k'))[0]!.value.toString(), 'b');
  });
});
