import { isIPv6 } from 'node:net';
import { OpsError, fieldError } from './errors.js';
import { describe, isObject, optEnum, reqArray, reqEnum, type Input } from './fields.js';
import type { OpsRouteList } from './types.js';

/**
 * HarperDB's cluster routes on this project's two node lists: `hub` routes
 * are the gossip seed list (`/server/?group_type=gossip`: peers' gossip
 * host:port), `leaf` routes the owlcache-mode HTTP node list (`/server/`).
 * Changes go through the lists themselves, so they are checked (a node never
 * contacts refused hosts), saved at once and, in gossip mode, replicated by
 * push-pull like any /server/ change.
 */

export type RouteServer = 'hub' | 'leaf';
export const ROUTE_SERVERS = ['hub', 'leaf'] as const;

export interface Route {
  host: string;
  port: number;
  /** Leaf routes only, when the list entry names one. */
  scheme?: 'http' | 'https';
}

export interface RouteLists {
  hub: OpsRouteList;
  leaf: OpsRouteList;
}

export interface Skipped {
  route: unknown;
  reason: string;
}

const MAX_ROUTES = 1000;

/** A list entry as a route: `host:port`, `[v6]:port`, or `http(s)://host[:port]`. */
export function routeOf(address: string): Route {
  const m = /^(https?):\/\/(.*)$/.exec(address);
  const rest = m ? m[2]! : address;
  const i = rest.lastIndexOf(':');
  const hasPort = i > 0 && !rest.endsWith(']') && /^\d+$/.test(rest.slice(i + 1));
  const host = (hasPort ? rest.slice(0, i) : rest).replace(/^\[|\]$/g, '');
  const port = hasPort ? Number(rest.slice(i + 1)) : m?.[1] === 'https' ? 443 : 80;
  return m ? { host, port, scheme: m[1] as 'http' | 'https' } : { host, port };
}

