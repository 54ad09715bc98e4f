import { Packr, unpackMultiple } from 'msgpackr';
import { logger } from '../../log.js';
import { encodeRecord, recordFromArray, RecordFormatError } from '../../store/record-codec.js';
import { compareVersions } from '../../store/hlc.js';
import type { EntryRecord } from '../../store/entry.js';
import type { Store, StoreChange } from '../../store/store.js';
import type { InternalClient } from '../internal-client.js';
import { pickRandom, splitHostPort, type Peer, type PeerDirectory } from '../peers.js';
import { PURPOSE_LABEL, type UdpTransport } from '../transport/udp-transport.js';
import { BroadcastQueue, type QueuedDelta } from './broadcast-queue.js';

const log = logger('dissemination');

/**
 * Push (docs/architecture.md): every local write, and every write learned from a peer that
 * was new here, is pushed as a delta (the key's whole register state) over UDP
 * to `fanout` random live peers at once (batched for `flushMs`), and
 * retransmitted in later rounds until each delta has gone out
 * `retransmitMult × ⌈log10(N+1)⌉` times. Values too big for a datagram travel as
 * key + versions; the receiver fetches them from the sender over signed HTTP.
 * Datagrams go through the node's UdpTransport as 'data' datagrams (the
 * data-gossip port; sealed: MAC, timestamp window, replay cache). Best effort:
 * anti-entropy repairs what is lost.
 *
 * Datagram payload: a msgpack header `{v: 1, h: "<sender HTTP host:port>", to: [data
 * host:port, …]}` — `to` names every peer the sender sends this batch to, so receivers do not
 * push it on to those — followed by msgpack records (record-codec's arrays), decoded with
 * unpackMultiple.
 */
export const DATA_GOSSIP_PURPOSE = PURPOSE_LABEL.data;
export const DELTA_FORMAT = 1;

export interface DisseminatorOptions {
  store: Store;
  peers: PeerDirectory;
  client: InternalClient;
  /** The node's transport, carrying 'data'; its maxDatagram bounds every datagram. */
  transport: UdpTransport;
  /** This node's HTTP host:port, where receivers fetch big values. */
  selfHttp: string;
  fanout: number;
  retransmitMult: number;
  /** How long local writes are batched before the push (ms). */
  flushMs?: number;
  /** Retransmission round period (ms). */
  gossipIntervalMs?: number;
  /** How soon after a push the peers it missed are sent the same deltas (ms). */
  followUpMs?: number;
  maxQueue?: number;
}

export interface DisseminationStats {
  deltasSent: number;
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
  deltasReceived: number;
  deltasApplied: number;
  deltasDroppedOld: number;
  deltasMalformed: number;
  valueFetches: number;
  valueFetchFailures: number;
  queueDropped: number;
  queueLength: number;
  rejectedBadMac: number;
  rejectedStale: number;
  rejectedReplay: number;
  rejectedMalformed: number;
}

const packr = new Packr({ useRecords: false });
const MAX_PER_TICK = 256;

export class Disseminator {
  private readonly transport: UdpTransport;
  private running = false;
  private stopReceiving: (() => void) | null = null;
  private readonly queue: BroadcastQueue;
  private readonly budget: number;
  private flushTimer: NodeJS.Timeout | null = null;
  private followUpTimer: NodeJS.Timeout | null = null;
  private gossipTimer: NodeJS.Timeout | null = null;
  /** While a datagram is applied: the data-gossip addresses of the peers known to have its deltas. */
  private receivingFrom: string[] | undefined;
  /** While a datagram is applied: some live peer is not known to have its deltas, so what it teaches is pushed on. */
  private pushOn = true;
  private unsubscribe: (() => void) | null = null;
  private readonly fetching = new Set<string>();
  private closed = false;
  private readonly counters = {
    deltasSent: 0,
    deltasReceived: 0,
    deltasApplied: 0,
    deltasDroppedOld: 0,
    deltasMalformed: 0,
    valueFetches: 0,
    valueFetchFailures: 0,
  };

  constructor(private readonly opts: DisseminatorOptions) {
    this.transport = opts.transport;
    this.queue = new BroadcastQueue(opts.maxQueue ?? 20_000);
    // Room for the largest header: `fanout` addresses as long as an address can be.
    const widest = packr.pack({ v: DELTA_FORMAT, h: opts.selfHttp, to: Array.from({ length: opts.fanout }, () => 'x'.repeat(47)) });
    const max = this.transport.maxDatagram;
    this.budget = max - this.transport.overhead('data') - widest.length;
    if (this.budget < 128) throw new Error(`GossipMaxDatagram ${max} leaves no room for deltas`);
  }

