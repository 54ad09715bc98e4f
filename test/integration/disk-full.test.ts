import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, getToken, qs, request, restartNode, sleep, startNode, stopAllNodes, tempDir, waitFor, type NodeHandle } from '../helpers/node-process.js';

/**
 * A full disk, for real: the data directory on a 2 MiB tmpfs (needs root to
 * mount; skipped with the reason otherwise), filled to the last byte. Client
 * writes are refused with the reason on every port, reads go on, no file
 * appears per refused write, the condition is logged once (not per write),
 * and writes resume by themselves once space is freed.
 */

after(() => stopAllNodes());

function tryMount(dir: string): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (mounting a tmpfs needs it)';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return null;
  } catch (err) {
    return `mount -t tmpfs failed: ${(err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message}`;
  }
}

/** Writes to `path` until the file system refuses a single byte more. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 16, 4096, 1]) {
      const b = Buffer.alloc(size, 0x55);
      for (let i = 0; i < 10_000; i++) {
        try {
          writeSync(fd, b);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Sends one command to a raw socket and returns the first answer that `done` accepts (bounded). */
function ask(port: number, payload: string, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer in time: ${text}`));
    }, 10_000);
    s.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (done(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const resp = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
const cantWrite = (stderr: string) => stderr.split('\n').filter((l) => l.includes('cannot write to the append log')).length;

describe('disk full', () => {
  it('refuses writes with the reason, keeps serving reads, creates no files, logs once, resumes by itself', { timeout: 120_000 }, async (t) => {
    const mnt = join(tempDir('owlcache-diskfull-'), 'mnt');
    mkdirSync(mnt);
    const skip = tryMount(mnt);
    if (skip !== null) {
      console.log(`# disk-full test skipped: ${skip}`);
      t.skip(skip);
      return;
    }
    let h: NodeHandle | null = null;
    try {
      const dataDir = join(mnt, 'db');
      mkdirSync(dataDir, { mode: 0o700 });
      h = await startNode({ dataDir, settings: { RespPort: await freePort(), AppendLog: 1, AppendFsync: 1 } });
      const token = await getToken(h.httpPort);
      const set = (key: string, value: string) =>
        request(h!.httpPort, `/data/?${qs({ cmd: 'set', key, token })}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: `valuedata=${value}`,
        });
      const get = (key: string) => request(h!.httpPort, `/data/?${qs({ cmd: 'get', key, token })}`);
      assert.equal((await set('before', 'kept')).status, 200);

      fill(join(mnt, 'filler'));
      const files = readdirSync(dataDir).sort();
      // Each value needs new pages: the log's last, partly used page cannot take it.
      const big = 'b'.repeat(16 << 10);
      for (let i = 0; i < 25; i++) {
        const r = await set(`refused-${i}`, big);
        assert.equal(r.status, 500, r.text);
        assert.equal((JSON.parse(r.text) as { Status: number }).Status, 500, r.text);
        assert.match(r.text, /write refused.*ENOSPC/, r.text);
      }
      const tcp = await ask(h.tcpPort, `set refused-tcp ${big}\n`, (t) => t.split('\n').length > 2);
      assert.match(tcp.split('\n')[1]!, /"Status":500.*ENOSPC/);
      const pass = String(h.settings.Pass);
      const mset = await ask(
        h.respPort,
        resp('AUTH', pass) + resp('MSET', 'm-small', 'x', 'm-big', big) + resp('MGET', 'm-small', 'm-big'),
        (t) => t.split('\r\n').length > 5,
      );
      assert.match(mset, /^\+OK\r\n-ERR write refused[^\r]*ENOSPC[^\r]*\r\n\*2\r\n\$-1\r\n\$-1\r\n/, JSON.stringify(mset));

      const read = await get('before');
      assert.equal(read.status, 200);
      assert.equal(read.text, 'kept', 'reads go on');
      assert.equal((await get('refused-3')).status, 404, 'a refused write is not readable');
      await sleep(1500);
      assert.deepEqual(readdirSync(dataDir).sort(), files, 'no file appeared for the refused writes');
      assert.equal(cantWrite(h.stderr()), 1, `logged once, not per write:\n${h.stderr()}`);

      rmSync(join(mnt, 'filler'));
      // Nothing to restart or reconfigure: the next write goes through.
      await waitFor(
        'a write accepted after space is freed',
        async () => {
          const r = await set('after', 'written');
          return r.status === 200;
        },
        10_000,
        200,
      );
      assert.match(h.stderr(), /can be written again/);

      assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
      h = await restartNode(h);
      const token2 = await getToken(h.httpPort);
      for (const [key, want] of [
        ['before', 'kept'],
        ['after', 'written'],
      ] as const) {
        const r = await request(h.httpPort, `/data/?${qs({ cmd: 'get', key, token: token2 })}`);
        assert.equal(r.text, want, key);
      }
      assert.equal((await request(h.httpPort, `/data/?${qs({ cmd: 'get', key: 'refused-0', token: token2 })}`)).status, 404);
    } finally {
      await h?.stop('SIGKILL');
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      }
    }
  });
});
