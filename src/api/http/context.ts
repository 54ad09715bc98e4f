import type Koa from 'koa';
import { clientAddress } from '../client-address.js';
import type { Commands, Limits } from '../commands.js';
import type { Metrics } from '../../metrics/metrics.js';
import { envelopeJson, type Status } from '../envelope.js';
import { DATA_JSON_TYPE } from './headers.js';
import { BadBody, BodyNeedsToken, BodyTooLarge, Params, hasBody, parseQuery, readBody } from './params.js';
import type { PassGuard, TokenService } from './tokens.js';
import type { EnvelopeAnswer } from './write-answer.js';

/** What the HTTP routes need from the node: small on purpose (the HTTP layer knows nothing of UDP or disk). */
export interface HttpDeps {
  commands: Commands;
  tokens: TokenService;
  passGuard: PassGuard;
  /** The password of cmd=pass. */
  password: string;
  /** `ResponseHost:port` of this HTTP port, as shown in answers. */
  responseHost: () => string;
  limits: Limits;
  cors: { enabled: boolean; origin: string };
  /** Counts requests (absent = not counted). */
  metrics?: Metrics;
}

/** The client's address as every port keys it (client-address.ts), so tokens and the password guard see one address per client. */
export function clientIp(ctx: Koa.Context): string {
  return clientAddress(ctx.req.socket);
}

/**
 * Most body bytes read from a request whose token is not known to be valid
 * before its body is (none in the query string or Authorization header): room
 * for the original's `-d "cmd=set&key=…&valuedata=…&token=…"` with a small
 * value, not for megabytes from a stranger.
 */
export function unauthenticatedBodyLimit(limits: Limits): number {
  return Math.max(16 * 1024, 3 * limits.maxKeyLength + 8 * 1024);
}

/** The token of an `Authorization: Bearer <token>` header, if any. */
export function headerToken(ctx: Koa.Context): string | undefined {
  return bearerToken(ctx.get('authorization'));
}

export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization === '') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m === null ? undefined : m[1];
}

/**
 * Query and body parameters; answers 401 / 413 / 500 itself and returns null
 * when the body cannot be used. The token in the query string or header is
 * checked before the body is read: without a valid one, only a small body is
 * read (a larger one is answered 401 unkept; app.ts drops the rest).
 */
export async function requestParams(ctx: Koa.Context, deps: HttpDeps): Promise<Params | null> {
  const query = parseQuery(ctx.querystring);
  const q = new Params(new Map(), query);
  const full = { maxValueSize: deps.limits.maxValueSize, slack: 64 * 1024 + deps.limits.maxKeyLength };
  const early = hasBody(ctx.req) && (await deps.tokens.verify(q.strAny('token', 'owl_token') ?? headerToken(ctx), clientIp(ctx)));
  const limits = early ? full : { ...full, unauthenticated: unauthenticatedBodyLimit(deps.limits) };
  try {
    const body = await readBody(ctx.req, limits);
    return new Params(body, query);
  } catch (err) {
    const cmd = q.str('cmd') ?? '';
    const key = q.str('key') ?? '';
    if (err instanceof BodyNeedsToken) {
      sendEnvelope(
        ctx,
        deps,
        cmd,
        401,
        key,
        null,
        0,
        `a request body larger than ${err.limit} bytes is read only with a valid token in the query string (token=...) or an Authorization: Bearer header`,
      );
      return null;
    }
    if (err instanceof BodyTooLarge) {
      sendEnvelope(ctx, deps, cmd, 413, key, null, 0, `request body is larger than MaxValueSize (${deps.limits.maxValueSize} bytes)`);
      return null;
    }
    if (err instanceof BadBody) {
      sendEnvelope(ctx, deps, cmd, 500, key, null, 0, `bad request body: ${err.message}`);
      return null;
    }
    throw err;
  }
}

export function sendEnvelope(
  ctx: Koa.Context,
  deps: HttpDeps,
  cmd: string,
  status: Status,
  key: string,
  data: unknown,
  createdMicros = 0,
  message?: string,
): void {
  ctx.status = status;
  ctx.body = envelopeJson(cmd, status, key, data, deps.responseHost(), createdMicros, message);
  ctx.set('Content-Type', DATA_JSON_TYPE);
}

/** Sends an answer built by write-answer.ts (the same bytes the fast path sends). */
export function sendAnswer(ctx: Koa.Context, a: EnvelopeAnswer): void {
  ctx.status = a.status;
  ctx.set(a.headers);
  ctx.body = a.body;
}

/** The token parameter (`token` or the original's alias `owl_token`, else an Authorization: Bearer header) checked against the client's address. */
export function hasValidToken(ctx: Koa.Context, deps: HttpDeps, params: Params): Promise<boolean> {
  return deps.tokens.verify(params.strAny('token', 'owl_token') ?? headerToken(ctx), clientIp(ctx));
}
