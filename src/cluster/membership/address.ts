/** host:port strings: members are identified by the address they advertise (written as src/host-port.ts writes them). */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatHostPort, parseHostPort as parse, type HostPort } from '../../host-port.js';

export { formatHostPort, type HostPort };

/**
 * A member's address: `host:port`, `[v6]:port`, or (with defaultPort) a bare
 * host; port 0 allowed (an advertise address's "the port bound"), an IPv6
 * address without brackets read up to its last colon. Null if invalid.
 */
export function parseHostPort(s: string, defaultPort?: number): HostPort | null {
  const r = parse(s, { defaultPort, minPort: 0, unbracketedIPv6: 'last-colon', maxLength: 300 });
  return r.ok ? { host: r.host, port: r.port } : null;
}

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

/** A concrete address for others to reach a socket bound to a wildcard: the first external IPv4, else loopback. */
export function firstExternalIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return '127.0.0.1';
}

/** Resolves a host name to an IP (IPs are returned as they are). */
export async function resolveHostPort(hp: HostPort): Promise<string> {
  if (isIP(hp.host) !== 0) return formatHostPort(hp.host, hp.port);
  const { address } = await lookup(hp.host, { family: 4 }).catch(() => lookup(hp.host));
  return formatHostPort(address, hp.port);
}
