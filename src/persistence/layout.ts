import { join } from 'node:path';

/**
 * The data directory's file names (docs/data-directory.md describes each file).
 * Every name another part of the project reads or writes is listed here, so the
 * layout is documented in one place even where another module owns the file.
 */

/** Held open by the running node, holding its PID: one process per data directory (dir-lock.ts). */
export const LOCK_FILE = 'LOCK';
/** The store snapshot (owned by persistence). */
export const SNAPSHOT_FILE = 'store.snapshot';
/** Where a snapshot is written before it is renamed over SNAPSHOT_FILE. */
export const SNAPSHOT_TEMP_FILE = `${SNAPSHOT_FILE}.tmp`;
/** Auth data: node id, generated password and token secret (auth-data.ts). */
export const AUTH_DATA_FILE = 'auth.json';
/*
 * Owned by the cluster layer (src/cluster/groups/lists.ts says which list is in
 * which file by mode; src/cluster/cluster.ts keeps the members), named here only.
 */
/** Seeds (gossip mode) or the explicit server list (owlcache mode). */
export const SERVER_GROUP_FILE = 'server_group_config.json';
/** Gossip seeds added with /server/?group_type=gossip. */
export const SERVER_GROUP_GOSSIP_FILE = 'server_group_gossip_config.json';
/** The explicit server list while in gossip mode. */
export const SERVER_GROUP_OWLCACHE_FILE = 'server_group_owlcache_config.json';
/** The last known live gossip members. */
export const GOSSIP_MEMBERS_FILE = 'gossip_members.json';
/** The run-time task switches set with /config/set (owned by src/ops/switches.ts). */
export const RUNTIME_SWITCHES_FILE = 'runtime_switches.json';

/** The coldbackup / coldrestore jobs and their status, kept a day after they end (owned by src/ops/jobs.ts). */
export const JOBS_FILE = 'jobs.json';
/** The default backup folder inside the data directory (the BackupDir setting names another). */
export const BACKUP_DIR = 'backups';

/** A list file's side file of versions and tombstones: `<name>.versions.json` beside `<name>.json`. */
export function versionsFileOf(file: string): string {
  return file.endsWith('.json') ? `${file.slice(0, -5)}.versions.json` : `${file}.versions.json`;
}

/** Where writeFileAtomic writes a file's next content before renaming it over the file. */
export function atomicTempFileOf(file: string, pid = process.pid): string {
  return `${file}.tmp-${pid}`;
}

/**
 * Append-log generations: `append-0000000001.log`, ... padded to ten digits,
 * longer past 9 999 999 999 (so sort by generation, not by name). Every
 * generation the node can produce (a safe integer) round-trips through its name.
 */
const LOG_NAME = /^append-(\d{10,16})\.log$/;

export function logFileName(generation: number): string {
  if (!Number.isSafeInteger(generation) || generation < 0) throw new RangeError(`append-log generation ${generation} is out of range`);
  return `append-${String(generation).padStart(10, '0')}.log`;
}

/** The generation of an append-log file name, or null if the name is not one (nor the one logFileName gives it). */
export function logGeneration(name: string): number | null {
  const m = LOG_NAME.exec(name);
  if (m === null) return null;
  const g = Number(m[1]);
  return Number.isSafeInteger(g) && logFileName(g) === name ? g : null;
}

/** Name a damaged file is moved aside to: `<file>.corrupt-<UTC time>`. */
export function corruptName(file: string, when = new Date()): string {
  return `${file}.corrupt-${when
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

export function inDir(dir: string, name: string): string {
  return join(dir, name);
}
