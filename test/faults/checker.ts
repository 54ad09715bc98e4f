/**
 * What the cluster must hold after a fault run, from the client's history.
 *
 * Why the expectation is sound: the client keeps at most one write per key in
 * flight and waits a few milliseconds after each answer before the next write
 * to that key. All nodes share one wall clock, and a node stamps a write with a
 * hybrid-logical-clock version at least its wall clock, so each write to a key
 * gets a higher version than every earlier acknowledged write to it: the
 * cluster's version order is the client's order. Each answer says what the node
 * did (200: written; 404 to expire/delete: nothing written), and the merge rule
 * keeps two registers per key (value: set / delete; expiry: set / expire), each
 * taking its newest write. So the final state of a key is the client's model
 * after applying, in order, every write answered 200.
 *
 * A write whose outcome is unknown (timed out or cut off after the connection
 * was made) may still be applied later (a paused node reads it on resume). The
 * client never writes that key again, so the key may end either with or
 * without that one write.
 */

export type Op = 'set' | 'expire' | 'delete';
/** Expiry classes: never, far beyond the run, or short enough to have passed before the check. */
export type Ttl = 'none' | 'long' | 'short';
/** applied: answered 200; noop: answered 404 (nothing written); failed: never reached the node; rejected: 401 and the like; unknown: may or may not have happened. */
export type Outcome = 'applied' | 'noop' | 'failed' | 'rejected' | 'unknown';

export interface WriteRecord {
  id: number;
  key: string;
  op: Op;
  /** Index of the node the write was sent to. */
  node: number;
  /** Hash of the value (set only). */
  hash?: string;
  size?: number;
  /** Expiry class written (set and expire). */
  ttl?: Ttl;
  sentAt: number;
  doneAt: number;
  outcome: Outcome;
  status?: number;
  error?: string;
}

export interface KeyModel {
  /** Hash of the value in the value register; null: never written or deleted. */
  value: string | null;
  ttl: Ttl;
}

export const EMPTY: KeyModel = { value: null, ttl: 'none' };

export function applyWrite(m: KeyModel, w: Pick<WriteRecord, 'op' | 'hash' | 'ttl'>): KeyModel {
  switch (w.op) {
    case 'set':
      return { value: w.hash ?? null, ttl: w.ttl ?? 'none' };
    case 'delete':
      return { value: null, ttl: m.ttl };
    case 'expire':
      return { value: m.value, ttl: w.ttl ?? 'none' };
  }
}

/** What a read returns for this state once short expiries have passed: the value's hash, or null (404). */
export function readOf(m: KeyModel): string | null {
  return m.value !== null && m.ttl !== 'short' ? m.value : null;
}

export interface KeyExpectation {
  key: string;
  /** Reads allowed on every node. */
  allowed: Set<string | null>;
  /** Every value hash ever written to the key (to tell a lost write from a foreign value). */
  written: Map<string, number>;
  lastApplied: WriteRecord | null;
  unknown: WriteRecord | null;
  writes: number;
}

export class HistoryError extends Error {}

/** The allowed final reads of every key written in the history. */
export function expectations(history: readonly WriteRecord[]): Map<string, KeyExpectation> {
  const byKey = new Map<string, WriteRecord[]>();
  for (const w of history) {
    let list = byKey.get(w.key);
    if (list === undefined) {
      list = [];
      byKey.set(w.key, list);
    }
    list.push(w);
  }
  const out = new Map<string, KeyExpectation>();
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.sentAt - b.sentAt || a.id - b.id);
    let m = EMPTY;
    let unknown: WriteRecord | null = null;
    let lastApplied: WriteRecord | null = null;
    const written = new Map<string, number>();
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      if (i > 0 && w.sentAt < list[i - 1]!.doneAt) throw new HistoryError(`key ${key}: write ${w.id} was sent before write ${list[i - 1]!.id} was answered`);
      if (unknown !== null) throw new HistoryError(`key ${key}: write ${w.id} follows write ${unknown.id} whose outcome is unknown`);
      if (w.op === 'set' && w.hash !== undefined) written.set(w.hash, w.id);
      if (w.outcome === 'applied') {
        m = applyWrite(m, w);
        lastApplied = w;
      } else if (w.outcome === 'unknown') {
        unknown = w;
      }
    }
    const allowed = new Set<string | null>([readOf(m)]);
    if (unknown !== null) allowed.add(readOf(applyWrite(m, unknown)));
    out.set(key, { key, allowed, written, lastApplied, unknown, writes: list.length });
  }
  return out;
}

export type ViolationKind = 'lost-write' | 'resurrected' | 'foreign-value' | 'diverged' | 'read-failed' | 'not-converged';

export interface Violation {
  kind: ViolationKind;
  key?: string;
  node?: string;
  detail: string;
}

/** Judges one key's reads (node name → hash or null) against its expectation. */
export function judgeKey(exp: KeyExpectation, reads: Map<string, string | null | Error>): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string | null>();
  const show = (h: string | null) =>
    h === null ? 'nothing' : exp.written.has(h) ? `write #${exp.written.get(h)} (${h.slice(0, 12)})` : `unknown bytes ${h.slice(0, 12)}`;
  const want = [...exp.allowed].map(show).join(' or ');
  for (const [node, got] of reads) {
    if (got instanceof Error) {
      out.push({ kind: 'read-failed', key: exp.key, node, detail: got.message });
      continue;
    }
    seen.add(got);
    if (exp.allowed.has(got)) continue;
    let kind: ViolationKind;
    if (got !== null && !exp.written.has(got)) kind = 'foreign-value';
    else if (got !== null && !exp.allowed.has(got) && [...exp.allowed].every((a) => a === null)) kind = 'resurrected';
    else kind = 'lost-write';
    out.push({
      kind,
      key: exp.key,
      node,
      detail: `holds ${show(got)}, expected ${want} (last acknowledged write #${exp.lastApplied?.id ?? '-'}${exp.unknown ? `, unknown write #${exp.unknown.id}` : ''})`,
    });
  }
  if (seen.size > 1 && out.length === 0) {
    out.push({
      kind: 'diverged',
      key: exp.key,
      detail: `nodes disagree: ${[...reads].map(([n, g]) => `${n}=${g instanceof Error ? 'error' : show(g)}`).join(', ')}`,
    });
  }
  return out;
}
