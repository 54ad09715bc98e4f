import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels up from src/ or dist/src/). */
function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'owlcache' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
/** Value of the Server header on every HTTP answer, as the original sends it. */
export const SERVER_HEADER = `owlcache ${VERSION}`;
