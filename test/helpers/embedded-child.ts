import { startNode, type EmbeddedNode, type NodeOptions } from '../../src/embed.js';
import { setQuiet } from '../../src/log.js';

/**
 * A process with an embedded node, for the embedding tests.
 * `ipc <options JSON>`: starts a node, answers the parent's messages (set, get, members, stop) and
 * forwards its change events. `exit <options JSON>`: starts, sets, reads, stops, and then does
 * nothing more: the process must end by itself.
 */

type Request = { id: number; op: 'set' | 'get' | 'members' | 'stop'; key?: string; value?: string };

setQuiet(true);
const [mode, json] = process.argv.slice(2);
const options = JSON.parse(json ?? '{}') as NodeOptions;

if (mode === 'exit') {
  const node = await startNode(options);
  node.set('k', 'v', { ttlSeconds: 60 });
  if (node.get('k', 'utf8') !== 'v') throw new Error('read after write failed');
  node.on('change', () => {});
  await node.stop();
  process.stdout.write('stopped\n');
} else if (mode === 'ipc') {
  let node: EmbeddedNode;
  try {
    node = await startNode(options);
  } catch (err) {
    process.send!({ error: (err as Error).message });
    process.exit(1);
  }
  node.on('change', (c) => process.send!({ change: { key: c.key, value: c.value?.toString('utf8') ?? null, origin: c.origin } }));
  process.on('message', (m: Request) => {
    void (async () => {
      switch (m.op) {
        case 'set':
          node.set(m.key!, m.value!);
          return process.send!({ id: m.id, result: true });
        case 'get':
          return process.send!({ id: m.id, result: node.get(m.key!, 'utf8') ?? null });
        case 'members':
          return process.send!({ id: m.id, result: node.members() });
        case 'stop':
          await node.stop();
          process.send!({ id: m.id, result: true });
          return process.disconnect();
      }
    })();
  });
  process.send!({ ready: { gossip: node.info.gossip, http: node.info.http.port } });
} else {
  throw new Error(`unknown mode ${mode}`);
}
