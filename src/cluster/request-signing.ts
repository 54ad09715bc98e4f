import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ReplayCache } from './replay-cache.js';
import { deriveKey } from './security.js';

/**
 * Authentication of internal HTTP calls between nodes (value fetches,
 * push-pull) with the shared GossipDataSyncAuthKey: an HMAC over the method,
 * the receiving node (its HTTP host:port as the cluster knows it), the path
 * with its query, a timestamp, a nonce and the body's hash, sent in one header.
 * Naming the receiver means a call signed for node A is refused by node B.
 * Calls outside the clock window, replayed nonces (replay-cache.ts) and bad
 * MACs are refused and counted.
 */
export const AUTH_HEADER = 'x-owlcache-auth';
const PURPOSE = 'owlcache/internal-http';
/** v2 signs the receiver; v1 (no receiver) is refused as malformed. */
const VERSION = 'v2';
/** Nonces remembered against replay: about 10 MB at most. */
const REPLAY_CACHE_SIZE = 100_000;

export interface SigningStats {
  accepted: number;
  rejectedBadMac: number;
  rejectedStale: number;
  rejectedReplay: number;
  rejectedMalformed: number;
}

/** One spelling of a node's HTTP host:port for the MAC: lower case, IPv6 without brackets. */
export function receiverId(hostPort: string): string {
  return hostPort
    .trim()
    .toLowerCase()
    .replace(/^\[([^\]]*)\]:/, '$1:');
}

export interface RequestSignerOptions {
  /** This node's HTTP host:port as the others call it (its advertised address): calls must be signed for it. */
  self: string;
  now?: () => number;
  replayCacheSize?: number;
}

export class RequestSigner {
  readonly stats: SigningStats = { accepted: 0, rejectedBadMac: 0, rejectedStale: 0, rejectedReplay: 0, rejectedMalformed: 0 };
  private readonly key: Buffer;
  private readonly self: string;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly seen: ReplayCache;

  constructor(authKey: string, windowMs: number, opts: RequestSignerOptions) {
    this.key = deriveKey(authKey, PURPOSE);
    this.self = receiverId(opts.self);
    this.windowMs = windowMs;
    this.now = opts.now ?? Date.now;
    this.seen = new ReplayCache(windowMs, opts.replayCacheSize ?? REPLAY_CACHE_SIZE);
  }

  private mac(method: string, receiver: string, path: string, time: string, nonce: string, body: Uint8Array): Buffer {
    const bodyHash = createHash('sha256').update(body).digest('hex');
    return createHmac('sha256', this.key)
      .update(`${VERSION}\n${method.toUpperCase()}\n${receiverId(receiver)}\n${path}\n${time}\n${nonce}\n${bodyHash}`)
      .digest();
  }

  /** The header value for a call to the node at `receiver` (its HTTP host:port). */
  sign(method: string, receiver: string, path: string, body: Uint8Array = Buffer.alloc(0)): string {
    const time = String(Math.floor(this.now()));
    const nonce = randomBytes(12).toString('hex');
    return `${VERSION} ${time} ${nonce} ${this.mac(method, receiver, path, time, nonce, body).toString('hex')}`;
  }

  /**
   * The checks that need no body, made before a call's body is read: the
   * header is there, well formed and inside the clock window. A call that
   * fails them is refused (and counted) unread; one that passes still needs
   * `verify` once its body is in.
   */
  screen(header: string | undefined): boolean {
    const parts = (header ?? '').split(' ');
    if (!wellFormed(parts)) {
      this.stats.rejectedMalformed++;
      return false;
    }
    if (Math.abs(this.now() - Number(parts[1])) > this.windowMs) {
      this.stats.rejectedStale++;
      return false;
    }
    return true;
  }

  /** True if the call carries a valid, fresh, first-seen signature made for this node. */
  verify(method: string, path: string, header: string | undefined, body: Uint8Array = Buffer.alloc(0)): boolean {
    const parts = (header ?? '').split(' ');
    if (!wellFormed(parts)) {
      this.stats.rejectedMalformed++;
      return false;
    }
    const [, time, nonce, mac] = parts as [string, string, string, string];
    if (!timingSafeEqual(this.mac(method, this.self, path, time, nonce, body), Buffer.from(mac, 'hex'))) {
      this.stats.rejectedBadMac++;
      return false;
    }
    if (!this.seen.admitCounted(nonce, Number(time), this.now(), this.stats)) return false;
    this.stats.accepted++;
    return true;
  }
}

/** `<VERSION> <ms> <24 hex nonce> <64 hex mac>`. */
function wellFormed(parts: string[]): boolean {
  return parts.length === 4 && parts[0] === VERSION && /^\d{1,16}$/.test(parts[1]!) && /^[0-9a-f]{24}$/.test(parts[2]!) && /^[0-9a-f]{64}$/.test(parts[3]!);
}
