import http from 'node:http';

/**
 * One HTTP request to a node, bounded in time, that says whether the request
 * could have reached the node: a failure before the TCP connection was made
 * (refused, unreachable) means the node never saw it; anything after (reset,
 * timeout) leaves it unknown whether the node acted on it.
 */
export interface CallResult {
  status: number;
  body: Buffer;
}

export class CallError extends Error {
  constructor(
    message: string,
    /** True when the connection was established, so the node may have acted on the request. */
    readonly maybeDelivered: boolean,
  ) {
    super(message);
  }
}

export interface CallOptions {
  method?: 'GET' | 'POST';
  body?: Buffer;
  timeoutMs?: number;
}

export function call(host: string, port: number, path: string, opts: CallOptions = {}): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      reject(new CallError(msg, connected));
    };
    const req = http.request(
      {
        host,
        port,
        path,
        method: opts.method ?? 'GET',
        agent: false,
        headers: opts.body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': String(opts.body.length) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => fail(err.message));
      },
    );
    req.on('socket', (s) => {
      if (!s.connecting) connected = true;
      else s.once('connect', () => (connected = true));
    });
    const timer = setTimeout(() => {
      fail(`${host}:${port} ${path.slice(0, 40)} timed out`);
      req.destroy();
    }, opts.timeoutMs ?? 5000);
    req.on('error', (err) => {
      clearTimeout(timer);
      fail(err.message);
    });
    if (opts.body) req.write(opts.body);
    req.end();
  });
}
