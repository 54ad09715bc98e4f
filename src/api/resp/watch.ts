import type { ClusterFlush } from '../../store/flush.js';
import type { Store } from '../../store/store.js';
import type { WatchState } from './context.js';

/**
 * WATCH across the node's connections: a change to a watched key, whether
 * made here or learned from a peer (a pushed delta, a push-pull round), marks
 * every connection watching it, so its next EXEC answers null. A flush marks
 * every watching connection.
 */
export class WatchRegistry {
  private readonly watchers = new Map<string, Set<WatchState>>();
  private readonly unsubscribe: (() => void)[];

  constructor(store: Store, flush: ClusterFlush) {
    this.unsubscribe = [store.onChange(({ record }) => this.touched(record.key)), flush.onFlush(() => this.touchedAll())];
  }

  watch(state: WatchState, key: string): void {
    if (state.keys.has(key)) return;
    state.keys.add(key);
    let set = this.watchers.get(key);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(key, set);
    }
    set.add(state);
  }

  /** Forgets every key `state` watches (UNWATCH, EXEC, DISCARD, a closed connection). */
  unwatch(state: WatchState): void {
    for (const key of state.keys) {
      const set = this.watchers.get(key);
      set?.delete(state);
      if (set?.size === 0) this.watchers.delete(key);
    }
    state.keys.clear();
    state.dirty = false;
  }

  touched(key: string): void {
    const set = this.watchers.get(key);
    if (set !== undefined) for (const state of set) state.dirty = true;
  }

  /** Everything changed at once (FLUSHALL). */
  touchedAll(): void {
    for (const set of this.watchers.values()) for (const state of set) state.dirty = true;
  }

  /** Connections watching at least one key. */
  get size(): number {
    const states = new Set<WatchState>();
    for (const set of this.watchers.values()) for (const s of set) states.add(s);
    return states.size;
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.watchers.clear();
  }
}
