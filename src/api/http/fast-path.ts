import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { outcomeOfStatus } from '../../metrics/outcome.js';
import { SERVER_HEADER } from '../../version.js';
import { clientAddress } from '../client-address.js';
import { bearerToken, type HttpDeps } from './context.js';
import { corsHeaders, getAnswer } from './get-answer.js';
import { Params, parseQuery } from './params.js';
import { envelopeAnswer, isDataWrite, outcomeAnswer, runDataWrite } from './write-answer.js';
import { parseExptime, type Outcome } from '../commands.js';
import { logger } from '../../log.js';

const log = logger('http');

/** A request as the fast path reads it, from node:http's IncomingMessage or from the wire front's own parse (wire-front.ts). */
export interface FastRequest {
  method: string;
  /** The request target, as node:http gives it (latin1). */
  url: string;
  authorization: string | undefined;
  socket: { readonly remoteAddress?: string | undefined };
}

/** A fast path's answer; the caller writes it (a HEAD answer leaves the body out) and nothing more. */
export interface FastAnswer {
  status: number;
  /** Names and values, flat, in the order they are sent: Server first, Content-Length last. */
  headers: string[];
  body: Buffer;
}

/**
 * A `cmd=set` the caller stores with the other sets of its event-loop turn
 * (storeFastSets: one append-log write for all), then answers; it is neither
 * stored nor answered until then.
 */
export interface FastSet {
  readonly key: string;
  readonly value: Buffer;
  readonly ttlMs: number;
  readonly started: number;
}

/**
 * The hot paths, answered before Koa: bodiless GET/HEAD `/data/?cmd=get&key=…`,
 * and `cmd=set|expire|delete` with every parameter in the query string and a
 * token this node has verified before (TokenService.knownVerdict). Koa's
 * per-request context costs about half the throughput of a bare server, and
 * these are most of a cache's traffic. Anything else (a token not seen yet, a
 * refusal to explain, any doubt) returns null and goes through Koa, which
 * answers the same bytes (get-answer.ts, write-answer.ts). The caller has
 * checked that the request has no body. The request is counted here.
 */
export function fastAnswer(deps: HttpDeps, req: FastRequest): FastAnswer | null;
/** With `deferSets`, a set whose exptime reads comes back as a FastSet, to be checked and made by storeFastSets, instead of being made now. */
export function fastAnswer(deps: HttpDeps, req: FastRequest, deferSets: true): FastAnswer | FastSet | null;
export function fastAnswer(deps: HttpDeps, req: FastRequest, deferSets = false): FastAnswer | FastSet | null {
  const started = performance.now();
  const url = req.url;
  if (req.method !== 'GET' && req.method !== 'HEAD') return null;
  let q: number;
  if (url.startsWith('/data/?')) q = 7;
  else if (url.startsWith('/data?')) q = 6;
  else return null;
  const query = url.slice(q);
  const plainKey = plainGetKey(query);
  if (plainKey !== undefined) return answerGet(deps, plainKey, started);
  const params = new Params(NO_BODY, parseQuery(query));
  const cmd = params.str('cmd') ?? '';
  if (cmd === 'get') return answerGet(deps, params.str('key') ?? '', started);
  if (!isDataWrite(cmd)) return null;
  const token = params.strAny('token', 'owl_token') ?? bearerToken(req.authorization);
  if (deps.tokens.knownVerdict(token, clientAddress(req.socket)) !== true) return null;
  const key = params.str('key') ?? '';
  if (deferSets && cmd === 'set') {
    const ttl = parseExptime(params.str('exptime'));
    // A bad exptime is refused now, as a lone set refuses it.
    if (ttl.ok) return { key, value: params.bytes('valuedata') ?? Buffer.alloc(0), ttlMs: ttl.ms, started };
  }
  let answer;
  try {
    answer = runDataWrite(deps, cmd, key, params);
  } catch (err) {
    // Koa's error path answers the same envelope (app.ts).
    log.error('%s %s failed: %s', req.method, req.url, (err as Error)?.stack ?? String(err));
    answer = envelopeAnswer(deps, '', 500, '', null, 0, 'internal error');
  }
  deps.metrics?.request('http', cmd, outcomeOfStatus(answer.status), started);
  return fastHeaders(deps, answer.status, answer.headers, Buffer.from(answer.body, 'utf8'));
}

/**
 * Stores a turn's FastSets with one Commands.setEach and says what to answer
 * each, in order: what the same set answers when it is made alone.
 */
export function storeFastSets(deps: HttpDeps, sets: readonly FastSet[]): FastAnswer[] {
  let outcomes: Outcome[] | null = null;
  try {
    outcomes = deps.commands.setEach(sets);
  } catch (err) {
    // Koa's error path answers the same envelope (app.ts).
    log.error('storing %d sets failed: %s', sets.length, (err as Error)?.stack ?? String(err));
  }
  return sets.map((set, i) => {
    const o = outcomes?.[i];
    const answer = o === undefined ? envelopeAnswer(deps, '', 500, '', null, 0, 'internal error') : outcomeAnswer(deps, 'set', o, o.status === 200 ? '' : null);
    deps.metrics?.request('http', 'set', outcomeOfStatus(answer.status), set.started);
    return fastHeaders(deps, answer.status, answer.headers, Buffer.from(answer.body, 'utf8'));
  });
}

/** The fast path in node:http's request handler: true when it answered. */
export function tryFastPath(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url === undefined || req.headers['transfer-encoding'] !== undefined) return false;
  const len = req.headers['content-length'];
  if (len !== undefined && len !== '0') return false;
  const answer = fastAnswer(deps, { method: req.method ?? '', url: req.url, authorization: req.headers.authorization, socket: req.socket });
  if (answer === null) return false;
  res.writeHead(answer.status, answer.headers);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.body);
  return true;
}

const NO_BODY = new Map<string, Buffer[]>();

function answerGet(deps: HttpDeps, key: string, started: number): FastAnswer {
  const answer = getAnswer(deps, key);
  deps.metrics?.request('http', 'get', answer.status === 200 ? 'ok' : 'not_found', started);
  return fastHeaders(deps, answer.status, answer.headers, answer.body);
}

function fastHeaders(deps: HttpDeps, status: number, headers: Record<string, string>, body: Buffer): FastAnswer {
  // A flat header list skips setHeader's per-call bookkeeping.
  const raw: string[] = ['Server', SERVER_HEADER];
  if (deps.cors.enabled) {
    const cors = corsHeaders(deps.cors.origin);
    for (const name in cors) raw.push(name, cors[name]!);
  }
  for (const name in headers) raw.push(name, headers[name]!);
  raw.push('Content-Length', String(body.length));
  return { status, headers: raw, body };
}

/**
 * The key of `cmd=get` from a query string without allocating Buffers, when
 * nothing in it is escaped (the usual case); undefined = let the full parser decide.
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
