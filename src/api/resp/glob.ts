/**
 * Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): `*`, `?`, `[abc]`,
 * `[^a-z]`, and `\` to take the next character literally. Matching runs in
 * O(pattern × key) with the classic single-backtrack-point algorithm, so no
 * pattern can make it explode the way a backtracking regular expression can.
 */

type Token = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; c: number } | { kind: 'set'; negate: boolean; ranges: number[] };

function codePoints(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) out.push(ch.codePointAt(0)!);
  return out;
}

function compile(pattern: string): Token[] {
  const p = codePoints(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === 0x2a) {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === 0x3f) {
      tokens.push({ kind: 'any' });
    } else if (c === 0x5c && i + 1 < p.length) {
      tokens.push({ kind: 'char', c: p[++i]! });
    } else if (c === 0x5b) {
      const close = findClose(p, i + 1);
      if (close === -1) {
        tokens.push({ kind: 'char', c });
        continue;
      }
      let j = i + 1;
      const negate = p[j] === 0x5e;
      if (negate) j++;
      const ranges: number[] = [];
      while (j < close) {
        let lo = p[j]!;
        if (lo === 0x5c && j + 1 < close) lo = p[++j]!;
        if (j + 2 < close && p[j + 1] === 0x2d) {
          let hi = p[j + 2]!;
          if (hi === 0x5c && j + 3 < close) hi = p[++j + 2]!;
          ranges.push(Math.min(lo, hi), Math.max(lo, hi));
          j += 3;
        } else {
          ranges.push(lo, lo);
          j += 1;
        }
      }
      tokens.push({ kind: 'set', negate, ranges });
      i = close;
    } else {
      tokens.push({ kind: 'char', c });
    }
  }
  return tokens;
}

/** Index of the `]` closing a set that starts at `from` (a `]` right after `[` or `[^` is a member), or -1. */
function findClose(p: number[], from: number): number {
  let j = from;
  if (p[j] === 0x5e) j++;
  if (p[j] === 0x5d) j++;
  for (; j < p.length; j++) {
    if (p[j] === 0x5c) j++;
    else if (p[j] === 0x5d) return j;
  }
  return -1;
}

function matchOne(t: Token, c: number): boolean {
  switch (t.kind) {
    case 'any':
      return true;
    case 'char':
      return t.c === c;
    case 'set': {
      let inside = false;
      for (let k = 0; k < t.ranges.length; k += 2) {
        if (c >= t.ranges[k]! && c <= t.ranges[k + 1]!) {
          inside = true;
          break;
        }
      }
      return inside !== t.negate;
    }
    default:
      return false;
  }
}

/** A compiled pattern; `prefix` is the literal text every match begins with (a store walk can skip what lacks it). */
export interface Matcher {
  (text: string): boolean;
  readonly prefix: string;
}

/** The text of the literal characters the tokens from `from` on run through (`step` 1) or back through (`step` -1), and their count. */
function literalRun(tokens: readonly Token[], from: number, step: 1 | -1): { text: string; count: number } {
  const chars: string[] = [];
  for (let i = from; i >= 0 && i < tokens.length; i += step) {
    const t = tokens[i]!;
    if (t.kind !== 'char') break;
    chars.push(String.fromCodePoint(t.c));
  }
  if (step === -1) chars.reverse();
  return { text: chars.join(''), count: chars.length };
}

export function globMatcher(pattern: string): Matcher {
  const tokens = compile(pattern);
  const prefix = literalRun(tokens, 0, 1);
  return Object.assign(matcherOf(tokens, prefix), { prefix: prefix.text });
}

function matcherOf(tokens: readonly Token[], prefix: { text: string; count: number }): (text: string) => boolean {
  const rest = tokens.length - prefix.count;
  if (rest === 0) return (text) => text === prefix.text;
  if (rest === 1 && tokens.at(-1)!.kind === 'star') return (text) => text.startsWith(prefix.text);
  // Most keys a walk meets lack the pattern's literal start or end, and are
  // refused by those alone. Past the start, the general walk steps through
  // code points in place.
  const suffix = literalRun(tokens, tokens.length - 1, -1).text;
  return (text) => {
    if (!text.startsWith(prefix.text) || !text.endsWith(suffix)) return false;
    const n = text.length;
    let ti = prefix.count;
    let si = prefix.text.length;
    let starT = -1;
    let starS = 0;
    while (si < n) {
      const t = tokens[ti];
      const c = text.codePointAt(si)!;
      if (t !== undefined && t.kind === 'star') {
        starT = ti++;
        starS = si;
      } else if (t !== undefined && matchOne(t, c)) {
        ti++;
        si += c > 0xffff ? 2 : 1;
      } else if (starT !== -1) {
        ti = starT + 1;
        starS += text.codePointAt(starS)! > 0xffff ? 2 : 1;
        si = starS;
      } else {
        return false;
      }
    }
    while (ti < tokens.length && tokens[ti]!.kind === 'star') ti++;
    return ti === tokens.length;
  };
}
