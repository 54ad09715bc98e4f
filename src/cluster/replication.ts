import { encodeRecord } from '../store/record-codec.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import { AntiEntropy, type AntiEntropyStats, type ListSync, type RoundReport } from './antientropy/anti-entropy.js';
import { Disseminator, type DisseminationStats } from './dissemination/disseminator.js';
import { InternalClient } from './internal-client.js';
import type { Peer, PeerDirectory } from './peers.js';
import { AUTH_HEADER, RequestSigner, type SigningStats } from './request-signing.js';
import type { UdpTransport } from './transport/udp-transport.js';

/**
 * Gossip mode's replication: push (UDP deltas) and push-pull (anti-entropy
 * over signed internal HTTP), and the internal routes' handlers. The gossip
 * cluster (cluster.ts) composes it from the store, the peer directory, the
 * transport and its tuning (built from the settings in src/compose/cluster-mode.ts).
 */
export interface ReplicationOptions {
  store: Store;
  peers: PeerDirectory;
  /** the node's transport, carrying 'data' */
  transport: UdpTransport;
  /** signs internal HTTP calls (the datagrams are sealed by the transport): GossipDataSyncAuthKey and GossipMacWindow */
  signing: { authKey: string; macWindowMs: number };
  selfHttp: string;
  lists?: ListSync;
  tuning: ReplicationTuning;
  /** Counts push-pull rounds (absent = not counted). */
  metrics?: Metrics;
}

/** Replication's settings, in its own units. */
export interface ReplicationTuning {
  fanout: number;
  retransmitMult: number;
  pushPullIntervalMs: number;
  httpTimeoutMs: number;
  https: boolean;
  insecureSkipVerify: boolean;
  maxValueSize: number;
}

/** Replication's part of /cluster/status. */
export interface ReplicationStats {
  /** The store's digest root: equal roots, equal stores. */
  digest: string;
  push: DisseminationStats;
  pushPull: AntiEntropyStats;
  internalHttp: SigningStats;
}

/**
 * Size limits of internal HTTP traffic: one get/put message carries at most
 * `message` bytes (room for the largest value), a body or answer at most `body`.
 */
export function internalLimits(maxValueSize: number): { message: number; body: number } {
  const message = Math.max(4 * 1024 * 1024, maxValueSize + 64 * 1024);
  return { message, body: 2 * message };
}

/** Background tasks of replication that can be switched off at run time (/config/set). */
export type ReplicationTask = 'anti_entropy' | 'dissemination';

/** Rounds remembered per peer (this node started them): at most this many peers. */
const MAX_PEER_ROUNDS = 4096;

export class Replication {
  readonly signer: RequestSigner;
  readonly client: InternalClient;
  readonly disseminator: Disseminator;
  readonly antiEntropy: AntiEntropy;
  readonly authHeader = AUTH_HEADER;
  readonly maxBodyBytes: number;
  private readonly enabled: Record<ReplicationTask, boolean> = { anti_entropy: true, dissemination: true };
  private readonly rounds = new Map<string, RoundReport>();

  constructor(private readonly opts: ReplicationOptions) {
    const tuning = opts.tuning;
    // A switched-off task sees no peers: nothing is pushed, no round starts (the queue is dropped, anti-entropy catches up later).
    const peersWhile = (task: ReplicationTask): PeerDirectory => ({ livePeers: () => (this.enabled[task] ? opts.peers.livePeers() : []) });
    this.signer = new RequestSigner(opts.signing.authKey, opts.signing.macWindowMs, { self: opts.selfHttp });
    const limits = internalLimits(tuning.maxValueSize);
    const maxMessage = limits.message;
    this.maxBodyBytes = limits.body;
    this.client = new InternalClient({
      signer: this.signer,
      timeoutMs: tuning.httpTimeoutMs,
      maxResponseBytes: this.maxBodyBytes,
      https: tuning.https,
      insecureSkipVerify: tuning.insecureSkipVerify,
    });
    this.disseminator = new Disseminator({
      store: opts.store,
      peers: peersWhile('dissemination'),
      client: this.client,
      transport: opts.transport,
      selfHttp: opts.selfHttp,
      fanout: tuning.fanout,
      retransmitMult: tuning.retransmitMult,
    });
    this.antiEntropy = new AntiEntropy({
      store: opts.store,
      peers: peersWhile('anti_entropy'),
      client: this.client,
      intervalMs: tuning.pushPullIntervalMs,
      maxMessageBytes: maxMessage,
      onRound: (peer, report) => {
        this.rounds.delete(peer.http);
        if (this.rounds.size >= MAX_PEER_ROUNDS) this.rounds.delete(this.rounds.keys().next().value!);
        this.rounds.set(peer.http, report);
      },
      ...(opts.lists ? { lists: opts.lists } : {}),
      ...(opts.metrics ? { metrics: opts.metrics } : {}),
    });
  }

  /** Starts pushing over the (open) transport and the push-pull rounds. */
  start(): void {
    this.disseminator.start();
    this.antiEntropy.start();
  }

  async stop(): Promise<void> {
    await this.antiEntropy.stop();
    this.disseminator.stop();
    this.client.close();
  }

  /** A peer joined or came back: reconcile with it now. */
  peerArrived(peer: Peer): void {
    if (this.enabled.anti_entropy) this.antiEntropy.trigger(peer);
  }

  /** Switches a background task on or off; switching anti-entropy back on starts a round at once. */
  setEnabled(task: ReplicationTask, on: boolean): void {
    const was = this.enabled[task];
    this.enabled[task] = on;
    if (on && !was && task === 'anti_entropy') this.antiEntropy.trigger();
  }

  isEnabled(task: ReplicationTask): boolean {
    return this.enabled[task];
  }

  /** The last push-pull round this node started with the peer at `http`, if any. */
  lastRoundWith(http: string): RoundReport | undefined {
    return this.rounds.get(http);
  }

  /** Whether the peer's digest root equals this node's right now. */
  rootsEqual(peer: Peer): Promise<boolean> {
    return this.antiEntropy.rootsEqual(peer);
  }

  // The internal routes' side (InternalApi).
  /** Whether a call's signature header is worth reading its body for (RequestSigner.screen). */
  screen(header: string | undefined): boolean {
    return this.signer.screen(header);
  }

  verify(method: string, path: string, header: string | undefined, body: Buffer): boolean {
    return this.signer.verify(method, path, header, body);
  }

  entry(key: string): Buffer | null {
    const e = this.opts.store.peek(key);
    return e === undefined ? null : encodeRecord(e);
  }

  sync(body: Buffer): Buffer {
    // Off means off both ways: a peer cannot catch up from this node either.
    if (!this.enabled.anti_entropy) throw new Error('anti-entropy is disabled on this node (/config/set anti_entropy Enable)');
    return this.antiEntropy.handle(body);
  }

  stats(): ReplicationStats {
    return {
      digest: this.opts.store.digest.root(),
      push: this.disseminator.stats(),
      pushPull: { ...this.antiEntropy.counters },
      internalHttp: { ...this.signer.stats },
    };
  }
}
