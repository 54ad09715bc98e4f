/**
 * Who may run an operation: the holder of the node's token or password, in
 * any of the forms HarperDB, QED and OwlCache use. Every password check goes through
 * the node's one password guard (api/pass-guard.ts), so Basic auth is no
 * faster a way to guess than cmd=pass or AUTH.
 *
 *   token / owl_token query parameter, or `Authorization: Bearer <token>`   (OwlCache)
 *   `Api-key: <token>`                                                       (QED)
 *   `Authorization: Basic base64(admin:<Pass>)`                              (HarperDB, user `admin`)
 *
 * Credentials come from the request line and headers only, so a request is
 * judged before a byte of its body is read.
 */

export interface Credentials {
  authorization?: string | undefined;
  apiKey?: string | undefined;
  token?: string | undefined;
  ip: string;
}

export interface AuthDeps {
  verifyToken(token: string, ip: string): Promise<boolean>;
  /** The password guard's check: `matches` runs in the address's turn. */
  checkPassword(ip: string, matches: () => boolean): Promise<'ok' | 'wrong' | 'busy'>;
  passwordMatches(given: string): boolean;
}

export const ADMIN_USER = 'admin';

export type AuthResult = { ok: true } | { ok: false; message: string };

const NONE = 'authentication required: a token (token= parameter, Authorization: Bearer, or Api-key header) or HTTP Basic admin:<password>';

export async function authenticate(deps: AuthDeps, c: Credentials): Promise<AuthResult> {
  const auth = (c.authorization ?? '').trim();
  const bearer = /^Bearer\s+(\S+)$/i.exec(auth);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth);
  if (auth !== '' && bearer === null && basic === null)
    return { ok: false, message: 'Authorization must be "Bearer <token>" or "Basic <base64 of admin:password>"' };
  if (basic !== null) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = i < 0 ? decoded : decoded.slice(0, i);
    const pass = i < 0 ? '' : decoded.slice(i + 1);
    // The user name is checked in the guard's turn too: a wrong name costs a guess like a wrong password.
    const outcome = await deps.checkPassword(c.ip, () => deps.passwordMatches(pass) && user === ADMIN_USER);
    if (outcome === 'ok') return { ok: true };
    if (outcome === 'busy') return { ok: false, message: 'too many password attempts are waiting; try again later' };
    return { ok: false, message: `wrong user name or password (the user is "${ADMIN_USER}")` };
  }
  const token = bearer?.[1] ?? c.apiKey?.trim() ?? c.token;
  if (token === undefined || token === '') return { ok: false, message: NONE };
  if (await deps.verifyToken(token, c.ip)) return { ok: true };
  return { ok: false, message: 'missing, wrong or expired token (get one with /data/?cmd=pass)' };
}
