import { Redis } from 'ioredis';

/**
 * An ioredis client on 127.0.0.1 that fails fast instead of reconnecting or
 * retrying (a test or benchmark wants the error), connected before it returns.
 * `password` null: no AUTH and no ready check (INFO would need AUTH first).
 */
export async function redisClient(port: number, opts: { password?: string | null; commandTimeoutMs?: number } = {}): Promise<Redis> {
  const r = lazyRedisClient(port, opts);
  await r.connect();
  return r;
}

/** The same client, not connected yet: it connects on its first command. */
export function lazyRedisClient(port: number, opts: { password?: string | null; commandTimeoutMs?: number } = {}): Redis {
  const password = opts.password ?? null;
  const r = new Redis({
    host: '127.0.0.1',
    port,
    ...(password === null ? { enableReadyCheck: false } : { password }),
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 5000,
    commandTimeout: opts.commandTimeoutMs ?? 10_000,
  });
  r.on('error', () => {});
  return r;
}
