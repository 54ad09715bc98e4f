import http from 'node:http';
import https from 'node:https';
import { SERVER_HEADER } from '../../version.js';
import { parseGoTime } from './go-time.js';

/**
 * The HTTP client /group_data/ asks other nodes with: `GET /data/?cmd=get&key=K`
 * on keep-alive connections, every exchange bounded by a deadline (connect,
 * headers and body together), the body bounded in size. A node that fails,
 * times out or answers nonsense yields null: it is left out, never waited for.
 */

export interface Target {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

export interface FetchedCopy {
  /** HTTP status of the node's answer (200: it holds the key, 404: it does not). */
  status: number;
  value: Buffer;
  /** From the `Keycreatetime` header, ns since the epoch; null if absent or zero. */
  createdNs: bigint | null;
}

export interface GroupClientOptions {
  /** HttpsClient_InsecureSkipVerify: accept any certificate from https peers. */
  insecureSkipVerify: boolean;
  /** Largest value accepted from a node (MaxValueSize). */
  maxBodyBytes: number;
}

export class GroupClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 8, timeout: 60_000 });
  private readonly httpsAgent: https.Agent;

  constructor(private readonly opts: GroupClientOptions) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      maxFreeSockets: 8,
      timeout: 60_000,
      rejectUnauthorized: !opts.insecureSkipVerify,
    });
  }

  /** One node's copy of `key`, or null if it did not answer properly within `timeoutMs`. */
  getKey(target: Target, key: string, timeoutMs: number): Promise<FetchedCopy | null> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: FetchedCopy | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      const mod = target.scheme === 'https' ? https : http;
      const req = mod.request({
        host: target.host,
        port: target.port,
        path: `/data/?cmd=get&key=${encodeURIComponent(key)}`,
        method: 'GET',
        agent: target.scheme === 'https' ? this.httpsAgent : this.httpAgent,
        headers: { 'User-Agent': SERVER_HEADER, Accept: '*/*' },
      });
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer in ${timeoutMs} ms`));
        done(null);
      }, Math.max(1, timeoutMs));
      req.on('error', () => done(null));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const createdNs = parseGoTime(headerText(res.headers['keycreatetime']));
        if (status !== 200) {
          // Nothing to read; drain so the connection goes back to the pool.
          res.resume();
          res.on('end', () => done({ status, value: Buffer.alloc(0), createdNs }));
          res.on('error', () => done(null));
          return;
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > this.opts.maxBodyBytes) {
          req.destroy();
          done(null);
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.opts.maxBodyBytes) {
            req.destroy();
            done(null);
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => done({ status, value: Buffer.concat(chunks), createdNs }));
        res.on('error', () => done(null));
        res.on('aborted', () => done(null));
      });
      req.end();
    });
  }

  /** Closes pooled connections (at node stop). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

function headerText(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
