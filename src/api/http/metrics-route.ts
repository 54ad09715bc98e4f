import Router from '@koa/router';
import type { Metrics } from '../../metrics/metrics.js';
import { clientIp, headerToken, type HttpDeps } from './context.js';
import { DATA_JSON_TYPE } from './headers.js';
import { parseQuery } from './params.js';

/**
 * `GET /metrics`: the node's metrics in the Prometheus text format (README
 * "Metrics"). Open like reads, since no key or value is ever in a label; with
 * MetricsAuth 1 it takes a token from cmd=pass, as `?token=` or an
 * `Authorization: Bearer` header.
 */
export function metricsRouter(deps: HttpDeps, metrics: Metrics, requireToken: boolean): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    if (requireToken) {
      const token = parseQuery(ctx.querystring).get('token')?.[0]?.toString('utf8') ?? headerToken(ctx);
      if (!(await deps.tokens.verify(token, clientIp(ctx)))) {
        ctx.status = 401;
        ctx.body = JSON.stringify({
          Status: 401,
          Results: 'NOT_PASS',
          Message: 'MetricsAuth is 1: missing, wrong or expired token (get one with /data/?cmd=pass)',
        });
        ctx.set('Content-Type', DATA_JSON_TYPE);
        return;
      }
    }
    ctx.status = 200;
    ctx.body = await metrics.text();
    ctx.set('Content-Type', metrics.contentType);
    ctx.set('Cache-Control', 'no-store');
  });
  return router;
}
