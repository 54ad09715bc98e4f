import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { AppendLogFormatError, AppendLogWriter, listLogs, readAppendLog } from '../../src/persistence/append-log.js';
import { logFileName } from '../../src/persistence/layout.js';
import type { EntryRecord } from '../../src/store/entry.js';
import { removeTempDirs, tempDir } from '../helpers/node-process.js';

after(removeTempDirs);
const tmp = () => tempDir('owl-log-');

function rec(i: number, size = 10): EntryRecord {
  const vv = { t: 1_000 + i, c: i % 3, n: 'node-a' };
  return { key: `key-${i}`, value: Buffer.alloc(size, i % 256), created: (1_000 + i) * 1000, vv, expireAt: i % 4 === 0 ? 5_000 + i : 0, ev: vv };
}

async function readAll(path: string, generation: number) {
  const out: EntryRecord[] = [];
  const res = await readAppendLog(path, generation, (r) => out.push(r));
  return { out, res };
}

describe('append log', () => {
  for (const policy of ['always', 'no', 1000] as const) {
    it(`keeps every appended record (AppendFsync ${policy})`, async () => {
      const dir = tmp();
      const w = AppendLogWriter.create(dir, 7, 'node-a', policy);
      const written = Array.from({ length: 200 }, (_, i) => rec(i, i * 7));
      for (const r of written) w.append(r);
      await w.sync();
      const { out, res } = await readAll(w.path, 7);
      assert.deepEqual(out, written);
      assert.equal(res.end.kind, 'complete');
      assert.equal(res.records, 200);
      await w.close();
      assert.throws(() => w.append(rec(1)), /closed/);
    });
  }

  it('writes the appends of one event-loop turn together, at the end of the turn', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 2, 'node-a', 1000);
    const headerOnly = statSync(w.path).size;
    for (let i = 0; i < 100; i++) w.append(rec(i));
    assert.equal(statSync(w.path).size, headerOnly, 'nothing written yet within the turn');
    await new Promise((r) => setImmediate(r));
    assert.equal(statSync(w.path).size, w.size);
    assert.equal((await readAll(w.path, 2)).out.length, 100);
    await w.close();
  });

  it('a process that exits right after appending (process.exit, uncaught error) still writes them', async () => {
    const dir = tmp();
    const mod = new URL('../../src/persistence/append-log.js', import.meta.url).href;
    const script = `
      const { AppendLogWriter } = await import(${JSON.stringify(mod)});
      const w = AppendLogWriter.create(${JSON.stringify(dir)}, 1, 'node-a', 'no');
      const vv = { t: 1, c: 0, n: 'node-a' };
      for (let i = 0; i < 10; i++) w.append({ key: 'k' + i, value: Buffer.from('v'), created: 1, vv, expireAt: 0, ev: vv });
      process.exit(0);`;
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0);
    assert.equal((await readAll(join(dir, logFileName(1)), 1)).out.length, 10);
  });

  it('creates files owner-only and never reuses a generation', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 1, 'node-a', 'no');
    assert.equal(statSync(w.path).mode & 0o777, 0o600);
    assert.throws(() => AppendLogWriter.create(dir, 1, 'node-a', 'no'), { code: 'EEXIST' });
    await w.close();
  });

  it('drops a record cut in half and keeps everything before it', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 3, 'node-a', 'no');
    for (let i = 0; i < 50; i++) w.append(rec(i));
    const before = w.size;
    w.append(rec(50, 4000));
    await w.close();
    const cut = before + Math.floor((w.size - before) / 2);
    truncateSync(w.path, cut);
    const { out, res } = await readAll(w.path, 3);
    assert.equal(out.length, 50);
    assert.deepEqual(out[49], rec(49));
    assert.equal(res.end.kind, 'torn');
    if (res.end.kind === 'torn') {
      assert.equal(res.end.offset, before);
      assert.equal(res.end.dropped, cut - before);
    }
  });

  it('drops a tail of garbage (a partly written frame header or random bytes)', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 4, 'node-a', 'no');
    for (let i = 0; i < 5; i++) w.append(rec(i));
    await w.close();
    appendFileSync(w.path, Buffer.from([0, 0, 0]));
    let r = await readAll(w.path, 4);
    assert.equal(r.out.length, 5);
    assert.equal(r.res.end.kind, 'torn');
    appendFileSync(w.path, Buffer.from('some random bytes that are not a frame at all'));
    r = await readAll(w.path, 4);
    assert.equal(r.out.length, 5);
    assert.equal(r.res.end.kind, 'torn');
  });

  it('reads a log that holds only its header, or not even that, as empty', async () => {
    const dir = tmp();
    const w = AppendLogWriter.create(dir, 5, 'node-a', 'no');
    await w.close();
    assert.deepEqual((await readAll(w.path, 5)).res, { generation: 5, records: 0, end: { kind: 'complete' }, damaged: [], lostRecords: 0 });
    truncateSync(w.path, 15);
    assert.equal((await readAll(w.path, 5)).res.end.kind, 'empty');
    truncateSync(w.path, 4);
    assert.equal((await readAll(w.path, 5)).res.end.kind, 'empty');
  });

  it('recognises a file that is not an append log, and a newer format', async () => {
    const dir = tmp();
    const path = join(dir, logFileName(9));
    writeFileSync(path, Buffer.alloc(100, 7));
    assert.equal((await readAll(path, 9)).res.end.kind, 'bad-magic');
    const w = AppendLogWriter.create(dir, 10, 'node-a', 'no');
    await w.close();
    const bytes = readFileSync(w.path);
    bytes.writeUInt32BE(2, 8);
    writeFileSync(w.path, bytes);
    await assert.rejects(readAll(w.path, 10), AppendLogFormatError);
  });

  it('lists generations in order, ignoring other files', async () => {
    const dir = tmp();
    for (const g of [12, 3, 100]) await AppendLogWriter.create(dir, g, 'n', 'no').close();
    writeFileSync(join(dir, 'append-12.log'), '');
    writeFileSync(join(dir, 'store.snapshot'), '');
    assert.deepEqual(
      listLogs(dir).map((l) => l.generation),
      [3, 12, 100],
    );
  });
});
