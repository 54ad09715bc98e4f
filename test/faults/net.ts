import { spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The fault run's network: one network namespace per node, each with a veth
 * pair whose other end sits on a bridge in the root namespace (the client talks
 * to the nodes from there, through the bridge's address). Partitions and
 * datagram loss are traffic-control filters on each node's egress:
 *
 *   root qdisc htb 1:, default class 1:1 (pass)
 *   class 1:2 → pfifo limit 0 (drops everything classified into it)
 *   class 1:3 → netem loss P% (only where the kernel has netem)
 *
 * - partition: u32 filters "destination is a node of the other side → 1:2";
 * - loss: a u32 filter "UDP → 1:3" with netem; without netem, "UDP whose nonce
 *   byte matches a mask → 1:2": every node-to-node datagram carries 12 random
 *   nonce bytes at a fixed offset (src/cluster/security.ts), so a mask of k bits
 *   drops a random 1/2^k of them.
 *
 * Names carry a slot number (owlf<slot>n<i> namespaces, owlf<slot>h<i> veths,
 * owlf<slot>br bridge, 10.231.<slot>.0/24) so two runs on one machine do not
 * collide; a slot is claimed with a file naming the run's pid, and a run starts
 * by removing the leftovers of runs that died (their pid is gone).
 *
 * Where namespaces cannot be made (no privilege), the nodes run on 127.0.0.1
 * and the caller substitutes pauses (SIGSTOP) for partitions and loss.
 */

export type NetMode = 'netns-tc' | 'netns-routes' | 'loopback';

const PREFIX = 'owlf';
const SLOT_DIR = join(tmpdir(), 'owlcache-faults');
const MAX_SLOT = 250;
const IP_TIMEOUT_MS = 10_000;

interface CmdResult {
  ok: boolean;
  out: string;
  err: string;
}

function run(cmd: string, args: string[]): CmdResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: IP_TIMEOUT_MS });
  return { ok: r.status === 0 && r.error === undefined, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error.message) : '') };
}

