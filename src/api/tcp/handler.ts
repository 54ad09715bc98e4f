import { performance } from 'node:perf_hooks';
import type { Commands, Outcome } from '../commands.js';
import { envelopeJson, type Status } from '../envelope.js';
import type { Metrics } from '../../metrics/metrics.js';
import { outcomeOfStatus } from '../../metrics/outcome.js';

/**
 * OwlCache's TCP text protocol (docs/protocol.md, "TCP text protocol"): one command
 * line in, one answer line out. Words are separated by single spaces as in the
 * original; `set` takes every byte after the key's separator as the value, and
 * `ping` everything after its own.
 */

const SP = 0x20;
const NL = Buffer.from('\n');

export interface TcpHandlerDeps {
  commands: Commands;
  /** `ResponseHost:Tcpport`. */
  responseHost: () => string;
  /** Counts commands (absent = not counted). */
  metrics?: Metrics;
}

/** The answer to one line, newline included, as the pieces to write. */
export type Answer = Buffer[];

/** An answer and its envelope Status (a plain `get` answers 200 or, for a miss, 404). */
interface Reply {
  answer: Answer;
  status: Status;
}

const COMMANDS = new Set(['get', 'set', 'expire', 'delete', 'exist', 'ping']);

function envelopeLine(deps: TcpHandlerDeps, cmd: string, status: Status, key: string, data: unknown, created = 0, message?: string): Reply {
  const json = envelopeJson(cmd, status, key, data, deps.responseHost(), created, message);
  return { answer: [Buffer.from(`${json}\n`, 'utf8')], status };
}

function outcomeLine(deps: TcpHandlerDeps, cmd: string, o: Outcome, data: unknown = null, created = 0): Reply {
  return envelopeLine(deps, cmd, o.status, o.key, data, created, o.message);
}

/** Position of the first space at or after `from`, or the line's length. */
function wordEnd(line: Buffer, from: number): number {
  const i = line.indexOf(SP, from);
  return i === -1 ? line.length : i;
}

/** Go's strings.TrimSpace, for the key word as the original applies it. */
const trim = (s: string) => s.replace(/^[\s\u0085]+|[\s\u0085]+$/g, '');

function unknownCommand(deps: TcpHandlerDeps, message: string): Reply {
  return envelopeLine(deps, '', 501, '', null, 0, message);
}

/**
 * The answer to one command line. `writeRefusal` is null when this connection
 * may write, else the message that set, expire and delete get (protected mode).
 */
export function handleLine(deps: TcpHandlerDeps, line: Buffer, writeRefusal: string | null = null): Answer {
  const metrics = deps.metrics;
  const cmdEnd = wordEnd(line, 0);
  const cmd = line.toString('utf8', 0, cmdEnd);
  if (metrics === undefined) return reply(deps, line, writeRefusal, cmdEnd, cmd).answer;
  const started = performance.now();
  const r = reply(deps, line, writeRefusal, cmdEnd, cmd);
  metrics.request('tcp', COMMANDS.has(cmd) ? cmd : 'other', outcomeOfStatus(r.status), started);
  return r.answer;
}

function reply(deps: TcpHandlerDeps, line: Buffer, writeRefusal: string | null, cmdEnd: number, cmd: string): Reply {
  const { commands } = deps;
  const hasKey = cmdEnd < line.length;
  const keyEnd = hasKey ? wordEnd(line, cmdEnd + 1) : line.length;
  const key = hasKey ? trim(line.toString('utf8', cmdEnd + 1, keyEnd)) : '';
  /** Start of the bytes after the key and its separating space; -1 if there is no such space. */
  const restAt = keyEnd < line.length ? keyEnd + 1 : -1;
  const missing = () => unknownCommand(deps, `${cmd} needs more arguments`);
  if (writeRefusal !== null && (cmd === 'set' || cmd === 'expire' || cmd === 'delete')) return envelopeLine(deps, cmd, 401, key, null, 0, writeRefusal);

  switch (cmd) {
    case 'get': {
      if (key === '') return missing();
      // A copy: answers are sent after the batch, when the store may have changed.
      const read = commands.readCopy(key);
      const info = restAt !== -1 && trim(line.toString('utf8', restAt, wordEnd(line, restAt))) === 'info';
      if (!info) return read !== undefined ? { answer: [read.value, NL], status: 200 } : { answer: [NL], status: 404 };
      if (read === undefined) return envelopeLine(deps, cmd, 404, key, null);
      return envelopeLine(deps, cmd, 200, key, read.value.toString('base64'), read.created);
    }
    case 'set': {
      if (key === '' || restAt === -1) return missing();
      // A copy: the line is a view of the socket's chunk, which must not be kept alive by the store.
      const value = Buffer.from(line.subarray(restAt));
      const o = commands.set(key, value, undefined);
      return outcomeLine(deps, cmd, o, o.status === 200 ? '' : null, o.status === 200 ? (o.record?.created ?? 0) : 0);
    }
    case 'expire': {
      if (key === '' || restAt === -1) return missing();
      const seconds = line.toString('utf8', restAt, wordEnd(line, restAt));
      return outcomeLine(deps, cmd, commands.expire(key, seconds));
    }
    case 'delete':
      if (key === '') return missing();
      return outcomeLine(deps, cmd, commands.delete(key));
    case 'exist':
      if (key === '') return missing();
      return outcomeLine(deps, cmd, commands.exist(key));
    case 'ping':
      return { answer: hasKey && cmdEnd + 1 < line.length ? [line.subarray(cmdEnd + 1), NL] : [Buffer.from('PONG\n')], status: 200 };
    default:
      return unknownCommand(deps, cmd === '' ? 'empty command line' : `unknown command ${JSON.stringify(cmd)}`);
  }
}
