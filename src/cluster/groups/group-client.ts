import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { logger } from '../../log.js';
import { SERVER_HEADER } from '../../version.js';
import { hostProblem } from './address.js';
import { parseGoTime } from './go-time.js';
import { refusedIp } from './host-policy.js';

const log = logger('groups');

/**
 * The HTTP client /group_data/ asks other nodes with: `GET /data/?cmd=get&key=K`
 * on keep-alive connections, every exchange bounded by a deadline (connect,
 * headers and body together), the body bounded in size. A node that fails,
 * times out or answers nonsense yields null: it is left out, never waited for.
 *
 * The lists refuse hosts a node must never contact (host-policy.ts); the
 * client checks again, so an address that reached a list some other way (a
 * file edited by hand, a member's metadata) is not contacted either, nor a name
 * that resolves to such an address.
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
  /** Sends a request (tests stub it); http.request / https.request by default. */
  request?: (scheme: Target['scheme'], options: http.RequestOptions) => http.ClientRequest;
  /** Resolves host names before the refusal check (tests stub it); dns.lookup by default. */
  lookup?: typeof dns.lookup;
}

/**
 * A `lookup` for http.request that fails for a name resolving to an address
 * a node never contacts, so the connection is never opened.
 */
export function refusingLookup(base: typeof dns.lookup = dns.lookup): LookupFunction {
  return (hostname, options, callback) => {
    base(hostname, { ...options, all: true }, (err, addresses) => {
      const list = addresses as unknown as dns.LookupAddress[] | undefined;
      if (err || list === undefined || list.length === 0) return callback(err ?? Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
      for (const a of list) {
        const refused = refusedIp(a.address);
        if (refused !== null) {
          return callback(Object.assign(new Error(`${hostname} resolves to ${a.address}, ${refused}: not contacted`), { code: 'EADDRREFUSED' }), '', 0);
        }
      }
      if (options.all === true) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** Hosts already warned about (bounded), so a listed bad host is logged once, not per request. */
const warned = new Set<string>();
function warnOnce(host: string, why: string): void {
  if (warned.has(host) || warned.size >= 100) return;
  warned.add(host);
  log.warn('not contacting %s: %s', host, why);
}

export class GroupClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 8, timeout: 60_000 });
  private readonly httpsAgent: https.Agent;
  private readonly lookup: LookupFunction;
  private readonly send: NonNullable<GroupClientOptions['request']>;

  constructor(private readonly opts: GroupClientOptions) {
    this.lookup = refusingLookup(opts.lookup);
    this.send = opts.request ?? ((scheme, options) => (scheme === 'https' ? https : http).request(options));
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
    const refused = hostProblem(target.host);
    if (refused !== null) {
      warnOnce(target.host, refused);
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: FetchedCopy | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      const req = this.send(target.scheme, {
        host: target.host,
        port: target.port,
        path: `/data/?cmd=get&key=${encodeURIComponent(key)}`,
        method: 'GET',
        agent: target.scheme === 'https' ? this.httpsAgent : this.httpAgent,
        lookup: this.lookup,
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
