import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { LOADING_MESSAGE, loadingGate } from '../../src/api/http/loading-gate.js';
import { Metrics } from '../../src/metrics/metrics.js';

/** While the node loads its data directory, HTTP answers the probes and refuses the rest (README "Health checks"). */

function send(port: number, method: string, path: string, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('the loading gate', () => {
  let loading = true;
  const metrics = new Metrics();
  const gate = loadingGate({ loading: () => loading, responseHost: () => '127.0.0.1:7721', metrics });
  // Behind the gate: what the app would answer.
  const server = http.createServer((req, res) => {
    if (gate(req, res)) return;
    res.end(`app: ${req.url}`);
  });
  let port = 0;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('while loading: the probes pass, everything else gets a 503 envelope, counted as an error', async () => {
    loading = true;
    assert.equal((await send(port, 'GET', '/healthz')).text, 'app: /healthz');
    assert.equal((await send(port, 'GET', '/readyz?verbose=1')).text, 'app: /readyz?verbose=1');
    for (const [method, path, body] of [
      ['GET', '/data/?cmd=get&key=a', undefined],
      ['POST', '/data/', 'cmd=set&key=a&val=b'],
      ['GET', '/metrics', undefined],
      ['GET', '/healthz/extra', undefined],
    ] as const) {
      const r = await send(port, method, path, body);
      assert.equal(r.status, 503, `${method} ${path}`);
      assert.equal(r.headers['retry-after'], '1');
      assert.match(String(r.headers['content-type']), /^application\/json/);
      assert.deepEqual(JSON.parse(r.text), {
        Cmd: '',
        Status: 503,
        Results: 'ERROR',
        Key: '',
        Data: null,
        ResponseHost: '127.0.0.1:7721',
        KeyCreateTime: JSON.parse(r.text).KeyCreateTime,
        Message: LOADING_MESSAGE,
      });
    }
    const head = await send(port, 'HEAD', '/data/?cmd=get&key=a');
    assert.equal(head.status, 503);
    assert.equal(head.text, '');
    const counted = (await metrics.text()).split('\n').filter((l) => l.startsWith('owlcache_requests_total{'));
    assert.deepEqual(counted.sort(), [
      'owlcache_requests_total{port="http",command="get",outcome="error"} 2',
      'owlcache_requests_total{port="http",command="healthz",outcome="error"} 1',
      'owlcache_requests_total{port="http",command="metrics",outcome="error"} 1',
      'owlcache_requests_total{port="http",command="other",outcome="error"} 1',
    ]);
  });

  test('once the node serves, every request goes through', async () => {
    loading = false;
    assert.equal((await send(port, 'GET', '/data/?cmd=get&key=a')).text, 'app: /data/?cmd=get&key=a');
    assert.equal((await send(port, 'GET', '/metrics')).text, 'app: /metrics');
  });
});
