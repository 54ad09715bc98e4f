/**
 * Sealing of node-to-node datagrams with the shared GossipDataSyncAuthKey.
 *
 * Every datagram carries a timestamp and a fresh nonce and is authenticated
 * with a subkey derived from the auth key for one purpose (membership, data
 * gossip, ...), so a datagram sealed for one layer never opens in another.
 *
 * Wire format (all integers big-endian):
 *
 *   version  u8     = 1
 *   flags    u8     bit 0: payload encrypted (AES-256-GCM); other bits must be 0
 *   time     u64    sender clock, ms since the epoch
 *   nonce    12 B   random
 *   body     ...    payload (plain or ciphertext)
 *   tag      16 B   plain: HMAC-SHA256 over everything before it, truncated to 128 bits
 *                   encrypted: GCM tag; header (version..nonce) is the additional data
 *
 * open() drops (and counts) anything that is malformed, fails the MAC, is outside
 * the clock window, or repeats a datagram already accepted within the window.
 * Random 96-bit nonces follow memberlist's practice for AES-GCM; the nonce also
 * makes two seals of the same payload distinct, so only true replays are dropped.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { ReplayCache } from './replay-cache.js';

export const SEAL_VERSION = 1;
const FLAG_ENCRYPTED = 0x01;
const HEADER_SIZE = 1 + 1 + 8 + 12;
const TAG_SIZE = 16;
/** Bytes a sealed datagram adds to its payload. */
export const SEAL_OVERHEAD = HEADER_SIZE + TAG_SIZE;

const HKDF_SALT = Buffer.from('owlcache/v1', 'utf8');

/**
 * A 32-byte subkey of authKey for one purpose (HKDF-SHA256). Different purposes
 * give independent keys, so each layer (and internal HTTP signing) has its own.
 */
export function deriveKey(authKey: string, purpose: string): Buffer {
  if (typeof authKey !== 'string' || authKey.length === 0) throw new TypeError('authKey must be a non-empty string');
  if (typeof purpose !== 'string' || purpose.length === 0) throw new TypeError('purpose must be a non-empty string');
  return Buffer.from(hkdfSync('sha256', Buffer.from(authKey, 'utf8'), HKDF_SALT, Buffer.from(purpose, 'utf8'), 32));
}

export interface SealerOptions {
  encrypt: boolean;
  /** Accepted clock difference either way, and how long a datagram is remembered against replay. */
  windowMs: number;
  now?: () => number;
  /** Most datagrams remembered against replay (default 65536); see replay-cache.ts. */
  replayCacheSize?: number;
}

/** The sender's clock (ms since the epoch) in a sealed datagram's header (version u8, flags u8, time u64 BE), or 0 if it has none. */
export function sealedTime(datagram: Buffer): number {
  if (datagram.length < 10) return 0;
  const t = Number(datagram.readBigUInt64BE(2));
  return Number.isSafeInteger(t) ? t : 0;
}

export interface SealerStats {
  sealed: number;
  opened: number;
  rejectedBadMac: number;
  rejectedStale: number;
  rejectedReplay: number;
  rejectedMalformed: number;
}

export class DatagramSealer {
  readonly stats: SealerStats = {
    sealed: 0,
    opened: 0,
    rejectedBadMac: 0,
    rejectedStale: 0,
    rejectedReplay: 0,
    rejectedMalformed: 0,
  };

  private readonly macKey: Buffer;
  private readonly encKey: Buffer;
  private readonly encrypt: boolean;
  private readonly now: () => number;
  private readonly replay: ReplayCache;

  constructor(authKey: string, purpose: string, opts: SealerOptions) {
    if (!(opts.windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.macKey = deriveKey(authKey, `${purpose}/mac`);
    this.encKey = deriveKey(authKey, `${purpose}/enc`);
    this.encrypt = opts.encrypt;
    this.now = opts.now ?? Date.now;
    this.replay = new ReplayCache(opts.windowMs, Math.max(1, opts.replayCacheSize ?? 65536));
  }

  /** Bytes seal() adds to a payload. */
  get overhead(): number {
    return SEAL_OVERHEAD;
  }

  seal(payload: Buffer): Buffer {
    const header = Buffer.allocUnsafe(HEADER_SIZE);
    header.writeUInt8(SEAL_VERSION, 0);
    header.writeUInt8(this.encrypt ? FLAG_ENCRYPTED : 0, 1);
    header.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.now()))), 2);
    randomBytes(12).copy(header, 10);
    this.stats.sealed++;
    if (this.encrypt) {
      const cipher = createCipheriv('aes-256-gcm', this.encKey, header.subarray(10, HEADER_SIZE), { authTagLength: TAG_SIZE });
      cipher.setAAD(header);
      const body = Buffer.concat([cipher.update(payload), cipher.final()]);
      return Buffer.concat([header, body, cipher.getAuthTag()]);
    }
    const mac = this.mac(header, payload);
    return Buffer.concat([header, payload, mac]);
  }

  /** The payload, or null (counted in stats) when the datagram must be dropped. Never throws. */
  open(datagram: Buffer): Buffer | null {
    try {
      return this.openUnchecked(datagram);
    } catch {
      this.stats.rejectedMalformed++;
      return null;
    }
  }

  private openUnchecked(datagram: Buffer): Buffer | null {
    if (!Buffer.isBuffer(datagram) || datagram.length < SEAL_OVERHEAD || datagram[0] !== SEAL_VERSION) {
      this.stats.rejectedMalformed++;
      return null;
    }
    const flags = datagram[1]!;
    if ((flags & ~FLAG_ENCRYPTED) !== 0) {
      this.stats.rejectedMalformed++;
      return null;
    }
    // A sealer only speaks its own mode: a mismatch is a wrong configuration, treated as a wrong key.
    if ((flags === FLAG_ENCRYPTED) !== this.encrypt) {
      this.stats.rejectedBadMac++;
      return null;
    }
    const header = datagram.subarray(0, HEADER_SIZE);
    const body = datagram.subarray(HEADER_SIZE, datagram.length - TAG_SIZE);
    const tag = datagram.subarray(datagram.length - TAG_SIZE);

    let payload: Buffer;
    if (this.encrypt) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.encKey, header.subarray(10, HEADER_SIZE), { authTagLength: TAG_SIZE });
        decipher.setAAD(header);
        decipher.setAuthTag(tag);
        payload = Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        this.stats.rejectedBadMac++;
        return null;
      }
    } else {
      if (!timingSafeEqual(this.mac(header, body), tag)) {
        this.stats.rejectedBadMac++;
        return null;
      }
      payload = Buffer.from(body);
    }

    // Only authenticated datagrams reach the clock and replay checks, so forgeries cannot fill the cache.
    if (!this.replay.admitCounted(tag.toString('latin1'), Number(header.readBigUInt64BE(2)), this.now(), this.stats)) return null;
    this.stats.opened++;
    return payload;
  }

  private mac(header: Buffer, payload: Buffer): Buffer {
    return createHmac('sha256', this.macKey).update(header).update(payload).digest().subarray(0, TAG_SIZE);
  }
}
