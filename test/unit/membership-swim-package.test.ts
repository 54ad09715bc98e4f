// The run-time check of the installed swim: its exact version and the package.json overrides under it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SWIM_OVERRIDES,
  SWIM_VERSION,
  checkSwimInstall,
  loadSwim,
  nodeSwimInstall,
  type PackageJson,
  type SwimInstall,
} from '../../src/cluster/membership/swim-package.js';
import { repoRoot } from '../helpers/repo.js';

const GOOD: Record<string, PackageJson> = {
  msgpack: { name: 'msgpackr', version: '1.12.1' },
  farmhash: { name: 'farmhash', version: '5.0.1' },
};

/** An install that answers like a good one except where `changes` say otherwise (an Error = does not resolve). */
function install(swimVersion: string, changes: Record<string, PackageJson | Error> = {}): SwimInstall {
  return {
    swim: () => ({ name: 'swim', version: swimVersion }),
    dependency: (request) => {
      const found = changes[request] ?? GOOD[request];
      if (found === undefined || found instanceof Error) throw found ?? new Error(`Cannot find module '${request}'`);
      return found;
    },
  };
}

describe('swim install check', () => {
  it('passes on the packages installed here, and loads swim', () => {
    assert.doesNotThrow(() => checkSwimInstall(nodeSwimInstall));
    assert.equal(nodeSwimInstall.dependency('msgpack').name, 'msgpackr');
    assert.equal(typeof loadSwim(), 'function');
  });

  it('matches package.json: swim pinned exactly, one override per checked package', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      overrides: Record<string, string>;
    };
    assert.equal(pkg.dependencies.swim, SWIM_VERSION);
    assert.deepEqual(Object.keys(pkg.overrides).sort(), SWIM_OVERRIDES.map((o) => o.request).sort());
    for (const o of SWIM_OVERRIDES) {
      const spec = pkg.overrides[o.request]!;
      const expected = o.request === o.name ? `^${o.major}.` : `npm:${o.name}@^${o.major}.`;
      assert.ok(spec.startsWith(expected), `overrides.${o.request} = ${spec}, expected ${expected}…`);
    }
  });

  it('refuses another swim version', () => {
    assert.throws(() => checkSwimInstall(install('0.6.1')), /swim 0\.6\.0 required .*found 0\.6\.1/);
  });

  it("refuses swim's original msgpack, naming the overrides", () => {
    assert.throws(
      () => checkSwimInstall(install(SWIM_VERSION, { msgpack: { name: 'msgpack', version: '1.0.3' } })),
      /require\('msgpack'\) loads msgpack@1\.0\.3, expected msgpackr@1\.x from package\.json's "overrides"/,
    );
  });

  it('refuses a msgpackr of another major version', () => {
    assert.throws(() => checkSwimInstall(install(SWIM_VERSION, { msgpack: { name: 'msgpackr', version: '2.0.0' } })), /expected msgpackr@1\.x/);
  });

  it("refuses swim's original farmhash", () => {
    assert.throws(
      () => checkSwimInstall(install(SWIM_VERSION, { farmhash: { name: 'farmhash', version: '2.1.0' } })),
      /require\('farmhash'\) loads farmhash@2\.1\.0, expected farmhash@5\.x/,
    );
  });

  it('says so when an overridden package does not resolve at all', () => {
    assert.throws(
      () => checkSwimInstall(install(SWIM_VERSION, { msgpack: new Error("Cannot find module 'msgpack'") })),
      /require\('msgpack'\) does not resolve \(Cannot find module 'msgpack'\); package\.json's "overrides" must map it to msgpackr@1\.x/,
    );
  });

  it('loadSwim checks before it loads', () => {
    assert.throws(() => loadSwim(install(SWIM_VERSION, { msgpack: { name: 'msgpack', version: '1.0.3' } })), /"overrides"/);
  });
});