  /** Takes the data datagrams of the (open) transport and starts pushing. */
  start(): void {
    this.stopReceiving = this.transport.onMessage('data', (payload, from) => this.receive(payload, from));
    this.running = true;
    this.unsubscribe = this.opts.store.onChange((c) => this.onChange(c));
    this.gossipTimer = setInterval(() => this.retransmitRound(), this.opts.gossipIntervalMs ?? 200);
    this.gossipTimer.unref();
  }

  /** Stops pushing and taking datagrams; the transport's owner closes it. */
  stop(): void {
    this.closed = true;
    this.running = false;
    this.stopReceiving?.();
    this.unsubscribe?.();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.followUpTimer) clearTimeout(this.followUpTimer);
    if (this.gossipTimer) clearInterval(this.gossipTimer);
    this.queue.clear();
  }

  stats(): DisseminationStats {
    const t = this.transport.stats().data;
    return {
      ...this.counters,
      datagramsSent: t.datagramsOut,
      bytesSent: t.bytesOut,
      datagramsReceived: t.datagramsIn,
      bytesReceived: t.bytesIn,
      queueDropped: this.queue.dropped,
      queueLength: this.queue.size,
      rejectedBadMac: t.dropped.mac,
      rejectedStale: t.dropped.stale,
      rejectedReplay: t.dropped.replay,
      rejectedMalformed: t.dropped.malformed,
    };
  }

  /** Writes made here and new writes learned by push are pushed on; anti-entropy and disk loads are not. */
  private onChange(c: StoreChange): void {
    if (c.origin !== 'local' && c.origin !== 'remote') return;
    if (c.origin === 'remote' && !this.pushOn) {
      // Every live peer has it (the sender and the peers it also went to): nothing to encode or
      // send, but an older delta of the key still queued is dropped, as a newer one replaces it.
      this.queue.forget(c.record.key);
      return;
    }
    this.queue.enqueue(c.record.key, this.encodeForDatagram(c.record), c.origin === 'remote' ? this.receivingFrom : undefined);
    this.scheduleFlush(this.opts.flushMs ?? 2);
  }

  private scheduleFlush(ms: number): void {
    if (this.flushTimer !== null) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.pushFresh();
    }, ms);
  }

  /** The record's bytes, or, when it would not fit a datagram, key + versions only (hollow). */
  private encodeForDatagram(r: EntryRecord): Buffer {
    const bytes = encodeRecord(r);
    if (bytes.length <= this.budget || r.value === null) return bytes;
    return encodeRecord({ ...r, value: null, hollow: true });
  }

  private retransmitLimit(peers: number): number {
    return this.opts.retransmitMult * Math.max(1, Math.ceil(Math.log10(peers + 2)));
  }

  /** Sends one batch to each of `targets`, telling each who else gets it. */
  private sendBatch(targets: readonly Peer[], batch: QueuedDelta[]): void {
    const header = packr.pack({ v: DELTA_FORMAT, h: this.opts.selfHttp, to: targets.map((p) => p.data) });
    const payload = Buffer.concat([header, ...batch.map((d) => d.bytes)]);
    for (const peer of targets) {
      this.counters.deltasSent += batch.length;
      void this.transport.send('data', peer.data, payload);
    }
  }

  /** The live peers, or null (and the queue dropped) when there is nobody to tell: anti-entropy brings later peers up to date. */
  private peersOrDrop(): Peer[] | null {
    if (!this.running) return null;
    const peers = this.opts.peers.livePeers();
    if (peers.length === 0) {
      this.queue.clear();
      return null;
    }
    return peers;
  }

  /** Pushes fresh deltas at once to `fanout` random peers that do not have them; the others follow shortly. */
  private pushFresh(): void {
    const peers = this.peersOrDrop();
    if (peers === null) return;
    const limit = this.retransmitLimit(peers.length);
    const liveData = peers.map((p) => p.data);
    for (let i = 0; i < MAX_PER_TICK; i++) {
      const batch = this.queue.takeFresh(this.budget);
      if (batch.length === 0) break;
      const candidates = peers.filter((p) => !batch.every((d) => d.sentTo.has(p.data)));
      const targets = pickRandom(candidates, this.opts.fanout);
      this.sendBatch(targets, batch);
      this.queue.sent(
        batch,
        targets.map((p) => p.data),
        limit,
        liveData,
      );
    }
    // More fresh deltas than one tick sends: keep going on the next tick.
    if (this.queue.freshCount > 0) this.scheduleFlush(1);
    if (this.queue.retryCount > 0 && this.followUpTimer === null) {
      this.followUpTimer = setTimeout(() => {
        this.followUpTimer = null;
        this.retransmitRound();
      }, this.opts.followUpMs ?? 20);
    }
  }

  /** Sends queued deltas to the peers that have not had them, least recently sent first. */
  private retransmitRound(): void {
    if (this.queue.retryCount === 0) return;
    const peers = this.peersOrDrop();
    if (peers === null) return;
    const limit = this.retransmitLimit(peers.length);
    const liveData = peers.map((p) => p.data);
    let datagrams = 0;
    for (const peer of pickRandom(peers, peers.length)) {
      for (let i = 0; i < 8 && datagrams < MAX_PER_TICK; i++) {
        const batch = this.queue.takeFor(peer.data, this.budget);
        if (batch.length === 0) break;
        this.sendBatch([peer], batch);
        this.queue.sent(batch, [peer.data], limit, liveData);
        datagrams++;
      }
    }
  }

  /** An opened data datagram from `from` (the sender's data-gossip host:port). */
  private receive(payload: Buffer, from: string): void {
    let values: unknown[];
    try {
      values = unpackMultiple(payload) as unknown[];
    } catch {
      log.debug('undecodable delta datagram from %s', from);
      this.counters.deltasMalformed++;
      return;
    }
    const header = values[0] as { v?: unknown; h?: unknown; to?: unknown } | undefined;
    if (
      typeof header !== 'object' ||
      header === null ||
      header.v !== DELTA_FORMAT ||
      typeof header.h !== 'string' ||
      splitHostPort(header.h) === null ||
      (header.to !== undefined && !(Array.isArray(header.to) && header.to.length <= 64 && header.to.every((t) => typeof t === 'string')))
    ) {
      this.counters.deltasMalformed++;
      return;
    }
    const sender = header.h;
    // Deltas this datagram teaches are not pushed on to the peer that sent it, nor to the peers it also went to.
    const live = this.opts.peers.livePeers();
    const senderData = live.find((p) => p.http === sender)?.data;
    const known = [...(senderData === undefined ? [] : [senderData]), ...((header.to as string[] | undefined) ?? [])];
    this.receivingFrom = known;
    this.pushOn = live.some((p) => !known.includes(p.data));
    try {
      this.applyDeltas(sender, values);
    } finally {
      this.receivingFrom = undefined;
      this.pushOn = true;
    }
  }

  private applyDeltas(sender: string, values: unknown[]): void {
    for (let i = 1; i < values.length; i++) {
      let record: EntryRecord;
      try {
        record = recordFromArray(values[i]);
      } catch (err) {
        // Whatever a datagram holds, a decoding failure is its problem, never the process's.
        if (!(err instanceof RecordFormatError)) log.warn('unexpected error decoding a delta from %s: %s', sender, (err as Error).message);
        this.counters.deltasMalformed++;
        continue;
      }
      this.counters.deltasReceived++;
      if (record.hollow) this.fetchValue(sender, record);
      else if (this.opts.store.merge(record, 'remote')) this.counters.deltasApplied++;
      else this.counters.deltasDroppedOld++;
    }
  }

  /** True if `r` carries a register newer than what is held here. */
  private isNews(r: EntryRecord): boolean {
    const local = this.opts.store.peek(r.key);
    return local === undefined || compareVersions(r.vv, local.vv) > 0 || compareVersions(r.ev, local.ev) > 0;
  }

  /**
   * A delta without its value: fetch the record from the sender. Never stores an
   * empty value because a fetch failed: after a few tries the key is left to
   * anti-entropy.
   */
  private fetchValue(sender: string, r: EntryRecord): void {
    if (!this.isNews(r)) {
      this.counters.deltasDroppedOld++;
      return;
    }
    const id = `${r.key}\u0000${r.vv.t}.${r.vv.c}.${r.vv.n}`;
    if (this.fetching.has(id)) return;
    this.fetching.add(id);
    this.counters.valueFetches++;
    void (async () => {
      try {
        for (let attempt = 0; attempt < 3 && !this.closed; attempt++) {
          if (attempt > 0) await new Promise((res) => setTimeout(res, 200 * 3 ** (attempt - 1)));
          try {
            const body = await this.opts.client.call(sender, 'GET', `/internal/entry?key=${encodeURIComponent(r.key)}`);
            if (body === null) break; // the sender no longer has it: anti-entropy will sort it out
            const fetched = recordFromArray(packr.unpack(body));
            if (fetched.key !== r.key) throw new Error('fetched the wrong key');
            if (this.opts.store.merge(fetched, 'remote')) this.counters.deltasApplied++;
            else this.counters.deltasDroppedOld++;
            return;
          } catch (err) {
            log.debug('fetching %s from %s failed: %s', r.key, sender, (err as Error).message);
          }
        }
        this.counters.valueFetchFailures++;
      } finally {
        this.fetching.delete(id);
      }
    })();
  }
}
