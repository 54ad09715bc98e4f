import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Password checks shared by the front ends that take the node's password
 * (HTTP cmd=pass, RESP AUTH / HELLO AUTH).
 */

/** Constant-time password comparison (hashing first makes the lengths equal). */
export function passwordMatches(given: string | Buffer, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && expected !== '';
}
