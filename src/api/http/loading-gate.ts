import type http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Metrics } from '../../metrics/metrics.js';
import { envelopeJson } from '../envelope.js';
import { requestCommand } from './app.js';
import { SERVER_HEADER } from '../../version.js';
import { DATA_JSON_TYPE } from './headers.js';

/** What a client is told while the node loads its data directory. */
export const LOADING_MESSAGE = 'loading the data directory, try again shortly';

/** The probes answered while loading (README "Health checks"): everything else waits for the whole store. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * The HTTP port is bound before the data directory loads (docs/architecture.md,
 * "Composition"), so that probes can ask how far the load is. Until the node
 * serves, this answers every request but the probes with a 503 in the
 * envelope's form, before the fast path and the app: no client reads a
 * partly loaded store or writes before the data directory takes writes.
 * Returns true when it answered.
 */
export function loadingGate(parts: {
  loading: () => boolean;
  responseHost: () => string;
  metrics?: Metrics;
}): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    if (!parts.loading()) return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (PROBES.has(path)) return false;
    const started = performance.now();
    const body = envelopeJson('', 503, '', null, parts.responseHost(), 0, LOADING_MESSAGE);
    // A body the client sends is not wanted: read and dropped, so the connection can be reused.
    req.resume();
    res.writeHead(503, {
      Server: SERVER_HEADER,
      'Content-Type': DATA_JSON_TYPE,
      'Content-Length': Buffer.byteLength(body),
      'Retry-After': '1',
      'Cache-Control': 'no-store',
    });
    res.end(body);
    const cmd = q < 0 ? null : new URLSearchParams(url.slice(q + 1)).get('cmd');
    parts.metrics?.request('http', requestCommand(path, cmd ?? undefined), 'error', started);
    return true;
  };
}
