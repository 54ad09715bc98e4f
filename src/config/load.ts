import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { parse, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, decodeConfBytes, parseConfText } from './conf-file.js';
import { weakPasswordReason } from './password-rule.js';
import { SETTING_NAMES, SETTINGS, isSettingName, type Config, type SettingName } from './settings.js';
import { convertValue } from './values.js';

export { ConfigError } from './conf-file.js';

/** The original's short flags, mapped to settings. */
const FLAG_ALIASES: Record<string, SettingName> = { host: 'Host', log: 'Logfile', pass: 'Pass' };

export interface LoadedConfig {
  config: Config;
  /** Things worth telling the user that do not stop the start (unknown or unsupported names). */
  warnings: string[];
}

export interface CliRequest {
  kind: 'help' | 'version';
}

/** Where a setting's value came from, for error messages. */
type Origin = string;

/**
 * Defaults, then the conf file, then flags. Go-style single-dash flags
 * (`-config owlcache.conf`) and `--Name=value` for any setting are accepted;
 * setting names in flags are case-insensitive.
 */
export function loadConfig(argv: string[], cwd = process.cwd()): LoadedConfig | CliRequest {
  const flags = parseFlags(argv);
  if (flags.help) return { kind: 'help' };
  if (flags.version) return { kind: 'version' };

  const warnings: string[] = [];
  const texts = new Map<SettingName, { text: string; origin: Origin }>();

  let configFile: string | null = null;
  if (flags.config !== undefined) {
    configFile = resolve(cwd, flags.config);
    if (!existsSync(configFile)) throw new ConfigError(`config file ${configFile} does not exist`);
  } else if (existsSync(resolve(cwd, 'owlcache.conf'))) {
    configFile = resolve(cwd, 'owlcache.conf');
  }
  if (configFile !== null) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(configFile);
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
    const seen = new Map<string, number>();
    for (const line of parseConfText(decodeConfBytes(bytes, configFile), configFile)) {
      const where = `${configFile}:${line.line}`;
      if (!isSettingName(line.name)) {
        warnings.push(`${where}: unknown setting ${line.name} (ignored)`);
        continue;
      }
      const prev = seen.get(line.name);
      if (prev !== undefined) warnings.push(`${where}: ${line.name} is also set on line ${prev}; this line wins`);
      seen.set(line.name, line.line);
      texts.set(line.name, { text: line.value, origin: `${where}: ${line.name}` });
    }
  }
  for (const [name, text] of flags.settings) texts.set(name, { text, origin: `flag -${name}` });
  const built = buildConfig(texts, configFile, cwd);
  return { config: built.config, warnings: [...warnings, ...built.warnings] };
}

/** A setting's text as owlcache.conf would hold it, and where it was given (for error messages). */
export interface SettingText {
  text: string;
  origin: Origin;
}

/**
 * The typed, checked settings from the texts given (the rest take their
 * defaults): what a conf file and flags come to, and what an embedded node's
 * options come to (src/embed.ts). Throws ConfigError naming the origin.
 */
export function buildConfig(texts: ReadonlyMap<SettingName, SettingText>, configFile: string | null, cwd: string): LoadedConfig {
  const warnings: string[] = [];
  const config: Record<string, unknown> = { configFile };
  for (const name of SETTING_NAMES) {
    const spec = SETTINGS[name];
    const given = texts.get(name);
    const text = given?.text ?? spec.default;
    if ('unsupported' in spec && given !== undefined && given.text !== spec.default) {
      warnings.push(`${given.origin}: not supported by this implementation (ignored): ${spec.doc}`);
    }
    const converted = convertValue(spec.type, text);
    if (!converted.ok) {
      throw new ConfigError(`${given?.origin ?? `default of ${name}`}: ${JSON.stringify(text)} ${converted.error}`);
    }
    config[name] = converted.value;
  }
  const typed = config as Config;
  validate(typed, (name) => texts.get(name)?.origin ?? `default of ${name}`, cwd);
  return { config: typed, warnings };
}

/** Folders a data directory must never be: the node writes, renames and deletes files in it. */
const SYSTEM_FOLDERS = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/lib', '/lib64', '/proc', '/run', '/sbin', '/sys', '/usr', '/var']);

