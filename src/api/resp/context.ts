import type { Commands } from '../commands.js';
import type { ClusterFlush } from '../../store/flush.js';
import type { KeyIndex } from './key-index.js';
import type { WatchRegistry } from './watch.js';
import type { Protocol, ReplyWriter } from './reply.js';

/** The Redis version whose command behaviour this front end follows (for clients that look). */
export const REDIS_COMPAT_VERSION = '7.0.0';

export interface PasswordGuard {
  /** Runs `matches` in the turn of `ip` (see src/api/pass-guard.ts); 'busy' = refused unchecked. */
  check(ip: string, matches: () => boolean): Promise<'ok' | 'wrong' | 'busy'>;
}

export interface RespNodeInfo {
  version: string;
  nodeId: string;
  nodeName: string;
  /** GroupWorkMode: owlcache or gossip. */
  mode: string;
  /** ResponseHost:Httpport. */
  httpAddress: string;
  /** Cluster members as this node sees them. */
  members(): { name: string; address: string; state: string }[];
}

/** What the Redis commands need from the node: the command layer and a few facts, nothing of sockets. */
export interface RespDeps {
  commands: Commands;
  /** The node's effective password; empty = no AUTH required. */
  password: string;
  passGuard?: PasswordGuard;
  node: () => RespNodeInfo;
  keyIndex: KeyIndex;
  maxMemory: number;
  watches: WatchRegistry;
  clients: ClientRegistry;
  /** FLUSHALL / FLUSHDB: the cluster-wide flush. */
  flush: ClusterFlush;
  /** SAVE / BGSAVE / LASTSAVE: the data directory's snapshot; absent when the node keeps none. */
  snapshots?: SnapshotControl;
  /** WAIT: the live peers and a push-pull round with each. */
  replicas?: ReplicaControl;
}

export interface SnapshotControl {
  save(): Promise<void>;
  /** When the last snapshot was written (ms since the epoch). */
  lastSaveAt(): number;
}

export interface ReplicaControl {
  count(): number;
  /** One push-pull round with every live peer; each settles when that peer has this node's writes (or failed). */
  confirm(): Promise<void>[];
}

/** Per-connection state. */
export interface Connection {
  readonly id: number;
  readonly ip: string;
  authed: boolean;
  name: string | null;
  /** Set by QUIT: close once the replies are written. */
  quit: boolean;
  /** RESP2 until HELLO 3. */
  proto: Protocol;
  /** The commands queued since MULTI, or null outside a transaction. */
  multi: QueuedTransaction | null;
  /** Keys under WATCH, and whether one of them changed since. */
  readonly watch: WatchState;
  readonly createdAt: number;
  /** The client's and this node's ends of the connection, host:port. */
  readonly addr: string;
  readonly laddr: string;
  /** When the last command arrived (ms), and its name (CLIENT LIST). */
  lastActiveAt: number;
  lastCommand: string;
  /** CLIENT NO-EVICT / NO-TOUCH: remembered and reported; this node's eviction does not depend on connections. */
  noEvict: boolean;
  noTouch: boolean;
}

export interface QueuedTransaction {
  readonly commands: Buffer[][];
  /** A command was refused while queueing: EXEC answers EXECABORT. */
  failed: boolean;
}

export interface WatchState {
  readonly keys: Set<string>;
  dirty: boolean;
}

export function newConnection(
  id: number,
  ip: string,
  authed: boolean,
  ends: { addr: string; laddr: string } = { addr: `${ip}:0`, laddr: '' },
  now = Date.now(),
): Connection {
  return {
    id,
    ip,
    authed,
    ...ends,
    name: null,
    quit: false,
    proto: 2,
    multi: null,
    watch: { keys: new Set(), dirty: false },
    createdAt: now,
    lastActiveAt: now,
    lastCommand: 'NULL',
    noEvict: false,
    noTouch: false,
  };
}

/** The node's open Redis connections (CLIENT LIST, CLIENT KILL). */
export interface ClientRegistry {
  list(): Connection[];
  /** Closes the connection once its pending replies are written; false if there is none with that id. */
  kill(id: number): boolean;
}

/** Counters and facts shared by all connections (INFO). */
export interface ServerStats {
  readonly startedAt: number;
  port: number;
  connectedClients: number;
  totalConnections: number;
  totalCommands: number;
  hits: number;
  misses: number;
  rejectedConnections: number;
}

/** Everything one command's handler gets: the node, the connection, the words of the command and where to reply. */
export interface RespContext {
  readonly deps: RespDeps;
  readonly conn: Connection;
  /** The command's words, its name first. */
  readonly args: Buffer[];
  readonly out: ReplyWriter;
  readonly stats: ServerStats;
}
