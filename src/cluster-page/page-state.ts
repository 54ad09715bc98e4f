import type { MemberInfo, MembershipEvents, MemberState } from '../cluster/membership/types.js';
import type { StoreChange } from '../store/store.js';
import { SlidingWindow } from './sliding-window.js';

/**
 * The cluster page's document (GET /ui/api/state): plain data the node fills
 * and the HTTP layer serialises. Every fact the node does not know is null,
 * and the page shows "—" for it; a source that learns more about its peers
 * (probes, a peer's own report) fills them through `PageSource.peerFacts`.
 */

/** What the page shows per member besides its identity and state. */
export interface MemberFacts {
  /** Round-trip time of the last probe, milliseconds. */
  rttMs: number | null;
  /** The member's clock minus this node's, milliseconds. */
  clockOffsetMs: number | null;
  /** True when its data matches this node's (same digest root). */
  inSync: boolean | null;
  uptimeSeconds: number | null;
  keys: number | null;
  /** Bytes held (entries and stubs), against maxMemory. */
  bytes: number | null;
  /** MaxMemory; 0 = no bound. */
  maxMemory: number | null;
  /** Reads and changes per second (its own clients' and replicated ones). */
  opsPerSecond: number | null;
  /** How long replicated writes took to arrive there (mean over the last seconds), milliseconds. */
  replicationLagMs: number | null;
}

export interface PageMember extends MemberFacts {
  name: string | null;
  /** Its SWIM host:port (gossip mode); null in owlcache mode. */
  gossip: string | null;
  http: string | null;
  state: MemberState;
  /** True for the node serving the page. */
  local: boolean;
  /** When the node serving the page saw its last state change (ISO 8601); null if unknown. */
  since: string | null;
}

export type PageEventKind = Exclude<keyof MembershipEvents, 'update'>;

export interface PageEvent {
  /** ISO 8601. */
  at: string;
  event: PageEventKind;
  /** Its name, else its gossip address. */
  member: string;
  gossip: string;
}

export interface PageState {
  /** When the document was made (ISO 8601). */
  at: string;
  node: { name: string; id: string; version: string; mode: string; http: string };
  /** False in owlcache mode: no membership, the page says so. */
  gossip: boolean;
  /** Every member, this node first; in owlcache mode this node alone. */
  members: PageMember[];
  /** Recent membership events, newest first. */
  events: PageEvent[];
}

/** The parts of /cluster/status the page reads (structurally; the node's status document has more). */
export interface PageStatus {
  node: { name: string; id: string; version: string; mode: string; http: string; uptimeSeconds: number };
  store: { keys: number; bytes: number; maxMemory: number };
  cluster: { members: readonly PageStatusMember[] } | null;
}

export interface PageStatusMember {
  name: string | null;
  state: MemberState;
  gossip: string;
  http: string | null;
  local: boolean;
  since: string;
}

/** What the node gives the page. */
export interface PageSource {
  status(): PageStatus;
  /** Reads served so far by every front end (a count that only grows). */
  reads(): number;
  /** Subscribes to every store change; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void;
  /** What is known of another member; missing facts stay null. */
  peerFacts?(member: PageStatusMember): Partial<MemberFacts> | undefined;
}

/** Subscribing to membership events: the Membership's own `on`/`off`. */
export interface MembershipEventSource {
  on<E extends keyof MembershipEvents>(event: E, listener: (info: MemberInfo) => void): unknown;
  off<E extends keyof MembershipEvents>(event: E, listener: (info: MemberInfo) => void): unknown;
}

/** How many membership events the page keeps. */
export const PAGE_EVENTS_KEPT = 50;

const EVENT_KINDS: readonly PageEventKind[] = ['join', 'alive', 'suspect', 'faulty', 'leave'];

const NO_FACTS: MemberFacts = {
  rttMs: null,
  clockOffsetMs: null,
  inSync: null,
  uptimeSeconds: null,
  keys: null,
  bytes: null,
  maxMemory: null,
  opsPerSecond: null,
  replicationLagMs: null,
};

/**
 * Collects what the page shows beyond /cluster/status: the operation rate,
 * the replication lag of deltas received, and the recent membership events.
 */
