import { isIPv4, isIPv6 } from 'node:net';
import { formatHost, readPort, splitHostPort } from '../../host-port.js';
import { refusedHost, refusedIp } from './host-policy.js';

/**
 * Addresses in the server lists. An owlcache-mode entry names another node's
 * HTTP port: `host:port`, or `http(s)://host[:port]` as the original's own
 * examples write it. A gossip seed names a peer's gossip (UDP) port: `host:port`
 * only, since a scheme means nothing there. Anything else is refused with a
 * reason the user can act on, so a typo never sits in a list unnoticed, and
 * so is any host a node must never contact (see host-policy.ts).
 */

export type ListKind = 'owlcache' | 'gossip';

/** One place to send a request to: scheme null when the address had none. */
export interface Endpoint {
  scheme: 'http' | 'https' | null;
  /** Lower-cased; IPv6 without brackets. */
  host: string;
  /** Null when a URL left it out (then the scheme's default applies). */
  port: number | null;
}

export type AddressCheck = { ok: true; address: string; endpoint: Endpoint } | { ok: false; message: string };

const MAX_ADDRESS_LENGTH = 300;
// Underscores are not RFC 1123, but container and compose names use them.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

// A last label like this makes resolvers and URL parsers read the whole name as an IPv4 address.
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/;

/**
 * Why a node must not use this host (lower-case, IPv6 without brackets), or
 * null: a malformed one, or one it must never contact (see host-policy.ts).
 */
export function hostProblem(host: string): string | null {
  if (host === '') return 'the host is missing';
  if (isIPv6(host)) {
    if (host.includes('%')) return 'an IPv6 zone index (%…) is not allowed';
    const refused = refusedIp(host);
    return refused === null ? null : `${host} is ${refused}, which a node never contacts`;
  }
  if (!isIPv4(host)) {
    if (host.length > 253) return 'the host name is too long';
    const labels = host.replace(/\.$/, '').split('.');
    // 0x7f.1, 2130706433, 0177.0.0.1, 127.1: other programs read these as IPv4 addresses, each its own way.
    if (NUMERIC_LABEL.test(labels.at(-1)!)) return `${host} is not a valid IPv4 address (write an IPv4 address as four decimal numbers, a.b.c.d)`;
    for (const label of labels) {
      if (!LABEL.test(label)) return `${JSON.stringify(host)} is not a valid host name`;
    }
  }
  const refused = refusedHost(host);
  return refused === null ? null : `${host} is ${refused}, which a node never contacts`;
}

/**
 * Validates an address for a list and returns its normalised form (scheme and
 * host lower-cased, one trailing `/` dropped): the form stored and compared.
 */
export function checkAddress(raw: string | undefined, kind: ListKind): AddressCheck {
  const text = (raw ?? '').trim();
  const expected = kind === 'gossip' ? "host:port (a peer's gossip port)" : 'host:port or http(s)://host[:port]';
  const fail = (why: string): AddressCheck => ({ ok: false, message: `bad address ${JSON.stringify(text)}: ${why}; expected ${expected}` });
  if (text === '') return { ok: false, message: `address is required; expected ${expected}` };
  if (text.length > MAX_ADDRESS_LENGTH) return { ok: false, message: `address is longer than ${MAX_ADDRESS_LENGTH} characters` };
  if (/[\s\x00-\x1f\x7f]/.test(text)) return fail('it contains spaces or control characters');

  let scheme: Endpoint['scheme'] = null;
  let rest = text;
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  if (m) {
    const s = m[1]!.toLowerCase();
    if (kind === 'gossip') return fail('a gossip seed has no scheme');
    if (s !== 'http' && s !== 'https') return fail(`the scheme ${s}:// is not supported`);
    scheme = s;
    rest = text.slice(m[0].length);
    if (rest.endsWith('/')) rest = rest.slice(0, -1);
  } else if (text.includes('://')) {
    return fail('the scheme is not valid');
  }
  if (/[/?#@\\]/.test(rest)) return fail('it must not have a path, query, fragment or user name');

  const parts = splitHostPort(rest, 'refuse');
  if (typeof parts === 'string') return fail(parts);
  const host = parts.host.toLowerCase();
  if (parts.bracketed && !isIPv6(host)) return fail(`${JSON.stringify(parts.host)} is not a valid IPv6 address`);
  const bad = hostProblem(host);
  if (bad !== null) return fail(bad);
  // A URL may leave the port out (its scheme's applies); a bare host:port may not.
  let port: number | null = null;
  if (parts.port !== undefined || scheme === null) {
    const read = readPort(parts.port, { minPort: 1 });
    if (typeof read === 'string') return fail(read);
    port = read;
  }
  const hostPort = port === null ? formatHost(host) : `${formatHost(host)}:${port}`;
  return { ok: true, address: scheme === null ? hostPort : `${scheme}://${hostPort}`, endpoint: { scheme, host, port } };
}

/** The endpoint of an address already in a list (or given as a target), or null if it is not valid for HTTP. */
export function endpointOf(address: string): Endpoint | null {
  const c = checkAddress(address, 'owlcache');
  return c.ok ? c.endpoint : null;
}

/** Scheme, host and port with defaults applied: what decides whether two addresses reach the same port. */
export function resolvedEndpoint(e: Endpoint, defaultScheme: 'http' | 'https'): { scheme: 'http' | 'https'; host: string; port: number } {
  const scheme = e.scheme ?? defaultScheme;
  return { scheme, host: e.host, port: e.port ?? (scheme === 'https' ? 443 : 80) };
}

export function endpointKey(e: { scheme: string; host: string; port: number }): string {
  return `${e.scheme}://${formatHost(e.host)}:${e.port}`;
}
