import Router from '@koa/router';
import type Koa from 'koa';
import type { ListChange } from '../../list-change.js';
import { RESULTS, type Status } from '../envelope.js';
import { clientIp, type HttpDeps } from './context.js';
import { JSON_TYPE } from './headers.js';
import { BadBody, BodyTooLarge, Params, parseQuery, readBody } from './params.js';

/**
 * `/server/`: the node lists (docs/protocol.md). Always HTTP 200; the
 * outcome is in the body `{"Cmd","Status","Results","Address","Data"}` (plus
 * `Message` on errors). Every command needs a token. `add` and `delete` answer
 * with `"Cmd":""` as the original does, whatever the outcome. Passwords are
 * kept (a node needs them to talk to that peer) but never sent back.
 */

/** What this route needs of a server list. */
export interface ServerListView {
  isWritten(): boolean;
  live(): { address: string; pass: string }[];
  get(address: string): { address: string; pass: string } | undefined;
  problemWith(address: string): string | null;
  add(address: string, pass: string): ListChange;
  remove(address: string): ListChange;
}

export interface ServerListsView {
  owlcache: ServerListView;
  gossip: ServerListView;
}

/** The original's entry shape, its password and token blanked. */
function shown(e: { address: string }): { Cmd: string; Address: string; Pass: string; Token: string } {
  return { Cmd: '', Address: e.address, Pass: '', Token: '' };
}

function reply(ctx: Koa.Context, cmd: string, status: Status, address: string, data: unknown, message?: string): void {
  const body: Record<string, unknown> = { Cmd: cmd, Status: status, Results: RESULTS[status], Address: address, Data: data };
  if (message !== undefined) body.Message = message;
  ctx.status = 200;
  ctx.body = JSON.stringify(body);
  ctx.set('Content-Type', JSON_TYPE);
}

export function serverRouter(deps: HttpDeps, lists: ServerListsView): Router {
  const handler: Koa.Middleware = async (ctx) => {
    const query = parseQuery(ctx.querystring);
    let params: Params;
    try {
      params = new Params(await readBody(ctx.req, { maxValueSize: 64 * 1024, slack: 4096 }), query);
    } catch (err) {
      if (!(err instanceof BodyTooLarge) && !(err instanceof BadBody)) throw err;
      const q = new Params(new Map(), query);
      if (err instanceof BodyTooLarge) ctx.set('Connection', 'close');
      return reply(ctx, q.str('cmd') ?? '', 500, q.str('address') ?? '', null, `bad request body: ${err.message}`);
    }
    const cmd = params.str('cmd') ?? '';
    const address = params.str('address') ?? '';
    const shownCmd = cmd === 'add' || cmd === 'delete' ? '' : cmd;

    if (!(await deps.tokens.verify(params.strAny('token', 'owl_token'), clientIp(ctx)))) {
      return reply(ctx, shownCmd, 401, address, null, 'missing, wrong or expired token (get one with /data/?cmd=pass)');
    }
    const type = params.str('group_type') ?? '';
    if (type !== '' && type !== 'owlcache' && type !== 'gossip') {
      return reply(ctx, shownCmd, 500, address, null, `group_type must be owlcache or gossip, not ${JSON.stringify(type)}`);
    }
    const list = type === 'gossip' ? lists.gossip : lists.owlcache;

    switch (cmd) {
      case 'getall':
        return reply(ctx, cmd, 200, address, list.isWritten() ? list.live().map(shown) : null);
      case 'get': {
        const bad = list.problemWith(address);
        if (bad !== null) return reply(ctx, cmd, 500, address, null, bad);
        const e = list.get(address);
        if (e === undefined) return reply(ctx, cmd, 404, address, null, `${address} is not in the list`);
        return reply(ctx, cmd, 200, address, shown(e));
      }
      case 'add':
      case 'delete': {
        const r = cmd === 'add' ? list.add(address, params.str('pass') ?? '') : list.remove(address);
        if (!r.ok) return reply(ctx, '', r.status, address, null, r.message);
        return reply(ctx, '', 200, address, null);
      }
      default:
        return reply(ctx, cmd, 501, address, null, cmd === '' ? 'cmd is required (getall, get, add or delete)' : `unknown command ${JSON.stringify(cmd)}`);
    }
  };
  const router = new Router();
  router.get('/server/', handler).post('/server/', handler).get('/server', handler).post('/server', handler);
  return router;
}
