import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { clientAddress } from '../../src/api/client-address.js';
import { Commands } from '../../src/api/commands.js';
import { clientIp } from '../../src/api/http/context.js';
import { RespServer } from '../../src/api/resp/server.js';
import { unmapIPv4 } from '../../src/net-address.js';
import { Store } from '../../src/store/store.js';
import type Koa from 'koa';

describe('client addresses', () => {
  it('IPv4-mapped IPv6 addresses become plain IPv4; everything else is kept', () => {
    assert.equal(unmapIPv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::FFFF:10.1.2.3'), '10.1.2.3');
    assert.equal(unmapIPv4('127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::1'), '::1');
    assert.equal(unmapIPv4('::ffff:7f00:1'), '::ffff:7f00:1');
    assert.equal(unmapIPv4('fe80::ffff:1.2.3.4'), 'fe80::ffff:1.2.3.4');
    assert.equal(clientAddress({ remoteAddress: undefined }), '');
  });

  it('with Host ::, HTTP and RESP key one IPv4 client by the same address (one password-guard bucket)', async (t) => {
    const attempts: string[] = [];
    const guard = {
      check: async (ip: string, matches: () => boolean) => {
        attempts.push(ip);
        return matches() ? ('ok' as const) : ('wrong' as const);
      },
    };
    const store = new Store({ nodeId: 'n1' });
    const resp = new RespServer({
      host: '::',
      port: 0,
      commands: new Commands(store, { maxKeyLength: 1024, maxValueSize: 1024 * 1024 }),
      password: 'right-password-0123',
      passGuard: guard,
      maxMemory: 0,
      node: () => ({ version: 't', nodeId: 'n1', nodeName: 'n1', mode: 'owlcache', httpAddress: '127.0.0.1:1', members: () => [] }),
    });
    let address: net.AddressInfo;
    try {
      address = await resp.listen();
    } catch (err) {
      t.skip(`cannot listen on :: here (${(err as Error).message})`);
      return;
    }
    try {
      const socket = net.connect({ host: '127.0.0.1', port: address.port });
      const reply = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no reply to AUTH')), 5000);
        socket.once('error', reject);
        socket.once('data', (d) => {
          clearTimeout(timer);
          resolve(d.toString());
        });
        socket.write('AUTH wrong-password-0\r\n');
      });
      socket.destroy();
      assert.match(reply, /^-/);
      assert.deepEqual(attempts, ['127.0.0.1'], 'RESP keyed the client by its IPv4-mapped address');
      // HTTP's view of a socket accepted on :: from the same client.
      const ctx = { req: { socket: { remoteAddress: '::ffff:127.0.0.1' } } } as unknown as Koa.Context;
      assert.equal(clientIp(ctx), attempts[0]);
    } finally {
      await resp.close();
    }
  });
});