function must(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.err.trim()}`);
  return r.out;
}

function inNs(ns: string, cmd: string, args: string[]): CmdResult {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\u0000/g, ' ');
  } catch {
    return '';
  }
}

function slotFile(slot: number): string {
  return join(SLOT_DIR, `slot-${slot}.json`);
}

interface SlotLine {
  run?: number;
  node?: number;
  dir?: string;
}

function readSlot(slot: number): SlotLine[] {
  try {
    return readFileSync(slotFile(slot), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as SlotLine);
  } catch {
    return [];
  }
}

function listNamespaces(): string[] {
  const r = run('ip', ['netns', 'list']);
  if (!r.ok) return [];
  return r.out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

function listLinks(): string[] {
  const r = run('ip', ['-o', 'link', 'show']);
  if (!r.ok) return [];
  return r.out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');
}

function slotOfName(name: string): number | null {
  const m = new RegExp(`^${PREFIX}(\\d+)(?:n\\d+|h\\d+|p\\d+|br|x)$`).exec(name);
  return m ? Number(m[1]) : null;
}

/** Kills node processes a dead run left behind (recognised by their command line, never by name alone). */
function killRecordedNodes(lines: SlotLine[]): number {
  let killed = 0;
  for (const l of lines) {
    if (l.node === undefined || !pidAlive(l.node)) continue;
    const cmd = cmdlineOf(l.node);
    if (cmd.includes('cli.js') && cmd.includes('owlcache-faults-')) {
      try {
        process.kill(l.node, 'SIGKILL');
        killed++;
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return killed;
}

/** Removes the namespaces, veths and bridge of one slot, killing whatever still runs inside its namespaces. */
function removeSlotNetwork(slot: number): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces().filter((n) => slotOfName(n) === slot)) {
    const pids = run('ip', ['netns', 'pids', ns]);
    for (const p of pids.out.split(/\s+/).filter((x) => /^\d+$/.test(x))) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (run('ip', ['netns', 'del', ns]).ok) removed.push(ns);
  }
  for (const link of listLinks().filter((n) => slotOfName(n) === slot)) {
    if (run('ip', ['link', 'del', link]).ok) removed.push(link);
  }
  return removed;
}

/** True while the run that claimed `slot` is alive. */
function slotInUse(slot: number): boolean {
  const run0 = readSlot(slot).find((l) => l.run !== undefined)?.run;
  return run0 !== undefined && run0 !== process.pid && pidAlive(run0) && cmdlineOf(run0).includes('node');
}

/**
 * Removes what earlier runs that died left behind: their node processes,
 * namespaces, veths and bridges, and slot files. Returns a description of what
 * was removed (empty when there was nothing).
 */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  const slots = new Set<number>();
  if (existsSync(SLOT_DIR)) {
    for (const f of readdirSync(SLOT_DIR)) {
      const m = /^slot-(\d+)\.json$/.exec(f);
      if (m) slots.add(Number(m[1]));
    }
  }
  for (const n of [...listNamespaces(), ...listLinks()]) {
    const s = slotOfName(n);
    if (s !== null) slots.add(s);
  }
  for (const s of slots) {
    if (slotInUse(s)) continue;
    const killed = killRecordedNodes(readSlot(s));
    if (killed > 0) removed.push(`${killed} node process(es) of slot ${s}`);
    removed.push(...removeSlotNetwork(s));
    for (const l of readSlot(s)) {
      if (l.dir?.startsWith(join(tmpdir(), 'owlcache-faults-')) && existsSync(l.dir)) {
        rmSync(l.dir, { recursive: true, force: true });
        removed.push(l.dir);
      }
    }
    rmSync(slotFile(s), { force: true });
  }
  return removed;
}

function claimSlot(): number {
  mkdirSync(SLOT_DIR, { recursive: true });
  const taken = new Set([...listNamespaces(), ...listLinks()].map(slotOfName).filter((s): s is number => s !== null));
  for (let s = 1; s <= MAX_SLOT; s++) {
    if (taken.has(s)) continue;
    try {
      const fd = openSync(slotFile(s), 'wx');
      writeSync(fd, `${JSON.stringify({ run: process.pid })}\n`);
      closeSync(fd);
      return s;
    } catch {
      /* taken: next */
    }
  }
  throw new Error(`no free fault-run slot in ${SLOT_DIR} (1..${MAX_SLOT})`);
}

export interface NetOptions {
  /** Force the loopback fallback even where namespaces work (FAULT_NET=loopback). */
  forceLoopback?: boolean;
}

export class FaultNet {
  readonly slot: number;
  mode: NetMode = 'loopback';
  /** netem loss is available (else: nonce-mask drops, or pauses). */
  netem = false;
  /** One line saying what this run can inject and how. */
  description = '';
  private readonly n: number;
  private built = false;
  private closed = false;
  private partitioned: [number[], number[]] | null = null;
  private lossy: number[] = [];

  private constructor(n: number, slot: number) {
    this.n = n;
    this.slot = slot;
  }

  /** Claims a slot and builds the namespaces, or settles for loopback (saying why). */
  static create(n: number, opts: NetOptions = {}): FaultNet {
    if (n < 1 || n > 200) throw new RangeError('1..200 nodes');
    const net = new FaultNet(n, claimSlot());
    try {
      net.build(opts);
    } catch (err) {
      net.cleanup();
      throw err;
    }
    return net;
  }

  private ns(i: number): string {
    return `${PREFIX}${this.slot}n${i + 1}`;
  }

  private veth(i: number): string {
    return `${PREFIX}${this.slot}h${i + 1}`;
  }

  private peer(i: number): string {
    return `${PREFIX}${this.slot}p${i + 1}`;
  }

  private bridge(): string {
    return `${PREFIX}${this.slot}br`;
  }

  /** The address node i binds (and is reached at). */
  hostOf(i: number): string {
    return this.mode === 'loopback' ? '127.0.0.1' : this.nsAddress(i);
  }

  private nsAddress(i: number): string {
    return `10.231.${this.slot}.${i + 1}`;
  }

  /** The command that runs a program inside node i's namespace (empty on loopback). */
  prefixOf(i: number): string[] {
    return this.mode === 'loopback' ? [] : ['ip', 'netns', 'exec', this.ns(i)];
  }

  /** Records a node process so a later run can remove it if this one dies without cleaning up. */
  recordPid(pid: number): void {
    this.record({ node: pid });
  }

  /** Records the run's folder, removed by a later run if this one dies without cleaning up. */
  recordDir(dir: string): void {
    this.record({ dir });
  }

  private record(line: SlotLine): void {
    try {
      appendFileSync(slotFile(this.slot), `${JSON.stringify(line)}\n`);
    } catch {
      /* best effort */
    }
  }

  private build(opts: NetOptions): void {
    if (opts.forceLoopback) {
      this.description = 'network faults: FAULT_NET=loopback: nodes on 127.0.0.1; partitions and datagram loss are simulated by pausing processes (SIGSTOP)';
      return;
    }
    const probe = run('ip', ['netns', 'add', this.ns(0)]);
    if (!probe.ok) {
      this.description = `network faults: cannot create network namespaces here (ip netns add: ${probe.err.trim().split('\n')[0] || 'failed'}): nodes on 127.0.0.1; partitions and datagram loss are simulated by pausing processes (SIGSTOP)`;
      return;
    }
    this.built = true;
    must('ip', ['link', 'add', this.bridge(), 'type', 'bridge']);
    must('ip', ['addr', 'add', `10.231.${this.slot}.254/24`, 'dev', this.bridge()]);
    must('ip', ['link', 'set', this.bridge(), 'up']);
    let tc = true;
    let tcWhy = '';
    let netem = true;
    for (let i = 0; i < this.n; i++) {
      if (i > 0) must('ip', ['netns', 'add', this.ns(i)]);
      must('ip', ['link', 'add', this.veth(i), 'type', 'veth', 'peer', 'name', this.peer(i)]);
      must('ip', ['link', 'set', this.peer(i), 'netns', this.ns(i)]);
      must('ip', ['link', 'set', this.veth(i), 'master', this.bridge()]);
      must('ip', ['link', 'set', this.veth(i), 'up']);
      const ns = this.ns(i);
      const dev = this.peer(i);
      for (const args of [
        ['link', 'set', 'lo', 'up'],
        ['addr', 'add', `${this.nsAddress(i)}/24`, 'dev', dev],
        ['link', 'set', dev, 'up'],
      ]) {
        const r = inNs(ns, 'ip', args);
        if (!r.ok) throw new Error(`ip ${args.join(' ')} in ${ns}: ${r.err.trim()}`);
      }
      if (tc) {
        const steps = [
          ['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '1'],
          ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10gbit'],
          ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:2', 'htb', 'rate', '10gbit'],
          ['qdisc', 'add', 'dev', dev, 'parent', '1:2', 'handle', '20:', 'pfifo', 'limit', '0'],
        ];
        for (const s of steps) {
          const r = inNs(ns, 'tc', s);
          if (!r.ok) {
            tc = false;
            tcWhy = `tc ${s.slice(0, 2).join(' ')} ${s.includes('htb') ? 'htb' : 'pfifo'}: ${r.err.trim().split('\n').pop()}`;
            break;
          }
        }
        if (tc && i === 0) {
          // The filter kind the faults need, tried once on a harmless match.
          const r = inNs(ns, 'tc', [
            'filter',
            'add',
            'dev',
            dev,
            'parent',
            '1:',
            'protocol',
            'ip',
            'prio',
            '99',
            'u32',
            'match',
            'ip',
            'dst',
            '0.0.0.1/32',
            'flowid',
            '1:2',
          ]);
          if (!r.ok) {
            tc = false;
            tcWhy = `tc filter u32: ${r.err.trim().split('\n').pop()}`;
          } else {
            inNs(ns, 'tc', ['filter', 'del', 'dev', dev, 'parent', '1:', 'prio', '99']);
          }
        }
      }
      if (tc && netem) {
        const a = inNs(ns, 'tc', ['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:3', 'htb', 'rate', '10gbit']);
        const b = a.ok ? inNs(ns, 'tc', ['qdisc', 'add', 'dev', dev, 'parent', '1:3', 'handle', '30:', 'netem', 'loss', '0%']) : a;
        if (!b.ok) netem = false;
      }
    }
    this.mode = tc ? 'netns-tc' : 'netns-routes';
    this.netem = tc && netem;
    const where = `nodes in network namespaces ${this.ns(0)}..${this.ns(this.n - 1)} (10.231.${this.slot}.1-${this.n}, bridge ${this.bridge()})`;
    if (this.mode === 'netns-tc') {
      this.description =
        `network faults: ${where}; partitions by tc u32 drop filters; datagram loss by ` +
        (this.netem ? 'tc netem' : 'tc u32 drops on a random nonce byte (tc netem is not available in this kernel)');
    } else {
      this.description = `network faults: ${where}; tc drop filters unavailable (${tcWhy}): partitions by blackhole routes, datagram loss simulated by short pauses (SIGSTOP)`;
    }
  }

  get canPartition(): boolean {
    return this.mode !== 'loopback';
  }

  get canDropDatagrams(): boolean {
    return this.mode === 'netns-tc';
  }

  /** Cuts every path between side a and side b (both directions; the client still reaches everyone). */
  partition(a: number[], b: number[]): void {
    if (!this.canPartition) throw new Error('no partitions in loopback mode');
    this.healPartition();
    this.partitioned = [a, b];
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const i of from) {
        for (const j of to) {
          if (this.mode === 'netns-tc') {
            const r = inNs(this.ns(i), 'tc', [
              'filter',
              'add',
              'dev',
              this.peer(i),
              'parent',
              '1:',
              'protocol',
              'ip',
              'prio',
              String(10 + j),
              'u32',
              'match',
              'ip',
              'dst',
              `${this.hostOf(j)}/32`,
              'flowid',
              '1:2',
            ]);
            if (!r.ok) throw new Error(`partition filter ${i}→${j}: ${r.err.trim()}`);
          } else {
            const r = inNs(this.ns(i), 'ip', ['route', 'add', 'blackhole', `${this.hostOf(j)}/32`]);
            if (!r.ok) throw new Error(`blackhole route ${i}→${j}: ${r.err.trim()}`);
          }
        }
      }
    }
  }

  healPartition(): void {
    const p = this.partitioned;
    if (p === null) return;
    this.partitioned = null;
    for (const [from, to] of [
      [p[0], p[1]],
      [p[1], p[0]],
    ] as const) {
      for (const i of from) {
        for (const j of to) {
          if (this.mode === 'netns-tc') inNs(this.ns(i), 'tc', ['filter', 'del', 'dev', this.peer(i), 'parent', '1:', 'prio', String(10 + j)]);
          else inNs(this.ns(i), 'ip', ['route', 'del', 'blackhole', `${this.hostOf(j)}/32`]);
        }
      }
    }
  }

  /**
   * Drops about `fraction` of the UDP datagrams the given nodes send. Without
   * netem the fraction is rounded to a power of 1/2; returns the fraction used.
   */
  setLoss(nodes: number[], fraction: number): number {
    if (!this.canDropDatagrams) throw new Error('no datagram loss without tc');
    this.clearLoss();
    this.lossy = [...nodes];
    let used = fraction;
    for (const i of nodes) {
      const dev = this.peer(i);
      let r: CmdResult;
      if (this.netem) {
        const pct = (fraction * 100).toFixed(2);
        r = inNs(this.ns(i), 'tc', ['qdisc', 'change', 'dev', dev, 'parent', '1:3', 'handle', '30:', 'netem', 'loss', `${pct}%`]);
        if (r.ok)
          r = inNs(this.ns(i), 'tc', [
            'filter',
            'add',
            'dev',
            dev,
            'parent',
            '1:',
            'protocol',
            'ip',
            'prio',
            '5',
            'u32',
            'match',
            'ip',
            'protocol',
            '17',
            '0xff',
            'flowid',
            '1:3',
          ]);
      } else {
        const bits = Math.min(8, Math.max(1, Math.round(-Math.log2(fraction))));
        used = 1 / 2 ** bits;
        const mask = `0x${((1 << bits) - 1).toString(16).padStart(2, '0')}`;
        // IPv4 header (20) + UDP header (8) + sealed header: version, flags, time (8) = byte 38 starts the nonce.
        r = inNs(this.ns(i), 'tc', [
          'filter',
          'add',
          'dev',
          dev,
          'parent',
          '1:',
          'protocol',
          'ip',
          'prio',
          '5',
          'u32',
          'match',
          'ip',
          'protocol',
          '17',
          '0xff',
          'match',
          'u8',
          '0x00',
          mask,
          'at',
          '40',
          'flowid',
          '1:2',
        ]);
      }
      if (!r.ok) throw new Error(`loss filter on node ${i}: ${r.err.trim()}`);
    }
    return used;
  }

  clearLoss(): void {
    for (const i of this.lossy) inNs(this.ns(i), 'tc', ['filter', 'del', 'dev', this.peer(i), 'parent', '1:', 'prio', '5']);
    this.lossy = [];
  }

  /** Datagrams dropped by the filters so far (all nodes), for the summary; 0 when not measurable. */
  dropped(): number {
    if (this.mode !== 'netns-tc') return 0;
    let total = 0;
    for (let i = 0; i < this.n; i++) {
      for (const handle of ['20:', ...(this.netem ? ['30:'] : [])]) {
        const r = inNs(this.ns(i), 'tc', ['-s', 'qdisc', 'show', 'dev', this.peer(i), 'handle', handle]);
        const m = /dropped (\d+)/.exec(r.out);
        if (m) total += Number(m[1]);
      }
    }
    return total;
  }

  /**
   * Removes every namespace, veth and the bridge of this run and releases the
   * slot. Synchronous and idempotent, so it also runs from signal and exit
   * handlers. Node processes must be killed first (the caller's job); anything
   * still running inside a namespace is killed here.
   */
  cleanup(): string[] {
    if (this.closed) return [];
    this.closed = true;
    const left: string[] = [];
    if (this.built) {
      removeSlotNetwork(this.slot);
      for (const n of [...listNamespaces(), ...listLinks()]) if (slotOfName(n) === this.slot) left.push(n);
    }
    rmSync(slotFile(this.slot), { force: true });
    return left;
  }
}
