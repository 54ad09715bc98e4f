import http from 'node:http';
import https from 'node:https';
import { AUTH_HEADER, type RequestSigner } from './request-signing.js';

/**
 * Signed HTTP calls to another node's internal routes, over keep-alive
 * connections, each bounded by a timeout and a response size limit.
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
  private readonly agent: http.Agent;

  constructor(private readonly opts: InternalClientOptions) {
    this.agent = opts.https
      ? new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: !opts.insecureSkipVerify })
      : new http.Agent({ keepAlive: true, maxSockets: 8 });
  }

  /** Calls `path` on the node at host:port; resolves with the body of a 200 answer, null for 404. */
  call(hostPort: string, method: 'GET' | 'POST', path: string, body?: Buffer): Promise<Buffer | null> {
    const payload = body ?? Buffer.alloc(0);
    const i = hostPort.lastIndexOf(':');
    const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(hostPort.slice(i + 1));
    const mod = this.opts.https ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          host,
          port,
          method,
          path,
          agent: this.agent,
          headers: {
            [AUTH_HEADER]: this.opts.signer.sign(method, hostPort, path, payload),
            'Content-Type': 'application/msgpack',
            'Content-Length': payload.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.opts.maxResponseBytes) {
              req.destroy(new InternalCallError(`answer from ${hostPort}${path} larger than ${this.opts.maxResponseBytes} bytes`, null));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            if (res.statusCode === 200) resolve(Buffer.concat(chunks));
            else if (res.statusCode === 404) resolve(null);
            else reject(new InternalCallError(`${hostPort}${path} answered ${res.statusCode}`, res.statusCode ?? null));
          });
          res.on('error', reject);
        },
      );
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(new InternalCallError(`${hostPort}${path} timed out after ${this.opts.timeoutMs} ms`, null)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
