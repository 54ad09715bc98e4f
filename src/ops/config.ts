import { OpsError, fieldError } from './errors.js';
import { optEnum, optString, reqEnum, type Input } from './fields.js';
import type { OpsDeps } from './context.js';
import { askPeer, settleAll } from './peers.js';
import { SWITCHES, SWITCH_KEYS, SWITCH_VALUES, type SwitchKey, type SwitchValue } from './switches.js';

/** CubeFS clustermgr's /config/get and /config/set, on this node's task switches (switches.ts). */

const PEER_TIMEOUT_MS = 3000;

function keyField(input: Input, required: boolean): SwitchKey | undefined {
  const k = optString(input, 'key');
  if (k === undefined || k === '') {
    if (required) throw fieldError('key', `is required (one of ${SWITCH_KEYS.join(', ')})`);
    return undefined;
  }
  if (!(SWITCH_KEYS as string[]).includes(k))
    throw new OpsError(404, `key: no task switch is called ${JSON.stringify(k)}; the switches are ${SWITCH_KEYS.join(', ')}`, {
      field: 'key',
      accepted: SWITCH_KEYS,
    });
  return k as SwitchKey;
}

export function configGet(deps: OpsDeps, input: Input): Record<string, unknown> {
  const key = keyField(input, false);
  if (key === undefined) return { node_name: deps.node.name(), switches: deps.switches.all() };
  return { node_name: deps.node.name(), key, value: deps.switches.value(key), description: SWITCHES[key] };
}

export interface ConfigSetArgs {
  key: SwitchKey;
  value: SwitchValue;
  scope: 'node' | 'cluster';
}

export function parseConfigSet(input: Input): ConfigSetArgs {
  return { key: keyField(input, true)!, value: reqEnum(input, 'value', SWITCH_VALUES), scope: optEnum(input, 'scope', ['node', 'cluster'] as const) ?? 'node' };
}

/** Sets the switch here (saved, then applied). */
export function setLocal(deps: OpsDeps, key: SwitchKey, value: SwitchValue): void {
  try {
    deps.switches.set(key, value === 'Enable');
  } catch (err) {
    throw new OpsError(500, `cannot save the switch: ${(err as Error).message}`);
  }
  deps.log.info('task switch %s set to %s', key, value);
}

export async function configSet(deps: OpsDeps, args: ConfigSetArgs): Promise<Record<string, unknown>> {
  setLocal(deps, args.key, args.value);
  const here = { node_name: deps.node.name(), ok: true, value: deps.switches.value(args.key) };
  if (args.scope === 'node') return { key: args.key, value: here.value, scope: 'node', node_name: here.node_name };
  const c = deps.cluster();
  const others = c === null ? [] : c.memberList().filter((m) => !m.local && m.state === 'alive' && m.http !== null);
  const answers = await settleAll(others, (m) =>
    askPeer<{ value: SwitchValue }>(c!, m.http!, { op: 'config_set', key: args.key, value: args.value }, PEER_TIMEOUT_MS),
  );
  const results: Record<string, unknown>[] = [here];
  others.forEach((m, i) => {
    const a = answers[i]!;
    results.push(a.ok ? { node_name: m.name ?? m.gossip, ok: true, value: a.value.value } : { node_name: m.name ?? m.gossip, ok: false, error: a.error });
  });
  return { key: args.key, value: args.value, scope: 'cluster', results };
}
