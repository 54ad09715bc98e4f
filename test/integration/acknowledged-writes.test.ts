import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { freePort, getToken, qs, request, restartNode, sleep, startNode, stopAllNodes, type NodeHandle } from '../helpers/node-process.js';

/**
 * "Acknowledged" means written: with the default AppendFsync 1, every change a
 * client was answered for has reached the kernel (write(2) done) before the
 * answer left, on every port. So SIGKILL right after the last answer loses
 * nothing. Other connections keep the node busy meanwhile (from a separate
 * process, so the kill is not delayed here): a write queued for later would
 * still be queued when the kill lands.
 */

const WRITES = 300;
const busy: ChildProcess[] = [];
after(async () => {
  for (const b of busy) b.kill('SIGKILL');
  await stopAllNodes();
});

/**
 * A separate process flooding the RESP port with pipelined `KEYS` that match
 * nothing (no writes, tiny replies): the pattern has no literal start, so each
 * decodes and matches every key of the store, and the node's event loop spends
 * long stretches on them between other connections' commands.
 */
async function startBusyLoad(h: NodeHandle): Promise<ChildProcess> {
  const pass = String(h.settings.Pass);
  const script = `
    const net = require('node:net');
    const auth = '*2\\r\\n$4\\r\\nAUTH\\r\\n$${pass.length}\\r\\n${pass}\\r\\n';
    const chunk = Buffer.from('*2\\r\\n$4\\r\\nKEYS\\r\\n$4\\r\\n*zzz\\r\\n'.repeat(10));
    for (let i = 0; i < 6; i++) {
      // Closed loop: the next 10 once the last 10 are answered, so the node is busy, not flooded.
      const s = net.connect(${h.respPort}, '127.0.0.1');
      let answers = 0;
      s.on('error', () => {});
      s.on('data', (d) => {
        for (const b of d) if (b === 0x0a) answers += 1;
        while (answers >= 10) { answers -= 10; s.write(chunk); }
      });
      s.on('connect', () => { s.write(auth); s.write(chunk); });
    }
    setTimeout(() => process.exit(0), 60000);
  `;
  const p = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  busy.push(p);
  // Until its connections are up and authenticated, the node is not busy yet.
  await sleep(700);
  return p;
}

/** Keys the busy load's KEYS walk over. */
const FILLER = 10_000;

async function freshNode(): Promise<NodeHandle> {
  const h = await startNode({ settings: { RespPort: await freePort(), AppendLog: 1, AppendFsync: 1 } });
  const payload = Array.from({ length: FILLER }, (_, i) => `set filler-${i} x\n`).join('');
  await new Promise<void>((resolve, reject) => {
    let lines = 0;
    const s = net.connect(h.tcpPort, '127.0.0.1', () => s.write(payload));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`filler: ${lines} answers`));
    }, 30_000);
    s.on('data', (d: Buffer) => {
      for (const b of d) if (b === 0x0a) lines += 1;
      if (lines > FILLER) {
        clearTimeout(timer);
        s.end();
        resolve();
      }
    });
    s.on('error', reject);
  });
  return h;
}

