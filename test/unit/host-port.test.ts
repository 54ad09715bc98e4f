import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkAddress } from '../../src/cluster/groups/address.js';
import { parseHostPort as parseMemberAddress } from '../../src/cluster/membership/address.js';
import { splitHostPort as splitPeerAddress } from '../../src/cluster/peers.js';
import { formatHostPort, parseHostPort, readPort, splitHostPort, unbracketHost, withPort } from '../../src/host-port.js';

/**
 * The one host:port reader, and each place that used to read host:port its own
 * way, pinned through it: the membership layer, the /server/ lists, the peer
 * directory (deltas, internal calls), the cluster's data address, the advertise
 * setting and the self-host list of node.ts.
 */

describe('host-port: the reader', () => {
  it('splits host:port, [v6]:port and a bare host without judging them', () => {
    assert.deepEqual(splitHostPort('a:1'), { host: 'a', port: '1', bracketed: false });
    assert.deepEqual(splitHostPort('[::1]:7721'), { host: '::1', port: '7721', bracketed: true });
    assert.deepEqual(splitHostPort('[::1]'), { host: '::1', port: undefined, bracketed: true });
    assert.deepEqual(splitHostPort('a'), { host: 'a', port: undefined, bracketed: false });
    assert.deepEqual(splitHostPort('a:'), { host: 'a', port: '', bracketed: false });
    assert.deepEqual(splitHostPort('::1:7721'), { host: '::1', port: '7721', bracketed: false });
    assert.equal(splitHostPort('::1:7721', 'refuse'), 'put an IPv6 address in brackets, e.g. [::1]:7721');
    assert.equal(splitHostPort('[::1'), 'an IPv6 address must be closed with ]');
    assert.equal(splitHostPort('[::1]x'), 'unexpected "x" after the IPv6 address');
  });

  it('reads a port by the rules: digits only, range, default', () => {
    assert.equal(readPort('80'), 80);
    assert.equal(readPort('0'), 'the port 0 is out of range 1-65535');
    assert.equal(readPort('0', { minPort: 0 }), 0);
    assert.equal(readPort('65536'), 'the port 65536 is out of range 1-65535');
    assert.equal(readPort('0x50'), 'the port "0x50" is not a number');
    assert.equal(readPort(' 80'), 'the port " 80" is not a number');
    assert.equal(readPort('123456'), 'the port "123456" is not a number');
    assert.equal(readPort(undefined), 'the port is missing');
    assert.equal(readPort(undefined, { defaultPort: 7946 }), 7946);
  });

  it('parses with its rules and says why not', () => {
    assert.deepEqual(parseHostPort('h:1'), { ok: true, host: 'h', port: 1, bracketed: false });
    assert.deepEqual(parseHostPort('h', { defaultPort: 9 }), { ok: true, host: 'h', port: 9, bracketed: false });
    assert.deepEqual(parseHostPort(''), { ok: false, reason: 'the address is empty' });
    assert.deepEqual(parseHostPort(':80'), { ok: false, reason: 'the host is missing' });
    assert.deepEqual(parseHostPort('[]:80'), { ok: false, reason: 'the host is missing' });
    assert.deepEqual(parseHostPort(`${'x'.repeat(8)}:1`, { maxLength: 9 }), { ok: false, reason: 'the address is longer than 9 characters' });
  });

  it('writes IPv6 in brackets, and keeps a written host as it was when only the port changes', () => {
    assert.equal(formatHostPort('::1', 7946), '[::1]:7946');
    assert.equal(formatHostPort('10.0.0.1', 7946), '10.0.0.1:7946');
    assert.equal(withPort('[::1]:7721', 9), '[::1]:9');
    assert.equal(withPort('::1:7721', 9), '::1:9');
    assert.equal(withPort('node-a:7721', 9), 'node-a:9');
    assert.equal(unbracketHost('[::1]'), '::1');
    assert.equal(unbracketHost('::1'), '::1');
    assert.equal(unbracketHost('[::1'), '[::1');
  });
});

