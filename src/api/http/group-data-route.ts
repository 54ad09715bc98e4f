import { isUtf8 } from 'node:buffer';
import Router from '@koa/router';
import type Koa from 'koa';
import type { GroupCopy } from '../../group-copy.js';
import { requestParams, type HttpDeps } from './context.js';
import { headerSafe, JSON_TYPE } from './headers.js';

/**
 * `/group_data/`: one key, asked of every node of the cluster (docs/protocol.md,
 * "HTTP `/group_data/`"). `cmd=get` answers the raw value of the newest copy by create
 * time; `valuedata=info` answers one JSON object per node holding the key;
 * `target=host:port` asks that node only. Nothing found: 404 with an empty
 * body; any other cmd: 501 with an empty body.
 */

export interface GroupDataSource {
  lookup(key: string, target?: string): Promise<GroupCopy[]>;
}

function newest(copies: readonly GroupCopy[]): GroupCopy | undefined {
  let best: GroupCopy | undefined;
  for (const c of copies) {
    if (best === undefined) best = c;
    else if (c.createdNs !== null && (best.createdNs === null || c.createdNs > best.createdNs)) best = c;
  }
  return best;
}

function empty(ctx: Koa.Context, status: number): void {
  ctx.status = status;
  ctx.body = '';
}

export function groupDataRouter(deps: HttpDeps, source: GroupDataSource): Router {
  const handler: Koa.Middleware = async (ctx) => {
    const params = await requestParams(ctx, deps);
    if (params === null) return;
    if ((params.str('cmd') ?? '') !== 'get') return empty(ctx, 501);
    const key = params.str('key') ?? '';
    const target = params.str('target');
    const copies = await source.lookup(key, target === undefined || target === '' ? undefined : target);
    if (copies.length === 0) return empty(ctx, 404);

    if (params.str('valuedata') === 'info') {
      ctx.status = 200;
      ctx.body = JSON.stringify(
        copies.map((c) => ({ Address: c.address, Data: c.value.toString('base64'), Key: key, KeyCreateTime: c.keyCreateTime, Status: 200 })),
      );
      ctx.set('Content-Type', JSON_TYPE);
      return;
    }
    const best = newest(copies)!;
    ctx.status = 200;
    ctx.body = best.value;
    ctx.set('Content-Type', isUtf8(best.value) ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    ctx.set('Key', headerSafe(key));
    ctx.set('Keycreatetime', best.keyCreateTimeGo);
    ctx.set('Responsehost', deps.responseHost());
  };
  const router = new Router();
  router.get('/group_data/', handler).post('/group_data/', handler).get('/group_data', handler).post('/group_data', handler);
  return router;
}
