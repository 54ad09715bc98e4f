import Router from '@koa/router';
import { JSON_TYPE } from './headers.js';

/**
 * Kubernetes-style probes (README "Health checks"), plain JSON, no token:
 * `GET /healthz` is 200 whenever the process answers; `GET /readyz` is 200
 * when the node should get traffic, else 503 with the reasons.
 */
export interface Readiness {
  /** Why the node is not ready, in words; empty = ready. */
  notReady(): string[];
  /** Facts shown with either answer (phase, loaded keys, members). */
  details(): Record<string, unknown>;
}

export function healthRouter(readiness: Readiness): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.status = 200;
    ctx.body = JSON.stringify({ status: 'ok' });
    ctx.set('Content-Type', JSON_TYPE);
    ctx.set('Cache-Control', 'no-store');
  });
  router.get('/readyz', (ctx) => {
    const reasons = readiness.notReady();
    ctx.status = reasons.length === 0 ? 200 : 503;
    ctx.body = JSON.stringify({ status: reasons.length === 0 ? 'ready' : 'not ready', reasons, ...readiness.details() });
    ctx.set('Content-Type', JSON_TYPE);
    ctx.set('Cache-Control', 'no-store');
  });
  return router;
}
