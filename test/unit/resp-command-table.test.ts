import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { aclCategories } from '../../src/api/resp/command-spec.js';
import { COMMAND_TABLE } from '../../src/api/resp/command-table.js';
import { repoRoot } from '../helpers/repo.js';

/** The command names the README lists under "Redis protocol": the first word of each `code` span of its bullet list. */
function readmeCommands(): string[] {
  const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
  const start = readme.indexOf('### Redis protocol');
  assert.ok(start >= 0, 'README has a "Redis protocol" section');
  const end = readme.indexOf('\n#', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const bullets = section
    .split('\n')
    .filter((line) => /^(- | {2}\S)/.test(line))
    .join('\n');
  const names = [...bullets.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.split(' ')[0]!);
  for (const n of names) assert.match(n, /^[A-Z]+$/, `README list entry ${n}`);
  return names;
}

describe('Redis command table', () => {
  test('the README lists exactly the commands of the table, each once', () => {
    const listed = readmeCommands();
    assert.equal(new Set(listed).size, listed.length, `listed twice: ${listed.filter((n, i) => listed.indexOf(n) !== i).join(', ')}`);
    const inTable = [...COMMAND_TABLE.keys()].map((n) => n.toUpperCase());
    assert.deepEqual(
      { notInReadme: inTable.filter((n) => !listed.includes(n)).sort(), notInTable: listed.filter((n) => !inTable.includes(n)).sort() },
      { notInReadme: [], notInTable: [] },
    );
  });

  test("every entry is well formed, as Redis's table would be", () => {
    for (const [name, spec] of COMMAND_TABLE) {
      assert.equal(spec.name, name);
      assert.match(name, /^[a-z]+$/);
      assert.notEqual(spec.arity, 0, name);
      assert.ok(!(spec.flags.includes('readonly') && spec.flags.includes('write')), `${name}: readonly and write`);
      assert.equal(new Set(spec.flags).size, spec.flags.length, `${name}: a flag twice`);
      const [first, last, step] = spec.keys;
      if (first === 0) assert.deepEqual(spec.keys, [0, 0, 0], name);
      else {
        assert.ok(step >= 1 && (last < 0 || last >= first), `${name}: key positions ${spec.keys.join(',')}`);
        // A key position the arity allows to be missing would make COMMAND GETKEYS lie.
        assert.ok(Math.abs(spec.arity) > first, `${name}: first key beyond the arity`);
      }
      // As in Redis, the flushes are the writes without key arguments.
      if (spec.flags.includes('write') && !['flushall', 'flushdb'].includes(name)) assert.ok(first > 0, `${name}: a write names its keys`);
      const categories = aclCategories(spec);
      assert.equal(categories.includes('@fast'), !categories.includes('@slow'), name);
    }
  });
});
