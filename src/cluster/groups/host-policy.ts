import { BlockList, isIP } from 'node:net';

/**
 * Hosts a server list may never name, because a node contacts what its lists
 * name (`/group_data/` asks every listed node) and a list can be edited by
 * whoever holds a token: without this, a token would make the node fetch from
 * its cloud's metadata service or any other address only the node can reach.
 *
 * Refused:
 * - unspecified (0.0.0.0/8, ::), link-local (169.254.0.0/16, fe80::/10: where
 *   cloud metadata services answer), multicast (224.0.0.0/4, ff00::/8),
 *   reserved and broadcast (240.0.0.0/4);
 * - IPv4-mapped IPv6 (::ffff:a.b.c.d): write the IPv4 address itself; IPv6
 *   forms that embed a refused IPv4 address (IPv4-compatible, NAT64);
 * - the other cloud metadata addresses (CLOUD_METADATA_ADDRESSES) and names
 *   (CLOUD_METADATA_NAMES, with their subdomains).
 * Loopback and private networks stay allowed: clusters live there.
 */

export const CLOUD_METADATA_ADDRESSES: readonly string[] = [
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS over IPv6
];

export const CLOUD_METADATA_NAMES: readonly string[] = ['metadata', 'metadata.google.internal', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal'];

const ranges: [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', 'an unspecified address'],
  ['169.254.0.0', 16, 'ipv4', 'a link-local address (where cloud metadata services answer)'],
  ['224.0.0.0', 4, 'ipv4', 'a multicast address'],
  ['240.0.0.0', 4, 'ipv4', 'a reserved or broadcast address'],
  ['::', 128, 'ipv6', 'an unspecified address'],
  ['fe80::', 10, 'ipv6', 'a link-local address (where cloud metadata services answer)'],
  ['ff00::', 8, 'ipv6', 'a multicast address'],
];

const mapped = new BlockList();
mapped.addSubnet('::ffff:0:0', 96, 'ipv6');
// IPv4-compatible (deprecated) and NAT64 addresses reach the IPv4 address in their last 32 bits.
const embedding = new BlockList();
embedding.addSubnet('::', 96, 'ipv6');
embedding.addSubnet('64:ff9b::', 96, 'ipv6');

const refusedRanges = ranges.map(([net, prefix, family, what]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, family);
  return { list, what };
});

const metadataAddresses = new BlockList();
for (const a of CLOUD_METADATA_ADDRESSES) metadataAddresses.addAddress(a, isIP(a) === 6 ? 'ipv6' : 'ipv4');

/** Why a node must not contact this IP address, or null if it may. */
export function refusedIp(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) return null;
  const f = family === 6 ? 'ipv6' : 'ipv4';
  if (f === 'ipv6' && mapped.check(ip, 'ipv6')) return 'an IPv4-mapped IPv6 address (write the IPv4 address itself)';
  if (f === 'ipv6' && ip !== '::' && ip !== '::1' && embedding.check(ip, 'ipv6')) {
    const refused = refusedIp(embeddedIPv4(ip));
    if (refused !== null) return `an IPv6 form of ${refused}`;
  }
  if (metadataAddresses.check(ip, f)) return 'a cloud metadata address';
  for (const r of refusedRanges) if (r.list.check(ip, f)) return r.what;
  return null;
}

/** Why a node must not contact this host (an IP address or a name, lower-case), or null if it may. */
export function refusedHost(host: string): string | null {
  if (isIP(host) !== 0) return refusedIp(host);
  const name = host.toLowerCase().replace(/\.$/, '');
  if (CLOUD_METADATA_NAMES.some((m) => name === m || name.endsWith(`.${m}`))) return 'a cloud metadata service name';
  return null;
}

/** The IPv4 address in the last 32 bits of an IPv6 address. */
function embeddedIPv4(ip: string): string {
  const groups = new URL(`http://[${ip}]`).hostname.slice(1, -1).split(':');
  const [hi, lo] = groups.slice(-2).map((g) => (g === '' ? 0 : parseInt(g, 16))) as [number, number];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}
