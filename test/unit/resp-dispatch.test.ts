import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Commands } from '../../src/api/commands.js';
import { COMMAND_TABLE } from '../../src/api/resp/command-table.js';
import { newConnection, type Connection, type PasswordGuard, type RespDeps, type ServerStats } from '../../src/api/resp/context.js';
import { dispatch, startsAuthed } from '../../src/api/resp/dispatch.js';
import { KeyIndex } from '../../src/api/resp/key-index.js';
import { ReplyWriter } from '../../src/api/resp/reply.js';
import { NODE, wire, withFlush } from '../helpers/resp-harness.js';
import { Store } from '../../src/store/store.js';

/** A dispatcher over a real in-memory store and command layer, with one connection. */
function harness(opts: { password?: string; store?: Store; passGuard?: PasswordGuard } = {}) {
  const store = opts.store ?? new Store({ nodeId: 'unit-node' });
  const deps: RespDeps = {
    commands: new Commands(store, { maxKeyLength: 250, maxValueSize: 1024 }),
    password: opts.password ?? '',
    ...(opts.passGuard ? { passGuard: opts.passGuard } : {}),
    node: () => NODE,
    keyIndex: new KeyIndex(store),
    maxMemory: 0,
    ...withFlush(store),
    clients: { list: () => [], kill: () => false },
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
  const conn: Connection = newConnection(7, '127.0.0.1', startsAuthed(deps));
  const run = async (...words: (string | Buffer)[]): Promise<string> => {
    const out = new ReplyWriter();
    await dispatch(
      deps,
      conn,
      words.map((w) => (Buffer.isBuffer(w) ? w : Buffer.from(w))),
      out,
      stats,
    );
    return wire(out);
  };
  return { store, deps, stats, conn, run };
}

/** Words that satisfy a command's arity: the name and enough placeholder arguments. */
function wordsFitting(name: string, arity: number): string[] {
  return [name, ...Array.from({ length: Math.abs(arity) - 1 }, (_, i) => `arg${i}`)];
}

describe('RESP dispatch', () => {
  test("every command with a fixed or minimum arity refuses other word counts with Redis's text", async () => {
    const { run } = harness();
    let checked = 0;
    for (const spec of COMMAND_TABLE.values()) {
      const expected = `-ERR wrong number of arguments for '${spec.name}' command\r\n`;
      if (spec.arity > 0) assert.equal(await run(...wordsFitting(spec.name, spec.arity), 'extra'), expected, spec.name);
      if (Math.abs(spec.arity) > 1) assert.equal(await run(...wordsFitting(spec.name, spec.arity).slice(0, -1)), expected, spec.name);
      checked += 1;
    }
    assert.equal(checked, COMMAND_TABLE.size);
    assert.equal(await run('GET'), "-ERR wrong number of arguments for 'get' command\r\n");
    assert.equal(await run('gEt', 'a', 'b'), "-ERR wrong number of arguments for 'get' command\r\n");
    // Arity beyond the table: MSET needs pairs, PING at most one message.
    assert.equal(await run('MSET', 'a', '1', 'b'), "-ERR wrong number of arguments for 'mset' command\r\n");
    assert.equal(await run('PING', 'a', 'b'), "-ERR wrong number of arguments for 'ping' command\r\n");
  });

  test('an unknown command is named with its first arguments, each cut to fit', async () => {
    const { run } = harness();
    assert.equal(await run('FOO', 'bar', 'baz'), "-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n");
    assert.equal(await run('NOSUCH'), "-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    const reply = await run('X'.repeat(300), 'y'.repeat(300), 'z');
    assert.equal(reply, `-ERR unknown command '${'X'.repeat(128)}', with args beginning with: '${'y'.repeat(128)}' \r\n`);
    assert.equal(await run('FOO', 'a\r\nb'), "-ERR unknown command 'FOO', with args beginning with: 'a b' \r\n");
  });

  test('with a password, only the no_auth commands (PING, AUTH, HELLO, QUIT) run before AUTH', async () => {
    const password = 'unit-test-password-42';
    const h = harness({ password });
    assert.equal(h.conn.authed, false);
    const allowed = [...COMMAND_TABLE.values()]
      .filter((s) => s.flags.includes('no_auth'))
      .map((s) => s.name)
      .sort();
    assert.deepEqual(allowed, ['auth', 'hello', 'ping', 'quit']);
    for (const spec of COMMAND_TABLE.values()) {
      if (spec.flags.includes('no_auth')) continue;
      assert.equal(await h.run(...wordsFitting(spec.name, spec.arity)), '-NOAUTH Authentication required.\r\n', spec.name);
    }
    assert.equal(h.store.stats().keys, 0);
    assert.equal(await h.run('PING'), '+PONG\r\n');
    assert.equal(await h.run('AUTH', 'wrong-password'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(await h.run('AUTH', 'someone', password), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(h.conn.authed, false);
    assert.equal(await h.run('AUTH', 'default', password), '+OK\r\n');
    assert.equal(h.conn.authed, true);
    assert.equal(await h.run('SET', 'k', 'v'), '+OK\r\n');
    assert.equal(await h.run('GET', 'k'), '$1\r\nv\r\n');
    assert.equal(await h.run('QUIT'), '+OK\r\n');
    assert.equal(h.conn.quit, true);
  });

  test("AUTH runs its check in the password guard's turn, and answers its outcome", async () => {
    const calls: string[] = [];
    const passGuard: PasswordGuard = {
      check: async (ip, matches) => {
        calls.push(`begin ${ip}`);
        await new Promise((r) => setTimeout(r, 20));
        const ok = matches();
        calls.push(`end ${ip} ${ok}`);
        return ok ? 'ok' : 'wrong';
      },
    };
    const h = harness({ password: 'unit-test-password-42', passGuard });
    const out = new ReplyWriter();
    const pending = dispatch(h.deps, h.conn, [Buffer.from('AUTH'), Buffer.from('nope')], out, h.stats);
    assert.ok(pending instanceof Promise, 'a slowed-down AUTH is asynchronous');
    assert.equal(wire(out), '', 'no reply before the delay');
    await pending;
    assert.equal(wire(out), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.equal(await h.run('HELLO', '2', 'AUTH', 'default', 'unit-test-password-42').then((r) => r.slice(0, 4)), '*14\r');
    assert.deepEqual(calls, ['begin 127.0.0.1', 'end 127.0.0.1 false', 'begin 127.0.0.1', 'end 127.0.0.1 true']);
  });

  test("string and key commands reply with Redis's bytes", async () => {
    const { run, stats } = harness();
    assert.equal(await run('SET', 'k', 'v'), '+OK\r\n');
    assert.equal(await run('GET', 'k'), '$1\r\nv\r\n');
    assert.equal(await run('GET', 'missing'), '$-1\r\n');
    assert.equal(stats.hits, 1);
    assert.equal(stats.misses, 1);
    assert.equal(await run('SET', 'k', 'w', 'NX'), '$-1\r\n');
    assert.equal(await run('SET', 'k', 'w', 'XX', 'GET'), '$1\r\nv\r\n');
    assert.equal(await run('SET', 'k', 'x', 'EX', '0'), "-ERR invalid expire time in 'set' command\r\n");
    assert.equal(await run('SET', 'k', 'x', 'EX', 'ten'), '-ERR value is not an integer or out of range\r\n');
    assert.equal(await run('SET', 'k', 'x', 'BOGUS'), '-ERR syntax error\r\n');
    assert.equal(await run('MSET', 'a', '1', 'b', '2'), '+OK\r\n');
    assert.equal(await run('MGET', 'a', 'nope', 'b'), '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n');
    assert.equal(await run('EXISTS', 'a', 'b', 'nope', 'a'), ':3\r\n');
    assert.equal(await run('TTL', 'a'), ':-1\r\n');
    assert.equal(await run('TTL', 'nope'), ':-2\r\n');
    assert.equal(await run('EXPIRE', 'a', '100'), ':1\r\n');
    assert.equal(await run('TTL', 'a'), ':100\r\n');
    assert.equal(await run('EXPIRE', 'a', '50', 'GT'), ':0\r\n');
    assert.equal(await run('PERSIST', 'a'), ':1\r\n');
    assert.equal(await run('EXPIRE', 'a', '0'), ':1\r\n');
    assert.equal(await run('EXISTS', 'a'), ':0\r\n');
    assert.equal(await run('TYPE', 'b'), '+string\r\n');
    assert.equal(await run('TYPE', 'nope'), '+none\r\n');
    assert.equal(await run('STRLEN', 'k'), ':1\r\n');
    assert.equal(await run('DEL', 'b', 'k', 'nope'), ':2\r\n');
    assert.equal(await run('DBSIZE'), ':0\r\n');
    assert.equal(await run('GET', Buffer.from([0xff, 0xfe])), '-ERR invalid key: OwlCache keys must be valid UTF-8\r\n');
    assert.equal(await run('SET', 'big', Buffer.alloc(2000)), '-ERR value is larger than MaxValueSize (1024 bytes)\r\n');
    assert.equal(await run('SELECT', '1'), '-ERR DB index is out of range\r\n');
    assert.equal(await run('ECHO', 'hi'), '$2\r\nhi\r\n');
    assert.equal(await run('CLIENT', 'SETNAME', 'me'), '+OK\r\n');
    assert.equal(await run('CLIENT', 'GETNAME'), '$2\r\nme\r\n');
    assert.equal(await run('CLIENT', 'NOPE'), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n");
    const before = stats.totalCommands;
    await run('NOSUCH');
    await run('GET');
    assert.equal(stats.totalCommands, before + 2, 'refused commands count too');
  });

  test("COMMAND answers from the table, in Redis 7's shape", async () => {
    const { run } = harness();
    assert.equal(await run('COMMAND', 'COUNT'), `:${COMMAND_TABLE.size}\r\n`);
    assert.equal(await run('COMMAND', 'COUNT', 'x'), "-ERR wrong number of arguments for 'command|count' command\r\n");
    const getInfo = '*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n';
    const msetInfo = '*10\r\n$4\r\nmset\r\n:-3\r\n*2\r\n+write\r\n+denyoom\r\n:1\r\n:-1\r\n:2\r\n*3\r\n+@write\r\n+@string\r\n+@slow\r\n*0\r\n*0\r\n*0\r\n';
    assert.equal(await run('COMMAND', 'INFO', 'GET', 'nosuch', 'mset'), `*3\r\n${getInfo}$-1\r\n${msetInfo}`);
    const all = await run('COMMAND');
    assert.ok(all.startsWith(`*${COMMAND_TABLE.size}\r\n*10\r\n`), all.slice(0, 40));
    assert.ok(all.includes(getInfo) && all.includes(msetInfo));
    assert.equal(await run('COMMAND', 'INFO'), all);
    const list = await run('COMMAND', 'LIST');
    assert.equal(list.split('\r\n').filter((l) => l.startsWith('$')).length, COMMAND_TABLE.size);
    assert.equal(await run('COMMAND', 'LIST', 'FILTERBY', 'PATTERN', 'p*tl'), '*1\r\n$4\r\npttl\r\n');
    assert.equal(await run('COMMAND', 'LIST', 'FILTERBY', 'ACLCAT', 'admin'), '*3\r\n$6\r\nconfig\r\n$4\r\nsave\r\n$6\r\nbgsave\r\n');
    assert.equal(await run('COMMAND', 'GETKEYS', 'MSET', 'a', '1', 'b', '2'), '*2\r\n$1\r\na\r\n$1\r\nb\r\n');
    assert.equal(await run('COMMAND', 'GETKEYS', 'DEL', 'x', 'y', 'z'), '*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n');
    assert.equal(await run('COMMAND', 'GETKEYS', 'GET'), '-ERR Invalid number of arguments specified for command\r\n');
    assert.equal(await run('COMMAND', 'GETKEYS', 'PING', 'x'), '-ERR The command has no key arguments\r\n');
    assert.equal(await run('COMMAND', 'GETKEYS', 'NOSUCH', 'x'), '-ERR Invalid command specified\r\n');
    assert.equal(await run('COMMAND', 'DOCS', 'incr'), '*2\r\n$4\r\nincr\r\n*2\r\n$5\r\ngroup\r\n$6\r\nstring\r\n');
    assert.equal(await run('COMMAND', 'BOGUS'), "-ERR unknown subcommand 'BOGUS'. Try COMMAND HELP.\r\n");
  });

  test('INFO comes from counters: it never walks the store', async () => {
    // A store whose walk throws: INFO must not need it (ioredis sends INFO on every connect).
    class NoWalkStore extends Store {
      override entries(): IterableIterator<never> {
        throw new Error('INFO walked the store');
      }
    }
    const { run } = harness({ store: new NoWalkStore({ nodeId: 'unit-node' }) });
    assert.equal(await run('SET', 'plain', 'v'), '+OK\r\n');
    assert.equal(await run('SET', 'timed', 'v', 'EX', '100'), '+OK\r\n');
    assert.equal(await run('SETEX', 'timed2', '100', 'v'), '+OK\r\n');
    assert.equal(await run('PERSIST', 'timed2'), ':1\r\n');
    assert.equal(await run('GET', 'plain'), '$1\r\nv\r\n');
    const bulk = await run('INFO');
    const text = bulk.slice(bulk.indexOf('\r\n') + 2);
    for (const s of ['# Server', '# Clients', '# Memory', '# Stats', '# Keyspace', '# Cluster']) assert.ok(text.includes(s), s);
    assert.match(text, /\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n/);
    assert.match(text, /\r\nkeyspace_hits:1\r\n/);
    assert.match(text, /\r\nowlcache_member0:name=unit,address=127\.0\.0\.1:7721,state=alive\r\n/);
    const keyspace = await run('INFO', 'keyspace');
    assert.equal(keyspace, `$44\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n\r\n`);
  });
});
