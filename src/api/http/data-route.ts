import type Koa from 'koa';
import { clientIp, hasValidToken, requestParams, sendAnswer, type HttpDeps } from './context.js';
import { getAnswer } from './get-answer.js';
import { passwordMatches } from './tokens.js';
import { envelopeAnswer, outcomeAnswer, runDataWrite, TOKEN_REFUSED } from './write-answer.js';

/**
 * `/data/`: one node's data, exactly as docs/protocol.md describes it. Reads are
 * open; set, expire and delete need a token from cmd=pass.
 */

export function dataRoute(deps: HttpDeps): Koa.Middleware {
  const { commands } = deps;

  return async (ctx) => {
    const params = await requestParams(ctx, deps);
    if (params === null) return;
    const cmd = params.str('cmd') ?? '';
    const key = params.str('key') ?? '';
    // For the request counter (app.ts), which keeps only the names it knows.
    ctx.state.command = cmd;

    switch (cmd) {
      case 'get': {
        // Reached for POSTed gets; plain GETs are answered before Koa (fast-path.ts).
        const answer = getAnswer(deps, key);
        ctx.status = answer.status;
        ctx.body = answer.body;
        ctx.set(answer.headers);
        return;
      }
      case 'exist':
        return sendAnswer(ctx, outcomeAnswer(deps, cmd, commands.exist(key)));
      case 'ping': {
        ctx.status = 200;
        const v = params.bytes('valuedata');
        ctx.body = v === undefined || v.length === 0 ? 'PONG' : v;
        ctx.set('Content-Type', 'text/plain; charset=utf-8');
        return;
      }
      case 'pass': {
        const ip = clientIp(ctx);
        const given = params.str('pass') ?? '';
        const outcome = await deps.passGuard.check(ip, () => passwordMatches(given, deps.password));
        if (outcome === 'busy') return sendAnswer(ctx, envelopeAnswer(deps, cmd, 500, key, null, 0, 'too many password attempts are waiting; try again later'));
        if (outcome === 'wrong') return sendAnswer(ctx, envelopeAnswer(deps, cmd, 401, key, null, 0, 'wrong password'));
        const token = await deps.tokens.issue(ip);
        const now = Date.now() * 1000;
        return sendAnswer(ctx, envelopeAnswer(deps, cmd, 200, key, token, now));
      }
      case 'set':
      case 'expire':
      case 'delete': {
        if (!(await hasValidToken(ctx, deps, params))) {
          return sendAnswer(ctx, envelopeAnswer(deps, cmd, 401, key, null, 0, TOKEN_REFUSED));
        }
        return sendAnswer(ctx, runDataWrite(deps, cmd, key, params));
      }
      default:
        return sendAnswer(ctx, envelopeAnswer(deps, cmd, 501, key, null, 0, cmd === '' ? 'cmd is required' : `unknown command ${JSON.stringify(cmd)}`));
    }
  };
}
