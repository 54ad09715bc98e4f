import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TEST_PASSWORD, freePort, getToken, startNode, stopAllNodes, type NodeHandle } from '../helpers/node-process.js';
import { looksLikeHttp } from '../../src/api/tcp/protection.js';
import { CaseCounter, assertCanary, assertHealthy, bytesArb, digestOf, exchange, fcParams, plantCanary, runs, type Canary } from './fuzz-helpers.js';

/**
 * The TCP text protocol and the Redis protocol of one long-lived node. TCP: any
 * line gets exactly one answer line (the raw value, an echo, or an envelope;
 * 501 with "Cmd":"" for anything unknown), an over-long line one error line and
 * a clean close, a line that starts like HTTP a close without an answer. RESP: every reply is well-formed RESP, errors are `-ERR…` /
 * `-NOAUTH…` / `-WRONGPASS…`, malformed frames end in an error and a close,
 * and without AUTH nothing in the store changes.
 */

const counter = new CaseCounter('TCP and RESP');
const MAX_LINE = 2048;
let node: NodeHandle;
let token: string;
let canary: Canary;
let respPort: number;

before(async () => {
  respPort = await freePort();
  node = await startNode({ settings: { RespPort: respPort, TcpMaxLine: MAX_LINE, MaxValueSize: '64kb', MaxKeyLength: 256 } });
  token = await getToken(node.httpPort);
  canary = await plantCanary(node, token);
});

after(async () => {
  await stopAllNodes();
  counter.report();
});

const GREETING = 'Owlcache TCP Link Success...\n';
const KNOWN = new Set(['get', 'set', 'expire', 'delete', 'exist', 'ping']);

const tcpLineArb: fc.Arbitrary<Buffer> = fc
  .oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          fc.constantFrom('get', 'set', 'expire', 'delete', 'exist', 'ping', 'GET', 'quit', ''),
          fc.constantFrom(' ', '  ', '\t', ''),
          bytesArb(24),
          fc.constantFrom(' ', ''),
          fc.oneof(
            bytesArb(60),
            fc.constantFrom('info', '10', '-1', '0', 'abc', '99999999999').map((s) => Buffer.from(s)),
          ),
        )
        .map(([c, sp, k, sp2, rest]) => Buffer.concat([Buffer.from(c + sp), k, Buffer.from(sp2), rest])),
    },
    { weight: 2, arbitrary: bytesArb(80) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: MAX_LINE - 2, max: MAX_LINE + 3 })
        .map((n) => Buffer.concat([Buffer.from('set big '), Buffer.alloc(Math.max(0, n - 8), 0x61)])),
    },
  )
  .map((b) => Buffer.from(b.toString('latin1').replace(/\n/g, ' ').replace(/\r$/, ' '), 'latin1'));