/** The list address of a route, or the reason it is not one. */
function addressOf(route: unknown, server: RouteServer): { address: string } | { reason: string } {
  if (!isObject(route)) return { reason: `a route must be an object {host, port}, not ${describe(route)}` };
  const { host, port, scheme } = route;
  if (typeof host !== 'string' || host.trim() === '') return { reason: 'host must be a non-empty string' };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    return { reason: `port must be an integer from 1 to 65535, not ${describe(port)}` };
  if (scheme !== undefined && (server === 'hub' || (scheme !== 'http' && scheme !== 'https'))) {
    return { reason: server === 'hub' ? 'a hub (gossip) route has no scheme' : 'scheme must be "http" or "https"' };
  }
  const h = host.trim();
  const hostPart = isIPv6(h.replace(/^\[|\]$/g, '')) ? `[${h.replace(/^\[|\]$/g, '')}]` : h;
  return { address: `${typeof scheme === 'string' ? `${scheme}://` : ''}${hostPart}:${port}` };
}

export function getRoutes(lists: RouteLists): { hub: Route[]; leaf: Route[] } {
  return { hub: lists.hub.liveAddresses().map(routeOf), leaf: lists.leaf.liveAddresses().map(routeOf) };
}

export function parseServer(input: Input): RouteServer {
  return reqEnum(input, 'server', ROUTE_SERVERS);
}

export function setRoutes(lists: RouteLists, server: RouteServer, routes: unknown[]): { message: string; set: Route[]; skipped: Skipped[] } {
  const list = lists[server];
  const set: Route[] = [];
  const skipped: Skipped[] = [];
  const seen = new Set<string>();
  for (const route of routes) {
    const a = addressOf(route, server);
    if ('reason' in a) {
      skipped.push({ route, reason: a.reason });
      continue;
    }
    const bad = list.problemWith(a.address);
    if (bad !== null) {
      skipped.push({ route, reason: bad });
      continue;
    }
    const existing = list.get(a.address);
    const key = existing?.address ?? a.address.toLowerCase();
    if (seen.has(key)) {
      skipped.push({ route, reason: 'duplicate: given more than once in this request' });
      continue;
    }
    seen.add(key);
    if (existing !== undefined) {
      skipped.push({ route, reason: `duplicate: ${existing.address} is already a ${server} route` });
      continue;
    }
    const r = list.add(a.address, '');
    if (!r.ok) {
      skipped.push({ route, reason: r.message });
      continue;
    }
    seen.add(r.address);
    set.push(routeOf(r.address));
  }
  return { message: 'cluster routes successfully set', set, skipped };
}

/** Deletes routes from whichever list holds them (HarperDB's delete names no server). */
export function deleteRoutes(lists: RouteLists, routes: unknown[]): { message: string; deleted: Route[]; skipped: Skipped[] } {
  const deleted: Route[] = [];
  const skipped: Skipped[] = [];
  for (const route of routes) {
    const servers: RouteServer[] =
      isObject(route) && typeof route.server === 'string' && (ROUTE_SERVERS as readonly string[]).includes(route.server)
        ? [route.server as RouteServer]
        : ['hub', 'leaf'];
    let done = false;
    let reason = '';
    for (const server of servers) {
      const a = addressOf(isObject(route) ? { ...route, server: undefined } : route, server);
      if ('reason' in a) {
        reason = a.reason;
        continue;
      }
      const existing = lists[server].get(a.address);
      if (existing === undefined) continue;
      const r = lists[server].remove(existing.address);
      if (r.ok) {
        deleted.push(routeOf(existing.address));
        done = true;
        break;
      }
      reason = r.message;
    }
    if (!done) skipped.push({ route, reason: reason || 'not found: no hub or leaf route has this host and port' });
  }
  return { message: 'cluster routes successfully deleted', deleted, skipped };
}

export function routesField(input: Input): unknown[] {
  return reqArray(input, 'routes', MAX_ROUTES);
}

/**
 * configure_cluster: the route lists replaced in one step. Every connection
 * is checked first; one bad entry and nothing changes. A save that fails
 * midway is undone, so the lists end as they were or as asked.
 */
export function configureCluster(lists: RouteLists, input: Input): { message: string; hub: Route[]; leaf: Route[] } {
  const connections = reqArray(input, 'connections', MAX_ROUTES);
  const wanted: Record<RouteServer, string[]> = { hub: [], leaf: [] };
  connections.forEach((c, i) => {
    const field = `connections[${i}]`;
    if (!isObject(c)) throw fieldError(field, `must be an object {server?, host, port}, not ${describe(c)}`);
    const server = optEnum(c, 'server', ROUTE_SERVERS) ?? 'hub';
    const a = addressOf({ host: c.host, port: c.port, ...(c.scheme !== undefined ? { scheme: c.scheme } : {}) }, server);
    if ('reason' in a) throw fieldError(field, a.reason);
    const bad = lists[server].problemWith(a.address);
    if (bad !== null) throw fieldError(field, bad);
    if (!wanted[server].some((w) => w.toLowerCase() === a.address.toLowerCase())) wanted[server].push(a.address);
  });
  const undo: (() => void)[] = [];
  try {
    for (const server of ROUTE_SERVERS) {
      const list = lists[server];
      const keep = new Set(wanted[server].map((w) => list.get(w)?.address).filter((x): x is string => x !== undefined));
      for (const address of list.liveAddresses()) {
        if (keep.has(address)) continue;
        const r = list.remove(address);
        if (!r.ok) throw new OpsError(500, `cannot remove ${address}: ${r.message}`);
        undo.push(() => list.add(address, ''));
      }
      for (const address of wanted[server]) {
        if (list.get(address) !== undefined) continue;
        const r = list.add(address, '');
        if (!r.ok) throw new OpsError(500, `cannot add ${address}: ${r.message}`);
        undo.push(() => list.remove(r.address));
      }
    }
  } catch (err) {
    for (const u of undo.reverse()) u();
    throw err;
  }
  return { message: 'Cluster successfully configured.', ...getRoutes(lists) };
}
