import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, removeTempDirs, request, tempDir, waitFor } from '../helpers/node-process.js';
import { repoRoot } from '../helpers/repo.js';

/** examples/cluster-app: node:cluster workers sharing one replicated cache through embedded nodes. */

let app: ChildProcess | null = null;
after(() => {
  app?.kill('SIGKILL');
  removeTempDirs();
});

const WORKERS = 3;

describe('examples/cluster-app', () => {
  it('a value set through one worker is read through every worker; a killed worker comes back with it; SIGTERM ends the app', async () => {
    const port = await freePort();
    const proc = spawn(process.execPath, [join(repoRoot(), 'examples', 'cluster-app', 'app.mjs')], {
      env: { ...process.env, APP_PORT: String(port), WORKERS: String(WORKERS), DATA_DIR: join(tempDir(), 'data'), DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    app = proc;
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    await waitFor('the app ready', () => out.includes('cluster-app ready'), 30_000, 50);

    const members = async () => (await request(port, '/members')).json<{ state: string }[]>();
    await waitFor(
      `${WORKERS} alive members as a worker sees them`,
      async () => {
        const m = await members();
        return m.length === WORKERS && m.every((x) => x.state === 'alive');
      },
      20_000,
      200,
    );

    const put = await request(port, '/cache/greeting', { method: 'PUT', body: 'hello from one worker' });
    assert.equal(put.status, 204);
    const writer = put.headers['x-worker'];
    assert.ok(writer !== undefined);
    // Each request is a new connection; the primary hands connections to the workers in turn.
    const seen = new Set<string>();
    await waitFor(
      'every worker answers with the value',
      async () => {
        const r = await request(port, '/cache/greeting');
        if (r.status === 200 && r.text === 'hello from one worker') seen.add(String(r.headers['x-worker']));
        return seen.size === WORKERS;
      },
      10_000,
      20,
    );
    assert.ok(seen.has(String(writer)));

    // kill -9 a worker: the primary starts it again, with its data directory and the live nodes as seeds.
    const victim = (await request(port, '/cache/greeting')).headers;
    process.kill(Number(victim['x-worker-pid']), 'SIGKILL');
    await waitFor('the worker started again', () => out.includes(`worker ${String(victim['x-worker'])} ended`), 10_000, 50);
    const during = await request(port, '/cache/after', { method: 'PUT', body: 'written while one was down' });
    assert.equal(during.status, 204);
    const again = new Set<string>();
    await waitFor(
      'every worker, the restarted one too, answers both values',
      async () => {
        // Both on one connection, so one worker answers both.
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
          const r = await request(port, '/cache/greeting', { agent });
          const s = await request(port, '/cache/after', { agent });
          if (r.text === 'hello from one worker' && s.text === 'written while one was down' && r.headers['x-worker-pid'] === s.headers['x-worker-pid']) {
            again.add(String(r.headers['x-worker-pid']));
          }
        } finally {
          agent.destroy();
        }
        return again.size === WORKERS && !again.has(String(victim['x-worker-pid']));
      },
      30_000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; answered by ${[...again].join(', ')}; victim ${String(victim['x-worker-pid'])}\n${out}`);
    });

    proc.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('hung'), 20_000))]);
    assert.equal(code, 0, out);
    app = null;
  });
});
