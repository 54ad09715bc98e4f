import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from './repo.js';

/**
 * Starts real owlcache processes for integration tests: free ports on
 * 127.0.0.1, a temp data directory, a conf file written from the settings
 * given. Every started node is tracked so `stopAllNodes()` (call it in `after`)
 * stops whatever a failing test left running.
 */

/** The CLI next to this compiled file (dist/src/cli.js in CI; the same file bin/owlcache runs). */
export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
export const BIN_OWLCACHE = join(repoRoot(), 'bin', 'owlcache');
export const TEST_PASSWORD = 'test-password-0123';
export const TEST_AUTH_KEY = 'cluster-key-for-tests-0123456789';

const running = new Set<NodeHandle>();
/** Every temp folder made by this process, removed by stopAllNodes (a test may restart a stopped node from its folder until then). */
const madeDirs = new Set<string>();

/**
 * Ports handed out by this process: the kernel may offer a port again as soon as its probe socket
 * closes, so two calls in a row (a node's HTTP and TCP ports) could otherwise get the same one.
 */
const handedOut = new Set<number>();

async function unusedPort(probe: () => Promise<number>): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = await probe();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no port free that this process has not handed out already');
}

/** A TCP port that was free a moment ago on 127.0.0.1, never one this process handed out before. */
export function freePort(): Promise<number> {
  return unusedPort(
    () =>
      new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
          const port = (s.address() as net.AddressInfo).port;
          s.close(() => resolve(port));
        });
      }),
  );
}

/** A UDP port that was free a moment ago on 127.0.0.1, never one this process handed out before. */
export function freeUdpPort(): Promise<number> {
  return unusedPort(
    () =>
      new Promise((resolve, reject) => {
        const s = dgram.createSocket('udp4');
        s.once('error', reject);
        s.bind(0, '127.0.0.1', () => {
          const port = s.address().port;
          s.close(() => resolve(port));
        });
      }),
  );
}

export function tempDir(prefix = 'owlcache-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

export interface StartOptions {
  /** Settings written to the conf file (Name → value). */
  settings?: Record<string, string | number>;
  /** Reuse a data directory (restarts). */
  dataDir?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Run bin/owlcache instead of the compiled CLI directly. */
  viaBin?: boolean;
  /** Run another build's compiled CLI (benchmarks against a previous commit). */
  entry?: string;
  /** How long to wait for "owlcache ready" (ms). */
  readyTimeoutMs?: number;
  /** false: return once the process is spawned, without waiting for "owlcache ready" (a test that watches the start). */
  waitReady?: boolean;
  /** Environment additions (e.g. DEBUG). */
  env?: Record<string, string>;
  /** Options for node itself, before the script (e.g. --cpu-prof for a profile of a benchmark). */
  nodeArgs?: string[];
}

export interface NodeHandle {
  proc: ChildProcess;
  dir: string;
  dataDir: string;
  confFile: string;
  httpPort: number;
  tcpPort: number;
  respPort: number;
  settings: Record<string, string | number>;
  /** "127.0.0.1:port" */
  httpAddr: string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM (or the signal given) and wait for exit, bounded; SIGKILL if it hangs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export async function startNode(opts: StartOptions = {}): Promise<NodeHandle> {
  const dir = tempDir();
  const dataDir = opts.dataDir ?? join(dir, 'db');
  const httpPort = Number(opts.settings?.Httpport ?? (await freePort()));
  const tcpPort = Number(opts.settings?.Tcpport ?? (await freePort()));
  const respPort = Number(opts.settings?.RespPort ?? 0);
  const settings: Record<string, string | number> = {
    Host: '127.0.0.1',
    ResponseHost: '127.0.0.1',
    Httpport: httpPort,
    Tcpport: tcpPort,
    RespPort: respPort,
    DBfile: dataDir,
    Logfile: join(dir, 'log'),
    Pass: TEST_PASSWORD,
    PassFailDelay: 0,
    // Tests open many connections that each authenticate; the guard's own tests set these.
    PassChecksPerSecond: 0,
    ...opts.settings,
  };
  const confFile = join(dir, 'owlcache.conf');
  writeFileSync(
    confFile,
    `${Object.entries(settings)
      .map(([k, v]) => `${k} ${v}`)
      .join('\n')}\n`,
  );
  return launch({ dir, dataDir, confFile, httpPort, tcpPort, respPort, settings }, opts);
}

/** Starts a node again on the same ports, conf and data directory. */
export function restartNode(h: NodeHandle, opts: StartOptions = {}): Promise<NodeHandle> {
  return launch(h, opts);
}

async function launch(
  base: Pick<NodeHandle, 'dir' | 'dataDir' | 'confFile' | 'httpPort' | 'tcpPort' | 'respPort' | 'settings'>,
  opts: StartOptions,
): Promise<NodeHandle> {
  const entry = opts.entry ?? (opts.viaBin ? BIN_OWLCACHE : CLI_ENTRY);
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry, '-config', base.confFile, ...(opts.args ?? [])], {
    cwd: base.dir,
    env: { ...process.env, DEBUG: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((resolve) => {
    proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  const handle: NodeHandle = {
    ...base,
    proc,
    httpAddr: `127.0.0.1:${base.httpPort}`,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        running.delete(handle);
      }
    },
  };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  if (opts.waitReady === false) return handle;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  while (!out.includes('owlcache ready')) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`node exited before it was ready (${proc.exitCode ?? proc.signalCode}):\n${out}\n${err}`);
    }
    if (Date.now() > deadline) {
      await handle.stop('SIGKILL');
      throw new Error(`node not ready in time:\n${out}\n${err}`);
    }
    await sleep(25);
  }
  return handle;
}

