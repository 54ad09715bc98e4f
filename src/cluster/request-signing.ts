import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { deriveKey } from './security.js';

/**
 * Authentication of internal HTTP calls between nodes (value fetches,
 * push-pull) with the shared GossipDataSyncAuthKey: an HMAC over the method,
 * the path with its query, a timestamp, a nonce and the body's hash, sent in one
 * header. Calls outside the clock window, replayed nonces and bad MACs are
 * refused and counted.
 */
export const AUTH_HEADER = 'x-owlcache-auth';
const PURPOSE = 'owlcache/internal-http';

export interface SigningStats {
  accepted: number;
  rejectedBadMac: number;
  rejectedStale: number;
  rejectedReplay: number;
  rejectedMalformed: number;
}

export class RequestSigner {
  readonly stats: SigningStats = { accepted: 0, rejectedBadMac: 0, rejectedStale: 0, rejectedReplay: 0, rejectedMalformed: 0 };
  private readonly key: Buffer;
  private readonly seen: LRUCache<string, true>;

  constructor(
    authKey: string,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = deriveKey(authKey, PURPOSE);
    this.seen = new LRUCache({ max: 100_000, ttl: 2 * windowMs });
  }

  private mac(method: string, path: string, time: string, nonce: string, body: Uint8Array): Buffer {
    const bodyHash = createHash('sha256').update(body).digest('hex');
    return createHmac('sha256', this.key).update(`${method.toUpperCase()}\n${path}\n${time}\n${nonce}\n${bodyHash}`).digest();
  }

  /** The header value for a call. */
  sign(method: string, path: string, body: Uint8Array = Buffer.alloc(0)): string {
    const time = String(Math.floor(this.now()));
    const nonce = randomBytes(12).toString('hex');
    return `v1 ${time} ${nonce} ${this.mac(method, path, time, nonce, body).toString('hex')}`;
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

  /** True if the call carries a valid, fresh, first-seen signature. */
  verify(method: string, path: string, header: string | undefined, body: Uint8Array = Buffer.alloc(0)): boolean {
    const parts = (header ?? '').split(' ');
    if (!wellFormed(parts)) {
      this.stats.rejectedMalformed++;
      return false;
    }
    const [, time, nonce, mac] = parts as [string, string, string, string];
    if (!timingSafeEqual(this.mac(method, path, time, nonce, body), Buffer.from(mac, 'hex'))) {
      this.stats.rejectedBadMac++;
      return false;
    }
    if (Math.abs(this.now() - Number(time)) > this.windowMs) {
      this.stats.rejectedStale++;
      return false;
    }
    if (this.seen.has(nonce)) {
      this.stats.rejectedReplay++;
      return false;
    }
    this.seen.set(nonce, true);
    this.stats.accepted++;
    return true;
  }
}

/** `v1 <ms> <24 hex nonce> <64 hex mac>`. */
function wellFormed(parts: string[]): boolean {
  return parts.length === 4 && parts[0] === 'v1' && /^\d{1,16}$/.test(parts[1]!) && /^[0-9a-f]{24}$/.test(parts[2]!) && /^[0-9a-f]{64}$/.test(parts[3]!);
}
