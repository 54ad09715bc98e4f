import { EventEmitter } from 'node:events';
import { ConfigError, buildConfig, type SettingText } from './config/load.js';
import { type SETTINGS, isSettingName, type SettingName, type SettingType } from './config/settings.js';
import { parseHostPort } from './host-port.js';
import { closeLogFile, logger, openLogFile } from './log.js';
import { OwlNode, type NodeInfo } from './node.js';
import type { MemberState } from './cluster/membership/types.js';
import type { StoreChange } from './store/store.js';

/**
 * `import { startNode } from 'owlcache'`: a full node (ports, data directory,
 * gossip membership and replication) inside the caller's process. The
 * caller's own reads and writes go straight to the node's command layer, the
 * same one every port uses, without a network round trip.
 */

export { ConfigError } from './config/load.js';
export type { NodeInfo } from './node.js';

/** A setting's value as an option: what the same line of owlcache.conf says, typed where the table allows. */
type OptionValue<T extends SettingType> = T extends { kind: 'bool' }
  ? boolean
  : T extends { kind: 'enum'; values: readonly (infer V)[] }
    ? V
    : T extends { kind: 'int' | 'size' | 'duration' | 'fsync' }
      ? number | string
      : string;

/** The settings this implementation acts on (the table's `unsupported` ones are left out). */
type SupportedSetting = { [K in SettingName]: 'unsupported' extends keyof (typeof SETTINGS)[K] ? never : K }[SettingName];

/**
 * Every setting of owlcache.conf, by the same name, with the same default and
 * the same meaning: a number is what the bare number means in the conf file
 * (`PushPullInterval: 10` is ten seconds, `MaxMemory: 1048576` bytes), a
 * string is read as the conf file reads it (`'256mb'`, `'500ms'`). Derived
 * from the settings table, so a new setting is an option at once.
 */
export type NodeSettings = { [K in SupportedSetting]?: OptionValue<(typeof SETTINGS)[K]['type']> };

export interface NodeOptions extends NodeSettings {
  /** Gossip mode: other nodes' gossip `host:port`s to join (besides the data directory's seed file); retried until they answer. */
  seeds?: readonly string[];
}

export interface SetOptions {
  /** Seconds until the entry expires (fractions allowed); 0 or absent = never. */
  ttlSeconds?: number;
}

/** A change to a key, made here or anywhere in the cluster. */
export interface NodeChange {
  key: string;
  /** The new value; null when the key was deleted. */
  value: Buffer | null;
  /** When the entry expires, ms since the epoch; 0 = never. */
  expireAt: number;
  /** `local`: through this node (the handle or one of its ports); `remote`: a peer's push; `sync`: an anti-entropy round. */
  origin: 'local' | 'remote' | 'sync';
}

export interface NodeMember {
  name: string | null;
  state: MemberState;
  /** Its gossip host:port; null in owlcache mode. */
  gossip: string | null;
  http: string | null;
  /** True for this node. */
  local: boolean;
}

/** A write the node refused (a key too long, a value over MaxValueSize, the append log failing); nothing changed. */
export class NodeWriteError extends Error {
  constructor(
    message: string,
    readonly key: string,
    /** The status an HTTP client would get: 413 for a value too large, 500 otherwise. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'NodeWriteError';
  }
}

const log = logger('embed');

/** Largest TTL accepted, as the HTTP/TCP `exptime`: 100 years. */
const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600;

/** The log file is one per process (log.ts): opened by the first node that names one, closed with the last. */
let logFileUsers = 0;

/** The options as setting texts, each checked by the conf file's own rules. */
function settingTexts(options: NodeOptions): Map<SettingName, SettingText> {
  const texts = new Map<SettingName, SettingText>();
  for (const [name, value] of Object.entries(options)) {
    if (name === 'seeds' || value === undefined) continue;
    if (!isSettingName(name)) throw new ConfigError(`option ${name}: unknown setting (the names are owlcache.conf's, e.g. Httpport, GroupWorkMode)`);
    const origin = `option ${name}`;
    let text: string;
    if (typeof value === 'boolean') text = value ? '1' : '0';
    else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
    else if (typeof value === 'string') text = value;
    else throw new ConfigError(`${origin}: ${JSON.stringify(value) ?? String(value)} must be a string, a finite number or a boolean`);
    texts.set(name, { text, origin });
  }
  return texts;
}

function checkSeeds(seeds: unknown): string[] {
  if (seeds === undefined) return [];
  if (!Array.isArray(seeds)) throw new ConfigError('option seeds: must be an array of gossip host:port strings');
  for (const s of seeds) {
    const hp = typeof s === 'string' ? parseHostPort(s, { unbracketedIPv6: 'refuse' }) : { ok: false as const, reason: 'not a string' };
    if (!hp.ok) throw new ConfigError(`option seeds: ${JSON.stringify(s)} is not a gossip host:port (${hp.reason})`);
  }
  return seeds as string[];
}

function ttlMs(key: string, ttlSeconds: number | undefined): number {
  if (ttlSeconds === undefined) return 0;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds < 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new NodeWriteError(`ttlSeconds must be a number from 0 (never expires) to ${MAX_TTL_SECONDS}`, key, 500);
  }
  // A positive TTL never rounds down to 0, which would mean "forever".
  return Math.ceil(ttlSeconds * 1000);
}

function toBuffer(key: string, value: Buffer | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  // A copy: the caller may reuse its buffer, the node keeps (and replicates) what was set.
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  throw new NodeWriteError('a value must be a Buffer or a string', key, 500);
}

interface StatusMembers {
  node: { name: string; http: string };
  cluster: { members: { name: string | null; state: MemberState; gossip: string; http: string | null; local: boolean }[] } | null;
}

/** A started node in this process. Events: `change` (NodeChange), after the change is made. */
export class EmbeddedNode extends EventEmitter<{ change: [NodeChange] }> {
  private readonly pending: NodeChange[] = [];
  private flushing = false;
  private readonly unsubscribe: () => void;
  private stopping: Promise<void> | null = null;

