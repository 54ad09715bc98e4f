import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, decodeConfBytes, parseConfText } from '../../src/config/conf-file.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { SETTINGS, SETTING_NAMES } from '../../src/config/settings.js';
import { renderConf } from '../../src/config/template.js';
import { parseDuration, parseSize } from '../../src/config/values.js';
import { repoRoot } from '../helpers/repo.js';

const dir = mkdtempSync(join(tmpdir(), 'owlcache-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function writeConf(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function load(argv: string[]): LoadedConfig {
  const r = loadConfig(argv, dir);
  assert.ok(!('kind' in r));
  return r;
}

describe('conf file parser', () => {
  it('reads sections, comments, blank lines and Name value pairs', () => {
    const lines = parseConfText('# comment\n\n[Owlcache]\nHost 0.0.0.0\r\n  Pass  a b#c  \nEmpty\n', 'x.conf');
    assert.deepEqual(lines, [
      { name: 'Host', value: '0.0.0.0', line: 4, section: 'Owlcache' },
      { name: 'Pass', value: 'a b#c', line: 5, section: 'Owlcache' },
      { name: 'Empty', value: '', line: 6, section: 'Owlcache' },
    ]);
  });

  it('names the file and line of a bad line', () => {
    assert.throws(() => parseConfText('Host 1\n=oops\n', 'x.conf'), (e: Error) => e instanceof ConfigError && /x\.conf:2/.test(e.message));
    assert.throws(() => parseConfText('[Broken\n', 'x.conf'), /x\.conf:1: malformed section/);
  });

  it('accepts pure ASCII and a UTF-8 BOM, rejects bytes that are not UTF-8', () => {
    assert.equal(decodeConfBytes(Buffer.from('Host 1\n', 'ascii'), 'a'), 'Host 1\n');
    assert.equal(parseConfText(decodeConfBytes(Buffer.from('\uFEFFHost 1\n'), 'a'), 'a')[0]!.name, 'Host');
    assert.throws(() => decodeConfBytes(Buffer.from([0x48, 0xff, 0xfe]), 'bad.conf'), /bad\.conf: not valid UTF-8/);
  });
});

describe('value conversion', () => {
  it('sizes and durations', () => {
    assert.equal(parseSize('256mb'), 256 * 1024 * 1024);
    assert.equal(parseSize('1400'), 1400);
    assert.equal(parseSize('1.5k'), 1536);
    assert.equal(parseSize('12 parsecs'), null);
    assert.equal(parseDuration('10s', 'ms'), 10_000);
    assert.equal(parseDuration('2', 'min'), 120_000);
    assert.equal(parseDuration('500ms', 's'), 500);
    assert.equal(parseDuration('24h', 's'), 86_400_000);
    assert.equal(parseDuration('-1', 's'), null);
  });
});

describe('loadConfig', () => {
  it('applies defaults when no file exists', () => {
    const { config } = load([]);
    assert.equal(config.Httpport, 7721);
    assert.equal(config.Tcpport, 7720);
    assert.equal(config.GroupWorkMode, 'owlcache');
    assert.equal(config.HttpClientRequestTimeout, 2700);
    assert.equal(config.Task_DataBackup, 60_000);
    assert.equal(config.MaxValueSize, 16 * 1024 * 1024);
    assert.equal(config.configFile, null);
  });

  it('reads the file given with -config, then flags override it', () => {
    const file = writeConf('a.conf', '[HTTP]\nHttpport 8000\nPass abcdefghijk\nTonken_expire_time 60\n');
    const { config } = load(['-config', file, '--Httpport=8001', '-host', '127.0.0.9']);
    assert.equal(config.Httpport, 8001);
    assert.equal(config.Host, '127.0.0.9');
    assert.equal(config.Pass, 'abcdefghijk');
    assert.equal(config.Tonken_expire_time, 60_000);
    assert.equal(config.configFile, file);
  });

  it('takes setting names in flags case-insensitively, with = or a separate value', () => {
    const { config } = load(['--httpport', '9000', '-maxmemory=64mb', '--GroupWorkMode=GOSSIP', '--GossipDataSyncAuthKey=0123456789abc']);
    assert.equal(config.Httpport, 9000);
    assert.equal(config.MaxMemory, 64 * 1024 * 1024);
    assert.equal(config.GroupWorkMode, 'gossip');
  });

  it('stops on a bad value, naming file, line and setting', () => {
    const file = writeConf('bad.conf', '# x\nHttpport 8000\nTcpport seventy\n');
    assert.throws(() => load(['-config', file]), (e: Error) => e instanceof ConfigError && e.message.includes(`${file}:3: Tcpport`) && /whole number/.test(e.message));
    const file2 = writeConf('bad2.conf', 'Httpport 70000\n');
    assert.throws(() => load(['-config', file2]), /bad2\.conf:1: Httpport/);
  });

  it('reports unknown and unsupported names without stopping', () => {
    const file = writeConf('warn.conf', 'Frobnicate 1\nGet_data_from_memcache 1\nHttpport 7000\nHttpport 7001\n');
    const { config, warnings } = load(['-config', file]);
    assert.equal(config.Httpport, 7001);
    assert.ok(warnings.some((w) => w.includes(':1: unknown setting Frobnicate')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('Get_data_from_memcache: not supported')), warnings.join('\n'));
    assert.ok(warnings.some((w) => w.includes('also set on line 3')), warnings.join('\n'));
  });

  it('enforces the password policy', () => {
    assert.throws(() => load(['-pass', 'short']), /at least 10 characters/);
    assert.throws(() => load(['-pass', '12345678901']), /not be only digits/);
    assert.equal(load(['-pass', 'abc-1234567']).config.Pass, 'abc-1234567');
  });

  it('GroupDataSync 1 means gossip mode, which needs a shared key', () => {
    assert.throws(() => load(['--GroupDataSync=1']), /GossipDataSyncAuthKey/);
    assert.equal(load(['--GroupDataSync=1', '--GossipDataSyncAuthKey=0123456789ab']).config.GroupWorkMode, 'gossip');
  });

  it('rejects unknown flags and a missing config file clearly', () => {
    assert.throws(() => load(['--nope=1']), (e: Error) => e instanceof ConfigError && /nope/.test(e.message));
    assert.throws(() => load(['-config', join(dir, 'missing.conf')]), /does not exist/);
  });

  it('answers -help and -version', () => {
    assert.deepEqual(loadConfig(['-help'], dir), { kind: 'help' });
    assert.deepEqual(loadConfig(['-version'], dir), { kind: 'version' });
  });

  it('the shipped owlcache.conf lists every supported setting, parses without warnings, and matches the template', () => {
    const shipped = join(repoRoot(), 'owlcache.conf');
    const text = readFileSync(shipped, 'utf8');
    assert.equal(text, renderConf(), 'owlcache.conf is out of date: run npm run conf');
    const { warnings } = load(['-config', shipped]);
    assert.deepEqual(warnings, []);
    const names = new Set(parseConfText(text, 'owlcache.conf').map((l) => l.name));
    for (const name of SETTING_NAMES) {
      if (!('unsupported' in SETTINGS[name])) assert.ok(names.has(name), `${name} missing from owlcache.conf`);
    }
  });

  it('reads the original Go OwlCache conf format (sections, names, misspellings)', () => {
    const original = [
      '# owlcache 配置文件', '[Owlcache]', 'Host 0.0.0.0', 'ResponseHost 127.0.0.1', 'Logfile ./log_file/', 'DBfile ./db_file/',
      '[TCP]', 'Tcpport 7720', 'CloseTcp 1', '[HTTP]', 'Httpport 7721', 'Pass ', 'Tonken_expire_time 0',
      'Open_Https 0', 'Https_CertFile /www/server.crt', 'Https_KeyFile /www/server.key', 'HttpsClient_InsecureSkipVerify 0',
      'Cors 0', 'Access_Control_Allow_Origin *', '[GroupData]', 'HttpClientRequestTimeout 2700', 'GroupWorkMode owlcache',
      '[GroupDataSync]', 'GroupDataSync 0', 'Gossipport 0', 'GossipDataSyncAuthKey ', '[Task]', 'Task_DataBackup 1', 'Task_ClearExpireData 1',
    ].join('\n');
    const { config, warnings } = load(['-config', writeConf('go.conf', original)]);
    assert.deepEqual(warnings, []);
    assert.equal(config.Httpport, 7721);
    assert.equal(config.Pass, '');
  });
});
