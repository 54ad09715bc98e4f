import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, decodeConfBytes, parseConfText } from '../../src/config/conf-file.js';
import { loadConfig, systemFolderProblem, type LoadedConfig } from '../../src/config/load.js';
import { SETTINGS, SETTING_NAMES, TIMER_MAX_MS, isNumericType, type SettingType } from '../../src/config/settings.js';
import { renderConf } from '../../src/config/template.js';
import { convertValue, formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/values.js';
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
    assert.throws(
      () => parseConfText('Host 1\n=oops\n', 'x.conf'),
      (e: Error) => e instanceof ConfigError && /x\.conf:2/.test(e.message),
    );
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

  it('formats range bounds the way the conf file writes them', () => {
    assert.equal(formatSize(64), '64');
    assert.equal(formatSize(512 * 1024 * 1024), '512mb');
    assert.equal(formatSize(65000), '65000');
    assert.equal(formatDuration(100), '100ms');
    assert.equal(formatDuration(1000), '1s');
    assert.equal(formatDuration(24 * 86_400_000), '24d');
  });
});

/** The conf text of a typed value, in the form convertValue reads back. */
function textOf(type: SettingType, value: number): string {
  return type.kind === 'duration' || type.kind === 'fsync' ? `${value}ms` : String(value);
}

