import Router, { type RouterContext } from '@koa/router';
import getRawBody from 'raw-body';

/**
 * Node-to-node routes, authenticated by a signature over each call (the
 * cluster layer verifies it; this layer only carries bytes). Unsigned, stale,
 * replayed or tampered calls get 401 and are counted by the verifier; a call
 * without a well-formed, fresh signature header is refused before its body is
 * read.
 */
export interface InternalApi {
  /** The body-free checks of the signature header (form, clock window): false = refuse before reading the body. */
  screen(authHeader: string | undefined): boolean;
  verify(method: string, pathWithQuery: string, authHeader: string | undefined, body: Buffer): boolean;
  /** One record, encoded, or null if this node holds nothing for the key. */
  entry(key: string): Buffer | null;
  /** One step of a push-pull round; throws on a malformed request. */
  sync(body: Buffer): Buffer;
  readonly authHeader: string;
  readonly maxBodyBytes: number;
}

export function internalRouter(api: InternalApi): Router {
  const router = new Router({ prefix: '/internal' });
  const reply = (ctx: RouterContext, status: number, body: Buffer | string) => {
    ctx.status = status;
    ctx.body = body;
    ctx.set('Content-Type', Buffer.isBuffer(body) ? 'application/msgpack' : 'text/plain; charset=utf-8');
  };

  router.get('/entry', (ctx) => {
    if (!api.verify('GET', ctx.originalUrl, ctx.get(api.authHeader) || undefined, Buffer.alloc(0))) return reply(ctx, 401, 'not authenticated');
    const key = typeof ctx.query.key === 'string' ? ctx.query.key : '';
    const entry = api.entry(key);
    if (entry === null) return reply(ctx, 404, 'no such key');
    reply(ctx, 200, entry);
  });

  router.post('/sync', async (ctx) => {
    if (!api.screen(ctx.get(api.authHeader) || undefined)) {
      // Refused unread: the unread body must not be taken for the next request.
      ctx.set('Connection', 'close');
      return reply(ctx, 401, 'not authenticated');
    }
    let body: Buffer;
    try {
      body = await getRawBody(ctx.req, { limit: api.maxBodyBytes, length: ctx.get('content-length') || undefined });
    } catch {
      ctx.set('Connection', 'close');
      return reply(ctx, 413, 'body too large or unreadable');
    }
    if (!api.verify('POST', ctx.originalUrl, ctx.get(api.authHeader) || undefined, body)) return reply(ctx, 401, 'not authenticated');
    try {
      reply(ctx, 200, api.sync(body));
    } catch (err) {
      reply(ctx, 400, `bad request: ${(err as Error).message}`);
    }
  });
  return router;
}
