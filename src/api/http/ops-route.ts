import Router, { type RouterContext } from '@koa/router';
import getRawBody from 'raw-body';
import { clientIp } from './context.js';
import { parseQuery } from './params.js';

/**
 * The cluster operations' HTTP forms (docs/operations.md): POST / with a JSON
 * body (GET / stays the welcome page), the REST paths, and the signed
 * node-to-node POST /internal/ops. Authentication comes first, from the
 * request line and headers, so an unauthenticated body is never read; a body
 * is then read up to a limit and parsed as JSON whatever its Content-Type
 * (curl -d sends form encoding). Every answer, errors included, is JSON.
 */
export interface OpsHttpApi {
  authenticate(c: {
    authorization?: string | undefined;
    apiKey?: string | undefined;
    token?: string | undefined;
    ip: string;
  }): Promise<{ ok: true } | { ok: false; message: string }>;
  restPaths: string[];
  runBody(body: unknown): Promise<OpsHttpAnswer>;
  runRest(method: string, path: string, input: Record<string, unknown>): Promise<OpsHttpAnswer | null>;
  internal: {
    authHeader(): string | null;
    verify(method: string, path: string, header: string | undefined, body: Buffer): boolean;
    handle(body: Buffer): Promise<{ status: number; body: Buffer }>;
  };
  maxBodyBytes: number;
}

export interface OpsHttpAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const INTERNAL_MAX_BODY = 64 * 1024;

function send(ctx: RouterContext, status: number, body: unknown, headers: Record<string, string> = {}): void {
  ctx.status = status;
  ctx.set(headers);
  ctx.set('Content-Type', JSON_TYPE);
  ctx.body = `${JSON.stringify(body, null, 2)}\n`;
}

/** Query parameters as text, the credentials left out. */
function queryInput(ctx: RouterContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of parseQuery(ctx.querystring)) {
    if (k !== 'token' && k !== 'owl_token') out[k] = v[0]!.toString('utf8');
  }
  return out;
}

function tokenParam(ctx: RouterContext): string | undefined {
  const q = parseQuery(ctx.querystring);
  return (q.get('token') ?? q.get('owl_token'))?.[0]?.toString('utf8');
}

/** The JSON body, {} when there is none; an error answer has been sent when it returns null. */
async function jsonBody(ctx: RouterContext, limit: number): Promise<{ value: unknown } | null> {
  let raw: Buffer;
  try {
    raw = await getRawBody(ctx.req, { limit, length: ctx.get('content-length') || undefined });
  } catch (err) {
    ctx.set('Connection', 'close');
    const tooLarge = (err as { type?: string }).type === 'entity.too.large';
    send(ctx, tooLarge ? 413 : 400, { error: tooLarge ? `the body is larger than ${limit} bytes` : `the body cannot be read: ${(err as Error).message}` });
    return null;
  }
  const text = raw.toString('utf8').trim();
  if (text === '') return { value: undefined };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    send(ctx, 400, { error: `the body is not valid JSON: ${(err as Error).message}` });
    return null;
  }
}

export function opsRouter(api: OpsHttpApi): Router {
  const router = new Router();

  const authed = async (ctx: RouterContext): Promise<boolean> => {
    const r = await api.authenticate({
      authorization: ctx.get('authorization') || undefined,
      apiKey: ctx.get('api-key') || undefined,
      token: tokenParam(ctx),
      ip: clientIp(ctx),
    });
    if (r.ok) return true;
    ctx.set('Connection', 'close');
    send(ctx, 401, { error: r.message }, { 'WWW-Authenticate': 'Basic realm="owlcache", charset="UTF-8"' });
    return false;
  };

  router.post('/', async (ctx) => {
    if (!(await authed(ctx))) return;
    const body = await jsonBody(ctx, api.maxBodyBytes);
    if (body === null) return;
    const a = await api.runBody(body.value);
    send(ctx, a.status, a.body, a.headers);
  });
  // GET and HEAD / are the welcome page (app.ts); any other method is answered here.
  router.all('/', (ctx) => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') return;
    send(
      ctx,
      405,
      { error: `/ takes POST (operations: {"operation": …}) or GET (the welcome page), not ${ctx.method}`, allowed: ['GET', 'POST'] },
      { Allow: 'GET, HEAD, POST' },
    );
  });

  for (const path of api.restPaths) {
    router.all(path, async (ctx) => {
      if (!(await authed(ctx))) return;
      let input: Record<string, unknown> = { ...queryInput(ctx), ...ctx.params };
      if (ctx.method === 'POST') {
        const body = await jsonBody(ctx, api.maxBodyBytes);
        if (body === null) return;
        if (body.value !== undefined) {
          if (typeof body.value !== 'object' || body.value === null || Array.isArray(body.value))
            return send(ctx, 400, { error: 'the body must be a JSON object' });
          input = { ...input, ...(body.value as Record<string, unknown>) };
        }
      }
      const a = await api.runRest(ctx.method, path, input);
      if (a !== null) send(ctx, a.status, a.body, a.headers);
    });
  }

  router.post('/internal/ops', async (ctx) => {
    const header = api.internal.authHeader();
    if (header === null) return send(ctx, 404, { error: 'not in gossip mode' });
    let body: Buffer;
    try {
      body = await getRawBody(ctx.req, { limit: INTERNAL_MAX_BODY, length: ctx.get('content-length') || undefined });
    } catch {
      ctx.set('Connection', 'close');
      return send(ctx, 413, { error: 'body too large or unreadable' });
    }
    if (!api.internal.verify('POST', ctx.originalUrl, ctx.get(header) || undefined, body)) return send(ctx, 401, { error: 'not authenticated' });
    const a = await api.internal.handle(body);
    ctx.status = a.status;
    ctx.set('Content-Type', a.status === 200 ? 'application/msgpack' : 'text/plain; charset=utf-8');
    ctx.body = a.body;
  });
  return router;
}
