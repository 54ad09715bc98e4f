import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { status } from '../helpers/cluster.js';
import { getToken, qs, request, restartNode, runToExit, sleep, startNode, stopAllNodes, type NodeHandle, type HttpResult } from '../helpers/node-process.js';

/**
 * Issue 3: nothing acknowledged is lost on restart. Real node processes,
 * stopped with SIGTERM (final snapshot) or SIGKILL (append log only).
 */

// Handles stopped by a test leave stopAllNodes' list: their folders are removed here.
const folders = new Set<string>();
after(async () => {
  await stopAllNodes();
  for (const d of folders) rmSync(d, { recursive: true, force: true });
});
async function start(opts: Parameters<typeof startNode>[0] = {}): Promise<NodeHandle> {
  const h = await startNode(opts);
  folders.add(h.dir);
  return h;
}

// Keep-alive for speed; a fresh agent per node process, so no request goes out on a
// connection to a process that has just exited (a reuse race that ends in ECONNRESET).
let agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
after(() => agent.destroy());
function restart(h: NodeHandle): Promise<NodeHandle> {
  agent.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  return restartNode(h);
}

/** Deterministic bytes (every byte value occurs), so a mismatch is reproducible. */
function bytesFor(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let s = (i * 2654435761) >>> 0;
  for (let j = 0; j < size; j++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    b[j] = s >>> 24;
  }
  return b;
}

function pct(b: Buffer): string {
  let out = '';
  for (const x of b) out += `%${x < 16 ? '0' : ''}${x.toString(16)}`;
  return out;
}

