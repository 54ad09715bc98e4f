/**
 * An operation that cannot be done, with the HTTP status and JSON body of its
 * answer. Field errors name the field, so a client sees what to fix.
 */
export class OpsError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return { error: this.message, ...this.extra };
  }
}

export function fieldError(field: string, why: string): OpsError {
  return new OpsError(400, `${field}: ${why}`, { field });
}
