import dns from 'node:dns';
import type http from 'node:http';
import type { LookupFunction } from 'node:net';
import { parseGoTime } from '../../go-time.js';
import { logger } from '../../log.js';
import { SERVER_HEADER } from '../../version.js';
import { HttpClient } from '../http-client.js';
import { hostProblem } from './address.js';
import { refusedIp } from './host-policy.js';

const log = logger('groups');

/**
 * What /group_data/ asks other nodes: `GET /data/?cmd=get&key=K` over the
 * shared client (../http-client.ts), every exchange bounded by a deadline
 * (connect, headers and body together), the body bounded in size. A node that fails,
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
      if (err || list === undefined || list.length === 0)
        return callback(err ?? Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '', 0);
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
  private readonly http: HttpClient;

  constructor(opts: GroupClientOptions) {
    this.http = new HttpClient({
      maxSockets: 32,
      maxFreeSockets: 8,
      socketIdleMs: 60_000,
      insecureSkipVerify: opts.insecureSkipVerify,
      maxBodyBytes: opts.maxBodyBytes,
      lookup: refusingLookup(opts.lookup),
      ...(opts.request === undefined ? {} : { request: opts.request }),
    });
  }

  /** One node's copy of `key`, or null if it did not answer properly within `timeoutMs`. */
  async getKey(target: Target, key: string, timeoutMs: number): Promise<FetchedCopy | null> {
    const refused = hostProblem(target.host);
    if (refused !== null) {
      warnOnce(target.host, refused);
      return null;
    }
    try {
      const answer = await this.http.request({
        scheme: target.scheme,
        host: target.host,
        port: target.port,
        method: 'GET',
        path: `/data/?cmd=get&key=${encodeURIComponent(key)}`,
        headers: { 'User-Agent': SERVER_HEADER, Accept: '*/*' },
        deadlineMs: Math.max(1, timeoutMs),
        // Only a 200 carries a value; another status is all that matters.
        readBody: (status) => status === 200,
      });
      return { status: answer.status, value: answer.body, createdNs: parseGoTime(headerText(answer.headers.keycreatetime)) };
    } catch {
      return null;
    }
  }

  /** Closes pooled connections (at node stop). */
  close(): void {
    this.http.close();
  }
}

function headerText(h: string | string[] | undefined): string | undefined {
  return Array.isArray(h) ? h[0] : h;
}
