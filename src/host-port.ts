/**
 * `host:port` text, read and written one way for every part of the node: member
 * addresses (SWIM), the data-gossip and HTTP addresses members advertise, the
 * /server/ lists, the advertise setting. The places differ only in their rules
 * (a default port or none, port 0 allowed or not, IPv6 without brackets read or
 * refused), so each names its rules and this module does the reading.
 */

export interface HostPortRules {
  /** Taken when the text names no port; without it a port is required. */
  defaultPort?: number;
  /** Lowest port accepted: 1, or 0 where 0 means "the port this node bound" (an advertise address). Default 1. */
  minPort?: 0 | 1;
  /**
   * An IPv6 address without brackets (`::1:7721`): `last-colon` reads the last
   * colon as the port separator (nodes advertise their HTTP address that way);
   * `refuse` asks for brackets. Default `last-colon`.
   */
  unbracketedIPv6?: 'last-colon' | 'refuse';
  /** Longest text accepted. */
  maxLength?: number;
}

/** The pieces of `host[:port]`: the host without brackets, the port text as written (undefined when absent). */
export interface HostPortParts {
  host: string;
  port: string | undefined;
  bracketed: boolean;
}

export interface HostPort {
  host: string;
  port: number;
}

export type HostPortResult = ({ ok: true; bracketed: boolean } & HostPort) | { ok: false; reason: string };

/** Splits `host[:port]` (IPv6 in brackets) without judging host or port; a string is the reason it cannot. */
export function splitHostPort(text: string, unbracketedIPv6: NonNullable<HostPortRules['unbracketedIPv6']> = 'last-colon'): HostPortParts | string {
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return 'an IPv6 address must be closed with ]';
    const host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest === '') return { host, port: undefined, bracketed: true };
    if (!rest.startsWith(':')) return `unexpected ${JSON.stringify(rest)} after the IPv6 address`;
    return { host, port: rest.slice(1), bracketed: true };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: text, port: undefined, bracketed: false };
  if (unbracketedIPv6 === 'refuse' && text.indexOf(':') !== colon) return 'put an IPv6 address in brackets, e.g. [::1]:7721';
  return { host: text.slice(0, colon), port: text.slice(colon + 1), bracketed: false };
}

/** A port from its text (undefined: none written) under the rules; a string is the reason it is not one. */
export function readPort(text: string | undefined, rules: Pick<HostPortRules, 'defaultPort' | 'minPort'> = {}): number | string {
  if (text === undefined) return rules.defaultPort ?? 'the port is missing';
  if (!/^\d{1,5}$/.test(text)) return `the port ${JSON.stringify(text)} is not a number`;
  const port = Number(text);
  const min = rules.minPort ?? 1;
  if (port < min || port > 65535) return `the port ${port} is out of range ${min}-65535`;
  return port;
}

/** Reads `host:port`, `[v6]:port`, or (with a default port) a bare host. */
export function parseHostPort(text: string, rules: HostPortRules = {}): HostPortResult {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, reason: 'the address is empty' };
  if (rules.maxLength !== undefined && text.length > rules.maxLength) return { ok: false, reason: `the address is longer than ${rules.maxLength} characters` };
  const parts = splitHostPort(text, rules.unbracketedIPv6);
  if (typeof parts === 'string') return { ok: false, reason: parts };
  if (parts.host === '') return { ok: false, reason: 'the host is missing' };
  const port = readPort(parts.port, rules);
  if (typeof port === 'string') return { ok: false, reason: port };
  return { ok: true, host: parts.host, port, bracketed: parts.bracketed };
}

/** A host as it stands before `:port`: an IPv6 address in brackets. */
export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `host:port`, IPv6 in brackets (`[::1]:7946`). */
export function formatHostPort(host: string, port: number): string {
  return `${formatHost(host)}:${port}`;
}

/** The same host as written (brackets or not, as they were) with another port: `::1:7721` → `::1:7947`. */
export function withPort(hostPort: string, port: number): string {
  const colon = hostPort.lastIndexOf(':');
  return `${colon < 0 ? hostPort : hostPort.slice(0, colon)}:${port}`;
}

/** A host setting as compared with others: `[::1]` → `::1`; anything else as it is. */
export function unbracketHost(host: string): string {
  const m = /^\[(.*)\]$/.exec(host);
  return m === null ? host : m[1]!;
}
