/**
 * Create times as nodes report them, kept to the nanosecond (bigint ns since
 * the epoch) so "newest copy" compares exactly what each node said.
 */

const GO_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))? ([+-])(\d{2})(\d{2})(?: [A-Za-z0-9+-]+)?(?: m=[+-]?\d+(?:\.\d+)?)?$/;

/**
 * Parses Go's time.String() form, the `Keycreatetime` header:
 * `2026-11-22 10:13:54.172891543 +0000 UTC`, with any zone offset, with or
 * without the original's monotonic suffix (` m=+40.44…`). Null for Go's zero
 * time, a missing header or anything unparsable.
 */
export function parseGoTime(text: string | undefined): bigint | null {
  if (text === undefined) return null;
  const m = GO_TIME.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (y <= 1) return null;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, s, 0);
  const offsetMin = (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  const ms = date.getTime() - offsetMin * 60_000;
  const frac = BigInt((m[7] ?? '').padEnd(9, '0') || '0');
  return BigInt(ms) * 1_000_000n + frac;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function parts(ns: bigint): { date: string; time: string; frac: string } {
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const fracNs = ns % 1_000_000_000n;
  const f = fracNs.toString().padStart(9, '0').replace(/0+$/, '');
  return {
    date: `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
    frac: f === '' ? '' : `.${f}`,
  };
}

/** RFC 3339 in UTC as Go's RFC3339Nano prints it; null = Go's zero time. */
export function rfc3339NanoNs(ns: bigint | null): string {
  if (ns === null || ns <= 0n) return '0001-01-01T00:00:00Z';
  const p = parts(ns);
  return `${p.date}T${p.time}${p.frac}Z`;
}

/** Go's time.String() form, without the monotonic suffix; null = Go's zero time. */
export function goTimeStringNs(ns: bigint | null): string {
  if (ns === null || ns <= 0n) return '0001-01-01 00:00:00 +0000 UTC';
  const p = parts(ns);
  return `${p.date} ${p.time}${p.frac} +0000 UTC`;
}
