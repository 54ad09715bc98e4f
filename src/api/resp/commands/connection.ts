import { passwordMatches } from '../../auth.js';
import { ERR_INT, ERR_SYNTAX, lower, parseInteger, unknownSubcommand, wrongArity } from '../args.js';
import { NO_KEYS, type CommandSpec, type Handler } from '../command-spec.js';
import { REDIS_COMPAT_VERSION, type Connection, type RespContext } from '../context.js';
import { EMPTY_ARRAY, OK, PONG } from '../reply.js';

/** Connection commands: authentication, client identity, liveness. */

const ERR_WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
const ERR_CLIENT_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.';
const validClientName = (name: string) => /^[\x21-\x7e]*$/.test(name);

const ERR_PASS_BUSY = 'ERR too many password attempts are waiting; try again later';

/** 'busy' when the guard refused the attempt unchecked. */
async function checkPassword({ deps, conn }: RespContext, user: Buffer | null, pass: Buffer): Promise<boolean | 'busy'> {
  // Only the default user exists; its password is the node's Pass.
  const matches = () => passwordMatches(pass, deps.password) && (user === null || user.toString('latin1') === 'default');
  const outcome = deps.passGuard ? await deps.passGuard.check(conn.ip, matches) : matches() ? 'ok' : 'wrong';
  if (outcome === 'busy') return 'busy';
  if (outcome === 'ok') conn.authed = true;
  return outcome === 'ok';
}

const auth: Handler = async (ctx) => {
  const { deps, args, out } = ctx;
  if (args.length > 3) return out.error(ERR_SYNTAX);
  if (deps.password === '') {
    return out.error('ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?');
  }
  const ok = await checkPassword(ctx, args.length === 3 ? args[1]! : null, args[args.length - 1]!);
  if (ok === 'busy') out.error(ERR_PASS_BUSY);
  else if (ok) out.constant(OK);
  else out.error(ERR_WRONGPASS);
};

const hello: Handler = async (ctx) => {
  const { deps, conn, args, out } = ctx;
  let i = 1;
  let proto: 2 | 3 | null = null;
  if (args.length > 1) {
    const asked = parseInteger(args[1]!);
    if (asked === null) return out.error('ERR Protocol version is not an integer or out of range');
    if (asked !== 2 && asked !== 3) return out.error('NOPROTO unsupported protocol version');
    proto = asked;
    i = 2;
  }
  let setName: string | null = null;
  let credentials: [Buffer, Buffer] | null = null;
  for (; i < args.length; i++) {
    const opt = lower(args[i]!);
    const left = args.length - i - 1;
    if (opt === 'auth' && left >= 2) {
      credentials = [args[i + 1]!, args[i + 2]!];
      i += 2;
    } else if (opt === 'setname' && left >= 1) {
      setName = args[++i]!.toString('utf8');
      if (!validClientName(setName)) return out.error(ERR_CLIENT_NAME);
    } else {
      return out.error(`ERR Syntax error in HELLO option '${args[i]!.toString('utf8')}'`);
    }
  }
  if (credentials !== null) {
    if (deps.password === '') return out.error(ERR_WRONGPASS);
    const ok = await checkPassword(ctx, credentials[0], credentials[1]);
    if (ok !== true) return out.error(ok === 'busy' ? ERR_PASS_BUSY : ERR_WRONGPASS);
  }
  if (!conn.authed) {
    return out.error(
      'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time',
    );
  }
  if (setName !== null) conn.name = setName === '' ? null : setName;
  // The switch applies to this very reply, as in Redis.
  if (proto !== null) conn.proto = out.proto = proto;
  out.mapHeader(7);
  out.bulk('server');
  out.bulk('redis');
  out.bulk('version');
  out.bulk(REDIS_COMPAT_VERSION);
  out.bulk('proto');
  out.integer(out.proto);
  out.bulk('id');
  out.integer(conn.id);
  out.bulk('mode');
  out.bulk('standalone');
  out.bulk('role');
  out.bulk('master');
  out.bulk('modules');
  out.constant(EMPTY_ARRAY);
};

/** One line of CLIENT LIST / CLIENT INFO, with Redis 7's fields (those this node has no notion of are 0). */
function clientLine(c: Connection, now: number): string {
  const flags = `${c.multi !== null ? 'x' : ''}${c.noEvict ? 'e' : ''}${c.noTouch ? 'T' : ''}` || 'N';
  return (
    `id=${c.id} addr=${c.addr} laddr=${c.laddr} fd=-1 name=${c.name ?? ''} age=${Math.floor((now - c.createdAt) / 1000)} ` +
    `idle=${Math.floor((now - c.lastActiveAt) / 1000)} flags=${flags} db=0 sub=0 psub=0 ssub=0 multi=${c.multi?.commands.length ?? -1} ` +
    `qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=${c.lastCommand} ` +
    `user=default redir=-1 resp=${c.proto}\n`
  );
}

