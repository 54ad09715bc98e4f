import type { ServerLists } from '../cluster/groups/lists.js';
import type { Config } from '../config/settings.js';
import { logger } from '../log.js';
import type { Store } from '../store/store.js';

const log = logger('node');

/** One line for the log every Task_MemoryInfoToLog. */
export function memoryReport(store: Store): string {
  const m = process.memoryUsage();
  const s = store.sizes();
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  const budget = s.maxMemory > 0 ? ` of MaxMemory ${mb(s.maxMemory)}` : '';
  return `memory: rss ${mb(m.rss)}, heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, external ${mb(m.external)}; store ${s.keys} keys, ${mb(s.bytes)}${budget}, ${s.stubs} stubs, ${s.evictions} evictions`;
}

/** Records hashed into a deferred digest per turn of the event loop (a few milliseconds). */
const DIGEST_SLICE_SLOTS = 16_384;

/**
 * Brings a digest the load deferred (Store.deferDigest) up to date in slices,
 * a turn of the event loop between them; returns what stops it. Whoever asks
 * for the digest before the end gets it complete anyway (the store hashes the rest then).
 */
export function catchUpDigest(store: Store): () => void {
  let stopped = false;
  const step = (): void => {
    if (!stopped && !store.catchUpDigest(DIGEST_SLICE_SLOTS)) setImmediate(step);
  };
  setImmediate(step);
  return () => {
    stopped = true;
  };
}

/** The node's periodic tasks (the Task_ settings); returns what stops them. */
export function startHousekeeping(
  c: Pick<Config, 'Task_MemoryInfoToLog' | 'Task_ServerListBackup' | 'Task_ClearExpireData' | 'TombstoneTTL'>,
  parts: { store: Store; lists: ServerLists; tasks?: { isOn(task: 'expire_sweep' | 'tombstone_gc'): boolean } },
): () => void {
  const { store, lists, tasks } = parts;
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, task: () => void) => {
    if (ms <= 0) return;
    const t = setInterval(task, ms);
    t.unref();
    timers.push(t);
  };
  every(c.Task_MemoryInfoToLog, () => log.info('%s', memoryReport(store)));
  // Changes are saved at once; this retries a save that failed (disk full, permissions).
  every(c.Task_ServerListBackup, () => {
    lists.owlcache.flush();
    lists.gossip.flush();
  });
  every(c.Task_ClearExpireData, () => {
    const gc = tasks?.isOn('tombstone_gc') ?? true;
    const n = store.sweep({ expired: tasks?.isOn('expire_sweep') ?? true, tombstones: gc });
    if (n > 0) log.debug('sweep: %d entries expired or collected', n);
    if (!gc) return;
    // Deleted /server/ entries are remembered as long as deleted keys, then forgotten.
    lists.owlcache.collectTombstones(c.TombstoneTTL);
    lists.gossip.collectTombstones(c.TombstoneTTL);
  });
  return () => {
    for (const t of timers) clearInterval(t);
  };
}
