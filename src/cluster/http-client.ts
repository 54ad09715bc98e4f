import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';

/**
 * The one HTTP client a node uses to call other nodes: keep-alive pools (one
 * per scheme, made on first use), a time limit per call, a bound on the answer
 * body, the TLS setting. Its users add their own concerns on top: the signed
 * internal calls (internal-client.ts) and /group_data/'s fetches with the host
 * policy (groups/group-client.ts).
 */

export interface HttpClientOptions {
  /** Sockets per peer in the pool. */
  maxSockets: number;
  /** Idle sockets kept per peer (Node's default when absent). */
  maxFreeSockets?: number;
  /** Idle time after which a pooled socket is closed (none when absent). */
  socketIdleMs?: number;
  /** HttpsClient_InsecureSkipVerify: accept any certificate from https peers. */
  insecureSkipVerify: boolean;
  /** Largest answer body read; a larger one fails the call. */
  maxBodyBytes: number;
  /** Resolves host names for every call (a host policy's check); the system's by default. */
  lookup?: LookupFunction;
  /** Sends a request (tests stub it); http.request / https.request by default. */
  request?: (scheme: 'http' | 'https', options: http.RequestOptions) => http.ClientRequest;
}

export interface HttpCall {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  headers: http.OutgoingHttpHeaders;
  body?: Buffer;
  /** The whole exchange (connect, headers, body) must end within this. */
  deadlineMs?: number;
  /** The connection may be silent this long at most (Node's request timeout). */
  idleTimeoutMs?: number;
  /** Statuses whose body is read; the others' is drained unread. Every status by default. */
  readBody?: (status: number) => boolean;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Empty when the status's body was not read. */
  body: Buffer;
}

export type HttpFailure = 'deadline' | 'idle' | 'too-large';

/** A call this client ended itself; network errors are passed on as Node raises them. */
export class HttpCallError extends Error {
  constructor(
    message: string,
    readonly failure: HttpFailure,
  ) {
    super(message);
  }
}

const EMPTY = Buffer.alloc(0);

export class HttpClient {
  private readonly agents: { http?: http.Agent; https?: https.Agent } = {};
  private readonly send: NonNullable<HttpClientOptions['request']>;

  constructor(private readonly opts: HttpClientOptions) {
    this.send = opts.request ?? ((scheme, options) => (scheme === 'https' ? https : http).request(options));
  }

  private agent(scheme: 'http' | 'https'): http.Agent {
    const pool = {
      keepAlive: true,
      maxSockets: this.opts.maxSockets,
      ...(this.opts.maxFreeSockets === undefined ? {} : { maxFreeSockets: this.opts.maxFreeSockets }),
      ...(this.opts.socketIdleMs === undefined ? {} : { timeout: this.opts.socketIdleMs }),
    };
    if (scheme === 'https') {
      this.agents.https ??= new https.Agent({ ...pool, rejectUnauthorized: !this.opts.insecureSkipVerify });
      return this.agents.https;
    }
    this.agents.http ??= new http.Agent(pool);
    return this.agents.http;
  }

  /** Resolves with the answer, whatever its status; rejects when it fails, times out or its body is too large. */
  request(call: HttpCall): Promise<HttpAnswer> {
    const max = this.opts.maxBodyBytes;
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        fn();
      };
      const fail = (err: Error) => settle(() => reject(err));
      /**
       * Ends the call here: the connection is dropped, not returned to the pool.
       * Destroyed without the error: once an answer is complete its socket is
       * back in the pool with no 'error' listener, and an error given to
       * destroy() there would be an uncaught exception.
       */
      const abort = (err: HttpCallError) => {
        fail(err);
        req.destroy();
      };
      const req = this.send(call.scheme, {
        host: call.host,
        port: call.port,
        method: call.method,
        path: call.path,
        agent: this.agent(call.scheme),
        headers: call.headers,
        ...(this.opts.lookup === undefined ? {} : { lookup: this.opts.lookup }),
      });
      if (call.deadlineMs !== undefined) {
        const ms = call.deadlineMs;
        timer = setTimeout(() => abort(new HttpCallError(`no answer in ${ms} ms`, 'deadline')), ms);
      }
      if (call.idleTimeoutMs !== undefined) {
        const ms = call.idleTimeoutMs;
        req.setTimeout(ms, () => abort(new HttpCallError(`timed out after ${ms} ms`, 'idle')));
      }
      req.on('error', fail);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        // A connection lost mid-answer ends in an 'error' here (ECONNRESET, "aborted").
        res.on('error', fail);
        if (call.readBody !== undefined && !call.readBody(status)) {
          // Drained so the connection goes back to the pool.
          res.resume();
          res.on('end', () => settle(() => resolve({ status, headers: res.headers, body: EMPTY })));
          return;
        }
        const tooLarge = () => abort(new HttpCallError(`answer larger than ${max} bytes`, 'too-large'));
        if (Number(res.headers['content-length'] ?? NaN) > max) return tooLarge();
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) return tooLarge();
          chunks.push(c);
        });
        res.on('end', () => settle(() => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) })));
      });
      req.end(call.body);
    });
  }

  /** Closes pooled connections (at node stop). */
  close(): void {
    this.agents.http?.destroy();
    this.agents.https?.destroy();
  }
}
