import { HttpCallError, HttpClient, type HttpAnswer } from './http-client.js';
import { splitHostPort } from './peers.js';
import { AUTH_HEADER, type RequestSigner } from './request-signing.js';

/**
 * Signed HTTP calls to another node's internal routes, over the shared client
 * (http-client.ts): keep-alive, each call bounded by a timeout (of silence,
 * so a long push-pull that keeps moving is not cut) and a response size limit.
 */
export interface InternalClientOptions {
  signer: RequestSigner;
  timeoutMs: number;
  /** Largest response body accepted. */
  maxResponseBytes: number;
  https: boolean;
  insecureSkipVerify: boolean;
}

export class InternalCallError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export class InternalClient {
  private readonly http: HttpClient;

  constructor(private readonly opts: InternalClientOptions) {
    this.http = new HttpClient({ maxSockets: 8, insecureSkipVerify: opts.insecureSkipVerify, maxBodyBytes: opts.maxResponseBytes });
  }

  /** Calls `path` on the node at host:port; resolves with the body of a 200 answer, null for 404. */
  async call(hostPort: string, method: 'GET' | 'POST', path: string, body?: Buffer): Promise<Buffer | null> {
    const payload = body ?? Buffer.alloc(0);
    const to = splitHostPort(hostPort);
    if (to === null) throw new InternalCallError(`${hostPort}${path}: not a host:port address`, null);
    let answer: HttpAnswer;
    try {
      answer = await this.http.request({
        scheme: this.opts.https ? 'https' : 'http',
        host: to[0],
        port: to[1],
        method,
        path,
        headers: {
          // Signed for the address as the peer advertises it: that is what it checks against.
          [AUTH_HEADER]: this.opts.signer.sign(method, hostPort, path, payload),
          'Content-Type': 'application/msgpack',
          'Content-Length': payload.length,
        },
        body: payload,
        idleTimeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      if (!(err instanceof HttpCallError)) throw err;
      throw new InternalCallError(
        err.failure === 'too-large'
          ? `answer from ${hostPort}${path} larger than ${this.opts.maxResponseBytes} bytes`
          : `${hostPort}${path} timed out after ${this.opts.timeoutMs} ms`,
        null,
      );
    }
    if (answer.status === 200) return answer.body;
    if (answer.status === 404) return null;
    throw new InternalCallError(`${hostPort}${path} answered ${answer.status}`, answer.status);
  }

  close(): void {
    this.http.close();
  }
}
