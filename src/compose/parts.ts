import type { Commands, Limits } from '../api/commands.js';
import type { HttpDeps } from '../api/http/context.js';
import { PassGuard, TokenService } from '../api/http/tokens.js';
import { GroupClient } from '../cluster/groups/group-client.js';
import { GroupData, type GroupNodes } from '../cluster/groups/group-data.js';
import type { Config } from '../config/settings.js';
import type { Metrics } from '../metrics/metrics.js';
import { unbracketHost } from '../host-port.js';
import type { AuthData } from '../persistence/auth-data.js';
import type { PersistenceOptions } from '../persistence/persistence.js';
import type { Store, StoreOptions } from '../store/store.js';
import type { NodeSelf } from './cluster-mode.js';
import type { Late } from './late.js';

/**
 * The node's parts other than the cluster mode and the ports, each built from
 * its slice of the settings (src/node.ts puts them together, in order).
 */

export function storeOptions(c: Pick<Config, 'MaxMemory' | 'TombstoneTTL'>, nodeId: string): StoreOptions {
  return { nodeId, maxMemory: c.MaxMemory, tombstoneTtlMs: c.TombstoneTTL };
}

export function persistenceOptions(c: Pick<Config, 'AppendLog' | 'AppendFsync' | 'Task_DataBackup'>, dataDir: string, store: Store): PersistenceOptions {
  return { dataDir, store, appendLog: c.AppendLog, fsync: c.AppendFsync, snapshotEveryMs: c.Task_DataBackup };
}

export function commandLimits(c: Pick<Config, 'MaxKeyLength' | 'MaxValueSize'>): Limits {
  return { maxKeyLength: c.MaxKeyLength, maxValueSize: c.MaxValueSize };
}

/** This node on HTTP once its port is bound. */
export function nodeSelf(c: Pick<Config, 'NodeName' | 'ResponseHost'>, httpPort: number): NodeSelf {
  const http = `${c.ResponseHost}:${httpPort}`;
  return { name: c.NodeName || http, http, httpPort };
}

/** What every front end that takes a password shares: the password, its guard, the token service. */
export function httpDeps(
  c: Pick<Config, 'Pass' | 'Tonken_jwt_secret' | 'Tonken_expire_time' | 'PassFailDelay' | 'PassChecksPerSecond' | 'Cors' | 'Access_Control_Allow_Origin'>,
  parts: { commands: Commands; limits: Limits; auth: AuthData; self: Late<NodeSelf>; metrics: Metrics },
): HttpDeps {
  // Empty in the conf: the one auth.json holds, generated at the first start.
  const password = c.Pass || parts.auth.password!;
  const { self } = parts;
  return {
    commands: parts.commands,
    tokens: new TokenService(c.Tonken_jwt_secret || parts.auth.jwtSecret!, password, c.Tonken_expire_time),
    passGuard: new PassGuard({ baseDelayMs: c.PassFailDelay, checksPerSecond: c.PassChecksPerSecond, metrics: parts.metrics }),
    password,
    responseHost: () => self.get().http,
    limits: parts.limits,
    cors: { enabled: c.Cors, origin: c.Access_Control_Allow_Origin },
    metrics: parts.metrics,
  };
}

export function groupClient(c: Pick<Config, 'HttpsClient_InsecureSkipVerify' | 'MaxValueSize'>): GroupClient {
  return new GroupClient({ insecureSkipVerify: c.HttpsClient_InsecureSkipVerify, maxBodyBytes: c.MaxValueSize });
}

/** /group_data/'s work: the mode's nodes, this node read from its own store. */
export function groupData(
  c: Pick<Config, 'Open_Https' | 'ResponseHost' | 'Host' | 'HttpClientRequestTimeout' | 'HttpClientRequestLocalCacheLifeTime'>,
  parts: { commands: Commands; nodes: GroupNodes; client: GroupClient; self: Late<NodeSelf> },
): GroupData {
  const { commands, self } = parts;
  const selfHosts = ['127.0.0.1', 'localhost', '::1', c.ResponseHost, c.Host]
    .map((h) => unbracketHost(h.trim().toLowerCase()))
    .filter((h) => h !== '' && h !== '0.0.0.0' && h !== '::');
  return new GroupData({
    nodes: parts.nodes,
    local: {
      get: (key) => {
        const e = commands.get(key);
        return e === undefined || e.value === null ? undefined : { value: e.value, created: e.created };
      },
    },
    self: {
      scheme: c.Open_Https ? 'https' : 'http',
      address: () => self.get().http,
      port: () => self.get().httpPort,
      hosts: () => selfHosts,
    },
    client: parts.client,
    timeoutMs: c.HttpClientRequestTimeout,
    cacheLifeMs: c.HttpClientRequestLocalCacheLifeTime,
  });
}
