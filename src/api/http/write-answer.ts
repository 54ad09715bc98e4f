import type { Outcome } from '../commands.js';
import { envelopeJson, type Status } from '../envelope.js';
import type { HttpDeps } from './context.js';
import { dataHeaders } from './get-answer.js';
import { DATA_JSON_TYPE } from './headers.js';
import type { Params } from './params.js';

/**
 * The answer to a `/data/` command that is not a read: the envelope and
 * OwlCache's headers. Built here once for the Koa route and the write fast
 * path (fast-path.ts), so both answer byte for byte the same.
 */
export interface EnvelopeAnswer {
  status: Status;
  headers: Record<string, string>;
  body: string;
}

export type DataWrite = 'set' | 'expire' | 'delete';

export function isDataWrite(cmd: string): cmd is DataWrite {
  return cmd === 'set' || cmd === 'expire' || cmd === 'delete';
}

export function envelopeAnswer(deps: HttpDeps, cmd: string, status: Status, key: string, data: unknown, createdMicros = 0, message?: string): EnvelopeAnswer {
  // Added to dataHeaders' object rather than spread into a new one: every write answers one.
  const headers = dataHeaders(deps, key, createdMicros);
  headers['Content-Type'] = DATA_JSON_TYPE;
  return { status, headers, body: envelopeJson(cmd, status, key, data, headers.Responsehost!, createdMicros, message) };
}

export function outcomeAnswer(deps: HttpDeps, cmd: string, o: Outcome, data: unknown = null): EnvelopeAnswer {
  const created = o.status === 200 && cmd === 'set' ? (o.record?.created ?? 0) : 0;
  return envelopeAnswer(deps, cmd, o.status, o.key, data, created, o.message);
}

/** Runs set / expire / delete (the token already checked) and says what to answer. */
export function runDataWrite(deps: HttpDeps, cmd: DataWrite, key: string, params: Params): EnvelopeAnswer {
  const { commands } = deps;
  if (cmd === 'set') {
    const o = commands.set(key, params.bytes('valuedata') ?? Buffer.alloc(0), params.str('exptime'));
    return outcomeAnswer(deps, cmd, o, o.status === 200 ? '' : null);
  }
  if (cmd === 'expire') return outcomeAnswer(deps, cmd, commands.expire(key, params.str('exptime')));
  return outcomeAnswer(deps, cmd, commands.delete(key));
}

export const TOKEN_REFUSED = 'missing, wrong or expired token (get one with cmd=pass)';
