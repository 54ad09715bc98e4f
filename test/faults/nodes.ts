import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { FAST_GOSSIP, writeSeeds } from '../helpers/cluster.js';
import { CLI_ENTRY, TEST_PASSWORD, freePort, freeUdpPort, sleep } from '../helpers/node-process.js';
import type { FaultNet } from './net.js';

/**
 * The fault run's node processes: five gossip-mode owlcache nodes, each in its
 * own network namespace (or on 127.0.0.1 in the fallback), with fixed ports and
 * data directories so a node killed with SIGKILL restarts as itself. Unlike the
 * test harness's startNode this launcher can prefix the command (ip netns exec)
 * and bind each node to its own address.
 */

export interface NodeSpec {
  index: number;
  host: string;
  httpPort: number;
  tcpPort: number;
  gossipPort: number;
  dataPort: number;
  dir: string;
  dataDir: string;
  confFile: string;
}

export type NodeState = 'up' | 'down' | 'paused';

export class FaultNode {
  proc: ChildProcess | null = null;
  state: NodeState = 'down';
  starts = 0;
  private out = '';
  private log: WriteStream | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: NodeSpec,
    private readonly net: FaultNet,
  ) {}

  get index(): number {
    return this.spec.index;
  }

  get host(): string {
    return this.spec.host;
  }

  get port(): number {
    return this.spec.httpPort;
  }

  get gossip(): string {
    return `${this.spec.host}:${this.spec.gossipPort}`;
  }

  get name(): string {
    return `n${this.spec.index + 1}`;
  }

  /** Starts the process and waits (bounded) for "owlcache ready". */
  async start(readyTimeoutMs = 30_000): Promise<void> {
    if (this.proc !== null) throw new Error(`${this.name} is already running`);
    this.starts++;
    const prefix = this.net.prefixOf(this.index);
    const argv = [...prefix, process.execPath, CLI_ENTRY, '-config', this.spec.confFile];
    this.log ??= createWriteStream(join(this.spec.dir, 'process.log'), { flags: 'a' });
    this.log.write(`--- start ${this.starts} at ${new Date().toISOString()}: ${argv.join(' ')}\n`);
    const proc = spawn(argv[0]!, argv.slice(1), {
      cwd: this.spec.dir,
      env: { ...process.env, DEBUG: process.env.FAULT_DEBUG ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.out = '';
    if (proc.pid !== undefined) this.net.recordPid(proc.pid);
    const log = this.log;
    proc.stdout!.on('data', (d: Buffer) => {
      if (this.out.length < 64 * 1024) this.out += d.toString();
      log.write(d);
    });
    proc.stderr!.on('data', (d: Buffer) => log.write(d));
    this.exited = new Promise<void>((resolve) => {
      proc.on('exit', (code, signal) => {
        log.write(`--- exit ${code ?? signal} at ${new Date().toISOString()}\n`);
        if (this.proc === proc) {
          this.proc = null;
          this.state = 'down';
        }
        resolve();
      });
      proc.on('error', () => resolve());
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (let i = 0; !this.out.includes('owlcache ready'); i++) {
      if (this.proc !== proc) throw new Error(`${this.name} exited before it was ready; see ${join(this.spec.dir, 'process.log')}`);
      if (Date.now() > deadline || i > readyTimeoutMs / 20 + 10) {
        await this.kill();
        throw new Error(`${this.name} not ready within ${readyTimeoutMs} ms; see ${join(this.spec.dir, 'process.log')}`);
      }
      await sleep(20);
    }
    this.state = 'up';
  }

  /** SIGKILL (also of a paused process) and wait for the exit, bounded. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    await Promise.race([this.exited, sleep(10_000)]);
    this.proc = null;
    this.state = 'down';
  }

  /** SIGTERM (a clean stop), SIGKILL if it has not exited within timeoutMs. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    if (this.state === 'paused') this.resume();
    try {
      p.kill('SIGTERM');
    } catch {
      /* gone */
    }
    const done = await Promise.race([this.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
    if (!done) await this.kill();
    this.proc = null;
    this.state = 'down';
  }

  pause(): void {
    if (this.proc === null || this.state !== 'up') return;
    this.proc.kill('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.proc === null || this.state !== 'paused') return;
    this.proc.kill('SIGCONT');
    this.state = 'up';
  }

  /** Synchronous last-resort kill for signal and exit handlers. */
  killSync(): void {
    try {
      this.proc?.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }

  closeLog(): void {
    this.log?.end();
    this.log = null;
  }
}

export interface ClusterSettings {
  /** Extra settings for every node's conf (Name → value). */
  settings?: Record<string, string | number>;
}

/** The settings every fault-run node gets: fast gossip timings, durable acknowledgements. */
export const FAULT_NODE_SETTINGS: Record<string, string | number> = {
  ...FAST_GOSSIP,
  AppendFsync: 'always',
  Tonken_expire_time: 0,
  PassFailDelay: 0,
  RespPort: 0,
  GossipHttpClientRequestTimeout: 3000,
};

/** Writes the confs and seed files of n nodes (every node seeds with all the others) and returns them, not started. */
export async function prepareNodes(net: FaultNet, n: number, runDir: string, opts: ClusterSettings = {}): Promise<FaultNode[]> {
  const specs: NodeSpec[] = [];
  for (let i = 0; i < n; i++) {
    const host = net.hostOf(i);
    const loop = net.mode === 'loopback';
    const dir = join(runDir, `n${i + 1}`);
    mkdirSync(dir, { recursive: true });
    specs.push({
      index: i,
      host,
      httpPort: loop ? await freePort() : 7721,
      tcpPort: loop ? await freePort() : 7720,
      gossipPort: loop ? await freeUdpPort() : 7946,
      dataPort: loop ? await freeUdpPort() : 7947,
      dir,
      dataDir: join(dir, 'db'),
      confFile: join(dir, 'owlcache.conf'),
    });
  }
  for (const s of specs) {
    const settings: Record<string, string | number> = {
      ...FAULT_NODE_SETTINGS,
      Host: s.host,
      ResponseHost: s.host,
      Httpport: s.httpPort,
      Tcpport: s.tcpPort,
      Gossipport: s.gossipPort,
      DataGossipPort: s.dataPort,
      DBfile: s.dataDir,
      Logfile: join(s.dir, 'log'),
      Pass: TEST_PASSWORD,
      NodeName: `n${s.index + 1}`,
      ...opts.settings,
    };
    writeFileSync(
      s.confFile,
      `${Object.entries(settings)
        .map(([k, v]) => `${k} ${v}`)
        .join('\n')}\n`,
    );
    writeSeeds(
      s.dataDir,
      specs.filter((o) => o !== s).map((o) => `${o.host}:${o.gossipPort}`),
    );
  }
  return specs.map((s) => new FaultNode(s, net));
}
