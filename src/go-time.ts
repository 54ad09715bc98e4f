/**
 * Times in the forms Go OwlCache prints and reads (docs/protocol.md, "The
 * envelope"): RFC3339Nano in the JSON answers (`KeyCreateTime`) and Go's
 * time.String() in the `Keycreatetime` header. The store keeps create times in
 * microseconds; /group_data/ keeps what other nodes report to the nanosecond
 * (bigint ns), so "newest copy" compares exactly what each node said. Both are
 * printed by the same layouts.
 */

const GO_ZERO_RFC3339 = '0001-01-01T00:00:00Z';
const GO_ZERO_STRING = '0001-01-01 00:00:00 +0000 UTC';

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The date and time of the last second printed: every write answers the time of a new entry, mostly in the same second. */
let lastSecond = Number.NaN;
let lastDate = '';
let lastTime = '';

interface UtcParts {
  date: string;
  time: string;
  frac: string;
}

/** Date, time and fraction in UTC; the fraction's trailing zeros trimmed, as Go's .999999999 layouts do. */
function utcParts(ms: number, fractionDigits: string): UtcParts {
  printSecond(ms);
  return { date: lastDate, time: lastTime, frac: trimmedFraction(fractionDigits) };
}

/** Sets lastDate and lastTime to the second of `ms`. */
function printSecond(ms: number): void {
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    const d = new Date(second * 1000);
    lastDate = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    lastTime = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
    lastSecond = second;
  }
}

function trimmedFraction(digits: string): string {
  const f = digits.replace(/0+$/, '');
  return f === '' ? '' : `.${f}`;
}

/** The last microsecond time printed: a write's answer prints its create time twice (the envelope and the `Keycreatetime` header). */
let lastMicros = Number.NaN;
let lastMicroParts: UtcParts = { date: '', time: '', frac: '' };

function microParts(micros: number): UtcParts {
  if (micros === lastMicros) return lastMicroParts;
  const within = ((micros % 1_000_000) + 1_000_000) % 1_000_000;
  printSecond(Math.floor(micros / 1000));
  const frac = Number.isInteger(within) ? microFraction(within) : trimmedFraction(String(within).padStart(6, '0'));
  lastMicroParts = { date: lastDate, time: lastTime, frac };
  lastMicros = micros;
  return lastMicroParts;
}

/** `.123456` from 123456, trailing zeros trimmed without a regular expression (a write answers one per request). */
function microFraction(within: number): string {
  if (within === 0) return '';
  let f = within;
  let digits = 6;
  while (f % 10 === 0) {
    f /= 10;
    digits--;
  }
  return `.${String(f).padStart(digits, '0')}`;
}

function nanoParts(ns: bigint) {
  return utcParts(Number(ns / 1_000_000n), (ns % 1_000_000_000n).toString().padStart(9, '0'));
}

/** RFC 3339 in UTC as Go's RFC3339Nano prints it, from microseconds; 0 = Go's zero time. */
export function rfc3339Nano(micros: number): string {
  if (micros <= 0) return GO_ZERO_RFC3339;
  const p = microParts(micros);
  return `${p.date}T${p.time}${p.frac}Z`;
}

/** Go's time.String() form (the `Keycreatetime` header) from microseconds, without the monotonic suffix; 0 = Go's zero time. */
export function goTimeString(micros: number): string {
  if (micros <= 0) return GO_ZERO_STRING;
  const p = microParts(micros);
  return `${p.date} ${p.time}${p.frac} +0000 UTC`;
}

/** RFC 3339 in UTC as Go's RFC3339Nano prints it, from ns; null = Go's zero time. */
export function rfc3339NanoNs(ns: bigint | null): string {
  if (ns === null || ns <= 0n) return GO_ZERO_RFC3339;
  const p = nanoParts(ns);
  return `${p.date}T${p.time}${p.frac}Z`;
}

/** Go's time.String() form from ns, without the monotonic suffix; null = Go's zero time. */
export function goTimeStringNs(ns: bigint | null): string {
  if (ns === null || ns <= 0n) return GO_ZERO_STRING;
  const p = nanoParts(ns);
  return `${p.date} ${p.time}${p.frac} +0000 UTC`;
}

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
