import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../persistence/files.js';
import { epochOf } from './counter.js';
import type { EntryRecord } from './entry.js';
import { compareVersions, isVersion, type Version } from './hlc.js';
import type { Store } from './store.js';

/**
 * FLUSHALL across a cluster (docs/architecture.md, "Flush"): one small
 * replicated item, the version of the latest flush, instead of a tombstone
 * per key. Every node that learns it drops the records that count from
 * before it (a record's own write, or a counter's epoch) and refuses them
 * afterwards, so a node that was down during the flush, or a late delta, cannot
 * bring flushed keys back, while writes made after the flush (later versions)
 * survive. The item travels with push-pull (as the node lists do) and is kept
 * in the data directory, so a restart applies it before loading old records.
 */

/** True if `r` counts from before the flush `v`. */
export function flushedBy(r: EntryRecord, v: Version): boolean {
  return compareVersions(epochOf(r).v, v) < 0;
}

export function isFlushVersion(v: unknown): v is Version {
  return isVersion(v);
}

/** The file in the data directory that keeps the latest flush. */
export const FLUSH_FILE = 'flush.json';

export type FlushListener = (v: Version, origin: 'local' | 'remote') => void;

/** The node's flush item: applies flushes to the store, keeps the latest on disk, tells listeners (WATCH, push-pull). */
export class ClusterFlush {
  private readonly listeners: FlushListener[] = [];

  /** `file` null: nothing kept on disk (tests, a node without a data directory). */
  constructor(
    private readonly store: Store,
    private readonly file: string | null,
  ) {}

  /**
   * Reads the kept flush and applies it to the (still empty) store, so the
   * records loaded next that it flushed are refused. An unreadable file is
   * reported, not fatal: without it, flushed keys a disk still holds may return.
   */
  static open(store: Store, dataDir: string | null): { flush: ClusterFlush; problem: string | null } {
    const file = dataDir === null ? null : join(dataDir, FLUSH_FILE);
    const flush = new ClusterFlush(store, file);
    if (file === null || !existsSync(file)) return { flush, problem: null };
    try {
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; version?: unknown };
      if (doc.format !== 1 || !isFlushVersion(doc.version)) throw new Error('not a flush file of format 1');
      store.flush(doc.version);
      return { flush, problem: null };
    } catch (err) {
      return { flush, problem: `${file}: ${(err as Error).message}` };
    }
  }

  get version(): Version | null {
    return this.store.floor;
  }

  onFlush(listener: FlushListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** FLUSHALL here: a new flush, newer than every write this node made or saw. */
  flushAll(): Version {
    const v = this.store.hlc.now();
    this.apply(v, 'local');
    return v;
  }

  /** Applies a flush (from a peer, or made here); false if it is not newer than the one applied. */
  apply(v: Version, origin: 'local' | 'remote'): boolean {
    if (this.store.flush(v) < 0) return false;
    // Kept before anyone is told: a restart must not load what the flush removed.
    if (this.file !== null) writeFileAtomic(this.file, `${JSON.stringify({ format: 1, version: v })}\n`, 0o600);
    for (const l of this.listeners) l(v, origin);
    return true;
  }
}
