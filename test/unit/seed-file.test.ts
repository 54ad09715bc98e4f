import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkSeedHosts, loadSeeds, seedsNotAnswering } from '../../src/cluster/groups/seed-file.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

after(removeTempDirs);
const tmp = () => tempDir('owl-seeds-');

const entry = (address: string) => ({ Cmd: '', Address: address, Pass: '', Token: '' });

describe('loadSeeds', () => {
  it('reads server_group_config.json and server_group_gossip_config.json, distinct seeds', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server_group_config.json'), JSON.stringify([entry('10.0.85.2:49980'), entry('127.0.0.1:7946')]));
    writeFileSync(join(dir, 'server_group_gossip_config.json'), JSON.stringify([entry('127.0.0.1:7946'), entry('127.0.0.1:7947')]));
    const r = loadSeeds(dir);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.seeds, ['10.0.85.2:49980', '127.0.0.1:7946', '127.0.0.1:7947']);
    assert.equal(r.sources['127.0.0.1:7946'], join(dir, 'server_group_config.json'));
    assert.equal(r.sources['127.0.0.1:7947'], join(dir, 'server_group_gossip_config.json'));
    assert.deepEqual(r.fixed, ['10.0.85.2:49980', '127.0.0.1:7946'], "the seed file's seeds are kept for good; the gossip list's are followed");
  });

  it('either file alone is enough', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server_group_gossip_config.json'), JSON.stringify([entry('127.0.0.1:7947')]));
    assert.deepEqual(loadSeeds(dir), {
      seeds: ['127.0.0.1:7947'],
      problems: [],
      sources: { '127.0.0.1:7947': join(dir, 'server_group_gossip_config.json') },
      fixed: [],
    });
  });

  it('missing: says so, naming the file and what to write', () => {
    const dir = tmp();
    const r = loadSeeds(dir);
    assert.deepEqual(r.seeds, []);
    assert.equal(r.problems.length, 1);
    assert.ok(r.problems[0]!.includes(join(dir, 'server_group_config.json')));
    assert.match(r.problems[0]!, /does not exist.*starts on its own/);
  });

  it('empty file: says so', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server_group_config.json'), '  \n');
    const r = loadSeeds(dir);
    assert.deepEqual(r.seeds, []);
    assert.ok(
      r.problems.some((p) => p.includes(`${join(dir, 'server_group_config.json')} is empty`)),
      r.problems.join('\n'),
    );
  });

  it('malformed JSON: says so, and still uses the other file', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server_group_config.json'), '[{"Cmd":"","Address":"127.0.0.1:7946",}]');
    writeFileSync(join(dir, 'server_group_gossip_config.json'), JSON.stringify([entry('127.0.0.1:7947')]));
    const r = loadSeeds(dir);
    assert.deepEqual(r.seeds, ['127.0.0.1:7947']);
    assert.equal(r.problems.length, 1);
    assert.ok(r.problems[0]!.startsWith(`${join(dir, 'server_group_config.json')} is not valid JSON`), r.problems[0]);
  });

  it('bad entries are skipped with a line each; an empty array means no seed', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'server_group_config.json'),
      JSON.stringify([entry('http://127.0.0.1:7721'), entry('nohost'), { Pass: 'x' }, entry('127.0.0.1:7946')]),
    );
    const r = loadSeeds(dir);
    assert.deepEqual(r.seeds, ['127.0.0.1:7946']);
    assert.equal(r.problems.length, 3);
    assert.ok(r.problems.every((p) => p.includes('server_group_config.json entry #')));

    const dir2 = tmp();
    writeFileSync(join(dir2, 'server_group_config.json'), '[]');
    const r2 = loadSeeds(dir2);
    assert.deepEqual(r2.seeds, []);
    assert.match(r2.problems[0]!, /no usable gossip seed/);
  });
});

describe('unreachable seeds', () => {
  it('a host name that does not resolve is reported, naming its file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'server_group_config.json'), JSON.stringify([entry('owl-seed.invalid:7946'), entry('127.0.0.1:7946')]));
    const load = loadSeeds(dir);
    assert.deepEqual(load.problems, []);
    const resolve = async (host: string) => {
      if (host.endsWith('.invalid')) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      return { address: '127.0.0.1' };
    };
    const problems = await checkSeedHosts(load, 1000, resolve);
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /owl-seed\.invalid:7946 .*server_group_config\.json.*does not resolve \(ENOTFOUND\); still trying/);
  });

  it('a resolver that hangs is bounded by the timeout', async () => {
    const load = { seeds: ['slow.example:1'], sources: { 'slow.example:1': 'f.json' } };
    const problems = await checkSeedHosts(load, 50, () => new Promise(() => {}));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /slow\.example.*no answer in 50 ms/);
  });

  it('the real resolver: a .invalid name never resolves (bounded)', async () => {
    const problems = await checkSeedHosts({ seeds: ['owl.invalid:7946'], sources: { 'owl.invalid:7946': 's.json' } }, 3000);
    assert.equal(problems.length, 1);
  });

  it('seeds that do not answer: one line naming seeds and files', () => {
    const line = seedsNotAnswering(
      { sources: { '127.0.0.1:1': '/d/server_group_config.json', '127.0.0.1:2': '/d/server_group_gossip_config.json' } },
      ['127.0.0.1:1', '127.0.0.1:2'],
      4000,
    );
    assert.match(line, /127\.0\.0\.1:1 \(from \/d\/server_group_config\.json\); 127\.0\.0\.1:2 \(from \/d\/server_group_gossip_config\.json\)/);
    assert.match(line, /trying again in 4 s/);
  });
});
