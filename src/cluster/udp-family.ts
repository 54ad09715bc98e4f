import { isIP } from 'node:net';
import { unmapIPv4 } from '../net-address.js';

/**
 * The socket family of the gossip UDP sockets follows the bind host: udp6 for
 * an IPv6 Host (`::1`, or `::`, which on dual-stack systems also takes IPv4),
 * udp4 otherwise. A udp6 socket reaches IPv4 peers through their IPv4-mapped
 * form, and hears them as such: both are translated here.
 */
export type UdpFamily = 'udp4' | 'udp6';

export function udpFamilyFor(bindHost: string): UdpFamily {
  return isIP(bindHost.replace(/^\[(.*)\]$/, '$1')) === 6 ? 'udp6' : 'udp4';
}

/** The host to give send() on a socket of `family`. */
export function udpSendHost(family: UdpFamily, host: string): string {
  return family === 'udp6' && isIP(host) === 4 ? `::ffff:${host}` : host;
}

/** A datagram's source address as the cluster names peers. */
export function udpSourceHost(address: string): string {
  return unmapIPv4(address);
}