/** CLIENT KILL addr | CLIENT KILL [ID id] [ADDR addr] [LADDR addr] [USER name] [SKIPME yes|no] … */
function clientKill({ deps, conn, args, out }: RespContext): void {
  if (args.length === 3) {
    const addr = args[2]!.toString('utf8');
    const target = deps.clients.list().find((c) => c.addr === addr);
    if (target === undefined) return out.error('ERR No such client');
    deps.clients.kill(target.id);
    return out.constant(OK);
  }
  if (args.length % 2 !== 0) return out.error(ERR_SYNTAX);
  const tests: ((c: Connection) => boolean)[] = [];
  let skipMe = true;
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]!);
    const v = args[i + 1]!.toString('utf8');
    if (opt === 'id') {
      const id = parseInteger(args[i + 1]!);
      if (id === null || id <= 0) return out.error('ERR client-id should be greater than 0');
      tests.push((c) => c.id === id);
    } else if (opt === 'addr') tests.push((c) => c.addr === v);
    else if (opt === 'laddr') tests.push((c) => c.laddr === v);
    else if (opt === 'user') tests.push(() => v === 'default');
    else if (opt === 'skipme') {
      const yes = v.toLowerCase();
      if (yes !== 'yes' && yes !== 'no') return out.error(ERR_SYNTAX);
      skipMe = yes === 'yes';
    } else if (opt === 'type') {
      const t = v.toLowerCase();
      if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) return out.error(`ERR Unknown client type '${v}'`);
      tests.push(() => t === 'normal');
    } else return out.error(ERR_SYNTAX);
  }
  let killed = 0;
  for (const c of deps.clients.list()) {
    if ((skipMe && c === conn) || !tests.every((t) => t(c))) continue;
    if (deps.clients.kill(c.id)) killed++;
  }
  out.integer(killed);
}

const onOff = (b: Buffer | undefined): boolean | null => {
  const v = b === undefined ? '' : lower(b);
  return v === 'on' ? true : v === 'off' ? false : null;
};

const client: Handler = (ctx) => {
  const { deps, conn, args, out } = ctx;
  switch (lower(args[1]!)) {
    case 'list': {
      const now = Date.now();
      let chosen = deps.clients.list();
      if (args.length >= 4 && lower(args[2]!) === 'id') {
        const ids = args.slice(3).map(parseInteger);
        if (ids.some((id) => id === null || id <= 0)) return out.error('ERR Invalid client ID');
        chosen = chosen.filter((c) => ids.includes(c.id));
      } else if (args.length === 4 && lower(args[2]!) === 'type') {
        const t = lower(args[3]!);
        if (!['normal', 'master', 'replica', 'slave', 'pubsub'].includes(t)) return out.error(`ERR Unknown client type '${args[3]!.toString('utf8')}'`);
        if (t !== 'normal') chosen = [];
      } else if (args.length !== 2) return out.error(ERR_SYNTAX);
      return out.verbatim(chosen.map((c) => clientLine(c, now)).join(''));
    }
    case 'info':
      if (args.length !== 2) return out.error(wrongArity('client|info'));
      return out.verbatim(clientLine(conn, Date.now()));
    case 'kill':
      if (args.length < 3) return out.error(wrongArity('client|kill'));
      return clientKill(ctx);
    case 'no-evict':
    case 'no-touch': {
      if (args.length !== 3) return out.error(wrongArity(`client|${lower(args[1]!)}`));
      const on = onOff(args[2]);
      if (on === null) return out.error(ERR_SYNTAX);
      if (lower(args[1]!) === 'no-evict') conn.noEvict = on;
      else conn.noTouch = on;
      return out.constant(OK);
    }
    case 'setname': {
      if (args.length !== 3) return out.error(wrongArity('client|setname'));
      const name = args[2]!.toString('utf8');
      if (!validClientName(name)) return out.error(ERR_CLIENT_NAME);
      conn.name = name === '' ? null : name;
      return out.constant(OK);
    }
    case 'getname':
      return out.bulk(conn.name);
    case 'id':
      return out.integer(conn.id);
    case 'setinfo':
      // Client libraries announce themselves (lib-name, lib-ver); nothing to keep.
      return args.length === 4 ? out.constant(OK) : out.error(wrongArity('client|setinfo'));
    default:
      return out.error(unknownSubcommand('CLIENT', args[1]!));
  }
};

const ping: Handler = ({ args, out }) => {
  if (args.length > 2) return out.error(wrongArity('ping'));
  if (args.length === 2) return out.bulk(args[1]!);
  out.constant(PONG);
};

const select: Handler = ({ args, out }) => {
  const db = parseInteger(args[1]!);
  if (db === null) return out.error(ERR_INT);
  if (db !== 0) return out.error('ERR DB index is out of range');
  out.constant(OK);
};

const connection = (name: string, arity: number, flags: CommandSpec['flags'], run: Handler): CommandSpec => ({
  name,
  arity,
  flags,
  keys: NO_KEYS,
  categories: ['@connection'],
  run,
});

export const connectionCommands: readonly CommandSpec[] = [
  // PING before AUTH: health checks and load balancers probe without credentials.
  connection('ping', -1, ['fast', 'no_auth'], ping),
  connection('echo', 2, ['fast'], ({ args, out }) => out.bulk(args[1]!)),
  // AUTH and HELLO may wait for the password guard, so they cannot run inside EXEC (Redis queues them).
  connection('auth', -2, ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'no_multi'], auth),
  connection('hello', -1, ['noscript', 'loading', 'stale', 'fast', 'no_auth', 'no_multi'], hello),
  connection('quit', -1, ['noscript', 'loading', 'stale', 'fast', 'no_auth'], ({ conn, out }) => {
    conn.quit = true;
    out.constant(OK);
  }),
  connection('select', 2, ['loading', 'stale', 'fast'], select),
  connection('client', -2, ['noscript', 'loading', 'stale'], client),
];
