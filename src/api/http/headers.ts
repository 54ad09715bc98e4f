/**
 * Header values the HTTP routes share. The two JSON content types differ on
 * purpose: Go OwlCache's `/data/` answers carry `application/json;
 * charset=utf-8;`, trailing `;` included, and a client may compare the header
 * as a string, so `/data/` envelopes (and the `/cluster/` answers beside them)
 * keep that spelling; `/server/` and `/group_data/` answer the plain one. Each
 * route's type is part of the wire format (docs/protocol.md).
 */

/** `/data/` envelopes and `/cluster/` answers: Go OwlCache's spelling, trailing `;` included. */
export const DATA_JSON_TYPE = 'application/json; charset=utf-8;';

/** `/server/` answers and `/group_data/`'s `valuedata=info` list. */
export const JSON_TYPE = 'application/json; charset=utf-8';

/** Header values must be printable latin1; other keys are percent-encoded there. */
export function headerSafe(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : encodeURIComponent(text);
}
