import type { Socket } from 'node:net';
import { Commands } from '../../src/api/commands.js';
import { newConnection, type Connection, type RespDeps, type RespNodeInfo, type ServerStats } from '../../src/api/resp/context.js';
import { dispatch, startsAuthed } from '../../src/api/resp/dispatch.js';
import { KeyIndex } from '../../src/api/resp/key-index.js';
import { ReplyWriter } from '../../src/api/resp/reply.js';
import { WatchRegistry } from '../../src/api/resp/watch.js';
import { ClusterFlush } from '../../src/store/flush.js';
import { Store } from '../../src/store/store.js';

/** A store's flush item and the WATCH registry that hears of it. */
export function withFlush(store: Store) {
  const flush = new ClusterFlush(store, null);
  return { flush, watches: new WatchRegistry(store, flush) };
}

/** The bytes a ReplyWriter would put on the wire. */
export function wire(out: ReplyWriter): string {
  let text = '';
  const socket = {
    write: (chunk: string | Buffer, encoding?: BufferEncoding) => {
      text += typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8').toString('latin1') : chunk.toString('latin1');
      return true;
    },
    cork: () => {},
    uncork: () => {},
  };
  out.flush(socket as unknown as Socket);
  return text;
}

export const NODE: RespNodeInfo = {
  version: '0.0.0-test',
  nodeId: 'unit-node',
  nodeName: 'unit',
  mode: 'owlcache',
  httpAddress: '127.0.0.1:7721',
  members: () => [{ name: 'unit', address: '127.0.0.1:7721', state: 'alive' }],
};

/**
 * The Redis dispatcher over a real in-memory store and command layer, with as
 * many connections as a test opens (`connect()`); `run` speaks on the first.
 */
export function respHarness(opts: { password?: string; store?: Store; maxValueSize?: number; deps?: Partial<RespDeps> } = {}) {
  const store = opts.store ?? new Store({ nodeId: 'unit-node' });
  const conns: Connection[] = [];
  const deps: RespDeps = {
    commands: new Commands(store, { maxKeyLength: 250, maxValueSize: opts.maxValueSize ?? 1024 }),
    password: opts.password ?? '',
    node: () => NODE,
    keyIndex: new KeyIndex(store),
    maxMemory: 0,
    ...withFlush(store),
    clients: {
      list: () => conns,
      kill: (id) => {
        const c = conns.find((x) => x.id === id);
        if (c !== undefined) c.quit = true;
        return c !== undefined;
      },
    },
    ...opts.deps,
  };
  const stats: ServerStats = {
    startedAt: Date.now(),
    port: 7722,
    connectedClients: 1,
    totalConnections: 1,
    totalCommands: 0,
    hits: 0,
    misses: 0,
    rejectedConnections: 0,
  };
  const connect = () => {
    const conn = newConnection(conns.length + 1, '127.0.0.1', startsAuthed(deps));
    conns.push(conn);
    const out = new ReplyWriter();
    const run = async (...words: (string | Buffer)[]): Promise<string> => {
      await dispatch(
        deps,
        conn,
        words.map((w) => (Buffer.isBuffer(w) ? w : Buffer.from(w))),
        out,
        stats,
      );
      return wire(out);
    };
    return { conn, run };
  };
  const first = connect();
  return { store, deps, stats, conn: first.conn, run: first.run, connect };
}