export class ClusterPage {
  private readonly ops: SlidingWindow;
  private readonly lag: SlidingWindow;
  private readonly events: PageEvent[] = [];
  private readonly unsubscribe: (() => void)[] = [];
  private readsSeen: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly source: PageSource,
    private readonly now: () => number = Date.now,
  ) {
    this.ops = new SlidingWindow(5, now);
    this.lag = new SlidingWindow(10, now);
    this.readsSeen = source.reads();
    this.unsubscribe.push(source.onChange((c) => this.changed(c)));
    // Reads are a counter of the command layer: folded into the rate once a second.
    this.timer = setInterval(() => this.countReads(), 1000);
    this.timer.unref();
  }

  /** Keeps the membership's events from now on (gossip mode). */
  watch(membership: MembershipEventSource): void {
    for (const event of EVENT_KINDS) {
      const listener = (info: MemberInfo) => this.record(event, info);
      membership.on(event, listener);
      this.unsubscribe.push(() => membership.off(event, listener));
    }
  }

  close(): void {
    clearInterval(this.timer);
    for (const u of this.unsubscribe.splice(0)) u();
  }

  state(): PageState {
    this.countReads();
    const s = this.source.status();
    const localFacts: MemberFacts = {
      // Round trip, clock offset and sync are facts about a peer: this node's own row leaves them out.
      ...NO_FACTS,
      uptimeSeconds: s.node.uptimeSeconds,
      keys: s.store.keys,
      bytes: s.store.bytes,
      maxMemory: s.store.maxMemory,
      opsPerSecond: round(this.ops.perSecond(), 1),
      replicationLagMs: nullable(this.lag.mean(), (v) => Math.round(v)),
    };
    const rows = s.cluster?.members ?? [];
    const local = rows.find((m) => m.local);
    const self: PageMember = {
      name: local?.name ?? s.node.name,
      gossip: local?.gossip ?? null,
      http: local?.http ?? s.node.http,
      state: local?.state ?? 'alive',
      local: true,
      since: local?.since ?? null,
      ...localFacts,
    };
    const others = rows
      .filter((m) => !m.local)
      .map(
        (m): PageMember => ({
          name: m.name,
          gossip: m.gossip,
          http: m.http,
          state: m.state,
          local: false,
          since: m.since,
          ...NO_FACTS,
          ...definedOnly(this.source.peerFacts?.(m)),
        }),
      )
      .sort((a, b) => (a.name ?? a.gossip ?? '').localeCompare(b.name ?? b.gossip ?? ''));
    const { name, id, version, mode, http } = s.node;
    return {
      at: new Date(this.now()).toISOString(),
      node: { name, id, version, mode, http },
      gossip: s.cluster !== null,
      members: [self, ...others],
      events: [...this.events].reverse(),
    };
  }

  private changed(c: StoreChange): void {
    if (c.origin === 'load') return;
    this.ops.add(1);
    if (c.origin !== 'remote') return;
    // A delta's age on arrival: from its write (the newer of its two registers) to now, on two clocks.
    const written = Math.max(c.record.vv.t, c.record.ev.t);
    this.lag.add(1, Math.max(0, this.now() - written));
  }

  private countReads(): void {
    const reads = this.source.reads();
    if (reads > this.readsSeen) this.ops.add(reads - this.readsSeen);
    this.readsSeen = reads;
  }

  private record(event: PageEventKind, info: MemberInfo): void {
    if (info.local) return;
    this.events.push({ at: new Date(this.now()).toISOString(), event, member: info.meta?.name ?? info.address, gossip: info.address });
    if (this.events.length > PAGE_EVENTS_KEPT) this.events.splice(0, this.events.length - PAGE_EVENTS_KEPT);
  }
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function nullable<T, U>(v: T | null, f: (v: T) => U): U | null {
  return v === null ? null : f(v);
}

/** The facts given, without keys set to undefined (they must not hide the nulls). */
function definedOnly(facts: Partial<MemberFacts> | undefined): Partial<MemberFacts> {
  if (facts === undefined) return {};
  return Object.fromEntries(Object.entries(facts).filter(([, v]) => v !== undefined)) as Partial<MemberFacts>;
}