/** Stops every node still running (for `after` hooks), and removes their temp folders. */
export async function stopAllNodes(): Promise<void> {
  await Promise.all([...running].map((h) => h.stop('SIGKILL', 5000)));
  removeTempDirs();
}

/** Removes every folder made with tempDir (for `after` hooks of tests that start no node). */
export function removeTempDirs(): void {
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
  madeDirs.clear();
}

/** Runs a command line to completion (bounded) and returns its output, e.g. a node that should refuse to start. */
export async function runToExit(
  args: string[],
  cwd: string,
  timeoutMs = 20_000,
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [CLI_ENTRY, ...args], { cwd, env: { ...process.env, DEBUG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | string>((resolve) => proc.on('exit', (c, s) => resolve(c ?? s ?? -1)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the deadline passes (then throws with `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface RequestOptions {
  method?: string;
  body?: Buffer | string;
  headers?: Record<string, string>;
  /** Source address, e.g. 127.0.0.2 to look like another client. */
  localAddress?: string;
  timeoutMs?: number;
  /** A keep-alive agent for many requests in a row; default: a new connection per request. */
  agent?: http.Agent;
}

/** One HTTP request to 127.0.0.1:port (bounded by timeoutMs). */
export function request(port: number, path: string, opts: RequestOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        localAddress: opts.localAddress,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString('utf8'),
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** A query string from parameters; Buffers are percent-encoded byte by byte. */
export function qs(params: Record<string, string | number | Buffer | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    const enc = Buffer.isBuffer(v) ? [...v].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('') : encodeURIComponent(String(v));
    parts.push(`${encodeURIComponent(k)}=${enc}`);
  }
  return parts.join('&');
}

/** Gets a token from a node (cmd=pass). */
export async function getToken(port: number, password = TEST_PASSWORD, localAddress?: string): Promise<string> {
  const r = await request(port, `/data/?${qs({ cmd: 'pass', pass: password })}`, { localAddress });
  const body = r.json<{ Status: number; Data: string }>();
  if (body.Status !== 200) throw new Error(`cmd=pass failed: ${r.text}`);
  return body.Data;
}
