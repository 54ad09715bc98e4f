import { readFileSync } from 'node:fs';
import { isVersion, type Version } from '../../store/hlc.js';
import { writeFileAtomic } from '../../persistence/files.js';
import { checkAddress, type ListKind } from './address.js';

/**
 * The on-disk form of a server list, the original's format so existing files
 * load and files written here stay readable by it: a JSON array of
 * `{"Cmd":"","Address":"…","Pass":"…","Token":""}`, live entries only.
 * Versions and tombstones, which the original knows nothing of, live in a side
 * file next to it (`<name>.versions.json`), so a hand-written or original file
 * without one loads fine.
 */

export interface FileEntry {
  /** Normalised (see checkAddress). */
  address: string;
  pass: string;
}

export interface ListFileRead {
  /** missing: no file; invalid: the file cannot be used at all (nothing loaded from it). */
  state: 'missing' | 'ok' | 'invalid';
  entries: FileEntry[];
  /** What is wrong, each naming the file; empty when all is well. */
  problems: string[];
}

export const LIST_FORMAT_HINT = 'a JSON array of {"Cmd":"","Address":"host:port","Pass":"","Token":""}';

/** Go's encoding/json matches field names case-insensitively; so does this, so the original's files and hand edits load alike. */
function field(o: Record<string, unknown>, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) return o[k];
  return undefined;
}

/** Parses a list file's text; `file` only names it in problems. */
export function parseListText(text: string, file: string, kind: ListKind): ListFileRead {
  if (text.trim() === '') return { state: 'invalid', entries: [], problems: [`${file} is empty; expected ${LIST_FORMAT_HINT}`] };
  let data: unknown;
  try {
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { state: 'invalid', entries: [], problems: [`${file} is not valid JSON (${(err as Error).message}); expected ${LIST_FORMAT_HINT}`] };
  }
  // Go writes a nil list as null: the original's "never written".
  if (data === null) return { state: 'ok', entries: [], problems: [] };
  if (!Array.isArray(data))
    return { state: 'invalid', entries: [], problems: [`${file} must hold ${LIST_FORMAT_HINT}, not ${typeof data === 'object' ? 'an object' : typeof data}`] };
  const problems: string[] = [];
  const byAddress = new Map<string, FileEntry>();
  data.forEach((item: unknown, i) => {
    const where = `${file} entry #${i + 1}`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${where} is not an object; skipped`);
      return;
    }
    const o = item as Record<string, unknown>;
    const addr = field(o, 'Address');
    if (typeof addr !== 'string') {
      problems.push(`${where} has no "Address" string; skipped`);
      return;
    }
    const checked = checkAddress(addr, kind);
    if (!checked.ok) {
      problems.push(`${where}: ${checked.message}; skipped`);
      return;
    }
    const pass = field(o, 'Pass');
    if (byAddress.has(checked.address)) problems.push(`${where} repeats ${checked.address}; the later entry is kept`);
    byAddress.delete(checked.address);
    byAddress.set(checked.address, { address: checked.address, pass: typeof pass === 'string' ? pass : '' });
  });
  return { state: 'ok', entries: [...byAddress.values()], problems };
}

export function readListFile(file: string, kind: ListKind): ListFileRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { state: 'missing', entries: [], problems: [] };
    return { state: 'invalid', entries: [], problems: [`cannot read ${file} (${e.code ?? e.message})`] };
  }
  return parseListText(text, file, kind);
}

export function formatListFile(entries: readonly FileEntry[]): string {
  return `${JSON.stringify(
    entries.map((e) => ({ Cmd: '', Address: e.address, Pass: e.pass, Token: '' })),
    null,
    2,
  )}\n`;
}

// ---- the versions side file ----

export interface VersionRecord {
  address: string;
  version: Version;
  deleted: boolean;
  /** Short digest of a live entry's password: a password changed by hand in the list file then gets a fresh version. */
  passDigest?: string;
}

/** The side file's records; a missing or damaged side file yields none (versions are then stamped afresh). */
export function readVersionsFile(file: string): { records: VersionRecord[]; problem: string | null } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { records: [], problem: e.code === 'ENOENT' ? null : `cannot read ${file} (${e.code ?? e.message})` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { records: [], problem: `${file} is not valid JSON (${(err as Error).message}); versions stamped afresh` };
  }
  const list = (data as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(list)) return { records: [], problem: `${file} has no "entries" array; versions stamped afresh` };
  const records: VersionRecord[] = [];
  for (const item of list) {
    const o = item as { Address?: unknown; Version?: unknown; Deleted?: unknown; PassDigest?: unknown } | null;
    if (o === null || typeof o !== 'object' || typeof o.Address !== 'string' || !isVersion(o.Version)) continue;
    const v = o.Version as Version;
    const r: VersionRecord = { address: o.Address, version: { t: v.t, c: v.c, n: v.n }, deleted: o.Deleted === true };
    if (typeof o.PassDigest === 'string') r.passDigest = o.PassDigest;
    records.push(r);
  }
  return { records, problem: null };
}

export function writeVersionsFile(file: string, records: readonly VersionRecord[]): void {
  const entries = records.map((r) => ({
    Address: r.address,
    Version: r.version,
    Deleted: r.deleted,
    ...(r.passDigest === undefined ? {} : { PassDigest: r.passDigest }),
  }));
  writeFileAtomic(file, `${JSON.stringify({ format: 1, entries }, null, 2)}\n`, 0o600);
}

export function writeListFile(file: string, entries: readonly FileEntry[]): void {
  writeFileAtomic(file, formatListFile(entries), 0o600);
}
