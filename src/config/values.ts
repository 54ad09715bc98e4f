import { isIP } from 'node:net';
import type { NumericSettingType, Range, SettingType } from './settings.js';

/** Converts one setting's text to its typed value; returns an error message instead of throwing. */
export function convertValue(type: SettingType, text: string): { ok: true; value: string | number | boolean } | { ok: false; error: string } {
  switch (type.kind) {
    case 'string':
    case 'secret':
      return { ok: true, value: text };
    case 'bool': {
      const t = text.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return { ok: true, value: true };
      if (['0', 'false', 'no', 'off', ''].includes(t)) return { ok: true, value: false };
      return { ok: false, error: 'must be 0 or 1' };
    }
    case 'int': {
      if (!/^-?\d+$/.test(text)) return { ok: false, error: `must be a whole number from ${type.min} to ${type.max}` };
      const n = Number(text);
      if (n < type.min || n > type.max) return { ok: false, error: `must be a whole number from ${type.min} to ${type.max}` };
      return { ok: true, value: n };
    }
    case 'size': {
      const n = parseSize(text);
      if (n === null) return { ok: false, error: `must be a size such as 1400, 64kb, 256mb or 1gb, ${rangeText(type, formatSize)}` };
      return inRange(type, n) ? { ok: true, value: n } : { ok: false, error: `is out of range: it must be ${rangeText(type, formatSize)}` };
    }
    case 'duration': {
      const n = parseDuration(text, type.unit);
      if (n === null) {
        return {
          ok: false,
          error: `must be a duration: a number of ${unitName(type.unit)}, or with a unit (500ms, 10s, 5m, 24h, 1d), ${rangeText(type, formatDuration)}`,
        };
      }
      return inRange(type, n) ? { ok: true, value: n } : { ok: false, error: `is out of range: it must be ${rangeText(type, formatDuration)}` };
    }
    case 'enum': {
      const hit = type.values.find((v) => v.toLowerCase() === text.toLowerCase());
      return hit === undefined ? { ok: false, error: `must be one of ${type.values.join(', ')}` } : { ok: true, value: hit };
    }
    case 'networks': {
      const parsed = parseNetworks(text);
      return typeof parsed === 'string' ? { ok: false, error: parsed } : { ok: true, value: text };
    }
    case 'fsync': {
      const t = text.toLowerCase();
      if (t === 'always' || t === 'no') return { ok: true, value: t };
      if (t === 'everysec') return { ok: true, value: 1000 };
      const n = parseDuration(text, 's');
      if (n === null || !inRange(type, n))
        return { ok: false, error: `must be always, no, or a number of seconds (e.g. 1) ${rangeText(type, formatDuration)}` };
      return { ok: true, value: n };
    }
  }
}

/** A numeric setting's accepted values, as error messages and the shipped conf say them. */
export function describeRange(type: NumericSettingType): string {
  if (type.kind === 'int') return `from ${type.min} to ${type.max}`;
  if (type.kind === 'fsync') return `always, no, or ${rangeText(type, formatDuration)}`;
  return rangeText(type, type.kind === 'size' ? formatSize : formatDuration);
}

function inRange(r: Range, n: number): boolean {
  return (r.zeroOff === true && n === 0) || (n >= r.min && n <= r.max);
}

export function rangeText(r: Range, fmt: (n: number) => string): string {
  return `${r.zeroOff ? '0 (off) or ' : ''}from ${fmt(r.min)} to ${fmt(r.max)}`;
}

/** Bytes in the largest unit that divides them: 1400, 64kb, 512mb. */
export function formatSize(bytes: number): string {
  for (const [suffix, mult] of [
    ['gb', 1024 ** 3],
    ['mb', 1024 ** 2],
    ['kb', 1024],
  ] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${suffix}`;
  }
  return String(bytes);
}

/** Milliseconds with the largest unit that divides them: 100ms, 1s, 10m, 24d. */
export function formatDuration(msValue: number): string {
  for (const suffix of ['d', 'h', 'm', 's'] as const) {
    const mult = DURATION_UNITS[suffix]!;
    if (msValue >= mult && msValue % mult === 0) return `${msValue / mult}${suffix}`;
  }
  return `${msValue}ms`;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "256mb" → bytes (binary multiples); null if unreadable. */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return null;
  const mult = SIZE_UNITS[m[2]!.toLowerCase()];
  if (mult === undefined) return null;
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : null;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "10s" → ms; a bare number is in `unit`; null if unreadable or negative. */
export function parseDuration(text: string, unit: 'ms' | 's' | 'min'): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!m) return null;
  const suffix = m[2]!.toLowerCase();
  const mult = suffix === '' ? DURATION_UNITS[unit] : DURATION_UNITS[suffix];
  if (mult === undefined) return null;
  const n = Math.round(Number(m[1]) * mult);
  return Number.isSafeInteger(n) ? n : null;
}

function unitName(unit: 'ms' | 's' | 'min'): string {
  return unit === 'ms' ? 'milliseconds' : unit === 's' ? 'seconds' : 'minutes';
}

/** One network of a CIDR list. */
export interface Network {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/**
 * "10.0.0.0/8, ::1/128" → networks (a bare address is one host); an error
 * message for the first entry that is not a network. Empty text = no network.
 */
export function parseNetworks(text: string): Network[] | string {
  const out: Network[] = [];
  for (const item of text.split(/[\s,]+/)) {
    if (item === '') continue;
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(item);
    const version = m === null ? 0 : isIP(m[1]!);
    if (m === null || version === 0)
      return `must be networks in CIDR form separated by commas (e.g. 127.0.0.1/32,10.0.0.0/8,::1/128); ${JSON.stringify(item)} is not one`;
    const max = version === 4 ? 32 : 128;
    const prefix = m[2] === undefined ? max : Number(m[2]);
    if (prefix > max) return `${JSON.stringify(item)}: the prefix length of an IPv${version} network is at most ${max}`;
    out.push({ address: m[1]!, prefix, family: version === 4 ? 'ipv4' : 'ipv6' });
  }
  return out;
}
