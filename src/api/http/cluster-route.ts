import Router, { type RouterContext } from '@koa/router';
import type { ClusterMembers, NodeStatus } from '../../cluster/view.js';
import type { HttpDeps } from './context.js';
import { hasValidToken, requestParams } from './context.js';
import { DATA_JSON_TYPE } from './headers.js';

/**
 * `/cluster/…`: the cluster at a glance, for people and tools. Token required,
 * like every cluster command. The HTTP layer only serialises what the view gives
 * (the documents are declared in cluster/view.ts, types only).
 */
export interface ClusterView {
  /** This node and every member with its state (GET /cluster/members). */
  members(): ClusterMembers;
  /** Members, store, replication counters, digest root (GET /cluster/status). */
  status(): NodeStatus;
}

export function clusterRouter(deps: HttpDeps, view: ClusterView): Router {
  const router = new Router({ prefix: '/cluster' });
  const answer = (name: 'members' | 'status') => async (ctx: RouterContext) => {
    const params = await requestParams(ctx, deps);
    if (params === null) return;
    if (!(await hasValidToken(ctx, deps, params))) {
      ctx.status = 401;
      ctx.body = JSON.stringify({ Status: 401, Results: 'NOT_PASS', Message: 'missing, wrong or expired token (get one with /data/?cmd=pass)' });
      ctx.set('Content-Type', DATA_JSON_TYPE);
      return;
    }
    ctx.status = 200;
    ctx.body = JSON.stringify(view[name](), null, 2);
    ctx.set('Content-Type', DATA_JSON_TYPE);
  };
  router.get('/members', answer('members'));
  router.get('/status', answer('status'));
  return router;
}
