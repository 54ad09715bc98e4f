import type { Commands } from '../commands.js';
import type { KeyIndex } from './key-index.js';
import type { ReplyWriter } from './reply.js';

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
}

/** Per-connection state. */
export interface Connection {
  readonly id: number;
  readonly ip: string;
  authed: boolean;
  name: string | null;
  /** Set by QUIT: close once the replies are written. */
  quit: boolean;
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