describe('TCP text protocol fuzz', () => {
  test('every line gets exactly one answer line; over-long lines are refused with a clean close', async () => {
    const connArb = fc.tuple(fc.array(tcpLineArb, { minLength: 1, maxLength: 12 }), fc.constantFrom('\n', '\r\n'), fc.nat(50));
    await fc.assert(
      fc.asyncProperty(connArb, async ([lines, eol, split]) => {
        counter.add('TCP lines', lines.length);
        const data = Buffer.concat(lines.flatMap((l) => [l, Buffer.from(eol)]));
        // Written in two pieces at an arbitrary point, so lines also arrive split.
        const at = split % (data.length + 1);
        const { data: answer } = await exchange(node.tcpPort, [data.subarray(0, at), data.subarray(at)], 8000);
        const text = answer.toString('latin1');
        assert.ok(text.startsWith(GREETING), `no greeting: ${JSON.stringify(text.slice(0, 100))}`);
        const answers = text.slice(GREETING.length).split('\n');
        assert.equal(answers.pop(), '', 'the last answer is not newline-terminated');
        const overlong = lines.findIndex((l) => l.length + (eol === '\r\n' ? 0 : 0) > MAX_LINE);
        // A line that starts like HTTP (`GET …`) closes the connection unanswered (cross-protocol protection).
        const http = lines.findIndex((l) => l.length <= MAX_LINE && looksLikeHttp(l));
        const expected = http !== -1 && (overlong === -1 || http < overlong) ? http : overlong === -1 ? lines.length : overlong + 1;
        assert.equal(
          answers.length,
          expected,
          `${lines.length} lines (first over-long: ${overlong}) got ${answers.length} answers: ${JSON.stringify(answers.map((a) => a.slice(0, 80)))}`,
        );
        for (let i = 0; i < answers.length; i++) {
          const line = lines[i]!;
          const a = answers[i]!;
          if (i === overlong) {
            const e = JSON.parse(a) as { Status: number };
            assert.equal(e.Status, 500, `over-long line: ${a.slice(0, 200)}`);
            continue;
          }
          const sp = line.indexOf(0x20);
          const word = line.toString('utf8', 0, sp === -1 ? line.length : sp);
          if (!KNOWN.has(word) || (word !== 'ping' && sp === -1)) {
            const e = JSON.parse(a) as { Status: number; Cmd: string };
            assert.equal(e.Status, 501, `line ${JSON.stringify(line.toString('latin1').slice(0, 80))}: ${a.slice(0, 200)}`);
            assert.equal(e.Cmd, '');
          } else if (word === 'set' || word === 'expire' || word === 'delete' || word === 'exist') {
            const e = JSON.parse(a) as { Status: number };
            assert.ok([200, 404, 413, 500, 501].includes(e.Status), `line ${JSON.stringify(line.toString('latin1').slice(0, 80))}: ${a.slice(0, 200)}`);
          }
        }
      }),
      fcParams(runs(250), true),
    );
    await assertHealthy(node, 'TCP fuzz');
  });
});

/** Splits a RESP reply stream into replies; throws if it is not well-formed RESP. Returns the simple/error lines seen. */
function parseReplies(buf: Buffer): { errors: string[]; count: number } {
  let pos = 0;
  const errors: string[] = [];
  let count = 0;
  const line = (): string => {
    const nl = buf.indexOf('\r\n', pos);
    if (nl === -1) throw new Error(`reply cut short at ${pos}: ${JSON.stringify(buf.toString('latin1', pos, pos + 80))}`);
    const s = buf.toString('latin1', pos, nl);
    pos = nl + 2;
    return s;
  };
  const one = (depth: number): void => {
    if (depth > 8) throw new Error('replies nested too deep');
    const l = line();
    const t = l[0];
    if (t === '+') return;
    if (t === '-') {
      errors.push(l.slice(1));
      return;
    }
    if (t === ':') {
      assert.match(l, /^:-?\d+$/);
      return;
    }
    if (t === '$') {
      const n = Number(l.slice(1));
      assert.ok(Number.isInteger(n) && n >= -1, `bad bulk header ${l}`);
      if (n >= 0) {
        assert.equal(buf.toString('latin1', pos + n, pos + n + 2), '\r\n', 'bulk not followed by CRLF');
        pos += n + 2;
      }
      return;
    }
    if (t === '*') {
      const n = Number(l.slice(1));
      assert.ok(Number.isInteger(n) && n >= -1, `bad array header ${l}`);
      for (let i = 0; i < n; i++) one(depth + 1);
      return;
    }
    throw new Error(`not a RESP reply: ${JSON.stringify(l.slice(0, 80))}`);
  };
  while (pos < buf.length) {
    one(0);
    count += 1;
  }
  return { errors, count };
}

const respArgArb = fc.oneof(
  fc.constantFrom('canary', 'k', '', '0', '-1', 'EX', 'PX', 'NX', 'XX', '10', '99999999999999999999', '*', 'GETNAME', 'SETNAME').map((s) => Buffer.from(s)),
  bytesArb(16),
);
const RESP_FUZZ_COMMANDS = [
  'GET',
  'SET',
  'DEL',
  'EXISTS',
  'EXPIRE',
  'PEXPIRE',
  'TTL',
  'PTTL',
  'PERSIST',
  'MGET',
  'MSET',
  'DBSIZE',
  'SCAN',
  'INFO',
  'PING',
  'ECHO',
  'AUTH',
  'HELLO',
  'SELECT',
  'CLIENT',
  'COMMAND',
  'FLUSHALL',
  'KEYS',
  'get',
  'NOSUCH',
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'INCR',
  'INCRBY',
  'APPEND',
  'SETRANGE',
  'GETEX',
  'RENAME',
  'COPY',
  'OBJECT',
  'CONFIG',
  'WAIT',
];
const encodeCmd = (args: Buffer[]) =>
  Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')])]);
