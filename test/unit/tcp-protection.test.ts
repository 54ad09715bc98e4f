import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpWriteProtection, looksLikeHttp } from '../../src/api/tcp/protection.js';
import { parseNetworks, type Network } from '../../src/config/values.js';
import { SETTINGS } from '../../src/config/settings.js';

const networks = (text: string): Network[] => {
  const n = parseNetworks(text);
  if (typeof n === 'string') throw new Error(n);
  return n;
};

test('default: TCP writes only from 127.0.0.1 and ::1 (also as ::ffff:127.0.0.1)', () => {
  const p = new TcpWriteProtection(true, networks(SETTINGS.TcpTrustedNetworks.default));
  for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) assert.equal(p.allowsWrites(a), true, a);
  for (const a of ['127.0.0.2', '10.0.0.1', '192.168.1.10', '::ffff:10.0.0.1', 'fe80::1', '2001:db8::1', '0.0.0.0', '::', '', 'localhost']) {
    assert.equal(p.allowsWrites(a), false, a);
  }
  assert.match(p.refusal('::ffff:10.0.0.1'), /10\.0\.0\.1 is not in them.*TcpTrustedNetworks.*TcpProtectedMode 0/);
  assert.match(p.describe(), /writes only from 127\.0\.0\.1\/32, ::1\/128/);
});

test('TcpTrustedNetworks replaces the default list; IPv4 and IPv6 networks, bare addresses', () => {
  const p = new TcpWriteProtection(true, networks('10.0.0.0/8, 192.168.1.7 2001:db8::/32'));
  for (const a of ['10.1.2.3', '::ffff:10.255.0.1', '192.168.1.7', '2001:db8::5']) assert.equal(p.allowsWrites(a), true, a);
  for (const a of ['127.0.0.1', '::1', '11.0.0.1', '192.168.1.8', '2001:db9::1']) assert.equal(p.allowsWrites(a), false, a);
  assert.equal(new TcpWriteProtection(true, []).allowsWrites('127.0.0.1'), false, 'an empty list trusts nobody');
});

test('TcpProtectedMode 0: writes from every address', () => {
  const p = new TcpWriteProtection(false, networks(SETTINGS.TcpTrustedNetworks.default));
  for (const a of ['10.0.0.1', '2001:db8::1', '127.0.0.2']) assert.equal(p.allowsWrites(a), true, a);
  assert.match(p.describe(), /any address \(TcpProtectedMode 0\)/);
});

test('parseNetworks refuses what is not a CIDR network', () => {
  for (const bad of ['10.0.0.0/33', '::1/129', 'example.com', '10.0.0/8', '10.0.0.0/', '/8', '10.0.0.0/8/1', '0x7f.1']) {
    assert.equal(typeof parseNetworks(bad), 'string', bad);
  }
  assert.deepEqual(parseNetworks(''), []);
  assert.deepEqual(parseNetworks('10.0.0.0/8'), [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }]);
});

test("lines that start like HTTP are recognised; the protocol's own commands are not", () => {
  for (const l of ['GET / HTTP/1.1', 'POST /data/ HTTP/1.1', 'PUT /x HTTP/1.0', 'OPTIONS * HTTP/1.1', 'Host: 127.0.0.1:7720', 'host:x', 'HOST: y']) {
    assert.equal(looksLikeHttp(Buffer.from(l)), true, l);
  }
  for (const l of ['get key', 'set key value', 'delete key', 'ping', 'GET', 'POST', 'hostname', 'exist Host:', '']) {
    assert.equal(looksLikeHttp(Buffer.from(l)), false, l);
  }
});
