import { BlockList, isIP } from 'node:net';
import type { Network } from '../../config/values.js';
import { unmapIPv4 } from '../../net-address.js';

/**
 * Protected mode of the TCP text protocol, as Redis has it: the protocol has
 * no authentication (the original's), so writes are taken only from trusted
 * networks (TcpTrustedNetworks, by default this machine), unless the operator
 * turns protection off (TcpProtectedMode 0). Reads stay open to everyone, as
 * on the HTTP port.
 */
export class TcpWriteProtection {
  /** null = protection off: every address may write. */
  private readonly trusted: BlockList | null;

  constructor(
    protectedMode: boolean,
    private readonly networks: readonly Network[],
  ) {
    if (!protectedMode) {
      this.trusted = null;
      return;
    }
    this.trusted = new BlockList();
    for (const n of networks) this.trusted.addSubnet(n.address, n.prefix, n.family);
  }

  /** True if a client at `address` may set, expire and delete over TCP. */
  allowsWrites(address: string): boolean {
    if (this.trusted === null) return true;
    const a = unmapIPv4(address);
    const version = isIP(a);
    if (version === 0) return false;
    return this.trusted.check(a, version === 4 ? 'ipv4' : 'ipv6');
  }

  /** Where writes are accepted from, in words (start-up banner). */
  describe(): string {
    if (this.trusted === null) return 'writes from any address (TcpProtectedMode 0)';
    if (this.networks.length === 0) return 'no writes from any address (TcpTrustedNetworks is empty)';
    return `writes only from ${this.networks.map((n) => `${n.address}/${n.prefix}`).join(', ')} (protected mode: TcpTrustedNetworks sets the list, TcpProtectedMode 0 accepts writes from any address)`;
  }

  /** The error message for a refused write from `address`. */
  refusal(address: string): string {
    return (
      `protected mode: writes over TCP are accepted only from TcpTrustedNetworks, and ${unmapIPv4(address)} is not in them; ` +
      "add the client's network to TcpTrustedNetworks, set TcpProtectedMode 0, or write through the HTTP API with a token"
    );
  }
}

/** Request lines and the header a browser sends first: a web page driving this port cross-protocol. */
const HTTP_METHODS = ['GET ', 'POST ', 'PUT ', 'HEAD ', 'DELETE ', 'OPTIONS ', 'PATCH ', 'CONNECT ', 'TRACE '].map((m) => Buffer.from(m, 'latin1'));

/**
 * True if a TCP line starts like HTTP (an upper-case method and a space, or a
 * `Host:` header). The protocol's own commands are lower case, so no real
 * command looks like this.
 */
export function looksLikeHttp(line: Buffer): boolean {
  for (const m of HTTP_METHODS) if (line.length >= m.length && line.compare(m, 0, m.length, 0, m.length) === 0) return true;
  return line.length >= 5 && line.toString('latin1', 0, 5).toLowerCase() === 'host:';
}
