import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { clientAddress } from '../client-address.js';
import { SocketServer, closeSocket, type ConnectionCaps } from '../listener.js';
import type { Commands } from '../commands.js';
import { logger } from '../../log.js';
import { ClusterFlush } from '../../store/flush.js';
import {
  newConnection,
  type ReplicaControl,
  type SnapshotControl,
  type ClientRegistry,
  type Connection,
  type PasswordGuard,
  type RespDeps,
  type RespNodeInfo,
  type ServerStats,
} from './context.js';
import { dispatch, refuse, startsAuthed } from './dispatch.js';
import { countedDispatch } from './counted.js';
import type { Metrics } from '../../metrics/metrics.js';
import { KeyIndex } from './key-index.js';
import { SetRun, SetTurn } from './set-run.js';
import { plainGet, plainGetKey } from './plain-get.js';
import { RespParser, RespProtocolError, DEFAULT_LIMITS, OVERSIZED_COMMAND, PLAIN_GET, PLAIN_SET } from './parser.js';
import { WatchRegistry } from './watch.js';
import { ReplyWriter } from './reply.js';

const log = logger('resp');

/** Replies queued in a socket past this many bytes stop the reading of further commands until they drain. */
export const WRITE_HIGH_WATER = 1024 * 1024;
/** Replies collected past this size are handed to the socket before the batch ends. */
const FLUSH_AT = 256 * 1024;
/** Slack over MaxValueSize for a bulk argument (Redis tools add nothing, but leave room). */
const BULK_SLACK = 64 * 1024;

export interface RespServerOptions {
  host: string;
  port: number;
  commands: Commands;
  /** The node's effective password (AUTH); empty = none required. */
  password: string;
  passGuard?: PasswordGuard;
  node: () => RespNodeInfo;
  maxMemory: number;
  /** Most arguments in one command. */
  maxArgs?: number;
  /** Idle connections are closed after this many ms; 0 = never (RespIdleTimeout). */
  idleTimeoutMs?: number;
  /** MaxConnections / MaxConnectionsPerClient. */
  caps?: ConnectionCaps;
  /** The node's flush item; default: one of this store alone, kept nowhere. */
  flush?: ClusterFlush;
  snapshots?: SnapshotControl;
  replicas?: ReplicaControl;
  /** Counts commands (absent = not counted). */
  metrics?: Metrics;
}

/** The Redis protocol (RESP2) listener. */
export class RespServer extends SocketServer {
  private readonly deps: RespDeps;
  private readonly stats: ServerStats;
  private nextId = 1;
  /** Plain SETs of every connection in one event-loop turn, written to the append log together (set-run.ts). */
  private readonly setTurn: SetTurn;
  /** Open connections by id, with the function that closes each (CLIENT LIST / KILL). */
  private readonly open = new Map<number, { conn: Connection; kill: () => void }>();

  constructor(private readonly opts: RespServerOptions) {
    super(opts, (err) => log.error('RESP server error: %s', err.message));
    const flush = opts.flush ?? new ClusterFlush(opts.commands.store, null);
    this.deps = {
      commands: opts.commands,
      password: opts.password,
      ...(opts.passGuard ? { passGuard: opts.passGuard } : {}),
      node: opts.node,
      keyIndex: new KeyIndex(opts.commands.store),
      maxMemory: opts.maxMemory,
      watches: new WatchRegistry(opts.commands.store, flush),
      clients: this.registry(),
      flush,
      ...(opts.snapshots ? { snapshots: opts.snapshots } : {}),
      ...(opts.replicas ? { replicas: opts.replicas } : {}),
    };
    this.setTurn = new SetTurn(this.deps);
    this.stats = {
      startedAt: Date.now(),
      port: 0,
      connectedClients: 0,
      totalConnections: 0,
      totalCommands: 0,
      hits: 0,
      misses: 0,
      rejectedConnections: 0,
    };
  }

  protected override listening(address: AddressInfo): void {
    this.stats.port = address.port;
  }

  protected override closed(): void {
    this.deps.keyIndex.close();
    this.deps.watches.close();
  }

  private registry(): ClientRegistry {
    return {
      list: () => [...this.open.values()].map((c) => c.conn),
      kill: (id) => {
        const c = this.open.get(id);
        if (c === undefined) return false;
        c.kill();
        return true;
      },
    };
  }

  protected refusal(message: string): string {
    this.stats.rejectedConnections += 1;
    return `-ERR ${message}\r\n`;
  }

