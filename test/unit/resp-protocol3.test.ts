import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { doubleText, ReplyWriter } from '../../src/api/resp/reply.js';
import { respHarness, wire } from '../helpers/resp-harness.js';

describe('RESP3', () => {
  test('HELLO 3 answers a map and switches the connection; HELLO 2 switches back', async () => {
    const { run, conn } = respHarness();
    const three = await run('HELLO', '3');
    assert.ok(three.startsWith('%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n'), three);
    assert.ok(three.includes('$5\r\nproto\r\n:3\r\n'));
    assert.equal(conn.proto, 3);
    assert.equal(await run('GET', 'missing'), '_\r\n');
    const two = await run('HELLO', '2');
    assert.ok(two.startsWith('*14\r\n'), two);
    assert.equal(await run('GET', 'missing'), '$-1\r\n');
    assert.equal(await run('HELLO', '4'), '-NOPROTO unsupported protocol version\r\n');
    assert.equal(await run('HELLO', 'x'), '-ERR Protocol version is not an integer or out of range\r\n');
  });

  test('HELLO with AUTH and SETNAME authenticates and names the connection in one step', async () => {
    const { run, conn } = respHarness({ password: 'secret' });
    assert.match(await run('GET', 'k'), /^-NOAUTH/);
    assert.match(await run('HELLO', '3'), /^-NOAUTH HELLO must be called with the client already authenticated/);
    assert.equal(await run('HELLO', '3', 'AUTH', 'default', 'wrong'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
    assert.match(await run('HELLO', '3', 'AUTH', 'default', 'secret', 'SETNAME', 'app'), /^%7\r\n/);
    assert.equal(conn.authed, true);
    assert.equal(conn.name, 'app');
    assert.equal(await run('HELLO', '3', 'SETNAME', 'a b'), '-ERR Client names cannot contain spaces, newlines or special characters.\r\n');
    assert.equal(await run('HELLO', '3', 'FOO'), "-ERR Syntax error in HELLO option 'FOO'\r\n");
  });

  test('maps, verbatim text and nulls by protocol: CONFIG GET, INFO', async () => {
    const { run } = respHarness();
    assert.equal(await run('CONFIG', 'GET', 'appendonly'), '*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n');
    await run('HELLO', '3');
    assert.equal(await run('CONFIG', 'GET', 'appendonly'), '%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n');
    assert.match(await run('INFO', 'clients'), /^=\d+\r\ntxt:# Clients\r\n/);
  });

  test("the writer's RESP3 types and their RESP2 forms", () => {
    const out = new ReplyWriter();
    for (const proto of [2, 3] as const) {
      out.proto = proto;
      out.double(1.5);
      out.boolean(true);
      out.setHeader(1);
      out.bulk('a');
      out.nilArray();
    }
    assert.equal(wire(out), '$3\r\n1.5\r\n:1\r\n*1\r\n$1\r\na\r\n*-1\r\n' + ',1.5\r\n#t\r\n~1\r\n$1\r\na\r\n_\r\n');
    assert.equal(doubleText(Infinity), 'inf');
    assert.equal(doubleText(-Infinity), '-inf');
    assert.equal(doubleText(3), '3');
  });
});
