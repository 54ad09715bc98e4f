import Router, { type RouterContext } from '@koa/router';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PageState } from '../../cluster-page/page-state.js';
import { logger } from '../../log.js';
import type { HttpDeps } from './context.js';
import { hasValidToken, requestParams } from './context.js';
import { JSON_TYPE } from './headers.js';

const log = logger('http');

/**
 * `/ui/`: the cluster page. Its files (the package's `ui/` folder) are public
 * and read once at start, so no request path ever reaches the file system;
 * its data, `/ui/api/state`, needs a token like every `/cluster/` answer.
 */
export interface PageView {
  state(): PageState;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Everything the page loads comes from this node: no inline script, no other origin. */
const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

interface PageFile {
  type: string;
  body: Buffer;
}

/** The `ui/` folder beside the package's dist/ (found upwards from this module: dist/src/api/http/ in a build). */
export function findPageDir(from = dirname(fileURLToPath(import.meta.url))): string | null {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'ui', 'index.html')) && existsSync(join(dir, 'package.json'))) return join(dir, 'ui');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

function loadPageFiles(dir: string | null): Map<string, PageFile> {
  const files = new Map<string, PageFile>();
  if (dir === null) {
    log.warn('the cluster page files (ui/) are not found: /ui/ answers 404');
    return files;
  }
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) files.set(name, { type, body: readFileSync(join(dir, name)) });
  }
  return files;
}

export function pageRouter(deps: HttpDeps, view: PageView, dir: string | null = findPageDir()): Router {
  const files = loadPageFiles(dir);
  const router = new Router();
  const serve = (name: string) => (ctx: RouterContext) => {
    const file = files.get(name);
    if (file === undefined) {
      ctx.status = 404;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = name === 'index.html' ? 'the cluster page files (ui/) are not installed with this node\n' : 'not found\n';
      return;
    }
    ctx.set(PAGE_HEADERS);
    // Revalidated on every load, so a node upgrade shows its own page at once.
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = file.type;
    ctx.body = file.body;
  };
  // The page's URLs are relative: `/ui` without the slash would resolve them against `/`.
  router.get('/ui', (ctx) => {
    if (ctx.path !== '/ui') return serve('index.html')(ctx);
    ctx.status = 301;
    ctx.redirect('/ui/');
  });
  router.get('/ui/', serve('index.html'));
  router.get('/ui/api/state', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const params = await requestParams(ctx, deps);
    if (params === null) return;
    ctx.type = JSON_TYPE;
    if (!(await hasValidToken(ctx, deps, params))) {
      ctx.status = 401;
      ctx.body = JSON.stringify({ Status: 401, Results: 'NOT_PASS', Message: 'missing, wrong or expired token (get one with /data/?cmd=pass)' });
      return;
    }
    ctx.status = 200;
    ctx.body = JSON.stringify(view.state());
  });
  router.get('/ui/:file', (ctx) => serve(ctx.params.file ?? '')(ctx));
  return router;
}
