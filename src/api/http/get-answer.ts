import { isUtf8 } from 'node:buffer';
import { goTimeString } from '../../go-time.js';
import type { HttpDeps } from './context.js';
import { headerSafe } from './headers.js';

/**
 * `cmd=get` on `/data/`: the raw value with OwlCache's headers, or 404 with an
 * empty body. Shared by the Koa route and the fast path (fast-path.ts), so both
 * answer byte for byte the same.
 */
export interface GetAnswer {
  status: 200 | 404;
  headers: Record<string, string>;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

export function dataHeaders(deps: HttpDeps, key: string, createdMicros: number): Record<string, string> {
  // A key past MaxKeyLength is refused anyway; echoing all of it (a POST body may carry megabytes) would overflow clients' header limits.
  const shown = key.length > deps.limits.maxKeyLength ? key.slice(0, deps.limits.maxKeyLength) : key;
  return { Key: headerSafe(shown), Keycreatetime: goTimeString(createdMicros), Responsehost: deps.responseHost() };
}

export function corsHeaders(origin: string): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': 'GET, POST, HEAD, OPTIONS',
    'Access-Control-Allow-Headers': 'Content-Type, Authorization',
  };
}

export function getAnswer(deps: HttpDeps, key: string): GetAnswer {
  // A copy: the socket may send the body after the store has changed.
  const read = deps.commands.readCopy(key);
  if (read === undefined) return { status: 404, headers: dataHeaders(deps, key, 0), body: EMPTY };
  const body = read.value;
  return {
    status: 200,
    headers: {
      Key: headerSafe(key),
      Keycreatetime: goTimeString(read.created),
      Responsehost: deps.responseHost(),
      'Content-Type': isUtf8(body) ? 'text/plain; charset=utf-8' : 'application/octet-stream',
    },
    body,
  };
}
