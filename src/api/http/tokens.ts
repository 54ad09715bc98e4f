import { SignJWT, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';

/**
 * OwlCache's tokens: an HS256 JWT signed with Tonken_jwt_secret, bound to the
 * client's IP address, expiring after Tonken_expire_time (0 = never), handed out
 * base64-wrapped as the original does. Both the wrapped form and the bare JWT are
 * accepted. Nodes sharing the secret accept each other's tokens.
 */
export class TokenService {
  private readonly key: Uint8Array;
  /** Verified tokens, so a client reusing its token does not pay for HMAC and JSON each time. */
  private readonly verified = new LRUCache<string, { ip: string; exp: number }>({ max: 10_000 });

  constructor(
    secret: string,
    private readonly expireMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async issue(ip: string): Promise<string> {
    const jwt = new SignJWT({ ip }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(Math.floor(this.now() / 1000));
    if (this.expireMs > 0) jwt.setExpirationTime(Math.floor((this.now() + this.expireMs) / 1000));
    return Buffer.from(await jwt.sign(this.key), 'utf8').toString('base64');
  }

  /** True if the token is ours, unexpired and was issued to this IP. */
  async verify(token: string | undefined, ip: string): Promise<boolean> {
    if (token === undefined || token === '' || token.length > 4096) return false;
    const cached = this.verified.get(token);
    if (cached !== undefined) return cached.ip === ip && (cached.exp === 0 || cached.exp > this.now());
    const jwt = unwrap(token);
    if (jwt === null) return false;
    try {
      const { payload } = await jwtVerify(jwt, this.key, {
        algorithms: ['HS256'],
        currentDate: new Date(this.now()),
      });
      if (typeof payload.ip !== 'string') return false;
      const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : 0;
      this.verified.set(token, { ip: payload.ip, exp });
      return payload.ip === ip;
    } catch {
      return false;
    }
  }
}

/**
 * A JWT in canonical base64url only: trailing bits a decoder ignores could
 * otherwise give one token many accepted spellings.
 */
function canonicalJwt(jwt: string): string | null {
  const parts = jwt.split('.');
  if (parts.length !== 3) return null;
  return parts.every((p) => Buffer.from(p, 'base64url').toString('base64url') === p) ? jwt : null;
}

/** The bare JWT from either form; query strings turn base64's `+` into spaces, so undo that. */
function unwrap(token: string): string | null {
  const t = token.trim().replace(/ /g, '+');
  if (t.split('.').length === 3) return canonicalJwt(t);
  if (!/^[A-Za-z0-9+/=_-]+$/.test(t)) return null;
  return canonicalJwt(Buffer.from(t, 'base64').toString('utf8'));
}

/** Shared with the RESP front end; kept exported here for the HTTP code. */
export { passwordMatches } from '../auth.js';

/**
 * Slows down repeated wrong passwords from one address: a few free tries, then
 * a delay that doubles with each failure (capped), forgotten after a quiet
 * quarter hour. Attempts in flight count too, so parallel guessing does not
 * slip past the delay.
 */
export class PassGuard {
  static readonly FREE_TRIES = 3;
  static readonly MAX_DELAY_MS = 10_000;
  static readonly FORGET_AFTER_MS = 15 * 60_000;
  private readonly failures = new LRUCache<string, { count: number; last: number; inflight: number }>({ max: 50_000 });

  constructor(
    private readonly baseDelayMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers an attempt and says how long to wait before checking it. */
  begin(ip: string): number {
    let s = this.failures.get(ip);
    if (s !== undefined && this.now() - s.last > PassGuard.FORGET_AFTER_MS) s = undefined;
    if (s === undefined) {
      s = { count: 0, last: this.now(), inflight: 0 };
      this.failures.set(ip, s);
    }
    const n = s.count + s.inflight;
    s.inflight += 1;
    if (n < PassGuard.FREE_TRIES || this.baseDelayMs === 0) return 0;
    return Math.min(this.baseDelayMs * 2 ** (n - PassGuard.FREE_TRIES), PassGuard.MAX_DELAY_MS);
  }

  end(ip: string, success: boolean): void {
    const s = this.failures.get(ip);
    if (s === undefined) return;
    s.inflight = Math.max(0, s.inflight - 1);
    if (success) {
      if (s.inflight === 0) this.failures.delete(ip);
      else s.count = 0;
      return;
    }
    s.count += 1;
    s.last = this.now();
  }
}
