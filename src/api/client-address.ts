import { unmapIPv4 } from '../net-address.js';

/** The client's address as every front end (HTTP, RESP, TCP) keys it: IPv4-mapped addresses in their IPv4 form. */
export function clientAddress(socket: { readonly remoteAddress?: string | undefined }): string {
  return unmapIPv4(socket.remoteAddress ?? '');
}
