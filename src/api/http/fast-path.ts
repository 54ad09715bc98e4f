import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { outcomeOfStatus } from '../../metrics/outcome.js';
import { SERVER_HEADER } from '../../version.js';
import { clientAddress } from '../client-address.js';
import { bearerToken, type HttpDeps } from './context.js';
import { corsHeaders, getAnswer } from './get-answer.js';
import { Params, parseQuery } from './params.js';
import { envelopeAnswer, isDataWrite, runDataWrite } from './write-answer.js';
import { logger } from '../../log.js';

const log = logger('http');

/**
 * The hot paths, answered before Koa: bodiless GET/HEAD `/data/?cmd=get&key=…`,
 * and `cmd=set|expire|delete` with every parameter in the query string and a
 * token this node has verified before (TokenService.knownVerdict). Koa's
 * per-request context costs about half the throughput of a bare server, and
 * these are most of a cache's traffic. Anything else (a body, a token not seen
 * yet, a refusal to explain, any doubt) returns false and goes through Koa,
 * which answers the same bytes (get-answer.ts, write-answer.ts).
 */
export function tryFastPath(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): boolean {
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
  const plainKey = plainGetKey(query);
  if (plainKey !== undefined) return answerGet(deps, req, res, plainKey, started);
  const params = new Params(NO_BODY, parseQuery(query));
  const cmd = params.str('cmd') ?? '';
  if (cmd === 'get') return answerGet(deps, req, res, params.str('key') ?? '', started);
  if (!isDataWrite(cmd)) return false;
  const token = params.strAny('token', 'owl_token') ?? bearerToken(req.headers.authorization);
  if (deps.tokens.knownVerdict(token, clientAddress(req.socket)) !== true) return false;
  let answer;
  try {
    answer = runDataWrite(deps, cmd, params.str('key') ?? '', params);
  } catch (err) {
    // Koa's error path answers the same envelope (app.ts).
    log.error('%s %s failed: %s', req.method, req.url, (err as Error)?.stack ?? String(err));
    answer = envelopeAnswer(deps, '', 500, '', null, 0, 'internal error');
  }
  send(deps, req, res, answer.status, answer.headers, Buffer.from(answer.body, 'utf8'));
  deps.metrics?.request('http', cmd, outcomeOfStatus(answer.status), started);
  return true;
}

const NO_BODY = new Map<string, Buffer[]>();

function answerGet(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, key: string, started: number): true {
  const answer = getAnswer(deps, key);
  send(deps, req, res, answer.status, answer.headers, answer.body);
  deps.metrics?.request('http', 'get', answer.status === 200 ? 'ok' : 'not_found', started);
  return true;
}

function send(deps: HttpDeps, req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer): void {
  // A flat header list skips setHeader's per-call bookkeeping.
  const raw: string[] = ['Server', SERVER_HEADER];
  if (deps.cors.enabled) {
    const cors = corsHeaders(deps.cors.origin);
    for (const name in cors) raw.push(name, cors[name]!);
  }
  for (const name in headers) raw.push(name, headers[name]!);
  raw.push('Content-Length', String(body.length));
  res.writeHead(status, raw);
  if (req.method === 'HEAD') res.end();
  else res.end(body);
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
