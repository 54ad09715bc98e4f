/** host:port strings: members are identified by the address they advertise (written as src/host-port.ts writes them). */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatHostPort, type HostPort } from '../../host-port.js';

/** A member's address is its datagram address: one rule set, the transport's. */
export { parseDatagramAddress as parseHostPort } from '../transport/udp-transport.js';
export { formatHostPort, type HostPort };

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
