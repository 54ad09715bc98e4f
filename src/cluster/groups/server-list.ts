import { copyFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { compareVersions, isVersion, type Version } from '../../store/hlc.js';
import type { ListChange } from '../../list-change.js';
import { versionsFileOf } from '../../persistence/layout.js';
import { checkAddress, type ListKind } from './address.js';
import { readListFile, readVersionsFile, writeListFile, writeVersionsFile, type FileEntry, type VersionRecord } from './list-file.js';

/**
 * A server list (owlcache mode's explicit node list, or the gossip seed list):
 * a set of addresses where each entry, live or deleted, carries the HLC version
 * of the write that made it so. Two copies of a list merge by the store's rule
 * (docs/architecture.md, "Versions and the merge rule"): per address the newer
 * version wins, a delete being a tombstone that wins like any write. Merging is commutative, associative and idempotent,
 * so lists reconciled between nodes converge whatever the order of adds,
 * deletes and re-adds.
 *
 * Every change is saved at once (list file + versions side file, owner-only).
 * The list file stays authoritative for what is live: an entry added or removed
 * there by hand (or a file from the original) gets a fresh version at load.
 */

export interface ServerEntry {
  /** Normalised address (see checkAddress). */
  address: string;
  /** Password to talk to that node; '' for tombstones. Never sent back to HTTP clients. */
  pass: string;
  version: Version;
  deleted: boolean;
}

/** What the list needs of the node's hybrid logical clock (the store's HLC fits). */
export interface Clock {
  now(): Version;
  observe(v: Version): void;
}

/** A short digest of the password, so the side file notices a password changed by hand without holding it twice. */
function passDigest(pass: string): string {
  return createHash('sha256').update(pass).digest('hex').slice(0, 16);
}

export class ServerList {
  readonly versionsFile: string;
  /** Problems found loading the files (each names its file); logged by the caller. */
  readonly problems: string[] = [];
  /** Insertion order is the list's order; tombstones are kept here too. */
  private readonly entries = new Map<string, ServerEntry>();
  private written = false;
  /** A merged change that could not be saved yet; `flush` retries. */
  private dirty = false;
  /** The list file could not be parsed: keep a copy of it before the first overwrite. */
  private preserveInvalidFile = false;
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly file: string,
    readonly kind: ListKind,
    private readonly clock: Clock,
  ) {
    this.versionsFile = versionsFileOf(file);
  }

  /** Loads the list from `file` (and its side file); never throws for bad content, it reports it in `problems`. */
  static open(file: string, kind: ListKind, clock: Clock): ServerList {
    const list = new ServerList(file, kind, clock);
    list.load();
    return list;
  }

  private load(): void {
    const main = readListFile(this.file, this.kind);
    this.problems.push(...main.problems);
    const side = readVersionsFile(this.versionsFile);
    if (side.problem !== null) this.problems.push(side.problem);
    const known = new Map<string, VersionRecord>();
    for (const r of side.records) {
      this.clock.observe(r.version);
      known.set(r.address, r);
    }
    this.written = main.state !== 'missing';
    this.preserveInvalidFile = main.state === 'invalid';

    let restamped = false;
    for (const e of main.entries) {
      const r = known.get(e.address);
      const same = r !== undefined && !r.deleted && (r.passDigest === undefined || r.passDigest === passDigest(e.pass));
      if (!same) restamped = true;
      this.entries.set(e.address, { address: e.address, pass: e.pass, version: same ? r.version : this.clock.now(), deleted: false });
    }
    for (const r of known.values()) {
      if (this.entries.has(r.address)) continue;
      if (r.deleted) {
        this.entries.set(r.address, { address: r.address, pass: '', version: r.version, deleted: true });
      } else if (main.state !== 'invalid') {
        // Live in the side file but gone from the list file: removed by hand, so a delete.
        this.entries.set(r.address, { address: r.address, pass: '', version: this.clock.now(), deleted: true });
        restamped = true;
      }
    }
    if (restamped && main.state !== 'invalid') {
      try {
        this.saveVersions();
      } catch (err) {
        this.problems.push(`cannot write ${this.versionsFile} (${(err as Error).message})`);
        this.dirty = true;
      }
    }
  }

  // ---- reading ----

  /** False until the list file exists (the original answers getall with null then). */
  isWritten(): boolean {
    return this.written;
  }

  /** Live entries, in list order. */
  live(): FileEntry[] {
    const out: FileEntry[] = [];
    for (const e of this.entries.values()) if (!e.deleted) out.push({ address: e.address, pass: e.pass });
    return out;
  }

  liveAddresses(): string[] {
    return this.live().map((e) => e.address);
  }

  /** The live entry for an address (any accepted spelling of it), or undefined. */
  get(address: string): FileEntry | undefined {
    const c = checkAddress(address, this.kind);
    if (!c.ok) return undefined;
    const e = this.entries.get(c.address);
    return e === undefined || e.deleted ? undefined : { address: e.address, pass: e.pass };
  }

  /** Why an address cannot be in this list, or null if it can. */
  problemWith(address: string): string | null {
    const c = checkAddress(address, this.kind);
    return c.ok ? null : c.message;
  }

  /** Every entry with its version, tombstones included: what another node merges. */
  entriesWithVersions(): ServerEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e, version: { ...e.version } }));
  }

  // ---- changing ----

  /** Adds or replaces an entry; saved before it returns. */
  add(address: string, pass: string): ListChange {
    const c = checkAddress(address, this.kind);
    if (!c.ok) return { ok: false, status: 500, message: c.message };
    return this.write({ address: c.address, pass, version: this.clock.now(), deleted: false });
  }

  /** Deletes an entry (a tombstone); 404 if it is not in the list. */
  remove(address: string): ListChange {
    const c = checkAddress(address, this.kind);
    if (!c.ok) return { ok: false, status: 500, message: c.message };
    const prev = this.entries.get(c.address);
    if (prev === undefined || prev.deleted) return { ok: false, status: 404, message: `${c.address} is not in the list` };
    return this.write({ address: c.address, pass: '', version: this.clock.now(), deleted: true });
  }

  private write(next: ServerEntry): ListChange {
    const prev = this.entries.get(next.address);
    // A re-added address goes to the end of the list, as a new one would.
    if (prev?.deleted) this.entries.delete(next.address);
    this.entries.set(next.address, next);
    try {
      this.save();
    } catch (err) {
      if (prev === undefined) this.entries.delete(next.address);
      else this.entries.set(next.address, prev);
      return { ok: false, status: 500, message: `cannot save ${this.file}: ${(err as Error).message}` };
    }
    this.notify();
    return { ok: true, address: next.address };
  }

  /**
   * Merges another copy of the list (entries with versions, tombstones
   * included): per address the newer version wins. Returns true if anything
   * changed here. Invalid entries are ignored. A save that fails is retried by
   * `flush`; the merged state stands meanwhile.
   */
  merge(remote: readonly ServerEntry[]): boolean {
    let changed = false;
    for (const r of remote) {
      if (r === null || typeof r !== 'object' || !isVersion(r.version) || typeof r.address !== 'string') continue;
      const c = checkAddress(r.address, this.kind);
      if (!c.ok) continue;
      this.clock.observe(r.version);
      const local = this.entries.get(c.address);
      if (local !== undefined && compareVersions(r.version, local.version) <= 0) continue;
      const deleted = r.deleted === true;
      const entry: ServerEntry = {
        address: c.address,
        pass: deleted || typeof r.pass !== 'string' ? '' : r.pass,
        version: { t: r.version.t, c: r.version.c, n: r.version.n },
        deleted,
      };
      if (local !== undefined && local.deleted !== deleted) this.entries.delete(c.address);
      this.entries.set(c.address, entry);
      changed = true;
    }
    if (changed) {
      this.trySave();
      this.notify();
    }
    return changed;
  }

  /** Forgets tombstones older than `ttlMs` (the TombstoneTTL rule); returns how many. */
  collectTombstones(ttlMs: number, nowMs = Date.now()): number {
    let n = 0;
    for (const [address, e] of this.entries) {
      if (e.deleted && e.version.t < nowMs - ttlMs) {
        this.entries.delete(address);
        n += 1;
      }
    }
    if (n > 0) this.trySave();
    return n;
  }

  /** Saves a change that could not be saved before (the periodic Task_ServerListBackup). */
  flush(): boolean {
    if (!this.dirty) return true;
    return this.trySave();
  }

  /** Called after every change (add, remove, a merge that changed something). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // A listener's failure is its own; the list has changed regardless.
      }
    }
  }

  private trySave(): boolean {
    try {
      this.save();
      return true;
    } catch {
      this.dirty = true;
      return false;
    }
  }

  private save(): void {
    if (this.preserveInvalidFile) {
      try {
        copyFileSync(this.file, `${this.file}.invalid`);
      } catch {
        // Nothing to keep (removed meanwhile).
      }
      this.preserveInvalidFile = false;
    }
    writeListFile(this.file, this.live());
    this.saveVersions();
    this.written = true;
    this.dirty = false;
  }

  private saveVersions(): void {
    const records: VersionRecord[] = [...this.entries.values()].map((e) => ({
      address: e.address,
      version: e.version,
      deleted: e.deleted,
      ...(e.deleted ? {} : { passDigest: passDigest(e.pass) }),
    }));
    writeVersionsFile(this.versionsFile, records);
  }
}
