import Router from '@koa/router';
import Koa from 'koa';
import { logger } from '../../log.js';
import { performance } from 'node:perf_hooks';
import { outcomeOfStatus } from '../../metrics/outcome.js';
import { SERVER_HEADER, VERSION } from '../../version.js';
import { CLOSE_GRACE_MS } from '../listener.js';
import { sendEnvelope, type HttpDeps } from './context.js';
import { dataRoute } from './data-route.js';
import { corsHeaders } from './get-answer.js';
import { discardBody } from './params.js';

const log = logger('http');
/** Most bytes of a body left unread that are read and dropped before the answer; past them the connection is closed. */
const DISCARD_MAX_BYTES = 1024 * 1024;

const WELCOME = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>owlcache</title></head>
<body><h1>Welcome to use owlcache.</h1>
<p>Version: ${VERSION}. A distributed key/value cache node compatible with Go OwlCache.</p>
<p>Data: <code>/data/?cmd=get&amp;key=hello</code> · cluster: <code>/group_data/</code>, <code>/server/</code></p>
</body></html>
`;

const DATA_COMMANDS = new Set(['get', 'set', 'expire', 'delete', 'exist', 'ping', 'pass']);
const ROUTES: Record<string, string> = {
  '': 'welcome',
  server: 'server',
  group_data: 'group_data',
  cluster: 'cluster',
  internal: 'internal',
  metrics: 'metrics',
  healthz: 'healthz',
  readyz: 'readyz',
};

/** The `command` label of an HTTP request: the cmd of `/data/` (if it is one), else the route's first segment; anything else "other". */
export function requestCommand(path: string, dataCommand: unknown): string {
  const segment = path.split('/', 2)[1] ?? '';
  if (segment === 'data') return typeof dataCommand === 'string' && DATA_COMMANDS.has(dataCommand) ? dataCommand : 'other';
  return Object.hasOwn(ROUTES, segment) ? ROUTES[segment]! : 'other';
}

/**
 * The Koa application: a thin core of middleware (Server header, errors as
 * envelopes, CORS), `/` and `/data/`, plus whatever routers the cluster layer
 * mounts. Koa answers HEAD from the GET handlers with the body left out.
 */
export function createHttpApp(deps: HttpDeps, extraRouters: Router[] = []): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  const metrics = deps.metrics;
  if (metrics !== undefined) {
    // Outermost, so it sees the status the error handler below sets.
    app.use(async (ctx, next) => {
      const started = performance.now();
      try {
        await next();
      } finally {
        metrics.request('http', requestCommand(ctx.path, ctx.state.command), outcomeOfStatus(ctx.status), started);
      }
    });
  }

  app.use(async (ctx, next) => {
    ctx.set('Server', SERVER_HEADER);
    try {
      await next();
    } catch (err) {
      // Never a stack trace on the wire: log it, answer an envelope.
      log.error('%s %s failed: %s', ctx.method, ctx.path, (err as Error)?.stack ?? String(err));
      sendEnvelope(ctx, deps, '', 500, '', null, 0, 'internal error');
    }
  });

  // A request answered before its body was read (a refusal, a 405, an OPTIONS): what is left of
  // the body is read and dropped before the answer goes. Closing the connection while the client
  // still sends resets it, and the reset can reach the client before the answer does.
  app.use(async (ctx, next) => {
    await next();
    if (!ctx.req.complete && !(await discardBody(ctx.req, DISCARD_MAX_BYTES, CLOSE_GRACE_MS))) ctx.set('Connection', 'close');
  });

  if (deps.cors.enabled) {
    app.use(async (ctx, next) => {
      ctx.set(corsHeaders(deps.cors.origin));
      if (ctx.method === 'OPTIONS') {
        ctx.status = 204;
        return;
      }
      await next();
    });
  }

  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = WELCOME;
  });
  const data = dataRoute(deps);
  router.get('/data/', data).post('/data/', data).get('/data', data).post('/data', data);
  app.use(router.routes());
  for (const r of extraRouters) app.use(r.routes()).use(r.allowedMethods());
  app.use(router.allowedMethods());
  return app;
}
