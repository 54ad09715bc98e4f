import type { Readiness } from './api/http/health-route.js';
import type { LoadProgress } from './persistence/persistence.js';

/**
 * Whether a node should get traffic (GET /readyz, README "Health checks"):
 * its data directory is loaded and in use, in gossip mode it has joined at
 * least one member (or has no seed to join), and it is not draining on its
 * way to stop. Joining is remembered: a node that later loses every peer
 * keeps serving its copy (eventual consistency), it does not drop out.
 */
export interface ReadinessInputs {
  gossip: boolean;
  /** Gossip mode: whether any seed is configured (seed file or the gossip list). */
  seedsConfigured: () => boolean;
  /** Gossip mode: the members seen, null before the cluster is started. */
  members: () => readonly { local: boolean; state: string }[] | null;
  keys: () => number;
  /** How far the data directory's load is, for the reason /readyz gives while it runs. */
  loadProgress: () => LoadProgress;
}

export class NodeReadiness implements Readiness {
  private phase: 'loading' | 'serving' | 'draining' = 'loading';
  private joined = false;

  constructor(private readonly inputs: ReadinessInputs) {}

  /** The data directory is loaded and takes writes. */
  loaded(): void {
    if (this.phase === 'loading') this.phase = 'serving';
  }

  /** Stopping: not ready from now on. */
  drain(): void {
    this.phase = 'draining';
  }

  get serving(): boolean {
    return this.phase === 'serving';
  }

  /** Still starting: the data directory is not loaded and in use yet (HTTP refuses all but the probes). */
  get loading(): boolean {
    return this.phase === 'loading';
  }

  notReady(): string[] {
    const reasons: string[] = [];
    if (this.phase === 'draining') reasons.push('draining: the node is stopping');
    if (this.phase === 'loading') reasons.push(loadingReason(this.inputs.loadProgress()));
    if (this.inputs.gossip) {
      const members = this.inputs.members();
      if (members === null) reasons.push('gossip mode: membership is not started yet');
      else if (!this.hasJoined(members)) reasons.push('gossip mode: no member joined yet, though seeds are configured');
    }
    return reasons;
  }

  details(): Record<string, unknown> {
    const members = this.inputs.members();
    return {
      phase: this.phase,
      keys: this.inputs.keys(),
      ...(this.inputs.gossip ? { aliveMembers: members === null ? 0 : members.filter((m) => !m.local && m.state === 'alive').length } : {}),
    };
  }

  private hasJoined(members: readonly { local: boolean; state: string }[]): boolean {
    if (this.joined) return true;
    this.joined = !this.inputs.seedsConfigured() || members.some((m) => !m.local && m.state === 'alive');
    return this.joined;
  }
}

/** "loading the data directory: 412000 of ~1000000 records": the total is estimated from the bytes read so far. */
export function loadingReason(p: LoadProgress): string {
  if (p.bytesRead <= 0 || p.bytesTotal <= 0) return `loading the data directory: ${p.records} records so far`;
  const estimate = Math.max(p.records, Math.round((p.records * p.bytesTotal) / p.bytesRead));
  return `loading the data directory: ${p.records} of ~${estimate} records`;
}
