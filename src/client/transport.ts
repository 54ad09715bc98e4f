import http from 'node:http';
import https from 'node:https';

/**
 * One HTTP exchange with one node over keep-alive agents. A connection error,
 * a timeout or a 5xx is a NodeFailure (the caller tries the next node); every
 * other answer is returned as it came.
 */

export interface Exchange {
  method: 'GET' | 'POST';
  /** Path and query string. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  timeoutMs: number;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** The node could not be used: connection refused or reset, timeout, or a 5xx answer. */
export class NodeFailure extends Error {
  constructor(
    message: string,
    readonly answer?: Answer,
  ) {
    super(message);
  }
}

class StaleSocket extends Error {}

/** Largest answer accepted: a value is at most MaxValueSize, far below this. */
const MAX_ANSWER_BYTES = 512 * 1024 * 1024;

export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });

  /** A kept-alive socket the node had just closed is not the node failing: such a request is sent once more on a new connection. */
  async send(base: string, x: Exchange): Promise<Answer> {
    try {
      return await this.sendOnce(base, x);
    } catch (err) {
      if (err instanceof StaleSocket) return this.sendOnce(base, x);
      throw err;
    }
  }

  private sendOnce(base: string, x: Exchange): Promise<Answer> {
    const url = new URL(x.path, base);
    const secure = url.protocol === 'https:';
    const mod = secure ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (why: string, answer?: Answer) => {
        if (settled) return;
        settled = true;
        reject(new NodeFailure(why, answer));
      };
      const req = mod.request(
        url,
        {
          method: x.method,
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { ...(x.body ? { 'Content-Length': String(x.body.length) } : {}), ...x.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => {
            if (settled) return;
            const answer = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
            if (answer.status >= 500) return fail(`answered ${answer.status}${errorText(answer)}`, answer);
            settled = true;
            resolve(answer);
          });
          res.on('error', (e) => fail(e.message));
        },
      );
      req.setTimeout(x.timeoutMs, () => req.destroy(new Error(`no answer in ${x.timeoutMs} ms`)));
      req.on('error', (e) => {
        const code = (e as NodeJS.ErrnoException).code;
        if (req.reusedSocket && code === 'ECONNRESET' && !settled) {
          settled = true;
          return reject(new StaleSocket());
        }
        fail(code ?? e.message);
      });
      req.end(x.body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** ": why" from a JSON error answer (the operations' `error`, the data envelope's `Message`), else "". */
export function errorText(a: Answer): string {
  try {
    const doc = JSON.parse(a.body.toString('utf8')) as { error?: unknown; Message?: unknown };
    const why = doc.error ?? doc.Message;
    return typeof why === 'string' ? `: ${why}` : '';
  } catch {
    return '';
  }
}
