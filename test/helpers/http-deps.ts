import { Commands, type Limits } from '../../src/api/commands.js';
import type { HttpDeps } from '../../src/api/http/context.js';
import type { TokenService } from '../../src/api/http/tokens.js';
import { PassGuard } from '../../src/api/pass-guard.js';
import type { Store } from '../../src/store/store.js';

/** The HTTP layer's dependencies over a bare store, as the unit tests of the HTTP routes use them (password `pw`, no CORS, no metrics). */
export function unitHttpDeps(store: Store, tokens: TokenService, limits: Limits): HttpDeps {
  return {
    commands: new Commands(store, limits),
    tokens,
    passGuard: new PassGuard({ baseDelayMs: 0, checksPerSecond: 0 }),
    password: 'pw',
    responseHost: () => '127.0.0.1:7721',
    limits,
    cors: { enabled: false, origin: '*' },
  };
}