describe('host-port: each former reader, as it was', () => {
  it('membership (member addresses, seeds, advertise): port 0 allowed, bare host only with a default, unbracketed IPv6 up to its last colon, at most 300 characters', () => {
    assert.deepEqual(parseMemberAddress('127.0.0.1:7946'), { host: '127.0.0.1', port: 7946 });
    assert.deepEqual(parseMemberAddress('[::1]:7946'), { host: '::1', port: 7946 });
    assert.deepEqual(parseMemberAddress('::1:7946'), { host: '::1', port: 7946 });
    assert.deepEqual(parseMemberAddress('h:0'), { host: 'h', port: 0 });
    assert.deepEqual(parseMemberAddress('h', 0), { host: 'h', port: 0 });
    assert.deepEqual(parseMemberAddress('[::1]', 7946), { host: '::1', port: 7946 });
    assert.deepEqual(parseMemberAddress('::1', 7), { host: ':', port: 1 }, 'the last colon separates the port, as before');
    assert.deepEqual(parseMemberAddress('a b:1'), { host: 'a b', port: 1 }, 'the host is not judged here');
    for (const bad of ['h', 'h:', 'h:65536', 'h:123456', 'h:0x50', ':80', '[]:80', '[::1', '[::1]x:1', '', `${'x'.repeat(299)}:80`]) {
      assert.equal(parseMemberAddress(bad), null, bad);
    }
    assert.notEqual(parseMemberAddress(`${'x'.repeat(297)}:80`), null, '300 characters is still an address');
  });

  it('the /server/ lists: IPv6 only in brackets, ports 1-65535, a URL may leave the port out, with the same messages', () => {
    assert.deepEqual(checkAddress('[::1]:7721', 'owlcache'), { ok: true, address: '[::1]:7721', endpoint: { scheme: null, host: '::1', port: 7721 } });
    assert.deepEqual(checkAddress('HTTPS://[::1]/', 'owlcache'), {
      ok: true,
      address: 'https://[::1]',
      endpoint: { scheme: 'https', host: '::1', port: null },
    });
    const message = (raw: string, kind: 'owlcache' | 'gossip' = 'owlcache') => {
      const c = checkAddress(raw, kind);
      return c.ok ? 'ok' : c.message;
    };
    assert.match(message('::1:7721'), /put an IPv6 address in brackets, e\.g\. \[::1\]:7721/);
    assert.match(message('[::1:7721'), /an IPv6 address must be closed with \]/);
    assert.match(message('[::1]x'), /unexpected "x" after the IPv6 address/);
    assert.match(message('127.0.0.1'), /the port is missing/);
    assert.match(message('127.0.0.1:'), /the port "" is not a number/);
    assert.match(message('127.0.0.1:0'), /the port 0 is out of range 1-65535/);
    assert.match(message('127.0.0.1:65536'), /the port 65536 is out of range 1-65535/);
    assert.match(message('[1.2.3.4]:80'), /"1\.2\.3\.4" is not a valid IPv6 address/);
    assert.match(message(':80'), /the host is missing/);
    assert.match(message('bad_host!:99999'), /is not a valid host name/, 'the host is judged before the port, as before');
    assert.match(message('127.0.0.1', 'gossip'), /the port is missing/);
  });

  it('the peer directory (delta sender, data and HTTP addresses, internal calls): ports 1-65535, IPv6 with or without brackets', () => {
    assert.deepEqual(splitPeerAddress('127.0.0.1:7721'), ['127.0.0.1', 7721]);
    assert.deepEqual(splitPeerAddress('[::1]:7721'), ['::1', 7721]);
    assert.deepEqual(splitPeerAddress('::1:7721'), ['::1', 7721], 'what a node advertises when ResponseHost is ::1');
    assert.deepEqual(splitPeerAddress('node-a:65535'), ['node-a', 65535]);
    for (const bad of ['h', 'h:', 'h:0', 'h:65536', ':80', '']) assert.equal(splitPeerAddress(bad), null, bad);
    // Text no node writes, which the old reader took through Number(): now refused as elsewhere.
    for (const odd of ['h:0x50', 'h:1e3', 'h: 80', 'h:80 ']) assert.equal(splitPeerAddress(odd), null, odd);
  });

  it('node.ts: the advertised host of GossipAdvertiseAddr (empty = ResponseHost), and the self-host list', () => {
    const advertisedHost = (advertise: string, responseHost = 'rh') => parseMemberAddress(advertise, 0)?.host ?? responseHost;
    assert.equal(advertisedHost(''), 'rh');
    assert.equal(advertisedHost('10.0.0.5'), '10.0.0.5');
    assert.equal(advertisedHost('10.0.0.5:7946'), '10.0.0.5');
    assert.equal(advertisedHost('[::1]:7946'), '::1');
    assert.equal(advertisedHost('[::1]'), '::1');
    assert.equal(advertisedHost('::1:7946'), '::1');
    assert.equal(unbracketHost(' [FD00::1] '.trim().toLowerCase()), 'fd00::1');
  });
});
