import { rfc3339Nano } from '../go-time.js';

/**
 * OwlCache's JSON answer (docs/protocol.md, "The envelope"), shared by the
 * HTTP and TCP front ends.
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

export function envelope(cmd: string, status: Status, key: string, data: unknown, responseHost: string, createdMicros = 0, message?: string): Envelope {
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