  protected accept(socket: net.Socket): void {
    const { deps, stats } = this;
    stats.connectedClients += 1;
    stats.totalConnections += 1;
    this.connections.add(socket, () => {
      stats.connectedClients -= 1;
    });
    socket.on('error', (err) => log.debug('connection error: %s', err.message));
    const idleMs = this.opts.idleTimeoutMs ?? 0;
    if (idleMs > 0) {
      socket.setTimeout(idleMs, () => {
        log.debug('closing idle connection from %s', socket.remoteAddress);
        closeSocket(socket);
      });
    }

    const ip = clientAddress(socket);
    const host = (h: string) => (h.includes(':') ? `[${h}]` : h);
    const conn = newConnection(this.nextId++, ip, startsAuthed(deps), {
      addr: `${host(ip)}:${socket.remotePort ?? 0}`,
      laddr: `${host(socket.localAddress ?? '')}:${socket.localPort ?? 0}`,
    });
    const parser = new RespParser(
      {
        ...DEFAULT_LIMITS,
        maxBulk: deps.commands.limits.maxValueSize + BULK_SLACK,
        maxArgs: this.opts.maxArgs ?? DEFAULT_LIMITS.maxArgs,
        maxCommandBytes: Math.max(256 * 1024 * 1024, 2 * (deps.commands.limits.maxValueSize + BULK_SLACK)),
      },
      conn.authed,
    );
    const out = new ReplyWriter();
    const setRun = new SetRun(deps, conn, out, stats, this.opts.metrics);
    /** Waiting for the socket to drain, or for a command that takes time (AUTH slowed down). */
    let waiting = false;
    let done = false;

    const finish = () => {
      done = true;
      setRun.store();
      out.flush(socket);
      closeSocket(socket);
    };
    this.open.set(conn.id, { conn, kill: () => (waiting ? closeSocket(socket) : finish()) });
    socket.once('close', () => {
      this.open.delete(conn.id);
      deps.watches.unwatch(conn.watch);
    });

    const work = (): void => {
      let idle = false;
      while (!done && !socket.writableEnded) {
        if (socket.writableLength > WRITE_HIGH_WATER) {
          // The client is not reading its replies: stop reading its commands until it does.
          waiting = true;
          socket.pause();
          socket.once('drain', resume);
          break;
        }
        // AUTH (answered before the next command is parsed) lifts the unauthenticated limits.
        if (conn.authed) parser.authenticate();
        if (conn.authed && conn.multi === null) {
          const plain = parser.nextPlain();
          if (plain === PLAIN_SET) {
            setRun.add(parser.plainKey, parser.plainValue);
            continue;
          }
          if (plain === PLAIN_GET) {
            if (setRun.size > 0) setRun.store();
            plainGetKey(deps, conn, parser.plainKey, out, stats, this.opts.metrics);
            if (out.size > FLUSH_AT) out.flush(socket);
            continue;
          }
        }
        let args: Buffer[] | null;
        try {
          args = parser.next();
        } catch (err) {
          if (!(err instanceof RespProtocolError)) throw err;
          log.debug('protocol error from %s: %s', conn.ip, err.message);
          setRun.store();
          out.error(`ERR ${err.message}`);
          return finish();
        }
        if (args === null) {
          idle = true;
          break;
        }
        // Only a three-word command can be a plain SET: everything else skips the run's checks.
        if (args.length === 3 && args !== OVERSIZED_COMMAND && setRun.take(args)) continue;
        if (setRun.size > 0) setRun.store();
        if (args.length === 2 && plainGet(deps, conn, args, out, stats, this.opts.metrics)) {
          if (out.size > FLUSH_AT) out.flush(socket);
          continue;
        }
        let pending: unknown;
        try {
          if (args === OVERSIZED_COMMAND) refuse(conn, out, `ERR value is larger than MaxValueSize (${deps.commands.limits.maxValueSize} bytes)`);
          else pending = this.opts.metrics ? countedDispatch(this.opts.metrics, deps, conn, args, out, stats) : dispatch(deps, conn, args, out, stats);
        } catch (err) {
          log.error('RESP command failed: %s', (err as Error).stack ?? String(err));
          out.error('ERR internal error');
        }
        if (conn.quit) return finish();
        if (pending instanceof Promise) {
          waiting = true;
          socket.pause();
          pending.then(resume, (err: unknown) => {
            log.error('RESP command failed: %s', (err as Error)?.stack ?? String(err));
            out.error('ERR internal error');
            resume();
          });
          break;
        }
        if (out.size > FLUSH_AT) out.flush(socket);
      }
      if (idle && setRun.size > 0 && !done && !socket.writableEnded) {
        // Nothing more to read: the run is stored with the other connections' of this turn, then answered.
        waiting = true;
        socket.pause();
        this.setTurn.join(setRun, resume);
        return;
      }
      setRun.store();
      if (!done && !socket.writableEnded) out.flush(socket);
    };

    function resume(): void {
      if (done || socket.destroyed || socket.writableEnded) return;
      waiting = false;
      socket.resume();
      work();
    }

    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      if (!waiting) work();
    });
  }
}