describe('ranges of numeric settings', () => {
  const numeric = SETTING_NAMES.filter((n) => ['int', 'size', 'duration', 'fsync'].includes(SETTINGS[n].type.kind));

  it('every numeric setting has a finite range that holds its default, and values just outside it are refused', () => {
    assert.ok(numeric.length >= 25, `only ${numeric.length} numeric settings found`);
    for (const name of numeric) {
      const type: SettingType = SETTINGS[name].type;
      assert.ok(isNumericType(type), `${name} has no range`);
      assert.ok(
        Number.isSafeInteger(type.min) && Number.isSafeInteger(type.max) && type.min >= 0 && type.min <= type.max,
        `${name}: bad range ${type.min}..${type.max}`,
      );
      assert.ok(convertValue(type, SETTINGS[name].default).ok, `${name}: default ${SETTINGS[name].default} is outside its range`);
      assert.ok(convertValue(type, textOf(type, type.min)).ok, `${name}: min refused`);
      assert.ok(convertValue(type, textOf(type, type.max)).ok, `${name}: max refused`);
      assert.ok(!convertValue(type, textOf(type, type.max + 1)).ok, `${name}: above max accepted`);
      if (type.min > 1 || (type.min === 1 && type.zeroOff !== true)) {
        assert.ok(!convertValue(type, textOf(type, type.min - 1)).ok, `${name}: below min accepted`);
      }
      if (type.zeroOff === true) assert.ok(convertValue(type, textOf(type, 0)).ok, `${name}: 0 (off) refused`);
    }
  });

  it('settings that drive Node timers stay below the timer limit (past it a timer fires after 1 ms)', () => {
    for (const name of [
      'TcpIdleTimeout',
      'Task_DataBackup',
      'Task_ClearExpireData',
      'Task_ServerListBackup',
      'Task_MemoryInfoToLog',
      'PushPullInterval',
      'GossipProbeInterval',
      'AppendFsync',
    ] as const) {
      const type: SettingType = SETTINGS[name].type;
      assert.ok(isNumericType(type) && type.max <= TIMER_MAX_MS && TIMER_MAX_MS < 2 ** 31, name);
    }
  });

  it('refuses the hostile values TcpMaxLine 0, MaxValueSize 100gb, Task_DataBackup 1ms with the file, line and range', () => {
    const cases: [string, RegExp][] = [
      ['TcpMaxLine 0', /:2: TcpMaxLine: "0" is out of range: it must be from 64 to 512mb/],
      ['MaxValueSize 100gb', /:2: MaxValueSize: "100gb" is out of range: it must be from 1 to 512mb/],
      ['Task_DataBackup 1ms', /:2: Task_DataBackup: "1ms" is out of range: it must be 0 \(off\) or from 1s to 24d/],
      ['TcpIdleTimeout 30d', /:2: TcpIdleTimeout: "30d" is out of range/],
      ['GossipMaxDatagram 512', /:2: GossipMaxDatagram: "512" is out of range: it must be from 576 to 65000/],
    ];
    for (const [line, expected] of cases) {
      const file = writeConf('hostile.conf', `# hostile\n${line}\n`);
      assert.throws(
        () => load(['-config', file]),
        (e: Error) => e instanceof ConfigError && e.message.includes(file) && expected.test(e.message),
        line,
      );
    }
    assert.equal(load(['--Task_DataBackup=0']).config.Task_DataBackup, 0, '0 still switches snapshots off');
  });

  it('refuses / and system folders as DBfile, after resolving the path', () => {
    for (const bad of ['/', '//', '/etc', '/usr/', '/var/../etc', '/proc']) {
      assert.throws(
        () => load([`--DBfile=${bad}`]),
        (e: Error) => e instanceof ConfigError && /flag -DBfile: .* cannot be the data directory/.test(e.message),
        bad,
      );
    }
    const file = writeConf('db.conf', '[Owlcache]\nDBfile /\n');
    assert.throws(
      () => load(['-config', file]),
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: DBfile: "/" cannot be the data directory \\(/ is the root`),
    );
    assert.equal(systemFolderProblem('/var/lib/owlcache', '/'), null);
    assert.equal(systemFolderProblem('./db_file/', dir), null);
  });

  it('warns at start, with the reason, about Task settings not carried over', () => {
    const { warnings } = load(['--Task_DataAuthBackup=5', '--Task_ServerGossipListBackup=5']);
    assert.ok(
      warnings.some((w) => /Task_DataAuthBackup: not supported .*auth\.json is written once/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /Task_ServerGossipListBackup: not supported .*saved within a second/.test(w)),
      warnings.join('\n'),
    );
    assert.equal(load([]).config.Task_MemoryInfoToLog, 60_000);
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
    assert.throws(
      () => load(['-config', file]),
      (e: Error) => e instanceof ConfigError && e.message.includes(`${file}:3: Tcpport`) && /whole number/.test(e.message),
    );
    const file2 = writeConf('bad2.conf', 'Httpport 70000\n');
    assert.throws(() => load(['-config', file2]), /bad2\.conf:1: Httpport/);
  });

  it('reports unknown and unsupported names without stopping', () => {
    const file = writeConf('warn.conf', 'Frobnicate 1\nGet_data_from_memcache 1\nHttpport 7000\nHttpport 7001\n');
    const { config, warnings } = load(['-config', file]);
    assert.equal(config.Httpport, 7001);
    assert.ok(
      warnings.some((w) => w.includes(':1: unknown setting Frobnicate')),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => w.includes('Get_data_from_memcache: not supported')),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => w.includes('also set on line 3')),
      warnings.join('\n'),
    );
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
    assert.throws(
      () => load(['--nope=1']),
      (e: Error) => e instanceof ConfigError && /nope/.test(e.message),
    );
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
      '# owlcache 配置文件',
      '[Owlcache]',
      'Host 0.0.0.0',
      'ResponseHost 127.0.0.1',
      'Logfile ./log_file/',
      'DBfile ./db_file/',
      '[TCP]',
      'Tcpport 7720',
      'CloseTcp 1',
      '[HTTP]',
      'Httpport 7721',
      'Pass ',
      'Tonken_expire_time 0',
      'Open_Https 0',
      'Https_CertFile /www/server.crt',
      'Https_KeyFile /www/server.key',
      'HttpsClient_InsecureSkipVerify 0',
      'Cors 0',
      'Access_Control_Allow_Origin *',
      '[GroupData]',
      'HttpClientRequestTimeout 2700',
      'GroupWorkMode owlcache',
      '[GroupDataSync]',
      'GroupDataSync 0',
      'Gossipport 0',
      'GossipDataSyncAuthKey ',
      '[Task]',
      'Task_DataBackup 1',
      'Task_ClearExpireData 1',
    ].join('\n');
    const { config, warnings } = load(['-config', writeConf('go.conf', original)]);
    assert.deepEqual(warnings, []);
    assert.equal(config.Httpport, 7721);
    assert.equal(config.Pass, '');
  });
});
