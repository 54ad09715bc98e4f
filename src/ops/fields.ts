import { fieldError } from './errors.js';

/**
 * Typed reads of a request's fields (a JSON body, or the query string of a
 * GET), each failing with an error that names the field. Unknown fields are
 * ignored: HarperDB's and Kunlun's clients send fields this project has no use for.
 */
export type Input = Record<string, unknown>;

const MAX_STRING = 1024;

export function optString(input: Input, field: string): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw fieldError(field, `must be a string, not ${describe(v)}`);
  if (v.length > MAX_STRING) throw fieldError(field, `must be at most ${MAX_STRING} characters`);
  return v;
}

export function reqString(input: Input, field: string): string {
  const v = optString(input, field);
  if (v === undefined || v.trim() === '') throw fieldError(field, 'is required');
  return v.trim();
}

/** An integer; strings of digits count too (query strings carry only text). */
export function optInt(input: Input, field: string, min: number, max: number): number | undefined {
  let v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string' && /^-?\d{1,16}$/.test(v.trim())) v = Number(v.trim());
  if (typeof v !== 'number' || !Number.isInteger(v)) throw fieldError(field, `must be an integer, not ${describe(v)}`);
  if (v < min || v > max) throw fieldError(field, `must be between ${min} and ${max}, not ${v}`);
  return v;
}

export function optBool(input: Input, field: string): boolean | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (typeof v !== 'boolean') throw fieldError(field, `must be true or false, not ${describe(v)}`);
  return v;
}

export function optEnum<T extends string>(input: Input, field: string, values: readonly T[]): T | undefined {
  const v = optString(input, field);
  if (v === undefined) return undefined;
  if (!(values as readonly string[]).includes(v))
    throw fieldError(field, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}, not ${JSON.stringify(v)}`);
  return v as T;
}

export function reqEnum<T extends string>(input: Input, field: string, values: readonly T[]): T {
  const v = optEnum(input, field, values);
  if (v === undefined) throw fieldError(field, `is required (one of ${values.map((x) => JSON.stringify(x)).join(', ')})`);
  return v;
}

export function reqArray(input: Input, field: string, max: number): unknown[] {
  const v = input[field];
  if (v === undefined || v === null) throw fieldError(field, 'is required');
  if (!Array.isArray(v)) throw fieldError(field, `must be an array, not ${describe(v)}`);
  if (v.length > max) throw fieldError(field, `must have at most ${max} entries, not ${v.length}`);
  return v;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

export function isObject(v: unknown): v is Input {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
