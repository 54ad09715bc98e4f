import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type Router from '@koa/router';
import { passwordMatches } from '../api/auth.js';
import type { Commands } from '../api/commands.js';
import type { HttpDeps } from '../api/http/context.js';
import { opsRouter } from '../api/http/ops-route.js';
import { loadSeeds } from '../cluster/groups/seed-file.js';
import type { Config } from '../config/settings.js';
import { logger } from '../log.js';
import { createOps, Jobs, RuntimeSwitches } from '../ops/index.js';
import type { JobsDeps } from '../ops/backup-jobs.js';
import { BACKUP_DIR, JOBS_FILE, RUNTIME_SWITCHES_FILE } from '../persistence/layout.js';
import type { Persistence } from '../persistence/persistence.js';
import type { Store } from '../store/store.js';
import { VERSION } from '../version.js';
import type { ClusterMode, NodeSelf } from './cluster-mode.js';
import type { Late } from './late.js';

const log = logger('ops');

/** The socket addresses the operations report (known once bound). */
export interface BoundAddresses {
  tcp: AddressInfo | null;
  resp: AddressInfo | null;
}

/** The run-time task switches (docs/operations.md), as the data directory keeps them. */
export function runtimeSwitches(dataDir: string): RuntimeSwitches {
  const switches = new RuntimeSwitches(join(dataDir, RUNTIME_SWITCHES_FILE));
  if (switches.problem !== null) log.warn('%s', switches.problem);
  return switches;
}

/**
 * Applies the switches to the parts they govern, now (before any port opens)
 * and on every change. The cluster's own tasks are applied by the mode when
 * its cluster starts, and from then on here.
 */
export function applySwitches(switches: RuntimeSwitches, parts: { commands: Commands; persistence: Persistence; mode: ClusterMode }): void {
  switches.onApply('accept_writes', (on) =>
    parts.commands.refuseWrites(on ? null : 'writes are disabled on this node (read-only mode; /config/set accept_writes Enable)'),
  );
  switches.onApply('snapshot', (on) => {
    parts.persistence.periodicSnapshots = on;
  });
  for (const task of ['anti_entropy', 'dissemination'] as const) switches.onApply(task, (on) => parts.mode.operations()?.setTask(task, on));
}

/** The backup and restore jobs: their record in the data directory, BackupDir (default: backups/ in it). */
export function backupJobs(backupDir: string, dataDir: string, store: Store, persistence: Persistence): JobsDeps {
  const registry = new Jobs(join(dataDir, JOBS_FILE));
  if (registry.problem !== null) log.warn('%s', registry.problem);
  return { registry, backupDir: backupDir.trim() === '' ? join(dataDir, BACKUP_DIR) : resolve(backupDir), store, log: persistence };
}

/** The cluster operations' router (HarperDB, CubeFS, QED and Kunlun forms; src/ops/). */
export function operationsRouter(
  c: Pick<Config, 'Open_Https' | 'ResponseHost' | 'MaxClockSkew'>,
  parts: {
    dataDir: string;
    store: Store;
    deps: HttpDeps;
    mode: ClusterMode;
    switches: RuntimeSwitches;
    self: Late<NodeSelf>;
    bound: BoundAddresses;
    startedAt: number;
    jobs: JobsDeps;
  },
): Router {
  const { dataDir, store, deps, mode, switches, self, bound } = parts;
  const at = (a: AddressInfo | null) => (a === null ? null : `${c.ResponseHost}:${a.port}`);
  return opsRouter(
    createOps({
      node: {
        name: () => self.get().name,
        id: store.nodeId,
        version: VERSION,
        mode: mode.name,
        scheme: c.Open_Https ? 'https' : 'http',
        httpAddress: () => self.get().http,
        tcpAddress: () => at(bound.tcp),
        respAddress: () => at(bound.resp),
        dataDir,
        startedAt: parts.startedAt,
        maxClockSkewMs: c.MaxClockSkew,
      },
      store,
      lists: { hub: mode.lists.gossip, leaf: mode.lists.owlcache },
      cluster: () => mode.operations(),
      switches,
      reloadSeeds: () => loadSeeds(dataDir),
      auth: {
        verifyToken: (token, ip) => deps.tokens.verify(token, ip),
        checkPassword: (ip, matches) => deps.passGuard.check(ip, matches),
        passwordMatches: (given) => passwordMatches(given, deps.password),
      },
      log,
      jobs: parts.jobs,
    }),
  );
}
