import { createHmac } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { LRUCache } from 'lru-cache';

/**
 * OwlCache's tokens: an HS256 JWT signed with Tonken_jwt_secret, bound to the
 * client's IP address, expiring after Tonken_expire_time (0 = never), handed out
 * base64-wrapped as the original does. Both the wrapped form and the bare JWT are
 * accepted. Nodes sharing the secret and the password accept each other's tokens.
 *
 * A token also carries `pwg`, a digest of the password it was issued under
 * (see passwordGeneration): changing `Pass` revokes every token issued
 * before, even those that never expire.
 */
export class TokenService {
  private readonly key: Uint8Array;
  /** Verified tokens, so a client reusing its token does not pay for HMAC and JSON each time. */
  private readonly verified = new LRUCache<string, { ip: string; exp: number }>({ max: 10_000 });
  private readonly generation: string;

  constructor(
    secret: string,
    password: string,
    private readonly expireMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.key = new TextEncoder().encode(secret);
    this.generation = passwordGeneration(secret, password);
  }

  async issue(ip: string): Promise<string> {
    const jwt = new SignJWT({ ip, pwg: this.generation }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt(Math.floor(this.now() / 1000));
    // Rounded up: a token lives at least Tonken_expire_time (rounding down could leave it almost nothing).
    if (this.expireMs > 0) jwt.setExpirationTime(Math.ceil((this.now() + this.expireMs) / 1000));
    return Buffer.from(await jwt.sign(this.key), 'utf8').toString('base64');
  }

  /**
   * The verdict on a token this node verified before (a map lookup and the
   * address and expiry comparisons), or undefined when it has not seen it:
   * the synchronous fast paths use this and leave unknown tokens to verify().
   */
  knownVerdict(token: string | undefined, ip: string): boolean | undefined {
    if (token === undefined || token === '' || token.length > 4096) return false;
    const cached = this.verified.get(token);
    if (cached === undefined) return undefined;
    return cached.ip === ip && (cached.exp === 0 || cached.exp > this.now());
  }

  /** True if the token is ours, unexpired and was issued to this IP. */
  async verify(token: string | undefined, ip: string): Promise<boolean> {
    const known = this.knownVerdict(token, ip);
    if (known !== undefined || token === undefined) return known ?? false;
    const jwt = unwrap(token);
    if (jwt === null) return false;
    try {
      const { payload } = await jwtVerify(jwt, this.key, {
        algorithms: ['HS256'],
        currentDate: new Date(this.now()),
      });
      if (typeof payload.ip !== 'string' || payload.pwg !== this.generation) return false;
      const exp = typeof payload.exp === 'number' ? payload.exp * 1000 : 0;
      this.verified.set(token, { ip: payload.ip, exp });
      return payload.ip === ip;
    } catch {
      return false;
    }
  }
}

/**
 * The token claim that ties a token to the password it was issued under: an
 * HMAC of the password keyed by the token secret, truncated to 128 bits,
 * base64url. It says nothing about the password to whoever lacks the secret,
 * and it differs as soon as the password does.
 */
export function passwordGeneration(secret: string, password: string): string {
  return createHmac('sha256', secret).update('owlcache token password generation\0').update(password).digest().subarray(0, 16).toString('base64url');
}

/**
 * A JWT in canonical base64url only (and, wrapped, in canonical base64): trailing
 * bits or characters after the padding that a decoder ignores could otherwise
 * give one token many accepted spellings.
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
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t)) return null;
  const bytes = Buffer.from(t, 'base64');
  if (bytes.toString('base64') !== t) return null;
  return canonicalJwt(bytes.toString('utf8'));
}

/** Shared with the RESP front end; kept exported here for the HTTP code. */
export { passwordMatches } from '../auth.js';

/** The guard every password check goes through (shared with the RESP front end). */
export { PassGuard, type PassCheckOutcome } from '../pass-guard.js';
