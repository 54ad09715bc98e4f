import { OpsError } from './errors.js';
import { optBool, optInt, type Input } from './fields.js';
import type { OpsDeps } from './context.js';
import { configGet, configSet, parseConfigSet } from './config.js';
import { getInfo } from './info.js';
import { addNode, getNode, parseAddNode, removeNode, updateNode } from './members.js';
import { configureCluster, deleteRoutes, getRoutes, parseServer, routesField, setRoutes } from './routes.js';
import { infoShards, stat } from './stat.js';
import { coldBackup, coldRestore, getStatus, listJobs, parseBackup, parseJobId, parseRestore } from './backup-jobs.js';
import { DEFAULT_NETWORK_TIMEOUT_MS, clusterNetwork, clusterStatus } from './status.js';

/**
 * The one table of cluster operations: each row names the operation (the
 * `operation` of a HarperDB body and the `job_type` of a Kunlun body), the
 * REST paths that also reach it, a parser that validates the fields (errors
 * name the field) and the handler. Dispatch (dispatch.ts), the HTTP routes
 * (api/http/ops-route.ts), the README and the CLI follow it.
 */

export interface RestForm {
  method: 'GET' | 'POST';
  path: string;
}

export interface Operation<A = unknown> {
  name: string;
  /** Where the operation comes from (for the docs and the error listing accepted operations). */
  seed: 'HarperDB' | 'CubeFS' | 'QED' | 'Kunlun';
  summary: string;
  rest: RestForm[];
  parse(input: Input, deps: OpsDeps): A;
  run(deps: OpsDeps, args: A): unknown;
}

function op<A>(o: Operation<A>): Operation {
  return o as Operation;
}

const none = (): null => null;
const asIs = (input: Input): Input => input;

export const OPERATIONS: readonly Operation[] = [
  op({
    name: 'cluster_set_routes',
    seed: 'HarperDB',
    summary: 'adds hub (gossip seed) or leaf (owlcache node list) routes',
    rest: [],
    parse: (input) => ({ server: parseServer(input), routes: routesField(input) }),
    run: (deps, a) => setRoutes(deps.lists, a.server, a.routes),
  }),
  op({ name: 'cluster_get_routes', seed: 'HarperDB', summary: 'lists the hub and leaf routes', rest: [], parse: none, run: (deps) => getRoutes(deps.lists) }),
  op({
    name: 'cluster_delete_routes',
    seed: 'HarperDB',
    summary: 'deletes routes from whichever list holds them',
    rest: [],
    parse: (input) => routesField(input),
    run: (deps, routes) => deleteRoutes(deps.lists, routes),
  }),
  op({
    name: 'configure_cluster',
    seed: 'HarperDB',
    summary: 'replaces the route lists in one step',
    rest: [],
    parse: asIs,
    run: (deps, input) => configureCluster(deps.lists, input),
  }),
  op({
    name: 'add_node',
    seed: 'HarperDB',
    summary: 'joins the node at a gossip host:port now',
    rest: [{ method: 'POST', path: '/member/add' }],
    parse: parseAddNode,
    run: addNode,
  }),
  op({
    name: 'update_node',
    seed: 'Kunlun',
    summary: 're-reads the seed files and re-joins them; with node_name, refreshes that member',
    rest: [],
    parse: asIs,
    run: updateNode,
  }),
  op({
    name: 'remove_node',
    seed: 'HarperDB',
    summary: 'forces a member out (it stays out until restarted)',
    rest: [{ method: 'POST', path: '/member/remove' }],
    parse: asIs,
    run: removeNode,
  }),
  op({
    name: 'cluster_status',
    seed: 'HarperDB',
    summary: 'this node and its connections: latency, uptime, sync, clock offset',
    rest: [],
    parse: none,
    run: (deps) => clusterStatus(deps),
  }),
  op({
    name: 'cluster_network',
    seed: 'HarperDB',
    summary: 'asks every live member for its connections and routes',
    rest: [],
    parse: (input) => ({
      timeoutMs: optInt(input, 'timeout', 1, 60_000) ?? DEFAULT_NETWORK_TIMEOUT_MS,
      omitConnected: optBool(input, 'connected_nodes') ?? false,
      omitRoutes: optBool(input, 'routes') ?? false,
    }),
    run: clusterNetwork,
  }),
  op({
    name: 'stat',
    seed: 'CubeFS',
    summary: 'members, memory and disk, sync state',
    rest: [{ method: 'GET', path: '/stat' }],
    parse: none,
    run: (deps) => stat(deps),
  }),
  op({
    name: 'config_get',
    seed: 'CubeFS',
    summary: 'the task switches (or one, with key)',
    rest: [{ method: 'GET', path: '/config/get' }],
    parse: asIs,
    run: configGet,
  }),
  op({
    name: 'config_set',
    seed: 'CubeFS',
    summary: 'sets a task switch (scope "cluster": on every live member)',
    rest: [{ method: 'POST', path: '/config/set' }],
    parse: (input) => parseConfigSet(input),
    run: configSet,
  }),
  op({
    name: 'leadership_transfer',
    seed: 'CubeFS',
    summary: 'refused: the cluster has no leader',
    rest: [{ method: 'POST', path: '/leadership/transfer' }],
    parse: none,
    run: () => {
      throw new OpsError(
        409,
        'the cluster is leaderless: every node takes reads and writes and replicates them to the others, so there is no leadership to transfer',
        { leader_host: null },
      );
    },
  }),
  op({
    name: 'info_shards',
    seed: 'QED',
    summary: 'every node and its addresses, from one endpoint',
    rest: [{ method: 'GET', path: '/info/shards' }],
    parse: none,
    run: (deps) => infoShards(deps),
  }),
  op({ name: 'get_node', seed: 'Kunlun', summary: 'the members, filtered by node_type, node_ip0…, state, node_name', rest: [], parse: asIs, run: getNode }),
  op({ name: 'get_info', seed: 'Kunlun', summary: 'this machine and process', rest: [], parse: none, run: (deps) => getInfo(deps) }),
  op({
    name: 'coldbackup',
    seed: 'Kunlun',
    summary: 'a job backing up this node (scope "cluster": every live member) to a file under BackupDir',
    rest: [],
    parse: parseBackup,
    run: coldBackup,
  }),
  op({
    name: 'coldrestore',
    seed: 'Kunlun',
    summary: 'a job restoring a backup file (newer values kept, deleted ones back; mode "replace": the store made equal to it)',
    rest: [],
    parse: parseRestore,
    run: coldRestore,
  }),
  op({
    name: 'get_status',
    seed: 'Kunlun',
    summary: "a job's status and progress",
    rest: [{ method: 'GET', path: '/jobs/:job_id' }],
    parse: parseJobId,
    run: getStatus,
  }),
  op({
    name: 'list_jobs',
    seed: 'Kunlun',
    summary: 'the jobs of this node (kept a day after they end)',
    rest: [{ method: 'GET', path: '/jobs' }],
    parse: none,
    run: (deps) => listJobs(deps),
  }),
];

export const OPERATION_NAMES = OPERATIONS.map((o) => o.name);

const byName = new Map(OPERATIONS.map((o) => [o.name, o]));

export function operation(name: string): Operation | undefined {
  return byName.get(name);
}

/** Every REST path with the methods it takes. */
export function restPaths(): Map<string, Map<string, Operation>> {
  const out = new Map<string, Map<string, Operation>>();
  for (const o of OPERATIONS) {
    for (const r of o.rest) {
      const m = out.get(r.path) ?? new Map<string, Operation>();
      m.set(r.method, o);
      out.set(r.path, m);
    }
  }
  return out;
}
