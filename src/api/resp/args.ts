import { isUtf8 } from 'node:buffer';
import { isWordAt } from '../ascii-word.js';

/** Argument reading shared by the Redis command families, with Redis's error texts. */

export const ERR_SYNTAX = 'ERR syntax error';
export const ERR_INT = 'ERR value is not an integer or out of range';

/** Longest TTL accepted: 100 years, as the command layer's exptime. */
export const MAX_TTL_MS = 100 * 365 * 24 * 3600 * 1000;

export const lower = (b: Buffer) => b.toString('latin1').toLowerCase();

/** Whether `b` is the command name `word` (lower-case letters) in any case, without making a string: the pipeline's fast paths. */
export function isWord(b: Buffer, word: string): boolean {
  return isWordAt(b, 0, b.length, word);
}

/** Redis's strict integer syntax (no `+`, no spaces, no leading zeros); null if not one. */
export function parseInteger(b: Buffer): number | null {
  const s = b.toString('latin1');
  if (!/^-?(0|[1-9][0-9]{0,17})$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Thrown by keyOf; the dispatcher turns it into the error reply. */
export class KeyError extends Error {}

/** Keys are text in OwlCache (the same key as on HTTP and TCP), so they must be UTF-8. */
export function keyOf(b: Buffer): string {
  if (!isUtf8(b)) throw new KeyError('ERR invalid key: OwlCache keys must be valid UTF-8');
  return b.toString('utf8');
}

/** Redis's error for a subcommand with the wrong number of words, e.g. `client|setname`. */
export const wrongArity = (name: string) => `ERR wrong number of arguments for '${name}' command`;

/** Redis's error for an unknown subcommand of a container command. */
export const unknownSubcommand = (command: string, sub: Buffer) => `ERR unknown subcommand '${sub.toString('utf8').slice(0, 128)}'. Try ${command} HELP.`;
