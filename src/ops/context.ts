import type { AuthDeps } from './auth.js';
import type { JobsDeps } from './backup-jobs.js';
import type { RouteLists } from './routes.js';
import type { RuntimeSwitches } from './switches.js';
import type { OpsCluster, OpsNodeFacts, OpsStoreStats } from './types.js';

/** Everything an operation may use (node.ts builds it once). */
export interface OpsDeps {
  node: OpsNodeFacts;
  store: { stats(): OpsStoreStats };
  lists: RouteLists;
  /** Gossip mode's cluster once started; null in owlcache mode (and before the start). */
  cluster: () => OpsCluster | null;
  switches: RuntimeSwitches;
  /** Re-reads the seed files (update_node). */
  reloadSeeds: () => { seeds: string[]; problems: string[] };
  auth: AuthDeps;
  /** The backup and restore jobs. */
  jobs: JobsDeps;
  log: { info(fmt: string, ...args: unknown[]): void; warn(fmt: string, ...args: unknown[]): void };
}
