import assert from 'node:assert/strict';
import type dns from 'node:dns';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { LookupFunction } from 'node:net';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { GroupClient, refusingLookup, type Target } from '../../src/cluster/groups/group-client.js';

/**
 * The /group_data/ client's own refusal (behind the lists' checks): with a
 * stubbed request function that never opens a socket, it is shown to send
 * nothing to a host a node must never contact, and to refuse a name that
 * resolves to one. Nothing here touches the network.
 */

interface Sent {
  host: string;
  /** What the stubbed connection step resolved the host to, or the lookup's error. */
  resolved: string | Error | null;
}

/** A request function that resolves the host with the options' lookup as net would, then answers 200 "v" itself. */
function stubRequest(sent: Sent[]) {
  return (_scheme: Target['scheme'], options: http.RequestOptions): http.ClientRequest => {
    const req = new EventEmitter() as EventEmitter & { end(): void; destroy(err?: Error): void };
    const record: Sent = { host: String(options.host), resolved: null };
    sent.push(record);
    const answer = () => {
      const res = Object.assign(Readable.from([Buffer.from('v')]), { statusCode: 200, headers: { 'content-length': '1' } });
      req.emit('response', res);
    };
    req.end = () => {
      const lookup = options.lookup as LookupFunction | undefined;
      const host = String(options.host);
      if (/^[\d.]+$/.test(host) || lookup === undefined) {
        record.resolved = host;
        setImmediate(answer);
        return;
      }
      lookup(host, { all: true }, (err, address) => {
        if (err) {
          record.resolved = err;
          req.emit('error', err);
          return;
        }
        record.resolved = Array.isArray(address) ? address[0]!.address : address;
        answer();
      });
    };
    req.destroy = () => {};
    return req as unknown as http.ClientRequest;
  };
}

/** A resolver that knows a few test names only. */
const fakeDns = ((hostname: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => {
  const table: Record<string, string> = { 'peer.test': '127.0.0.1', 'rebind.test': '169.254.169.254', 'mapped.test': '::ffff:169.254.169.254' };
  const a = table[hostname];
  if (a === undefined) callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
  else callback(null, [{ address: a, family: a.includes(':') ? 6 : 4 }]);
}) as unknown as typeof dns.lookup;

describe('GroupClient refuses hosts a node never contacts', () => {
  it('sends nothing to a refused address or name, even when it reaches the client', async () => {
    const sent: Sent[] = [];
    const client = new GroupClient({ insecureSkipVerify: false, maxBodyBytes: 1024, request: stubRequest(sent), lookup: fakeDns });
    for (const host of [
      '169.254.169.254',
      'fe80::1',
      '0.0.0.0',
      '::',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '::ffff:127.0.0.1',
      '0x7f.1',
      '2130706433',
      '127.1',
      'metadata.google.internal',
      'metadata',
    ]) {
      assert.equal(await client.getKey({ scheme: 'http', host, port: 80 }, 'k', 1000), null, host);
    }
    assert.deepEqual(sent, [], 'a request was made for a refused host');
    const ok = await client.getKey({ scheme: 'http', host: '127.0.0.1', port: 7721 }, 'k', 1000);
    assert.equal(ok?.value.toString(), 'v', 'an allowed peer is asked (control)');
    assert.deepEqual(
      (sent as Sent[]).map((s) => s.host),
      ['127.0.0.1'],
    );
    client.close();
  });

  it('refuses a name that resolves to such an address before connecting', async () => {
    const sent: Sent[] = [];
    const client = new GroupClient({ insecureSkipVerify: false, maxBodyBytes: 1024, request: stubRequest(sent), lookup: fakeDns });
    assert.equal(await client.getKey({ scheme: 'http', host: 'rebind.test', port: 80 }, 'k', 1000), null);
    assert.equal(await client.getKey({ scheme: 'http', host: 'mapped.test', port: 80 }, 'k', 1000), null);
    assert.equal((await client.getKey({ scheme: 'http', host: 'peer.test', port: 80 }, 'k', 1000))?.value.toString(), 'v');
    assert.equal(sent.length, 3);
    assert.match(String(sent[0]!.resolved), /169\.254\.169\.254.*not contacted/);
    assert.match(String(sent[1]!.resolved), /not contacted/);
    assert.equal(sent[2]!.resolved, '127.0.0.1');
    client.close();
  });

  it('refusingLookup answers in the form asked (one address or all)', async () => {
    const lookup = refusingLookup(fakeDns);
    const one = await new Promise<unknown[]>((r) => lookup('peer.test', {}, (...a) => r(a)));
    assert.deepEqual(one, [null, '127.0.0.1', 4]);
    const all = await new Promise<unknown[]>((r) => lookup('peer.test', { all: true }, (...a) => r(a)));
    assert.deepEqual(all, [null, [{ address: '127.0.0.1', family: 4 }]]);
    const refused = await new Promise<unknown[]>((r) => lookup('rebind.test', {}, (...a) => r(a)));
    assert.equal((refused[0] as NodeJS.ErrnoException).code, 'EADDRREFUSED');
    const missing = await new Promise<unknown[]>((r) => lookup('nowhere.test', {}, (...a) => r(a)));
    assert.equal((missing[0] as NodeJS.ErrnoException).code, 'ENOTFOUND');
  });
});
