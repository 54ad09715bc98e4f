import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * Debian's Chromium driven by playwright-core (no browser download: npm test
 * installs the `chromium` package when missing, scripts/test-prerequisites.sh). Every profile is a temp folder removed on close.
 */

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null. Where we are root it must be there (npm test installs it first). */
export function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  if (process.getuid?.() === 0) return null;
  return `${CHROMIUM} is not installed and this user cannot install it (apt-get install chromium, or run npm test as root)`;
}

/** Flags that keep Chromium off the network except for the pages a test opens. */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(viewport = { width: 1280, height: 800 }): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: npm test installs it when run as root (apt-get install -y chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'owlcache-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport,
      timeout: 30_000,
    });
    return {
      context,
      async close() {
        await context.close().catch(() => {});
        rmSync(profile, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
}
