import { OwlAuthError, OwlNotFound, OwlRequestError, OwlUnavailable, type FailedAttempt } from './errors.js';
import { Topology, baseUrl, type NodeView } from './topology.js';
import { NodeFailure, Transport, errorText, type Answer, type Exchange } from './transport.js';
import type { Job } from '../ops/jobs.js';

/**
 * A client for a whole owlcache cluster from one address (README, "Client
 * library"). It learns every node from `/info/shards`, sends each request to
 * one healthy node (a key's to the node it ranks first, the others to the
 * first healthy endpoint: topology.ts says why), and on a connection error, timeout or 5xx
 * tries the next node with a short backoff, so a stopped node costs a retry,
 * not an error. It gets a token from each node it uses (`cmd=pass`) and asks
 * again when a node refuses it. The topology is refreshed periodically and
 * after every failure; a refresh also checks the nodes that failed and takes
 * them back once they answer.
 */

export interface OwlClientOptions {
  /** At least one node: `http://host:port` or `host:port`. */
  endpoints: readonly string[];
  /** The nodes' password (Pass): the client gets and renews its own token per node. */
  password?: string;
  /** A token to use as is (it is bound to this client's address and not renewed). */
  token?: string;
  /** The longest a call may take, every retry included (ms). Default 5000. */
  timeoutMs?: number;
  /** The longest one attempt at one node may take (ms). Default: a third of timeoutMs, at least 500. */
  attemptTimeoutMs?: number;
  /** How many further nodes a call tries after the first fails. Default: every known node once. */
  retries?: number;
  /** How often the topology is refreshed (ms); 0 = only after failures and by refresh(). Default 5000. */
  refreshMs?: number;
  /** Told of every failed attempt that is followed by another (a retry). */
  onRetry?: (failed: FailedAttempt & { attempt: number }) => void;
}

export interface SetOptions {
  /** Seconds until the key expires; 0 or absent = never. */
  ttlSeconds?: number;
}

/** One node's copy of a key (`/group_data/` with `valuedata=info`). */
export interface KeyCopy {
  address: string;
  value: Buffer;
  keyCreateTime: string;
}

export type Doc = Record<string, unknown>;

export interface JobOptions {
  /** A job id to use (else the node makes one). */
  jobId?: string;
}

export interface BackupOptions extends JobOptions {
  /** File name under the node's BackupDir (else one with the node name and time). */
  file?: string;
  /** Ask every live member to back itself up. */
  cluster?: boolean;
}

export interface RestoreOptions extends JobOptions {
  /** Make the store equal to the backup: keys not in it are deleted. */
  replace?: boolean;
}

/** A job's state as `get_status` answers it (docs/operations.md, "Jobs"), with the node that runs it. */
export interface JobStatus extends Job {
  /** The node running the job (base URL), added by the client. */
  node: string;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_REFRESH_MS = 5000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wait before the i-th retry (1-based): the next node at once, then 25, 50, … up to 400 ms. */
function backoffMs(retry: number): number {
  return retry <= 1 ? 0 : Math.min(400, 25 * 2 ** (retry - 2));
}

function query(params: Record<string, string | number | undefined>): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) if (v !== undefined) parts.push(`${k}=${encodeURIComponent(String(v))}`);
  return parts.join('&');
}

function json(a: Answer): Doc {
  try {
    const doc = JSON.parse(a.body.toString('utf8')) as unknown;
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Doc) : { data: doc };
  } catch {
    return { error: a.body.toString('utf8').slice(0, 200) };
  }
}