/** The reason `dir` cannot be a data directory, or null. */
export function systemFolderProblem(dir: string, cwd: string): string | null {
  const abs = resolve(cwd, dir);
  const paths = [abs];
  try {
    paths.push(realpathSync(abs));
  } catch {
    // Not there yet: the node creates it.
  }
  for (const p of paths) {
    if (parse(p).root === p) return `${p} is the root of a file system`;
    if (SYSTEM_FOLDERS.has(p)) return `${p} is a system folder`;
  }
  return null;
}

function validate(c: Config, originOf: (name: SettingName) => Origin, cwd: string): void {
  if (c.GroupDataSync) c.GroupWorkMode = 'gossip';
  const weak = c.Pass === '' ? null : weakPasswordReason(c.Pass);
  if (weak !== null) throw new ConfigError(`${originOf('Pass')}: ${weak}`);
  if (c.GroupWorkMode === 'gossip' && c.GossipDataSyncAuthKey.length < 10) {
    throw new ConfigError(
      `${originOf('GossipDataSyncAuthKey')}: gossip mode needs a shared GossipDataSyncAuthKey of at least 10 characters, the same on every node`,
    );
  }
  if (c.DBfile.trim() === '') throw new ConfigError(`${originOf('DBfile')}: the data directory must not be empty`);
  const dbProblem = systemFolderProblem(c.DBfile, cwd);
  if (dbProblem !== null) {
    throw new ConfigError(
      `${originOf('DBfile')}: ${JSON.stringify(c.DBfile)} cannot be the data directory (${dbProblem}); give the node a folder of its own, e.g. ./db_file/`,
    );
  }
}

interface ParsedFlags {
  help: boolean;
  version: boolean;
  config: string | undefined;
  settings: Map<SettingName, string>;
}

const LOWER_NAMES = new Map<string, SettingName>(SETTING_NAMES.map((n) => [n.toLowerCase(), n]));

function parseFlags(argv: string[]): ParsedFlags {
  // Go's flag package takes one dash for long names; parseArgs wants two.
  const normalized = argv.map((a) => (/^-[A-Za-z][A-Za-z0-9_]+/.test(a) ? `-${a}` : a));
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const alias of Object.keys(FLAG_ALIASES)) options[alias] = { type: 'string' };
  // Setting names are matched case-insensitively: rewrite them to the canonical spelling first.
  const canonical = normalized.map((a) => {
    const m = /^--([A-Za-z0-9_]+)(=.*)?$/s.exec(a);
    if (!m || m[1]! in options) return a;
    const name = LOWER_NAMES.get(m[1]!.toLowerCase());
    return name === undefined ? a : `--${name}${m[2] ?? ''}`;
  });
  for (const name of SETTING_NAMES) options[name] = { type: 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: canonical, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (see owlcache -help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const settings = new Map<SettingName, string>();
  for (const [alias, name] of Object.entries(FLAG_ALIASES)) {
    const v = values[alias];
    if (typeof v === 'string') settings.set(name, v);
  }
  for (const name of SETTING_NAMES) {
    const v = values[name];
    if (typeof v === 'string') settings.set(name, v);
  }
  return {
    help: values.help === true,
    version: values.version === true,
    config: typeof values.config === 'string' ? values.config : undefined,
    settings,
  };
}

/** The -help text: flags and a pointer to the commented owlcache.conf. */
export function usage(): string {
  return [
    'Usage: owlcache [-config owlcache.conf] [-host 0.0.0.0] [-log ./log_file/] [-pass PASSWORD] [--Setting=value ...]',
    '',
    '  -config PATH     conf file to read (default ./owlcache.conf if present)',
    '  -host ADDR       listen address (Host)',
    '  -log DIR         log folder (Logfile)',
    '  -pass PASSWORD   password for cmd=pass (Pass)',
    '  --Name=value     any setting of owlcache.conf, e.g. --Httpport=7731 --GroupWorkMode=gossip',
    '  -help, -version',
    '',
    'Client commands (the cluster at a glance; the password may come from OWLCACHE_PASS):',
    '  owlcache members [-node 127.0.0.1:7721] [-pass PASSWORD] [-https]',
    '  owlcache status  [-node 127.0.0.1:7721] [-pass PASSWORD] [-https]',
    '',
    'Every setting is documented in the shipped owlcache.conf.',
  ].join('\n');
}
