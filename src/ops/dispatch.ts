import { OpsError } from './errors.js';
import { isObject, type Input } from './fields.js';
import type { OpsDeps } from './context.js';
import { OPERATION_NAMES, operation, restPaths, type Operation } from './table.js';
import type { OpsAnswer } from './types.js';

/**
 * The request forms of the operations table: HarperDB's `{"operation": …}`
 * and Kunlun's `{"ver": "0.1", "job_type": …}` bodies on POST /, and the REST
 * paths. Kunlun's `*_cmd` jobs (run a shell command) are refused outright:
 * this node never runs commands sent over the network.
 */

const PATHS = restPaths();

async function run(deps: OpsDeps, o: Operation, input: Input): Promise<OpsAnswer> {
  try {
    const args = o.parse(input, deps);
    return { status: 200, body: await o.run(deps, args) };
  } catch (err) {
    if (err instanceof OpsError) return { status: err.status, body: err.body() };
    throw err;
  }
}

/** A JSON body on POST /. */
export async function runBody(deps: OpsDeps, body: unknown): Promise<OpsAnswer> {
  if (!isObject(body)) {
    return {
      status: 400,
      body: { error: 'the body must be a JSON object: {"operation": "…", …} or {"ver": "0.1", "job_type": "…", …}', operations: OPERATION_NAMES },
    };
  }
  const kunlun = body.operation === undefined && body.job_type !== undefined;
  const field = kunlun ? 'job_type' : 'operation';
  const name = body[field];
  if (typeof name !== 'string' || name === '') {
    return { status: 400, body: { error: `${field}: is required (a string)`, field, operations: OPERATION_NAMES } };
  }
  if (/_cmd$/.test(name)) {
    return {
      status: 403,
      body: { error: `${field}: ${JSON.stringify(name.slice(0, 60))} is refused: this node never runs commands sent over the network`, field },
    };
  }
  const o = operation(name);
  if (o === undefined) {
    return { status: 404, body: { error: `${field}: no operation is called ${JSON.stringify(name.slice(0, 60))}`, field, operations: OPERATION_NAMES } };
  }
  if (kunlun && body.ver !== undefined && body.ver !== '0.1') {
    return { status: 400, body: { error: `ver: only "0.1" is known, not ${JSON.stringify(body.ver)}`, field: 'ver' } };
  }
  const answer = await run(deps, o, body);
  if (!kunlun) return answer;
  // Kunlun's jobs answer with their version, type and result.
  const ok = answer.status === 200;
  const rest = isObject(answer.body) ? answer.body : { data: answer.body };
  return { status: answer.status, body: { ver: '0.1', job_type: name, result: ok ? 'succeed' : 'error', ...rest } };
}

/** A REST path; null if the path is not one of the operations'. */
export async function runRest(deps: OpsDeps, method: string, path: string, input: Input): Promise<OpsAnswer | null> {
  const methods = PATHS.get(path);
  if (methods === undefined) return null;
  const o = methods.get(method === 'HEAD' ? 'GET' : method);
  if (o === undefined) {
    const allowed = [...methods.keys()];
    return { status: 405, body: { error: `${path} takes ${allowed.join(' or ')}, not ${method}`, allowed }, headers: { Allow: allowed.join(', ') } };
  }
  return run(deps, o, input);
}

export function restPathList(): string[] {
  return [...PATHS.keys()];
}
