import { pack, unpack } from 'msgpackr';
import { OpsError } from './errors.js';
import type { OpsCluster } from './types.js';

/**
 * Operations one node asks of another (cluster_network, /info/shards,
 * `scope: "cluster"`, remove_node): msgpack over the signed internal HTTP
 * route POST /internal/ops, each call bounded by a timeout.
 */
export type InternalRequest =
  | { op: 'connections' }
  | { op: 'config_set'; key: string; value: string }
  | { op: 'forget'; gossip: string; incarnation: number; at: number }
  | { op: 'leave'; by: string }
  | { op: 'coldbackup'; job_id?: string; file?: string };

export const INTERNAL_OPS_PATH = '/internal/ops';

/** Asks the node at `http`; rejects with "no answer within N ms" when it is slower. */
export async function askPeer<T>(cluster: OpsCluster, http: string, req: InternalRequest, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const body = await Promise.race([cluster.ask(http, Buffer.from(pack(req))), timeout]);
    if (body === null) throw new Error('it has no operations route');
    return unpack(body) as T;
  } finally {
    clearTimeout(timer);
  }
}

export function decodeInternal(body: Buffer): InternalRequest {
  let req: unknown;
  try {
    req = unpack(body);
  } catch {
    throw new OpsError(400, 'not msgpack');
  }
  if (typeof req !== 'object' || req === null || typeof (req as { op?: unknown }).op !== 'string') throw new OpsError(400, 'op is required');
  const r = req as Record<string, unknown>;
  switch (r.op) {
    case 'connections':
      return { op: 'connections' };
    case 'config_set':
      if (typeof r.key !== 'string' || typeof r.value !== 'string') throw new OpsError(400, 'key and value are required');
      return { op: 'config_set', key: r.key, value: r.value };
    case 'forget':
      if (typeof r.gossip !== 'string' || !Number.isSafeInteger(r.incarnation) || !Number.isSafeInteger(r.at))
        throw new OpsError(400, 'gossip, incarnation and at are required');
      return { op: 'forget', gossip: r.gossip, incarnation: r.incarnation as number, at: r.at as number };
    case 'leave':
      return { op: 'leave', by: typeof r.by === 'string' ? r.by.slice(0, 300) : '?' };
    case 'coldbackup':
      if ((r.job_id !== undefined && typeof r.job_id !== 'string') || (r.file !== undefined && typeof r.file !== 'string'))
        throw new OpsError(400, 'job_id and file must be strings');
      return {
        op: 'coldbackup',
        ...(r.job_id !== undefined ? { job_id: r.job_id as string } : {}),
        ...(r.file !== undefined ? { file: r.file as string } : {}),
      };
    default:
      throw new OpsError(400, `unknown internal op ${JSON.stringify(r.op).slice(0, 60)}`);
  }
}

export function encodeInternal(answer: unknown): Buffer {
  return Buffer.from(pack(answer));
}

/** Runs `f` over `xs` at once; each result or the error's message. */
export function settleAll<T, R>(xs: readonly T[], f: (x: T) => Promise<R>): Promise<({ ok: true; value: R } | { ok: false; error: string })[]> {
  return Promise.all(
    xs.map((x) =>
      f(x).then(
        (value) => ({ ok: true as const, value }),
        (err: unknown) => ({ ok: false as const, error: (err as Error)?.message ?? String(err) }),
      ),
    ),
  );
}
