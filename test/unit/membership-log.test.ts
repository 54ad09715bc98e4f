import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeLogFile, openLogFile, setQuiet } from '../../src/log.js';
import { Nodes } from './membership-harness.test.js';

/** The membership layer logs through src/log.ts like every other part, so its lines reach the log file. */
describe('membership logging', () => {
  const dir = mkdtempSync(join(tmpdir(), 'owl-memlog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes its start and stop to the log file', async () => {
    setQuiet(true);
    openLogFile(dir);
    const nodes = new Nodes();
    let address = '';
    try {
      address = (await nodes.start('logged', [])).localAddress();
    } finally {
      await nodes.stopAll();
      await closeLogFile();
      setQuiet(false);
    }
    const text = readFileSync(join(dir, 'owlcache.log'), 'utf8');
    assert.match(text, new RegExp(`INFO \\[membership\\] ${address.replace(/[.[\]]/g, '\\$&')} started`));
    assert.match(text, /INFO \[membership\] .* stopped/);
  });
});
