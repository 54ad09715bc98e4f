/** The label words of a request's port and outcome, shared by every front end (no prom-client here: parts that count import only this and a type). */

export type RequestPort = 'http' | 'tcp' | 'resp';

/**
 * What became of a request, the same words on every port: `ok`, `not_found`
 * (a read of an absent key), `unauthorized` (no or a wrong token, NOAUTH),
 * `refused` (any other client error: bad arguments, unknown command, too
 * large), `error` (the node could not do it: 5xx, a failed write).
 */
export type RequestOutcome = 'ok' | 'not_found' | 'unauthorized' | 'refused' | 'error';

/** The outcome of an HTTP status (and of the OwlCache envelope's Status, on TCP). */
export function outcomeOfStatus(status: number): RequestOutcome {
  if (status < 400) return 'ok';
  if (status === 404) return 'not_found';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status < 500 || status === 501) return 'refused';
  return 'error';
}
