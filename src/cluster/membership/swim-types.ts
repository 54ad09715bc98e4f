/**
 * The parts of swim 0.6.0's internals this layer touches (swim ships no types).
 * Kept private to this folder: nothing else in the project sees swim.
 */
import type { EventEmitter } from 'node:events';
import type { MemberMeta } from './types.js';

export interface SwimMemberData {
  host: string;
  state: number;
  incarnation: number;
  meta?: MemberMeta | undefined;
}

export interface SwimMember extends SwimMemberData {
  data(): SwimMemberData;
  incarnate(data?: SwimMemberData, force?: boolean, preferCurrentMeta?: boolean): boolean;
}

export type SwimMemberCtor = new (data: SwimMemberData) => SwimMember;

export interface SwimMembership extends EventEmitter {
  local: SwimMember;
  suspectTimeout: number;
  preferCurrentMeta: boolean;
  hostToMember: Record<string, SwimMember>;
  hostToIterable: Record<string, SwimMember>;
  hostToFaulty: Record<string, SwimMember>;
  hostToSuspectTimeout: Record<string, NodeJS.Timeout | undefined>;
  /** bound at construction to the prototype's methods; replaced before start() to route through patches */
  updateListener: (data: SwimMemberData) => void;
  suspectListener: (member: SwimMember) => void;
  onUpdate(data: SwimMemberData): void;
  isLocal(host: string): boolean;
  sync(hosts: string[]): void;
  all(hasLocal: boolean, hasFaulty: boolean): SwimMemberData[];
  size(hasLocal: boolean): number;
  updateMeta(meta: MemberMeta): void;
}

export interface SwimNet extends EventEmitter {
  udp: { port: number; type: string; maxDgramSize: number };
  udpSocket: { close(cb?: () => void): void } | null;
  listen(callback: (err?: Error) => void): void;
  close(): void;
  sendBuffer(buffer: Buffer, host: string): void;
  sendMessage(message: { type: number; data?: unknown }, host: string): void;
}

export interface SwimDisseminator {
  disseminationFactor: number;
}

export interface SwimCodec {
  encode(obj: unknown): Buffer;
  decode(buf: Buffer): unknown;
}

export interface SwimInstance extends EventEmitter {
  membership: SwimMembership;
  net: SwimNet;
  disseminator: SwimDisseminator;
  codec: SwimCodec;
  bootstrap(hosts: string[], callback: (err?: Error) => void): void;
  leave(): void;
}

export interface SwimOptions {
  local: { host: string; meta?: MemberMeta; incarnation?: number };
  codec?: 'msgpack' | 'json';
  disseminationFactor?: number;
  interval?: number;
  joinTimeout?: number;
  pingTimeout?: number;
  pingReqTimeout?: number;
  pingReqGroupSize?: number;
  suspectTimeout?: number;
  udp?: { type?: string; maxDgramSize?: number };
  preferCurrentMeta?: boolean;
}

export type SwimCtor = new (opts: SwimOptions) => SwimInstance;