export class OwlClient {
  private readonly topology: Topology;
  private readonly transport = new Transport();
  private readonly tokens = new Map<string, string>();
  private readonly timeoutMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly retries: number | undefined;
  private readonly refreshMs: number;
  private readonly password: string | undefined;
  private readonly fixedToken: string | undefined;
  private readonly onRetry: OwlClientOptions['onRetry'];
  private learnt = false;
  private refreshing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: OwlClientOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0) throw new TypeError('OwlClient: endpoints must name at least one node');
    this.topology = new Topology(opts.endpoints);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? Math.max(500, Math.floor(this.timeoutMs / 3));
    this.retries = opts.retries;
    this.refreshMs = opts.refreshMs ?? DEFAULT_REFRESH_MS;
    this.password = opts.password;
    this.fixedToken = opts.token;
    this.onRetry = opts.onRetry;
    if (!(this.timeoutMs > 0) || !(this.attemptTimeoutMs > 0)) throw new TypeError('OwlClient: timeoutMs must be positive');
  }

  // ---- data ----

  /** The value of key; OwlNotFound if it is absent, deleted or expired. */
  async get(key: string): Promise<Buffer> {
    const { answer, node } = await this.data('GET', { cmd: 'get', key }, false);
    if (answer.status === 404) throw new OwlNotFound(key, node);
    return answer.body;
  }

  /** The value of key as UTF-8 text. */
  async getText(key: string): Promise<string> {
    return (await this.get(key)).toString('utf8');
  }

  async set(key: string, value: Buffer | string, opts: SetOptions = {}): Promise<void> {
    const ttl = opts.ttlSeconds ?? 0;
    if (!Number.isInteger(ttl) || ttl < 0) throw new TypeError('ttlSeconds must be a whole number of seconds, 0 or more');
    await this.data('POST', { cmd: 'set', key, exptime: ttl }, true, typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
  }

  /** Deletes key; false if it was not there. */
  async delete(key: string): Promise<boolean> {
    const { answer } = await this.data('GET', { cmd: 'delete', key }, true);
    return answer.status === 200;
  }

  /** Sets key's time to live (0 = never expires); false if the key is not there. */
  async expire(key: string, ttlSeconds: number): Promise<boolean> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 0) throw new TypeError('ttlSeconds must be a whole number of seconds, 0 or more');
    const { answer } = await this.data('GET', { cmd: 'expire', key, exptime: ttlSeconds }, true);
    return answer.status === 200;
  }

  async exists(key: string): Promise<boolean> {
    const { answer } = await this.data('GET', { cmd: 'exist', key }, false);
    return answer.status === 200;
  }

  /** The newest copy of key across the cluster (`/group_data/`). */
  async groupGet(key: string): Promise<Buffer> {
    const { answer, node } = await this.exchange('GET', `/group_data/?${query({ cmd: 'get', key })}`, false, key);
    if (answer.status === 404) throw new OwlNotFound(key, node);
    this.refuse(answer, node);
    return answer.body;
  }

  /** Every node's copy of key (`/group_data/?valuedata=info`). */
  async getInfo(key: string): Promise<KeyCopy[]> {
    const { answer, node } = await this.exchange('GET', `/group_data/?${query({ cmd: 'get', key, valuedata: 'info' })}`, false, key);
    if (answer.status === 404) throw new OwlNotFound(key, node);
    this.refuse(answer, node);
    const rows = JSON.parse(answer.body.toString('utf8')) as { Address: string; Data: string; KeyCreateTime: string }[];
    return rows.map((r) => ({ address: r.Address, value: Buffer.from(r.Data, 'base64'), keyCreateTime: r.KeyCreateTime }));
  }

  // ---- cluster operations (docs/operations.md) ----

  /** GET /cluster/members of one node. */
  members(): Promise<Doc> {
    return this.ops('GET', '/cluster/members');
  }

  /** GET /cluster/status of one node. */
  status(): Promise<Doc> {
    return this.ops('GET', '/cluster/status');
  }

  network(opts: { timeoutMs?: number } = {}): Promise<Doc> {
    return this.operation({ operation: 'cluster_network', ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}) });
  }

  stat(): Promise<Doc> {
    return this.ops('GET', '/stat');
  }

  /** The task switches, or one of them. */
  config(key?: string): Promise<Doc> {
    return this.ops('GET', `/config/get${key === undefined ? '' : `?${query({ key })}`}`);
  }

  configSet(key: string, value: 'Enable' | 'Disable', opts: { cluster?: boolean } = {}): Promise<Doc> {
    return this.ops('POST', '/config/set', { key, value, scope: opts.cluster ? 'cluster' : 'node' });
  }

  /** Joins the node at a gossip host:port. */
  join(gossip: string, opts: { timeoutMs?: number } = {}): Promise<Doc> {
    return this.operation({ operation: 'add_node', host: gossip, ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}) });
  }

  /** Forces a member out (by name, gossip or HTTP host:port). */
  remove(node: string): Promise<Doc> {
    return this.operation({ operation: 'remove_node', node_name: node });
  }

  /** The cluster as /info/shards gives it. */
  shards(): Promise<Doc> {
    return this.ops('GET', '/info/shards');
  }

  /** Starts a backup job on one node (or, with cluster, on every live member); the answer carries the job id(s). */
  async backup(opts: BackupOptions = {}): Promise<Doc & { job_id?: string; node: string }> {
    const body = {
      ver: '0.1',
      job_type: 'coldbackup',
      ...(opts.jobId ? { job_id: opts.jobId } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      ...(opts.cluster ? { scope: 'cluster' } : {}),
    };
    const { doc, node } = await this.opsAt('POST', '/', body);
    return { ...doc, node };
  }

  /** Starts a restore job from a file under the node's BackupDir. */
  async restore(file: string, opts: RestoreOptions = {}): Promise<Doc & { job_id?: string; node: string }> {
    const body = { ver: '0.1', job_type: 'coldrestore', file, ...(opts.jobId ? { job_id: opts.jobId } : {}), ...(opts.replace ? { mode: 'replace' } : {}) };
    const { doc, node } = await this.opsAt('POST', '/', body);
    return { ...doc, node };
  }

  /**
   * A job's status. `node` (the base URL a backup or restore answer named)
   * asks that node; without it every node is asked until one knows the job.
   */
  async job(jobId: string, node?: string): Promise<JobStatus> {
    const path = `/jobs/${encodeURIComponent(jobId)}`;
    if (node !== undefined) {
      const { doc, node: at } = await this.opsAt('GET', path, undefined, baseUrl(node));
      return { ...(doc as unknown as JobStatus), node: at };
    }
    await this.ready();
    let last: unknown;
    for (const url of this.topology.order()) {
      try {
        const { doc, node: at } = await this.opsAt('GET', path, undefined, url);
        return { ...(doc as unknown as JobStatus), node: at };
      } catch (err) {
        if (err instanceof OwlRequestError && err.status === 404) last = err;
        else if (err instanceof OwlUnavailable) last = err;
        else throw err;
      }
    }
    throw last ?? new OwlUnavailable([]);
  }

  /** The jobs one node keeps (GET /jobs). */
  jobs(node?: string): Promise<Doc> {
    return this.opsAt('GET', '/jobs', undefined, node === undefined ? undefined : baseUrl(node)).then((r) => r.doc);
  }

  /** Any operation of the table, HarperDB form (`{operation: …}`) or Kunlun form (`{ver, job_type}`). */
  operation(body: Doc): Promise<Doc> {
    return this.ops('POST', '/', body);
  }

  /**
   * Any operations path with the node's JSON answer as it came, whatever its
   * status (the CLI prints a refusal itself); only OwlUnavailable and
   * OwlAuthError are thrown.
   */
  async raw(method: 'GET' | 'POST', path: string, body?: Doc, node?: string): Promise<{ status: number; doc: Doc; node: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const r = await this.call(
      (url, timeoutMs) => this.authed(url, timeoutMs, { method, path, ...(payload ? { body: payload, headers: { 'Content-Type': 'application/json' } } : {}) }),
      node === undefined ? undefined : baseUrl(node),
    );
    return { status: r.answer.status, doc: json(r.answer), node: r.url };
  }

  // ---- topology ----

  /** What the client knows of the nodes now. */
  nodes(): NodeView[] {
    return this.topology.view();
  }

  /**
   * Asks a healthy node for /info/shards and learns every node, then checks
   * the nodes that failed lately and takes back those that answer. Concurrent
   * calls share one refresh.
   */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Stops the periodic refresh and closes the kept-alive connections. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.transport.close();
  }

  private async doRefresh(): Promise<void> {
    let authError: unknown = null;
    for (const url of this.topology.order()) {
      try {
        const a = await this.authed(url, this.attemptTimeoutMs, { method: 'GET', path: '/info/shards' });
        if (a.status !== 200) continue;
        this.topology.learn(json(a));
        this.topology.up(url);
        this.learnt = true;
        break;
      } catch (err) {
        if (err instanceof OwlAuthError) authError ??= err;
        else if (err instanceof NodeFailure) this.topology.failed(url);
        else throw err;
      }
    }
    await Promise.all(
      this.topology.downNodes().map(async (url) => {
        try {
          await this.transport.send(url, { method: 'GET', path: '/data/?cmd=ping', timeoutMs: Math.min(this.attemptTimeoutMs, 1000) });
          this.topology.up(url);
        } catch {
          // Still down: left out of the rotation until a later refresh.
        }
      }),
    );
    if (!this.learnt && authError !== null) throw authError;
  }

  /** On first use: learn the topology and start the periodic refresh. */
  private async ready(): Promise<void> {
    if (this.closed) throw new Error('OwlClient: closed');
    if (this.timer === null && this.refreshMs > 0) {
      this.timer = setInterval(() => void this.refresh().catch(() => {}), this.refreshMs);
      this.timer.unref();
    }
    if (!this.learnt) await this.refresh();
  }

  private afterFailure(): void {
    void this.refresh().catch(() => {});
  }

  /**
   * Runs one exchange against the nodes in turn until one answers (a
   * connection error, timeout or 5xx moves on to the next node).
   */
  private async call(
    run: (url: string, timeoutMs: number) => Promise<Answer>,
    only?: string,
    key?: string,
  ): Promise<{ answer: Answer; node: string; url: string }> {
    await this.ready();
    const deadline = Date.now() + this.timeoutMs;
    const order = only !== undefined ? [only] : this.topology.order(key);
    const max = Math.min(order.length, (this.retries ?? order.length) + 1);
    const tried: FailedAttempt[] = [];
    for (let i = 0; i < max; i++) {
      if (i > 0) await sleep(Math.min(backoffMs(i), Math.max(0, deadline - Date.now())));
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        for (const url of order.slice(i, max)) tried.push({ node: this.topology.label(url), error: 'not tried: the call ran out of time' });
        break;
      }
      const url = order[i]!;
      try {
        const answer = await run(url, Math.min(remaining, this.attemptTimeoutMs));
        this.topology.answered(url);
        return { answer, node: this.topology.label(url), url };
      } catch (err) {
        if (!(err instanceof NodeFailure)) throw err;
        const failed = { node: this.topology.label(url), error: err.message };
        tried.push(failed);
        this.topology.failed(url);
        if (i + 1 < max) this.onRetry?.({ ...failed, attempt: i + 1 });
        this.afterFailure();
      }
    }
    throw new OwlUnavailable(tried);
  }

  private async tokenFor(url: string, timeoutMs: number): Promise<string | null> {
    if (this.fixedToken !== undefined) return this.fixedToken;
    if (this.password === undefined) return null;
    const known = this.tokens.get(url);
    if (known !== undefined) return known;
    const a = await this.transport.send(url, {
      method: 'POST',
      path: '/data/?cmd=pass',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(query({ pass: this.password })),
      timeoutMs,
    });
    const doc = json(a);
    if (a.status !== 200 || typeof doc.Data !== 'string') throw new OwlAuthError(this.topology.label(url), `refused the password (${a.status}${errorText(a)})`);
    this.tokens.set(url, doc.Data);
    return doc.Data;
  }

  /** An exchange with the node's token, asking for a fresh token once if the node refuses it. */
  private async authed(url: string, timeoutMs: number, x: Omit<Exchange, 'timeoutMs'>): Promise<Answer> {
    const send = async () => {
      const token = await this.tokenFor(url, timeoutMs);
      return this.transport.send(url, { ...x, timeoutMs, headers: { ...x.headers, ...(token !== null ? { Authorization: `Bearer ${token}` } : {}) } });
    };
    let a = await send();
    if (a.status === 401 && this.password !== undefined && this.fixedToken === undefined) {
      this.tokens.delete(url);
      a = await send();
    }
    if (a.status === 401)
      throw new OwlAuthError(this.topology.label(url), `refused the ${this.fixedToken !== undefined ? 'token' : 'fresh token'} (401${errorText(a)})`);
    return a;
  }

  private exchange(method: 'GET' | 'POST', path: string, withToken: boolean, key: string, body?: Buffer) {
    const headers: Record<string, string> = body !== undefined ? { 'Content-Type': 'application/octet-stream' } : {};
    return this.call(
      (url, timeoutMs) =>
        withToken
          ? this.authed(url, timeoutMs, { method, path, headers, ...(body ? { body } : {}) })
          : this.transport.send(url, { method, path, headers, timeoutMs, ...(body ? { body } : {}) }),
      undefined,
      key,
    );
  }

  private async data(
    method: 'GET' | 'POST',
    params: Record<string, string | number> & { key: string },
    withToken: boolean,
    body?: Buffer,
  ): Promise<{ answer: Answer; node: string }> {
    const r = await this.exchange(method, `/data/?${query(params)}`, withToken, params.key, body);
    if (r.answer.status !== 404) this.refuse(r.answer, r.node);
    return r;
  }

  /** Throws for a 4xx other than 404 (401 is OwlAuthError already). */
  private refuse(a: Answer, node: string): void {
    if (a.status >= 400 && a.status !== 404) throw new OwlRequestError(a.status, node, errorText(a).replace(/^: /, '') || `status ${a.status}`, json(a));
  }

  private async opsAt(method: 'GET' | 'POST', path: string, body?: Doc, only?: string): Promise<{ doc: Doc; node: string }> {
    const { status, doc, node } = await this.raw(method, path, body, only);
    if (status !== 200)
      throw new OwlRequestError(
        status,
        this.topology.label(node),
        typeof doc.error === 'string' ? doc.error : typeof doc.Message === 'string' ? doc.Message : `status ${status}`,
        doc,
      );
    return { doc, node };
  }

  private async ops(method: 'GET' | 'POST', path: string, body?: Doc): Promise<Doc> {
    return (await this.opsAt(method, path, body)).doc;
  }
}
