import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../persistence/files.js';

/**
 * Run-time switches of the node's background tasks (CubeFS clustermgr's
 * /config/get and /config/set task switches). Each is `Enable` or `Disable`,
 * kept in the data directory (RUNTIME_SWITCHES_FILE) so it survives a restart,
 * and applied through the function node.ts gives for it, which really stops or
 * starts the task.
 */
export const SWITCHES = {
  anti_entropy: 'push-pull rounds, started here or asked of this node by a peer (gossip mode)',
  dissemination: 'pushing writes to peers as UDP deltas (gossip mode); anti-entropy still catches them up',
  expire_sweep: 'the Task_ClearExpireData sweep that takes expired entries out while nothing reads the store (any read takes them out too)',
  snapshot: 'the periodic Task_DataBackup snapshot (the append log keeps every change; a clean stop still writes one)',
  tombstone_gc: 'collecting tombstones and dead entries older than TombstoneTTL (and deleted /server/ entries)',
  accept_writes: 'client writes on every port (HTTP, TCP, RESP); Disable = read-only mode, reads and replication go on',
} as const;

export type SwitchKey = keyof typeof SWITCHES;
export const SWITCH_KEYS = Object.keys(SWITCHES) as SwitchKey[];
export type SwitchValue = 'Enable' | 'Disable';
export const SWITCH_VALUES = ['Enable', 'Disable'] as const;

const FORMAT = 1;

export class RuntimeSwitches {
  private readonly values = new Map<SwitchKey, boolean>();
  private readonly appliers = new Map<SwitchKey, (on: boolean) => void>();
  /** Why the file could not be used, if it could not (logged by the caller; every switch is then on). */
  readonly problem: string | null = null;

  constructor(private readonly file: string) {
    for (const k of SWITCH_KEYS) this.values.set(k, true);
    try {
      if (existsSync(file)) {
        const doc = JSON.parse(readFileSync(file, 'utf8')) as { format?: unknown; switches?: unknown };
        if (doc.format !== FORMAT || typeof doc.switches !== 'object' || doc.switches === null) throw new Error(`not a switch file of format ${FORMAT}`);
        for (const [k, v] of Object.entries(doc.switches as Record<string, unknown>)) {
          if ((SWITCH_KEYS as string[]).includes(k) && (v === 'Enable' || v === 'Disable')) this.values.set(k as SwitchKey, v === 'Enable');
        }
      }
    } catch (err) {
      this.problem = `${file} cannot be read (${(err as Error).message}): every task switch is Enable`;
    }
  }

  isOn(key: SwitchKey): boolean {
    return this.values.get(key) ?? true;
  }

  value(key: SwitchKey): SwitchValue {
    return this.isOn(key) ? 'Enable' : 'Disable';
  }

  all(): { key: SwitchKey; value: SwitchValue; description: string }[] {
    return SWITCH_KEYS.map((key) => ({ key, value: this.value(key), description: SWITCHES[key] }));
  }

  /** Sets how a switch acts, and applies its current value at once. */
  onApply(key: SwitchKey, apply: (on: boolean) => void): void {
    this.appliers.set(key, apply);
    apply(this.isOn(key));
  }

  /** Saves, then applies. Throws (nothing changed) if the file cannot be written. */
  set(key: SwitchKey, on: boolean): void {
    const next = new Map(this.values).set(key, on);
    const doc = { format: FORMAT, switches: Object.fromEntries(SWITCH_KEYS.map((k) => [k, next.get(k) ? 'Enable' : 'Disable'])) };
    writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`);
    this.values.set(key, on);
    this.appliers.get(key)?.(on);
  }
}
