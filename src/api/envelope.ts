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

/** `,"Status":…,"Results":…,"Key":` per status: the part of the envelope's text between Cmd and Key. */
const STATUS_TEXT = new Map<number, string>(
  Object.entries(RESULTS).map(([status, results]) => [Number(status), `,"Status":${status},"Results":${JSON.stringify(results)},"Key":`]),
);

/** The last ResponseHost quoted: one node answers with one or two (HTTP and TCP ports). */
let lastHost = '';
let lastHostJson = '""';

/**
 * `JSON.stringify(envelope(...))`, byte for byte, without building the object
 * and serialising it field by field (every write answers one): the fields in
 * envelope()'s order, each string quoted by JSON.stringify. Data other than a
 * string or null, and a status outside RESULTS, take the general route.
 */
export function envelopeJson(cmd: string, status: Status, key: string, data: unknown, responseHost: string, createdMicros = 0, message?: string): string {
  const statusText = STATUS_TEXT.get(status);
  if (statusText === undefined || (data !== null && typeof data !== 'string')) {
    return JSON.stringify(envelope(cmd, status, key, data, responseHost, createdMicros, message));
  }
  if (responseHost !== lastHost) {
    lastHostJson = JSON.stringify(responseHost);
    lastHost = responseHost;
  }
  const tail = message === undefined ? '}' : `,"Message":${JSON.stringify(message)}}`;
  return `{"Cmd":${JSON.stringify(cmd)}${statusText}${JSON.stringify(key)},"Data":${JSON.stringify(data)},"ResponseHost":${lastHostJson},"KeyCreateTime":"${rfc3339Nano(createdMicros)}"${tail}`;
}
