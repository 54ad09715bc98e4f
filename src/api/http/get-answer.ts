import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { SERVER_HEADER } from '../../version.js';
import { goTimeString } from '../../go-time.js';
import type { EntryRecord } from '../../store/entry.js';
import type { HttpDeps } from './context.js';
import { headerSafe } from './headers.js';
import { parseQuery } from './params.js';

/**
 * `cmd=get` on `/data/`: the raw value with OwlCache's headers, or 404 with an
 * empty body. Shared by the Koa route and the fast path below, so both answer
 * byte for byte the same.
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

/** Per-entry header values, computed on the first read (an entry's value and time never change in place). */
interface EntryHeaders {
  createTime: string;
  contentType: string;
}
const entryHeaders = new WeakMap<EntryRecord, EntryHeaders>();

function headersOf(e: EntryRecord & { value: Buffer }): EntryHeaders {
  let h = entryHeaders.get(e);
  if (h === undefined) {
    h = { createTime: goTimeString(e.created), contentType: isUtf8(e.value) ? 'text/plain; charset=utf-8' : 'application/octet-stream' };
    entryHeaders.set(e, h);
  }
  return h;
}

export function getAnswer(deps: HttpDeps, key: string): GetAnswer {
  const e = deps.commands.get(key);
  if (e === undefined || e.value === null) return { status: 404, headers: dataHeaders(deps, key, 0), body: EMPTY };
  const h = headersOf(e as EntryRecord & { value: Buffer });
  return {
    status: 200,
    headers: { Key: headerSafe(key), Keycreatetime: h.createTime, Responsehost: deps.responseHost(), 'Content-Type': h.contentType },
    body: e.value,
  };
}

/**
 * cmd and key from a query string without allocating Buffers, when nothing in it
 * is escaped (the usual case); undefined = let the full parser decide.
 */
function plainGetKey(query: string): string | undefined {
  if (query.includes('%') || query.includes('+')) return undefined;
  let cmd: string | undefined;
  let key: string | undefined;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? '' : part.slice(eq + 1);
    if (name === 'cmd') cmd ??= value;
    else if (name === 'key') key ??= value;
  }
  if (cmd !== 'get') return undefined;
  // Non-ASCII bytes arrive as latin1 characters: only plain ASCII is taken as is.
  const k = key ?? '';
  return /^[\x20-\x7e]*$/.test(k) ? k : undefined;
}

/**
 * The read hot path, answered before Koa: GET/HEAD `/data/?cmd=get&key=…` with
 * no body. Koa's per-request context costs about half the throughput of a bare
 * server; reads are most of a cache's traffic. Anything else (or any doubt)
 * returns false and goes through Koa.
 */
export function tryFastGet(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): boolean {
  const started = performance.now();
  const url = req.url;
  if (url === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  let q: number;
  if (url.startsWith('/data/?')) q = 7;
  else if (url.startsWith('/data?')) q = 6;
  else return false;
  if (req.headers['transfer-encoding'] !== undefined) return false;
  const len = req.headers['content-length'];
  if (len !== undefined && len !== '0') return false;
  const query = url.slice(q);
  let key = plainGetKey(query);
  if (key === undefined) {
    const params = parseQuery(query);
    if (params.get('cmd')?.[0]?.toString('utf8') !== 'get') return false;
    key = params.get('key')?.[0]?.toString('utf8') ?? '';
  }
  const answer = getAnswer(deps, key);
  // A flat header list skips setHeader's per-call bookkeeping.
  const raw: string[] = ['Server', SERVER_HEADER];
  if (deps.cors.enabled) {
    const cors = corsHeaders(deps.cors.origin);
    for (const name in cors) raw.push(name, cors[name]!);
  }
  for (const name in answer.headers) raw.push(name, answer.headers[name]!);
  raw.push('Content-Length', String(answer.body.length));
  res.writeHead(answer.status, raw);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.body);
  deps.metrics?.request('http', 'get', answer.status === 200 ? 'ok' : 'not_found', started);
  return true;
}
