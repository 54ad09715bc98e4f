/** host:port strings: members are identified by the address they advertise. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port`, or (with defaultPort) a bare host. Null if invalid. */
export function parseHostPort(s: string, defaultPort?: number): HostPort | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 300) return null;
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return null;
    host = s.slice(1, end);
    const rest = s.slice(end + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) return null;
      portText = rest.slice(1);
    }
  } else {
    const colon = s.lastIndexOf(':');
    // Unbracketed IPv6 with a port is ambiguous; read the last colon as the port separator.
    if (colon < 0) host = s;
    else {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    }
  }
  if (host.length === 0) return null;
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) return null;
    port = defaultPort;
  } else {
    if (!/^\d{1,5}$/.test(portText)) return null;
    port = Number(portText);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host, port };
}

/** A member's identity: `host:port`, IPv6 in brackets (`[::1]:7946`). swim treats it as an opaque string. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
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
