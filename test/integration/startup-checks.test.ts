import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startGossipNode } from '../helpers/cluster.js';
import { TEST_PASSWORD, restartNode, runToExit, startNode, stopAllNodes, tempDir, waitFor } from '../helpers/node-process.js';

/** What a node refuses, or warns about, at start: hostile settings, settings not carried over, a damaged auth.json; and IPv6 gossip sockets. */

after(stopAllNodes);

/** A conf file that would start a node on loopback with free ports, plus `extra` lines. */
function confWith(extra: string): { dir: string; conf: string } {
  const dir = tempDir();
  const conf = join(dir, 'owlcache.conf');
  const lines = [
    '[Owlcache]',
    'Host 127.0.0.1',
    `DBfile ${join(dir, 'db')}`,
    'Logfile ',
    '[HTTP]',
    'Httpport 0',
    `Pass ${TEST_PASSWORD}`,
    '[TCP]',
    'Tcpport 0',
  ];
  writeFileSync(conf, `${[...lines, extra].join('\n')}\n`);
  return { dir, conf };
}

describe('hostile conf values stop the start with the file, line and accepted range', () => {
  const cases: [string, RegExp][] = [
    ['TcpMaxLine 0', /TcpMaxLine: "0" is out of range: it must be from 64 to 512mb/],
    ['MaxValueSize 100gb', /MaxValueSize: "100gb" is out of range: it must be from 1 to 512mb/],
    ['Task_DataBackup 1ms', /Task_DataBackup: "1ms" is out of range: it must be 0 \(off\) or from 1s to 24d/],
    ['DBfile /', /DBfile: "\/" cannot be the data directory \(\/ is the root of a file system\)/],
  ];
  for (const [line, expected] of cases) {
    it(`${line}: exit 2, nothing started`, async () => {
      const { dir, conf } = confWith(line);
      // Bounded: a node that accepted the value would start and be killed here.
      const r = await runToExit(['-config', conf], dir, 8000);
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.ok(r.stderr.includes(`${conf}:10: `), r.stderr);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stdout, /owlcache ready/);
      if (line !== 'DBfile /') assert.equal(existsSync(join(dir, 'db')), false, 'the data directory was touched');
    });
  }
});

describe('Task settings', () => {
  it('Task_MemoryInfoToLog writes memory reports to the log; settings not carried over are warned about with the reason', async () => {
    const node = await startNode({ settings: { Task_MemoryInfoToLog: '1s', Task_DataAuthBackup: 5, Task_ServerGossipListBackup: 5 } });
    assert.match(node.stderr(), /Task_DataAuthBackup: not supported by this implementation \(ignored\).*auth\.json is written once/);
    assert.match(node.stderr(), /Task_ServerGossipListBackup: not supported by this implementation \(ignored\)/);
    const logFile = join(node.dir, 'log', 'owlcache.log');
    const line = await waitFor(
      'a memory report in the log file',
      () => existsSync(logFile) && /INFO \[node\] memory: rss [\d.]+ MB, heap .*; store \d+ keys/.exec(readFileSync(logFile, 'utf8'))?.[0],
      10_000,
    );
    assert.ok(line);
    await node.stop();
  });
});

describe('auth.json', () => {
  it('a truncated auth.json stops the start (exit 2) with the file named and what to do', async () => {
    const node = await startNode();
    await node.stop();
    const file = join(node.dataDir, 'auth.json');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
    const r = await runToExit(['-config', node.confFile], node.dir, 15_000);
    assert.equal(r.code, 2, `exit ${r.code}\n${r.stderr}`);
    assert.ok(r.stderr.includes(`${file}: not valid JSON`), r.stderr);
    assert.match(r.stderr, /restore it from a backup, or move it aside/);
    assert.equal(readFileSync(file, 'utf8'), text.slice(0, Math.floor(text.length / 2)), 'the damaged file was changed');
    // Moved aside as the message says, the node starts again with a new identity.
    writeFileSync(`${file}.damaged`, readFileSync(file));
    writeFileSync(file, JSON.stringify({ format: 1, nodeId: 'fresh-node-id' }));
    const again = await restartNode(node);
    assert.match(again.stdout(), /\(id fresh-node-id\)/);
    await again.stop();
  });
});

describe('gossip on IPv6', () => {
  it('a gossip node with Host ::1 starts, and its gossip and data-gossip sockets are udp6', async (t) => {
    if (!existsSync('/proc/net/udp6') || !readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001')) {
      t.skip('no IPv6 loopback (/proc/net/udp6, ::1) on this machine');
      return;
    }
    const node = await startGossipNode([], { Host: '::1', ResponseHost: '::1' });
    const dataPort = Number(/data deltas on UDP (\d+)/.exec(node.stdout())?.[1]);
    const gossipPort = Number(/:(\d+)$/.exec(node.gossip)?.[1]);
    assert.match(node.gossip, /^\[::1\]:\d+$/);
    const udp6Ports = new Set(
      readFileSync('/proc/net/udp6', 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => /^\s*\d+:\s+[0-9A-F]+:([0-9A-F]{4})\s/.exec(l)?.[1])
        .filter((p): p is string => p !== undefined)
        .map((p) => parseInt(p, 16)),
    );
    assert.ok(udp6Ports.has(gossipPort), `gossip port ${gossipPort} is not a udp6 socket`);
    assert.ok(udp6Ports.has(dataPort), `data-gossip port ${dataPort} is not a udp6 socket`);
    await node.stop();
  });
});
