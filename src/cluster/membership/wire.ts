/**
 * swim 0.6.0's datagram format, read strictly. swim's own reader trusts what it
 * decodes (a `null` update crashes the process, nested compounds recurse), so
 * every datagram is parsed and checked here, in full, before swim sees any of it;
 * swim only receives clean copies of well-formed messages.
 *
 *   message  = type u8, msgpack body
 *   compound = 0 u8, count u16le, count × (length u16le, message)
 */
import { parseHostPort } from './address.js';
import type { MemberMeta } from './types.js';

export const MessageType = {
  Compound: 0,
  Ping: 10,
  PingReq: 11,
  Sync: 12,
  Ack: 13,
  Update: 14,
} as const;

/** swim's member states, plus Left, which this layer adds for graceful leave. */
export const WireState = {
  Alive: 0,
  Suspect: 1,
  Faulty: 2,
  Left: 3,
} as const;

export interface WireMember {
  host: string;
  state: number;
  incarnation: number;
  meta: MemberMeta | undefined;
}

export type WireMessage =
  | { type: typeof MessageType.Ping | typeof MessageType.Ack; data: { seq: number } }
  | { type: typeof MessageType.PingReq; data: { seq: number; destination: string } }
  | { type: typeof MessageType.Sync | typeof MessageType.Update; data: WireMember };

const MAX_COMPOUND = 512;

export class MalformedError extends Error {}

function fail(why: string): never {
  throw new MalformedError(why);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function seqOf(v: unknown): number {
  if (!isRecord(v)) fail('body is not a map');
  const seq = v.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) fail('bad seq');
  return seq;
}

function hostOf(v: unknown): string {
  if (typeof v !== 'string' || parseHostPort(v) === null) fail('bad host');
  return v;
}

/** Valid metadata, copied field by field; extra fields from newer versions are ignored. */
export function metaOf(v: unknown): MemberMeta | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) fail('meta is not a map');
  const { name, http, data, proto } = v;
  if (typeof name !== 'string' || name.length > 256) fail('bad meta.name');
  if (typeof http !== 'string' || http.length > 300) fail('bad meta.http');
  if (typeof data !== 'string' || data.length > 300) fail('bad meta.data');
  if (typeof proto !== 'number' || !Number.isSafeInteger(proto) || proto < 0) fail('bad meta.proto');
  return { name, http, data, proto };
}

export function memberOf(v: unknown): WireMember {
  if (!isRecord(v)) fail('member is not a map');
  const state = v.state;
  const incarnation = v.incarnation;
  if (typeof state !== 'number' || !Number.isInteger(state) || state < WireState.Alive || state > WireState.Left) fail('bad state');
  if (typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 0) fail('bad incarnation');
  return { host: hostOf(v.host), state, incarnation, meta: metaOf(v.meta) };
}

function messageOf(buf: Buffer, decode: (b: Buffer) => unknown): WireMessage {
  if (buf.length < 2) fail('message too short');
  const type = buf[0];
  const body = decode(buf.subarray(1));
  switch (type) {
    case MessageType.Ping:
    case MessageType.Ack:
      return { type, data: { seq: seqOf(body) } };
    case MessageType.PingReq: {
      const seq = seqOf(body);
      return { type, data: { seq, destination: hostOf((body as Record<string, unknown>).destination) } };
    }
    case MessageType.Sync: {
      // swim stores a Sync's record as it comes, whatever its state: only a live node syncs.
      const data = memberOf(body);
      if (data.state !== WireState.Alive) fail('sync from a member that is not alive');
      return { type, data };
    }
    case MessageType.Update:
      return { type, data: memberOf(body) };
    default:
      return fail(`unknown message type ${String(type)}`);
  }
}

/** All messages of one datagram, or a MalformedError: a datagram is taken whole or not at all. */
export function parseDatagram(buf: Buffer, decode: (b: Buffer) => unknown): WireMessage[] {
  if (buf.length < 1) fail('empty');
  if (buf[0] !== MessageType.Compound) return [messageOf(buf, decode)];
  if (buf.length < 3) fail('compound too short');
  const count = buf.readUInt16LE(1);
  if (count === 0 || count > MAX_COMPOUND) fail('bad compound count');
  const out: WireMessage[] = [];
  let at = 3;
  for (let i = 0; i < count; i++) {
    if (at + 2 > buf.length) fail('truncated compound');
    const len = buf.readUInt16LE(at);
    at += 2;
    if (at + len > buf.length) fail('truncated compound');
    const part = buf.subarray(at, at + len);
    if (part.length > 0 && part[0] === MessageType.Compound) fail('nested compound');
    out.push(messageOf(part, decode));
    at += len;
  }
  if (at !== buf.length) fail('trailing bytes');
  return out;
}

/** A single message as swim frames it. */
export function frame(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), body]);
}