const respInputArbOf = (commands: string[]) => {
  const respCmdArb = fc.tuple(fc.constantFrom(...commands), fc.array(respArgArb, { maxLength: 5 }));
  const respInputArb = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.array(respCmdArb, { minLength: 1, maxLength: 5 }).map((cmds) => Buffer.concat(cmds.map(([c, a]) => encodeCmd([Buffer.from(c), ...a])))),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(respCmdArb, fc.nat(200)).map(([[c, a], cut]) => {
        const b = encodeCmd([Buffer.from(c), ...a]);
        return b.subarray(0, cut % (b.length + 1));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(
          '*1\r\n$-1\r\n',
          '*999999999999\r\n',
          '*2\r\n$3\r\nGET\r\n:1\r\n',
          '"unbalanced\r\n',
          'SET "a" b"\r\n',
          '*1\r\n$4\r\nPING\r\r\n',
          '*x\r\n',
          '$5\r\nhello\r\n',
          'PING\r\nPING\r\n',
          '*1\r\n$99999999999\r\n',
        )
        .map((s) => Buffer.from(s)),
    },
    { weight: 2, arbitrary: bytesArb(100) },
  );
  return respInputArb;
};
const respInputArb = respInputArbOf(RESP_FUZZ_COMMANDS);
/** After AUTH, FLUSHALL does what it says (and takes the canary with it): every other command may run. */
const respAuthedInputArb = respInputArbOf(RESP_FUZZ_COMMANDS.filter((c) => c !== 'FLUSHALL'));

describe('RESP fuzz', () => {
  test('without AUTH: well-formed replies, clear errors, a close on bad frames, and no change to the store', async () => {
    const digest = await digestOf(node, token);
    await fc.assert(
      fc.asyncProperty(respInputArb, async (input) => {
        counter.add('RESP frames (no AUTH)');
        const { data } = await exchange(respPort, [input], 8000);
        const { errors } = parseReplies(data);
        for (const e of errors) assert.match(e, /^(ERR|NOAUTH|WRONGPASS|WRONGTYPE|NOPROTO) /, `error reply ${e}`);
      }),
      fcParams(runs(450), true),
    );
    await assertHealthy(node, 'RESP fuzz (no AUTH)');
    await assertCanary(node, canary, 'RESP fuzz (no AUTH)');
    assert.equal(await digestOf(node, token), digest, 'RESP input without AUTH changed the store');
  });

  test('after AUTH: any command sequence gets well-formed replies and the node stays up', async () => {
    const auth = encodeCmd([Buffer.from('AUTH'), Buffer.from(TEST_PASSWORD)]);
    await fc.assert(
      fc.asyncProperty(respAuthedInputArb, async (input) => {
        counter.add('RESP frames (after AUTH)');
        const { data } = await exchange(respPort, [auth, input], 8000);
        assert.ok(data.toString('latin1').startsWith('+OK\r\n'), `AUTH failed: ${data.toString('latin1').slice(0, 100)}`);
        const { errors } = parseReplies(data);
        for (const e of errors) assert.match(e, /^(ERR|NOAUTH|WRONGPASS|WRONGTYPE|NOPROTO|EXECABORT) /, `error reply ${e}`);
        assert.equal(data.includes(TEST_PASSWORD), false, 'a reply contains the password');
      }),
      fcParams(runs(300), true),
    );
    await assertHealthy(node, 'RESP fuzz (after AUTH)');
    await assertCanary(node, canary, 'RESP fuzz (after AUTH)');
  });
});