async function set(h: NodeHandle, token: string, key: string, value: Buffer, exptime?: number): Promise<HttpResult> {
  const r = await request(h.httpPort, `/data/?${qs({ cmd: 'set', key, token, exptime })}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `valuedata=${pct(value)}`,
    agent,
  });
  assert.equal(r.status, 200, `set ${key}: ${r.text}`);
  return r;
}

const cmd = (h: NodeHandle, params: Record<string, string | number | undefined>) => request(h.httpPort, `/data/?${qs(params)}`, { agent });

/** Runs fn over 0..n-1 with `width` in flight at once. */
async function parallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

function newestLog(dataDir: string): string {
  const logs = readdirSync(dataDir)
    .filter((n) => /^append-\d{10}\.log$/.test(n))
    .sort();
  assert.ok(logs.length > 0, `no append log in ${dataDir}: ${readdirSync(dataDir).join(', ')}`);
  return join(dataDir, logs[logs.length - 1]!);
}

describe('persistence across restarts', () => {
  it('SIGTERM then restart: 10 000 keys byte-identical with their create times; expired and deleted ones gone', { timeout: 180_000 }, async () => {
    const h = await start();
    const token = await getToken(h.httpPort);
    const N = 10_000;
    const sizeOf = (i: number) => (i % 500 === 0 ? 100_000 : i % 50 === 0 ? 10_000 : (i * 37) % 1500);
    const kind = (i: number) => (i % 13 === 0 ? 'deleted' : i % 7 === 0 ? 'expires' : i % 11 === 0 ? 'ttl' : 'plain');
    const created = new Map<number, string>();
    await parallel(N, 16, async (i) => {
      const k = kind(i);
      const r = await set(h, token, `key-${i}`, bytesFor(i, sizeOf(i)), k === 'expires' ? 1 : k === 'ttl' ? 3600 : undefined);
      created.set(i, r.headers.keycreatetime as string);
      if (k === 'deleted') assert.equal((await cmd(h, { cmd: 'delete', key: `key-${i}`, token })).status, 200);
    });
    // Let the last 1-second expiries pass before the restart, so they expire while the node is down.
    await sleep(1200);

    assert.equal(await h.stop('SIGTERM'), 0);
    assert.match(h.stderr(), /snapshot \(shutdown\): \d+ records/);
    assert.deepEqual(
      readdirSync(h.dataDir).filter((n) => n.startsWith('append-')),
      [],
      'a clean stop leaves no log to replay',
    );

    const h2 = await restart(h);
    const expectedLive = [...Array(N).keys()].filter((i) => kind(i) === 'plain' || kind(i) === 'ttl').length;
    assert.match(h2.stdout(), new RegExp(`loaded ${expectedLive} keys \\(\\d+ tombstones/stubs\\) in \\d+ ms`));
    await parallel(N, 16, async (i) => {
      const k = kind(i);
      const r = await cmd(h2, { cmd: 'get', key: `key-${i}` });
      if (k === 'deleted' || k === 'expires') {
        assert.equal(r.status, 404, `key-${i} (${k}) should be gone`);
        return;
      }
      assert.equal(r.status, 200, `key-${i} (${k})`);
      assert.ok(r.body.equals(bytesFor(i, sizeOf(i))), `key-${i}: bytes differ`);
      assert.equal(r.headers.keycreatetime, created.get(i), `key-${i}: create time`);
    });
    assert.equal(await h2.stop('SIGTERM'), 0);
  });

  it('kill -9 with AppendFsync always: every acknowledged write survives', { timeout: 60_000 }, async () => {
    const h = await start({ settings: { AppendFsync: 'always' } });
    const token = await getToken(h.httpPort);
    await parallel(500, 8, async (i) => {
      await set(h, token, `c${i}`, bytesFor(i, 1 + (i % 300)));
    });
    assert.equal((await cmd(h, { cmd: 'delete', key: 'c7', token })).status, 200);
    assert.equal((await cmd(h, { cmd: 'expire', key: 'c8', exptime: 3600, token })).status, 200);
    const digest = (await status(h)).store.digest;
    assert.equal(await h.stop('SIGKILL'), 'SIGKILL');

    const h2 = await restart(h);
    assert.match(h2.stdout(), /loaded 499 keys/);
    // The digest of the reloaded records (hashed after the load, while the node serves) is the one before the kill.
    assert.equal((await status(h2)).store.digest, digest);
    await parallel(500, 8, async (i) => {
      const r = await cmd(h2, { cmd: 'get', key: `c${i}` });
      if (i === 7) return assert.equal(r.status, 404);
      assert.equal(r.status, 200, `c${i}`);
      assert.ok(r.body.equals(bytesFor(i, 1 + (i % 300))), `c${i}: bytes differ`);
    });
  });

  it('a log whose last record is cut in half: the node starts and keeps everything before it', { timeout: 60_000 }, async () => {
    const h = await start({ settings: { AppendFsync: 'always' } });
    const token = await getToken(h.httpPort);
    for (let i = 0; i < 100; i++) await set(h, token, `t${i}`, bytesFor(i, 50));
    const log = newestLog(h.dataDir);
    const before = statSync(log).size;
    await set(h, token, 'last', bytesFor(1, 20_000));
    assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
    const after = statSync(log).size;
    assert.ok(after > before + 20_000);
    truncateSync(log, before + Math.floor((after - before) / 2));

    const h2 = await restart(h);
    assert.match(h2.stderr(), /dropped a torn record/);
    assert.match(h2.stdout(), /loaded 100 keys .*dropped 1 torn append-log tail/);
    for (let i = 0; i < 100; i++) {
      const r = await cmd(h2, { cmd: 'get', key: `t${i}` });
      assert.equal(r.status, 200, `t${i}`);
      assert.ok(r.body.equals(bytesFor(i, 50)));
    }
    assert.equal((await cmd(h2, { cmd: 'get', key: 'last' })).status, 404);
  });

  it('a snapshot of random bytes: moved aside, reported, the node starts and saves anew', { timeout: 60_000 }, async () => {
    const h = await start();
    const token = await getToken(h.httpPort);
    await set(h, token, 'k', Buffer.from('v'));
    assert.equal(await h.stop('SIGTERM'), 0);
    const snap = join(h.dataDir, 'store.snapshot');
    assert.ok(existsSync(snap));
    writeFileSync(snap, bytesFor(99, 64 * 1024));

    const h2 = await restart(h);
    assert.match(h2.stdout(), /damaged files moved aside: .*store\.snapshot\.corrupt-/);
    assert.match(h2.stderr(), /snapshot .* is damaged .*moved aside/);
    const aside = readdirSync(h.dataDir).filter((n) => n.startsWith('store.snapshot.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal((await cmd(h2, { cmd: 'get', key: 'k' })).status, 404);
    const token2 = await getToken(h2.httpPort);
    await set(h2, token2, 'k2', Buffer.from('v2'));
    assert.equal(await h2.stop('SIGTERM'), 0);
    // The damaged copy is kept, never overwritten; a good snapshot now sits beside it.
    assert.deepEqual(
      readdirSync(h.dataDir)
        .filter((n) => n.startsWith('store.snapshot'))
        .sort(),
      ['store.snapshot', aside[0]],
    );
    const h3 = await restart(h);
    assert.equal((await cmd(h3, { cmd: 'get', key: 'k2' })).text, 'v2');
  });

  // Tests run as root, where permission bits do not stop writes (chmod 000 would
  // prove nothing). So the data directory is made unusable in ways that stop
  // every user: a regular file where the directory should be, and a directory
  // where the snapshot's temp file must be created.
  it('restart with a data directory that cannot be used: a clear error, exit non-zero', { timeout: 60_000 }, async () => {
    const h = await start();
    assert.equal(await h.stop('SIGTERM'), 0);
    renameSync(h.dataDir, `${h.dataDir}.moved`);
    writeFileSync(h.dataDir, 'a file, not a directory');
    const r = await runToExit(['-config', h.confFile], h.dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot start: data directory .* is not usable \(E[A-Z]+\)/);
    assert.doesNotMatch(r.stdout, /owlcache ready/);

    // A directory that exists but where the snapshot cannot be written.
    const h2 = await start();
    assert.equal(await h2.stop('SIGTERM'), 0);
    mkdirSync(join(h2.dataDir, 'store.snapshot.tmp'));
    writeFileSync(join(h2.dataDir, 'store.snapshot.tmp', 'x'), '');
    const r2 = await runToExit(['-config', h2.confFile], h2.dir);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /cannot start: cannot write the snapshot's temp file .*store\.snapshot\.tmp \(EISDIR\)/);
  });

  it('a second node started on the same data directory exits 2 naming the PID and touches nothing; the first keeps every acknowledged write', {
    timeout: 120_000,
  }, async () => {
    const h = await start({ settings: { AppendFsync: 'always' } });
    const token = await getToken(h.httpPort);
    await parallel(200, 8, async (i) => {
      await set(h, token, `a${i}`, bytesFor(i, 1 + (i % 200)));
    });
    const before = fingerprint(h.dataDir);
    assert.ok(before.has('LOCK') && [...before.keys()].some((n) => n.startsWith('append-')), [...before.keys()].join(', '));

    // The same conf by mistake: same ports, same DBfile.
    const r = await runToExit(['-config', h.confFile], h.dir);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`data directory .* is in use by process ${h.proc.pid} \\(lock file .*LOCK\\)`));
    assert.deepEqual(fingerprint(h.dataDir), before, 'nothing in the data directory changed');

    // The first node goes on; after a kill -9 and a restart every acknowledged write is there.
    await parallel(1000, 8, async (i) => {
      await set(h, token, `b${i}`, bytesFor(1000 + i, 1 + (i % 100)));
    });
    assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
    const h2 = await restart(h);
    assert.match(h2.stdout(), /loaded 1200 keys/);
    await parallel(1200, 8, async (i) => {
      const key = i < 200 ? `a${i}` : `b${i - 200}`;
      const r2 = await cmd(h2, { cmd: 'get', key });
      assert.equal(r2.status, 200, key);
      assert.ok(r2.body.equals(i < 200 ? bytesFor(i, 1 + (i % 200)) : bytesFor(1000 + i - 200, 1 + ((i - 200) % 100))), `${key}: bytes differ`);
    });
  });

  it('a node that cannot bind its port leaves the data directory as it found it', { timeout: 60_000 }, async () => {
    const h = await start({ settings: { AppendFsync: 'always' } });
    const token = await getToken(h.httpPort);
    for (let i = 0; i < 20; i++) await set(h, token, `p${i}`, bytesFor(i, 100));
    assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
    // Its stale LOCK is taken over and released again; everything else must stay as it is.
    const before = fingerprint(h.dataDir, ['LOCK']);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(h.httpPort, '127.0.0.1', resolve));
    try {
      const r = await runToExit(['-config', h.confFile], h.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /EADDRINUSE/);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    assert.deepEqual(fingerprint(h.dataDir, ['LOCK']), before);
    assert.equal(existsSync(join(h.dataDir, 'LOCK')), false, 'the lock is released on exit');
    const h2 = await restart(h);
    assert.match(h2.stdout(), /loaded 20 keys/);
  });

  it('a data directory writable by group or others: exit 2 with the fix, nothing touched', { timeout: 60_000 }, async () => {
    const h = await start();
    assert.equal(await h.stop('SIGTERM'), 0);
    chmodSync(h.dataDir, 0o777);
    const before = fingerprint(h.dataDir);
    const r = await runToExit(['-config', h.confFile], h.dir, 10_000);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /data directory .* is writable by group and others \(mode 0777\).*chmod go-w /);
    assert.deepEqual(fingerprint(h.dataDir), before);
    chmodSync(h.dataDir, 0o700);
    await restart(h);
  });

  it('a flipped bit in the middle of the log costs that record only; the log is moved aside, not deleted', { timeout: 60_000 }, async () => {
    const h = await start({ settings: { AppendFsync: 'always' } });
    const token = await getToken(h.httpPort);
    const offsets: number[] = [];
    const log = newestLog(h.dataDir);
    for (let i = 0; i < 100; i++) {
      offsets.push(statSync(log).size);
      await set(h, token, `m${i}`, bytesFor(i, 60));
    }
    assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
    const bytes = readFileSync(log);
    bytes[offsets[50]! + 20]! ^= 0x08; // inside record 50's frame
    writeFileSync(log, bytes);

    const h2 = await restart(h);
    assert.match(h2.stdout(), /loaded 99 keys .*1 record\(s\) lost to damage/);
    assert.match(h2.stdout(), /damaged files moved aside: .*append-0000000001\.log\.corrupt-/);
    assert.match(h2.stderr(), /append log .* is damaged in the middle/);
    for (let i = 0; i < 100; i++) {
      const r = await cmd(h2, { cmd: 'get', key: `m${i}` });
      assert.equal(r.status, i === 50 ? 404 : 200, `m${i}`);
    }
    const aside = readdirSync(h.dataDir).filter((n) => n.startsWith('append-0000000001.log.corrupt-'));
    assert.equal(aside.length, 1);
    assert.ok(readFileSync(join(h.dataDir, aside[0]!)).equals(bytes), 'the damaged log is kept as it was');
    assert.equal(await h2.stop('SIGTERM'), 0);
    assert.equal(readdirSync(h.dataDir).filter((n) => n.includes('.corrupt-')).length, 1, 'a clean stop deletes no damaged file');
  });
});

/** Every file in a folder: size, mtime and content, to show that nothing changed. */
function fingerprint(dir: string, except: string[] = []): Map<string, { size: number; mtimeMs: number; content: string }> {
  const out = new Map<string, { size: number; mtimeMs: number; content: string }>();
  for (const name of readdirSync(dir).sort()) {
    if (except.includes(name)) continue;
    const st = statSync(join(dir, name));
    out.set(name, { size: st.size, mtimeMs: st.mtimeMs, content: readFileSync(join(dir, name)).toString('base64') });
  }
  return out;
}
