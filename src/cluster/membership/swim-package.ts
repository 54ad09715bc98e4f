/**
 * Loads `swim` after checking that what is installed is what patches.ts and
 * wire.ts were written for: swim at exactly SWIM_VERSION, and under it the two
 * packages that package.json's `overrides` substitute for swim's own
 * dependencies (docs/architecture.md, "swim patches"). A plain `npm install`
 * honours the overrides, but a lock file written without them, a different
 * package manager or a vendored copy can bring back swim's originals: native
 * addons that no longer build, or silently another codec on the wire.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SwimCtor } from './swim-types.js';

export const SWIM_VERSION = '0.6.0';

/** One entry of package.json's `overrides`, as swim must see it. */
export interface SwimOverride {
  /** The name swim requires. */
  request: string;
  /** The package that must answer that require. */
  name: string;
  /** Its major version (the API swim calls stays the same within it). */
  major: number;
}

export const SWIM_OVERRIDES: readonly SwimOverride[] = [
  { request: 'msgpack', name: 'msgpackr', major: 1 },
  { request: 'farmhash', name: 'farmhash', major: 5 },
];

export interface PackageJson {
  name?: unknown;
  version?: unknown;
}

/** Where the installed packages are looked up; swapped in tests. */
export interface SwimInstall {
  /** swim's own package.json. */
  swim(): PackageJson;
  /** The package.json of the package a `require(request)` inside swim gets. */
  dependency(request: string): PackageJson;
}

function readJson(file: string): PackageJson {
  return JSON.parse(readFileSync(file, 'utf8')) as PackageJson;
}

/**
 * The package.json nearest above a resolved entry file. Resolving
 * `msgpack/package.json` directly fails: msgpackr's `exports` do not list it.
 */
function packageJsonAbove(entry: string): PackageJson {
  let dir = dirname(entry);
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return readJson(candidate);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${entry}`);
    dir = parent;
  }
}

const require = createRequire(import.meta.url);

/** The packages as Node resolves them from this module and from swim's entry file. */
export const nodeSwimInstall: SwimInstall = {
  swim: () => readJson(require.resolve('swim/package.json')),
  dependency: (request) => packageJsonAbove(createRequire(require.resolve('swim')).resolve(request)),
};

const majorOf = (version: unknown): number => (typeof version === 'string' ? Number(/^(\d+)\./.exec(version)?.[1] ?? NaN) : NaN);

/** Throws an error naming what to fix if the installed swim is not the one this layer patches. */
export function checkSwimInstall(install: SwimInstall): void {
  const swim = install.swim();
  if (swim.version !== SWIM_VERSION) {
    // patches.ts rewrites swim internals of this exact version.
    throw new Error(`membership: swim ${SWIM_VERSION} required (patched at run time), found ${String(swim.version)}`);
  }
  for (const o of SWIM_OVERRIDES) {
    let found: PackageJson;
    try {
      found = install.dependency(o.request);
    } catch (err) {
      throw new Error(
        `membership: swim's require('${o.request}') does not resolve (${(err as Error).message}); ` +
          `package.json's "overrides" must map it to ${o.name}@${o.major}.x: reinstall with npm`,
      );
    }
    if (found.name !== o.name || majorOf(found.version) !== o.major) {
      throw new Error(
        `membership: swim's require('${o.request}') loads ${String(found.name)}@${String(found.version)}, ` +
          `expected ${o.name}@${o.major}.x from package.json's "overrides" (was the install made without them?)`,
      );
    }
  }
}

export function loadSwim(install: SwimInstall = nodeSwimInstall): SwimCtor {
  checkSwimInstall(install);
  return require('swim') as SwimCtor;
}
