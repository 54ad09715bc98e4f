/**
 * UTF-8 lengths and writes of the short strings of the per-write paths (keys,
 * node ids): for an ASCII string of up to SHORT_STRING characters a loop in
 * JavaScript costs less than the native call Buffer.byteLength / write make.
 */

/** Strings up to this long are measured and written by the loop when they are ASCII; longer ones natively. */
export const SHORT_STRING = 64;

/** Bytes of `s` in UTF-8. */
export function utf8Length(s: string): number {
  if (s.length > SHORT_STRING) return Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

/** Writes `s`, whose UTF-8 length `n` is (utf8Length), into `b` at `at`; returns where it ends. */
export function writeUtf8(s: string, n: number, b: Buffer, at: number): number {
  if (n === s.length && n <= SHORT_STRING) {
    // ASCII (a UTF-8 length equal to the UTF-16 length): byte by byte.
    for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
    return at + n;
  }
  return at + b.write(s, at, n, 'utf8');
}
