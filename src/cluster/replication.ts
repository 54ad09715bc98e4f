import { encodeRecord } from '../store/record-codec.js';
import type { Store } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import { AntiEntropy, type ListSync } from './antientropy/anti-entropy.js';
import { Disseminator } from './dissemination/disseminator.js';
import { InternalClient } from './internal-client.js';
import type { Peer, PeerDirectory } from './peers.js';
import { AUTH_HEADER, RequestSigner } from './request-signing.js';
import type { UdpTransport } from './transport/udp-transport.js';

/**
 * Gossip mode's replication: push (UDP deltas) and push-pull (anti-entropy
 * over signed internal HTTP), and the internal routes' handlers. node.ts
 * composes it from the store, the peer directory and the settings.
 */
export interface ReplicationOptions {
  store: Store;
  peers: PeerDirectory;
  /** signs internal HTTP calls (the datagrams are sealed by the transport) */
  authKey: string;
  macWindowMs: number;
  /** the node's transport, carrying 'data' */
  transport: UdpTransport;
  selfHttp: string;
  fanout: number;
  retransmitMult: number;
  pushPullIntervalMs: number;
  httpTimeoutMs: number;
  https: boolean;
  insecureSkipVerify: boolean;
  maxValueSize: number;
  lists?: ListSync;
  /** Counts push-pull rounds (absent = not counted). */
  metrics?: Metrics;
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
    this.signer = new RequestSigner(opts.authKey, opts.macWindowMs, { self: opts.selfHttp });
    const limits = internalLimits(opts.maxValueSize);
    const maxMessage = limits.message;
    this.maxBodyBytes = limits.body;
    this.client = new InternalClient({
      signer: this.signer,
      timeoutMs: opts.httpTimeoutMs,
      maxResponseBytes: this.maxBodyBytes,
      https: opts.https,
      insecureSkipVerify: opts.insecureSkipVerify,
    });
    this.disseminator = new Disseminator({
      store: opts.store,
      peers: opts.peers,
      client: this.client,
      transport: opts.transport,
      selfHttp: opts.selfHttp,
      fanout: opts.fanout,
      retransmitMult: opts.retransmitMult,
    });
    this.antiEntropy = new AntiEntropy({
      store: opts.store,
      peers: opts.peers,
      client: this.client,
      intervalMs: opts.pushPullIntervalMs,
      maxMessageBytes: maxMessage,
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

  stats(): Record<string, unknown> {
    return {
      digest: this.opts.store.digest.root(),
      push: this.disseminator.stats(),
      pushPull: { ...this.antiEntropy.counters },
      internalHttp: { ...this.signer.stats },
    };
  }
}
