/**
 * Whether b[start, end) is `word` (lower-case letters and `-`) in any case,
 * without making a string: a protocol keyword (a Redis command name, an HTTP
 * header name or token) read in place from a socket's bytes. Setting bit 0x20
 * lower-cases a letter; it also turns control characters into `-` and digits
 * (0x0d into `-`), so a word with `-` is compared only with bytes already known
 * to be printable.
 */
export function isWordAt(b: Uint8Array, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if ((b[start + i]! | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}
