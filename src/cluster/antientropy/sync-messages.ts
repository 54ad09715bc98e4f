import { Packr } from 'msgpackr';
import { GROUPS, LEAVES, LEAVES_PER_GROUP } from '../../store/digest.js';

/**
 * The push-pull exchange's messages (msgpack over signed HTTP POST
 * /internal/sync). The initiator drives; the responder answers each step from
 * its store. Everything from the wire is validated here before use.
 *
 *  root   {op, root, lists}          → {equal, groups?, lists?}
 *  leaves {op, groups: number[]}     → {leaves: string[][]}        (one array of leaf hashes per group asked)
 *  keys   {op, leaves: number[]}     → {metas: Meta[]}             (key + versions of every entry in those leaves)
 *  get    {op, keys: string[]}       → {records: RecordArray[], rest: string[]}  (rest: not sent, over the byte budget)
 *  put    {op, records: RecordArray[]} → {applied, newer?: RecordArray[]}  (newer: guards of keys that expired here under a newer write)
 *  lists  {op, lists}                → {}                          (the initiator's node lists, when they differed)
 */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Key and register versions of one entry: [key, vv.t, vv.c, vv.n, ev.t, ev.c, ev.n, hollow]. */
export type Meta = [string, number, number, string, number, number, string, 0 | 1];

export type SyncRequest =
  | { op: 'root'; root: string; lists: string }
  | { op: 'leaves'; groups: number[] }
  | { op: 'keys'; leaves: number[] }
  | { op: 'get'; keys: string[] }
  | { op: 'put'; records: unknown[] }
  | { op: 'lists'; lists: unknown };

export class SyncProtocolError extends Error {}

const isIntIn = (n: unknown, max: number): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) < max;

export function parseRequest(body: Buffer, limits: { maxKeys: number }): SyncRequest {
  let m: unknown;
  try {
    m = packr.unpack(body);
  } catch {
    throw new SyncProtocolError('not msgpack');
  }
  if (typeof m !== 'object' || m === null) throw new SyncProtocolError('not an object');
  const o = m as Record<string, unknown>;
  switch (o.op) {
    case 'root':
      if (typeof o.root !== 'string' || typeof o.lists !== 'string') break;
      return { op: 'root', root: o.root, lists: o.lists };
    case 'leaves':
      if (!Array.isArray(o.groups) || o.groups.length > GROUPS || !o.groups.every((g) => isIntIn(g, GROUPS))) break;
      return { op: 'leaves', groups: o.groups as number[] };
    case 'keys':
      if (!Array.isArray(o.leaves) || o.leaves.length > LEAVES || !o.leaves.every((l) => isIntIn(l, LEAVES))) break;
      return { op: 'keys', leaves: o.leaves as number[] };
    case 'get':
      if (!Array.isArray(o.keys) || o.keys.length > limits.maxKeys || !o.keys.every((k) => typeof k === 'string')) break;
      return { op: 'get', keys: o.keys as string[] };
    case 'put':
      if (!Array.isArray(o.records) || o.records.length > limits.maxKeys) break;
      return { op: 'put', records: o.records };
    case 'lists':
      return { op: 'lists', lists: o.lists };
  }
  throw new SyncProtocolError(`bad ${String(o.op)} request`);
}

export function isMeta(m: unknown): m is Meta {
  return (
    Array.isArray(m) &&
    m.length === 8 &&
    typeof m[0] === 'string' &&
    Number.isSafeInteger(m[1]) &&
    Number.isSafeInteger(m[2]) &&
    typeof m[3] === 'string' &&
    Number.isSafeInteger(m[4]) &&
    Number.isSafeInteger(m[5]) &&
    typeof m[6] === 'string' &&
    (m[7] === 0 || m[7] === 1)
  );
}

export function isHashList(x: unknown, n: number): x is string[] {
  return Array.isArray(x) && x.length === n && x.every((h) => typeof h === 'string' && /^[0-9a-f]{16}$/.test(h));
}

export { GROUPS, LEAVES_PER_GROUP };
