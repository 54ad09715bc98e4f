import type { Metrics } from '../metrics/metrics.js';
import type Router from '@koa/router';
import type { Commands } from '../api/commands.js';
import { envelopeJson } from '../api/envelope.js';
import { createHttpApp } from '../api/http/app.js';
import type { HttpDeps } from '../api/http/context.js';
import { fastAnswer, storeFastSets, tryFastPath } from '../api/http/fast-path.js';
import { loadingGate } from '../api/http/loading-gate.js';
import { HttpServer } from '../api/http/server.js';
import type { ConnectionCaps } from '../api/listener.js';
import type { RespNodeInfo } from '../api/resp/context.js';
import { RespServer, type RespServerOptions } from '../api/resp/server.js';
import { TcpWriteProtection } from '../api/tcp/protection.js';
import { TcpServer } from '../api/tcp/server.js';
import type { ClusterMembers } from '../cluster/view.js';
import type { Config } from '../config/settings.js';
import { parseNetworks } from '../config/values.js';

/** The three ports' servers, each from its slice of the settings; none is bound here (src/node.ts binds them in order). */

export function connectionCaps(c: Pick<Config, 'MaxConnections' | 'MaxConnectionsPerClient'>): ConnectionCaps {
  return { perPort: c.MaxConnections, perClient: c.MaxConnectionsPerClient };
}

export function httpServer(
  c: Pick<Config, 'Host' | 'Httpport' | 'Open_Https' | 'Https_CertFile' | 'Https_KeyFile' | 'MaxConnections' | 'MaxConnectionsPerClient'>,
  deps: HttpDeps,
  routers: Router[],
  /** True until the node serves: only /healthz and /readyz are answered (loading-gate.ts). */
  loading: () => boolean,
): HttpServer {
  const gate = loadingGate({ loading, responseHost: deps.responseHost, ...(deps.metrics ? { metrics: deps.metrics } : {}) });
  return new HttpServer(createHttpApp(deps, routers), {
    host: c.Host,
    port: c.Httpport,
    fastPath: (req, res) => gate(req, res) || tryFastPath(deps, req, res),
    wire: {
      // While loading, every request goes to node:http, where the gate answers it.
      answer: (req) => (loading() ? null : fastAnswer(deps, req, true)),
      storeSets: (sets) => storeFastSets(deps, sets),
    },
    caps: connectionCaps(c),
    overCapBody: (message) => envelopeJson('', 503, '', null, deps.responseHost(), 0, message),
    ...(c.Open_Https ? { https: { certFile: c.Https_CertFile, keyFile: c.Https_KeyFile } } : {}),
  });
}

export function tcpProtection(c: Pick<Config, 'TcpProtectedMode' | 'TcpTrustedNetworks'>): TcpWriteProtection {
  const networks = parseNetworks(c.TcpTrustedNetworks);
  // The conf loader has checked the list; a string here is a bug, not a user error.
  if (typeof networks === 'string') throw new Error(`TcpTrustedNetworks: ${networks}`);
  return new TcpWriteProtection(c.TcpProtectedMode, networks);
}

/** The OwlCache TCP port; null when CloseTcp is 0. */
export function tcpServer(
  c: Pick<Config, 'CloseTcp' | 'Host' | 'Tcpport' | 'TcpMaxLine' | 'TcpIdleTimeout' | 'ResponseHost' | 'MaxConnections' | 'MaxConnectionsPerClient'>,
  commands: Commands,
  protection: TcpWriteProtection,
  metrics: Metrics,
): TcpServer | null {
  if (!c.CloseTcp) return null;
  return new TcpServer(commands, {
    host: c.Host,
    port: c.Tcpport,
    maxLine: c.TcpMaxLine,
    idleTimeoutMs: c.TcpIdleTimeout,
    responseHost: c.ResponseHost,
    protection,
    caps: connectionCaps(c),
    metrics,
  });
}

/** The Redis port; null when RespPort is 0. */
export function respServer(
  c: Pick<Config, 'RespPort' | 'Host' | 'MaxMemory' | 'RespIdleTimeout' | 'MaxConnections' | 'MaxConnectionsPerClient'>,
  deps: Pick<HttpDeps, 'commands' | 'password' | 'passGuard'>,
  node: () => RespNodeInfo,
  parts: Pick<RespServerOptions, 'flush' | 'snapshots' | 'replicas' | 'metrics'>,
): RespServer | null {
  if (c.RespPort <= 0) return null;
  return new RespServer({
    host: c.Host,
    port: c.RespPort,
    commands: deps.commands,
    password: deps.password,
    passGuard: deps.passGuard,
    maxMemory: c.MaxMemory,
    idleTimeoutMs: c.RespIdleTimeout,
    caps: connectionCaps(c),
    node,
    ...parts,
  });
}

/** INFO's member rows: every member with its name and HTTP address (their gossip address when unknown), or this node alone. */
export function respMembers(view: ClusterMembers): ReturnType<RespNodeInfo['members']> {
  if (view.members.length === 0) return [{ name: view.node.name, address: view.node.http, state: 'alive' }];
  return view.members.map((m) => ({ name: m.name ?? m.gossip, address: m.http ?? m.gossip, state: m.state }));
}
