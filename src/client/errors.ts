/**
 * The client's typed errors. Each names the node(s) it came from, so a caller
 * (or a shell user) sees where a request went.
 */

export class OwlError extends Error {
  override name = 'OwlError';
}

/** The key is absent, deleted or expired (a 404 from the node that answered). */
export class OwlNotFound extends OwlError {
  override name = 'OwlNotFound';
  constructor(
    readonly key: string,
    readonly node: string,
  ) {
    super(`${JSON.stringify(key)} not found (asked ${node})`);
  }
}

/** The node refused the password or token (401), also after a fresh token was asked for. */
export class OwlAuthError extends OwlError {
  override name = 'OwlAuthError';
  constructor(
    readonly node: string,
    detail: string,
  ) {
    super(`${node}: ${detail}`);
  }
}

/** One failed attempt: the node and why. */
export interface FailedAttempt {
  node: string;
  error: string;
}

/** Every node tried failed (connection error, timeout or 5xx), or the call's time ran out. */
export class OwlUnavailable extends OwlError {
  override name = 'OwlUnavailable';
  constructor(readonly tried: readonly FailedAttempt[]) {
    super(tried.length === 0 ? 'no node to ask' : `no node answered; tried ${tried.map((t) => `${t.node} (${t.error})`).join(', ')}`);
  }

  /** The nodes tried, in order, each once. */
  get nodes(): string[] {
    return [...new Set(this.tried.map((t) => t.node))];
  }
}

/** The node answered but refused the request (a 4xx other than 401 and 404): bad input, a conflict. */
export class OwlRequestError extends OwlError {
  override name = 'OwlRequestError';
  constructor(
    readonly status: number,
    readonly node: string,
    message: string,
    /** The node's answer (its JSON document when it sent one). */
    readonly body: unknown,
  ) {
    super(`${node} answered ${status}: ${message}`);
  }
}
