import { EventEmitter } from 'node:events';
import type { EmbeddedNode } from './embed.js';

/**
 * `owlcache/keyv`: an embedded node as a Keyv store, so Keyv and
 * cache-manager (6 and later, built on Keyv) keep their entries in the
 * replicated cache: `new Keyv({ store: new OwlKeyvStore(node) })`. It follows
 * Keyv's store adapter interface structurally and imports nothing from Keyv.
 *
 * Keyv serialises values to strings (its default serializer) and prefixes
 * keys with its namespace; the store keeps those strings as UTF-8 values
 * under the prefixed keys, with Keyv's TTL as the entry's expiry, so every
 * node of the cluster sees the same entries. Other values are stored as
 * their JSON text.
 */

/** The part of an embedded node the adapter uses. */
export type KeyvNode = Pick<EmbeddedNode, 'get' | 'set' | 'delete' | 'has'> & {
  /** Every key holding a value (for `clear`). */
  keys(): readonly string[];
};

export interface OwlKeyvStoreOptions {
  /** Keys `clear()` removes when Keyv gives no namespace: every key of the node unless a prefix is given here. */
  clearPrefix?: string;
}

export class OwlKeyvStore extends EventEmitter {
  /** Keyv reads and sets these. */
  opts: OwlKeyvStoreOptions;
  namespace?: string | undefined;

  constructor(
    private readonly node: KeyvNode,
    options: OwlKeyvStoreOptions = {},
  ) {
    super();
    this.opts = options;
  }

  async get(key: string): Promise<string | undefined> {
    return this.node.get(key, 'utf8');
  }

  async getMany(keys: string[]): Promise<(string | undefined)[]> {
    return keys.map((k) => this.node.get(k, 'utf8'));
  }

  /** `ttl` in milliseconds, as Keyv gives it; absent or 0 = never expires. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value : JSON.stringify(value);
    this.node.set(key, text ?? '', typeof ttl === 'number' && ttl > 0 ? { ttlSeconds: ttl / 1000 } : {});
    return true;
  }

  async setMany(entries: { key: string; value: unknown; ttl?: number }[]): Promise<void> {
    for (const e of entries) await this.set(e.key, e.value, e.ttl);
  }

  async delete(key: string): Promise<boolean> {
    return this.node.delete(key);
  }

  async deleteMany(keys: string[]): Promise<boolean> {
    let any = false;
    for (const k of keys) any = this.node.delete(k) || any;
    return any;
  }

  async has(key: string): Promise<boolean> {
    return this.node.has(key);
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return keys.map((k) => this.node.has(k));
  }

  /** Deletes the namespace's keys (`namespace:`…), across the cluster. */
  async clear(): Promise<void> {
    const prefix = this.namespace !== undefined && this.namespace !== '' ? `${this.namespace}:` : (this.opts.clearPrefix ?? '');
    const doomed = this.node.keys().filter((k) => k.startsWith(prefix));
    for (const k of doomed) this.node.delete(k);
  }

  /** The node belongs to the caller: stopping it is the caller's `node.stop()`. */
  async disconnect(): Promise<void> {}
}