  private constructor(
    private readonly node: OwlNode,
    /** Where it listens, its id and name, what it loaded; `generatedPassword` once, when the node made one. */
    readonly info: NodeInfo,
    /** What the options asked that this implementation does not do (unsupported settings). */
    readonly warnings: readonly string[],
    private readonly usesLogFile: boolean,
  ) {
    super();
    this.unsubscribe = node.store.onChange((c) => this.changed(c));
  }

  /** @internal startNode's second half. */
  static async start(options: NodeOptions): Promise<EmbeddedNode> {
    const seeds = checkSeeds(options.seeds);
    const { config, warnings } = buildConfig(settingTexts(options), null, process.cwd());
    if (seeds.length > 0 && config.GroupWorkMode !== 'gossip') throw new ConfigError('option seeds: seeds are for gossip mode (GroupWorkMode gossip)');
    const usesLogFile = config.Logfile.trim() !== '';
    if (usesLogFile && logFileUsers++ === 0) openLogFile(config.Logfile);
    try {
      for (const w of warnings) log.warn('%s', w);
      const { node, info } = await OwlNode.start(config);
      if (seeds.length > 0) node.addSeeds(seeds);
      return new EmbeddedNode(node, info, warnings, usesLogFile);
    } catch (err) {
      if (usesLogFile) await EmbeddedNode.releaseLogFile();
      throw err;
    }
  }

  private static async releaseLogFile(): Promise<void> {
    if (--logFileUsers === 0) await closeLogFile();
  }

  /** The value, or undefined if the key is absent, deleted or expired. A copy: changing it changes nothing stored. */
  get(key: string): Buffer | undefined;
  get(key: string, encoding: BufferEncoding): string | undefined;
  get(key: string, encoding?: BufferEncoding): Buffer | string | undefined {
    const e = this.node.commands.get(key);
    if (e === undefined || e.value === null) return undefined;
    return encoding === undefined ? Buffer.from(e.value) : e.value.toString(encoding);
  }

  has(key: string): boolean {
    return this.node.commands.exist(key).status === 200;
  }

  /** Sets the value (replicated to the cluster in gossip mode); throws NodeWriteError if the node refuses it. */
  set(key: string, value: Buffer | string, options: SetOptions = {}): void {
    const ms = ttlMs(key, options.ttlSeconds);
    const o = this.node.commands.setMs(key, toBuffer(key, value), ms);
    if (o.status !== 200) throw new NodeWriteError(o.message ?? `set refused (${o.status})`, key, o.status);
  }

  /** Deletes the key; false if it held no value. */
  delete(key: string): boolean {
    return this.outcome(key, this.node.commands.delete(key));
  }

  /** Sets the key's time to live (0 = never expires); false if it holds no value. */
  expire(key: string, ttlSeconds: number): boolean {
    return this.outcome(key, this.node.commands.expireMs(key, ttlMs(key, ttlSeconds)));
  }

  /** Every key holding a value now (a snapshot of the moment; the node's own and replicated ones alike). */
  keys(): string[] {
    return this.node.store.liveKeys();
  }

  /** Every member this node knows, itself first; in owlcache mode itself alone. */
  members(): NodeMember[] {
    const status = this.node.status() as unknown as StatusMembers;
    const rows = status.cluster?.members ?? [];
    if (rows.length === 0) return [{ name: status.node.name, state: 'alive', gossip: null, http: status.node.http, local: true }];
    return rows.map(({ name, state, gossip, http, local }) => ({ name, state, gossip, http, local })).sort((a, b) => Number(b.local) - Number(a.local));
  }

  /** Leaves the cluster (peers record `left`), closes the ports, writes the final snapshot. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.node.stop();
      } finally {
        this.unsubscribe();
        if (this.usesLogFile) await EmbeddedNode.releaseLogFile();
      }
    })();
    return this.stopping;
  }

  private outcome(key: string, o: { status: number; message?: string }): boolean {
    if (o.status === 200) return true;
    if (o.status === 404) return false;
    throw new NodeWriteError(o.message ?? `refused (${o.status})`, key, o.status);
  }

  /** Store changes reach listeners on a microtask: a listener may write to the node without re-entering the store. */
  private changed(c: StoreChange): void {
    if (c.origin === 'load' || c.record.hollow === true || this.listenerCount('change') === 0) return;
    const { key, value, expireAt } = c.record;
    this.pending.push({ key, value: value === null ? null : Buffer.from(value), expireAt, origin: c.origin });
    if (this.flushing) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      for (const change of this.pending.splice(0)) this.emit('change', change);
    });
  }
}

/** Starts a node in this process; resolves once its ports are bound and (gossip mode) its cluster started. */
export function startNode(options: NodeOptions = {}): Promise<EmbeddedNode> {
  return EmbeddedNode.start(options);
}