/** Sends `payload` on a raw socket and SIGKILLs the node the moment `answers` replies (counted by `count`) have arrived. */
function sendAndKillOnLastAnswer(h: NodeHandle, port: number, payload: string, answers: number, count: (chunk: string) => number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    let text = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(payload));
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`only ${seen} of ${answers} answers in time: ${text.slice(-300)}`));
    }, 60_000);
    s.on('data', (d: Buffer) => {
      const t = d.toString('latin1');
      text += t;
      seen += count(t);
      if (seen >= answers) {
        h.proc.kill('SIGKILL');
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', (err) => {
      if (seen < answers) {
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

async function killedAndRestarted(h: NodeHandle, busyLoad: ChildProcess): Promise<NodeHandle> {
  busyLoad.kill('SIGKILL');
  assert.equal(await h.stop('SIGKILL'), 'SIGKILL');
  return restartNode(h);
}

async function missingAfterRestart(h: NodeHandle, keys: string[], value: (k: string) => string): Promise<string[]> {
  const token = await getToken(h.httpPort);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const missing: string[] = [];
    for (const key of keys) {
      const r = await request(h.httpPort, `/data/?${qs({ cmd: 'get', key, token })}`, { agent });
      if (r.status !== 200 || r.text !== value(key)) missing.push(key);
    }
    return missing;
  } finally {
    agent.destroy();
  }
}

/** Kill cycles per port: a write still queued is lost in most of them, so one lucky cycle cannot hide it. */
const CYCLES = 2;
const keysFor = (name: string) => Array.from({ length: WRITES }, (_, i) => `${name}-${i}`);
const expectedValue = (k: string) => `value-of-${k}`;

/** Per cycle: busy load on, `write` the keys (it kills the node on the last answer), restart, every key present. */
async function killCycles(name: string, write: (h: NodeHandle, keys: string[]) => Promise<void>): Promise<void> {
  let h = await freshNode();
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const load = await startBusyLoad(h);
    const keys = keysFor(`${name}-${cycle}`);
    await write(h, keys);
    h = await killedAndRestarted(h, load);
    assert.deepEqual(await missingAfterRestart(h, keys, expectedValue), [], `cycle ${cycle}`);
  }
  await h.stop('SIGKILL');
}

describe('acknowledged writes survive SIGKILL right after the answer (AppendFsync 1)', () => {
  it('RESP: pipelined SETs', { timeout: 120_000 }, async () => {
    await killCycles('resp', async (h, keys) => {
      const payload = keys.map((k) => `*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${expectedValue(k).length}\r\n${expectedValue(k)}\r\n`).join('');
      const pass = String(h.settings.Pass);
      const auth = `*2\r\n$4\r\nAUTH\r\n$${pass.length}\r\n${pass}\r\n`;
      const text = await sendAndKillOnLastAnswer(h, h.respPort, auth + payload, WRITES + 1, (t) => t.split('+OK\r\n').length - 1);
      assert.ok(!text.includes('-ERR'), text.slice(0, 200));
    });
  });

  it('TCP: pipelined set lines', { timeout: 120_000 }, async () => {
    await killCycles('tcp', async (h, keys) => {
      const payload = keys.map((k) => `set ${k} ${expectedValue(k)}\n`).join('');
      // The greeting line, then one answer line per set.
      const text = await sendAndKillOnLastAnswer(h, h.tcpPort, payload, WRITES + 1, (t) => t.split('\n').length - 1);
      assert.equal(text.split('\n').filter((l) => l.includes('"Status":200')).length, WRITES, text.slice(0, 300));
    });
  });

  it('HTTP: concurrent sets on keep-alive connections', { timeout: 120_000 }, async () => {
    await killCycles('http', async (h, keys) => {
      const token = await getToken(h.httpPort);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
      let acked = 0;
      let failed = '';
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`only ${acked} of ${WRITES} HTTP sets answered in time`)), 60_000);
          for (const key of keys) {
            const path = `/data/?${qs({ cmd: 'set', key, valuedata: expectedValue(key), token })}`;
            const req = http.get({ host: '127.0.0.1', port: h.httpPort, agent, path }, (res) => {
              if (res.statusCode !== 200) failed ||= `${key}: HTTP ${res.statusCode}`;
              acked += 1;
              if (acked === WRITES) {
                h.proc.kill('SIGKILL');
                clearTimeout(timer);
                resolve();
              }
              res.resume();
            });
            req.on('error', (err) => {
              if (acked < WRITES) {
                clearTimeout(timer);
                reject(err);
              }
            });
          }
        });
      } finally {
        agent.destroy();
      }
      assert.equal(failed, '');
    });
  });
});
