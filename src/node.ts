import { resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Commands } from './api/commands.js';
import { createHttpApp } from './api/http/app.js';
import type { HttpDeps } from './api/http/context.js';
import { HttpServer } from './api/http/server.js';
import { PassGuard, TokenService } from './api/http/tokens.js';
import type { Config } from './config/settings.js';
import { logger } from './log.js';
import { loadOrCreateAuthData } from './persistence/auth-data.js';
import { ensureWritableDir } from './persistence/files.js';
import { Store } from './store/store.js';

const log = logger('node');

/** What a started node tells its caller (the CLI prints it; tests read it). */
export interface NodeInfo {
  nodeId: string;
  name: string;
  dataDir: string;
  http: AddressInfo;
  /** Set when the password was generated at this start: shown once. */
  generatedPassword: string | null;
}

/**
 * One cache node: composes the store, the front ends and (in gossip mode) the
 * cluster parts, and starts and stops them in order.
 */
export class OwlNode {
  readonly store: Store;
  readonly commands: Commands;
  private http: HttpServer | null = null;
  private timers: NodeJS.Timeout[] = [];
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: Config,
    readonly dataDir: string,
    private readonly httpDeps: HttpDeps,
    private readonly generatedPassword: string | null,
  ) {
    this.commands = httpDeps.commands;
    this.store = httpDeps.commands.store;
  }

  /** Builds and starts a node; throws with a user-facing message if it cannot. */
  static async start(config: Config): Promise<{ node: OwlNode; info: NodeInfo }> {
    const dataDir = resolve(config.DBfile);
    ensureWritableDir(dataDir);
    const auth = loadOrCreateAuthData(dataDir, config.Pass === '', config.Tonken_jwt_secret === '');
    const store = new Store({
      nodeId: auth.data.nodeId,
      maxMemory: config.MaxMemory,
      tombstoneTtlMs: config.TombstoneTTL,
    });
    const limits = { maxKeyLength: config.MaxKeyLength, maxValueSize: config.MaxValueSize };
    const commands = new Commands(store, limits);
    let httpPort = config.Httpport;
    const deps: HttpDeps = {
      commands,
      tokens: new TokenService(config.Tonken_jwt_secret || auth.data.jwtSecret!, config.Tonken_expire_time),
      passGuard: new PassGuard(config.PassFailDelay),
      password: config.Pass || auth.data.password!,
      responseHost: () => `${config.ResponseHost}:${httpPort}`,
      limits,
      cors: { enabled: config.Cors, origin: config.Access_Control_Allow_Origin },
    };
    const node = new OwlNode(config, dataDir, deps, auth.generatedPassword ? auth.data.password! : null);
    try {
      const app = createHttpApp(deps);
      node.http = new HttpServer(app, {
        host: config.Host,
        port: config.Httpport,
        ...(config.Open_Https ? { https: { certFile: config.Https_CertFile, keyFile: config.Https_KeyFile } } : {}),
      });
      const address = await node.http.listen();
      httpPort = address.port;
      node.startTimers();
      return {
        node,
        info: {
          nodeId: store.nodeId,
          name: config.NodeName || `${config.ResponseHost}:${httpPort}`,
          dataDir,
          http: address,
          generatedPassword: node.generatedPassword,
        },
      };
    } catch (err) {
      await node.stop();
      throw err;
    }
  }

  private startTimers(): void {
    if (this.config.Task_ClearExpireData > 0) {
      const t = setInterval(() => {
        const n = this.store.sweep();
        if (n > 0) log.debug('sweep: %d entries expired or collected', n);
      }, this.config.Task_ClearExpireData);
      t.unref();
      this.timers.push(t);
    }
  }

  /** Stops accepting, finishes requests in flight, stops the parts. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      await this.http?.close();
    })();
    return this.stopping;
  }
}
