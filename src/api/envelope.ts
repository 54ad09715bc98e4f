/**
 * OwlCache's JSON answer (docs/protocol.md, "The envelope"), shared by the
 * HTTP and TCP front ends, and the time formats the original prints.
 */

export const RESULTS = {
  200: 'SUCCESS',
  401: 'NOT_PASS',
  404: 'NOT_FOUND',
  413: 'ERROR',
  500: 'ERROR',
  501: 'UNKNOWN_COMMAND',
  503: 'ERROR',
} as const;

export type Status = keyof typeof RESULTS;

export interface Envelope {
  Cmd: string;
  Status: Status;
  Results: (typeof RESULTS)[Status];
  Key: string;
  Data: unknown;
  ResponseHost: string;
  KeyCreateTime: string;
  /** Only on errors: why (an addition to the original's fields, placed last). */
  Message?: string;
}

export function envelope(
  cmd: string,
  status: Status,
  key: string,
  data: unknown,
  responseHost: string,
  createdMicros = 0,
  message?: string,
): Envelope {
  const e: Envelope = {
    Cmd: cmd,
    Status: status,
    Results: RESULTS[status],
    Key: key,
    Data: data,
    ResponseHost: responseHost,
    KeyCreateTime: rfc3339Nano(createdMicros),
  };
  if (message !== undefined) e.Message = message;
  return e;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Go trims trailing zeros of the fraction (its .999999999 layouts). */
function fraction(micros: number): string {
  const f = String(((micros % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0').replace(/0+$/, '');
  return f === '' ? '' : `.${f}`;
}

function utcParts(micros: number): string[] {
  const d = new Date(Math.floor(micros / 1000));
  return [pad(d.getUTCFullYear(), 4), pad(d.getUTCMonth() + 1), pad(d.getUTCDate()), pad(d.getUTCHours()), pad(d.getUTCMinutes()), pad(d.getUTCSeconds())];
}

/** RFC 3339 in UTC as Go's RFC3339Nano prints it; 0 = Go's zero time. */
export function rfc3339Nano(micros: number): string {
  if (micros <= 0) return '0001-01-01T00:00:00Z';
  const [y, mo, d, h, mi, s] = utcParts(micros);
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction(micros)}Z`;
}

/** Go's time.String() form used in the Keycreatetime header, without the monotonic suffix. */
export function goTimeString(micros: number): string {
  if (micros <= 0) return '0001-01-01 00:00:00 +0000 UTC';
  const [y, mo, d, h, mi, s] = utcParts(micros);
  return `${y}-${mo}-${d} ${h}:${mi}:${s}${fraction(micros)} +0000 UTC`;
}
