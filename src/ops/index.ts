import { authenticate, type AuthResult, type Credentials } from './auth.js';
import type { OpsDeps } from './context.js';
import { OpsError } from './errors.js';
import { runBody, runRest, restPathList } from './dispatch.js';
import { decodeInternal, encodeInternal } from './peers.js';
import { localConnections } from './status.js';
import { setLocal } from './config.js';
import { startBackup } from './backup-jobs.js';
import { SWITCH_KEYS, SWITCH_VALUES, type SwitchKey, type SwitchValue } from './switches.js';
import type { OpsAnswer } from './types.js';

/**
 * The cluster operations (docs/operations.md): HarperDB's, CubeFS's, QED's and
 * Kunlun's forms over one table (table.ts). createOps gives the HTTP layer
 * what api/http/ops-route.ts mounts.
 */

export type { OpsDeps } from './context.js';
export { RuntimeSwitches, SWITCH_KEYS, type SwitchKey } from './switches.js';
export { Jobs } from './jobs.js';

/** Largest operations body: routes and switches are small; anything bigger is refused unread. */
export const OPS_MAX_BODY_BYTES = 256 * 1024;

export interface Ops {
  authenticate(c: Credentials): Promise<AuthResult>;
  restPaths: string[];
  runBody(body: unknown): Promise<OpsAnswer>;
  runRest(method: string, path: string, input: Record<string, unknown>): Promise<OpsAnswer | null>;
  internal: {
    authHeader(): string | null;
    verify(method: string, path: string, header: string | undefined, body: Buffer): boolean;
    handle(body: Buffer): Promise<{ status: number; body: Buffer }>;
  };
  maxBodyBytes: number;
}

async function handleInternal(deps: OpsDeps, body: Buffer): Promise<unknown> {
  const req = decodeInternal(body);
  const c = deps.cluster();
  switch (req.op) {
    case 'connections':
      return localConnections(deps);
    case 'config_set': {
      if (!(SWITCH_KEYS as string[]).includes(req.key) || !(SWITCH_VALUES as readonly string[]).includes(req.value))
        throw new OpsError(400, `no switch ${req.key}=${req.value}`);
      setLocal(deps, req.key as SwitchKey, req.value as SwitchValue);
      return { value: deps.switches.value(req.key as SwitchKey) };
    }
    case 'forget':
      if (c === null) throw new OpsError(409, 'not in gossip mode');
      c.forceLeave(req.gossip, { incarnation: req.incarnation, at: req.at });
      return { ok: true };
    case 'leave':
      if (c === null) throw new OpsError(409, 'not in gossip mode');
      deps.log.warn('removed from the cluster by %s: leaving it (restart the node to join again)', req.by);
      void c.leaveRemoved(`removed by ${req.by}`);
      return { ok: true };
    case 'coldbackup':
      return startBackup(deps, req.job_id, req.file);
  }
}

export function createOps(deps: OpsDeps): Ops {
  return {
    authenticate: (c) => authenticate(deps.auth, c),
    restPaths: restPathList(),
    runBody: (b) => runBody(deps, b),
    runRest: (m, p, input) => runRest(deps, m, p, input),
    internal: {
      authHeader: () => deps.cluster()?.authHeader ?? null,
      verify: (method, path, header, body) => deps.cluster()?.verify(method, path, header, body) ?? false,
      handle: async (body) => {
        try {
          return { status: 200, body: encodeInternal(await handleInternal(deps, body)) };
        } catch (err) {
          if (err instanceof OpsError) return { status: err.status, body: Buffer.from(err.message) };
          throw err;
        }
      },
    },
    maxBodyBytes: OPS_MAX_BODY_BYTES,
  };
}
