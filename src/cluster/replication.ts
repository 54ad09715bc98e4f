import { encodeRecord } from '../store/record-codec.js';
import type { Store } from '../store/store.js';
import { AntiEntropy, type AntiEntropyStats, type ListSync } from './antientropy/anti-entropy.js';
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

export class Replication {
  readonly signer: RequestSigner;
  readonly client: InternalClient;
  readonly disseminator: Disseminator;
  readonly antiEntropy: AntiEntropy;
  readonly authHeader = AUTH_HEADER;
  readonly maxBodyBytes: number;

  constructor(private readonly opts: ReplicationOptions) {
    const tuning = opts.tuning;
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
      peers: opts.peers,
      client: this.client,
      transport: opts.transport,
      selfHttp: opts.selfHttp,
      fanout: tuning.fanout,
      retransmitMult: tuning.retransmitMult,
    });
    this.antiEntropy = new AntiEntropy({
      store: opts.store,
      peers: opts.peers,
      client: this.client,
      intervalMs: tuning.pushPullIntervalMs,
      maxMessageBytes: maxMessage,
      ...(opts.lists ? { lists: opts.lists } : {}),
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
    this.antiEntropy.trigger(peer);
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
