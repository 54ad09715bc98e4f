/**
 * Fixes for swim 0.6.0's known defects, applied at run time to one swim
 * instance at a time. docs/architecture.md ("swim patches") says why each
 * exists and what upstream change would let it go.
 *
 * Why run-time patches and not patch-package: every fix needs this project's
 * context (timings derived from the member count, the sealing transport, a Left
 * state swim does not know), so most of it would live here anyway; patching the
 * instance (never swim's prototypes) keeps other swim users untouched and needs no
 * install step that can be skipped silently (`npm ci --ignore-scripts`). swim is
 * pinned to exactly 0.6.0 and swim-package.ts refuses any other version, so these
 * patches never meet code they were not written for. Each fix can be switched off
 * for one instance (`Fix`), which the tests use to show the defect it removes.
 *
 * The five defects and where each is fixed:
 *  1. 'suspicion'  re-suspecting a suspect member restarted its timer, so a dead
 *                  member whose suspicion timeout exceeds a probe round stayed suspect
 *                  forever: installSuspicionTimers() below.
 *  2. 'incarnation' a restarted node began again at incarnation 0 and was ignored
 *                  until it passed its old incarnation: swim's `local.incarnation`
 *                  option is set from the clock (membership.ts).
 *  3. 'leave'      leave() only closed the socket, so peers saw a failure: a Left
 *                  state (installLeftState() below) and a goodbye broadcast
 *                  (SwimAdapter.leave()).
 *  4. 'auth'       any datagram from anyone was accepted: every datagram is sealed
 *                  (../transport/udp-transport.ts, ../security.ts);
 *     'parse'      and what it carries is parsed strictly before swim sees it
 *                  (wire.ts): swim's reader crashes the process on some input.
 *  5. 'budget'     datagrams could exceed the budget once sealed: swim is given the
 *                  budget minus the seal overhead, and the transport never sends a
 *                  larger datagram (swim-adapter.ts, ../transport/udp-transport.ts);
 *                  metadata too large to fit is refused up front (membership.ts).
 */
import { WireState } from './wire.js';
import type { SwimMember, SwimMemberCtor, SwimMemberData, SwimMembership } from './swim-types.js';

export type Fix = 'suspicion' | 'incarnation' | 'leave' | 'auth' | 'parse' | 'budget';

export interface SuspicionTimers {
  /** Starts the suspicion timer of a suspect member unless one is already running. */
  ensure(host: string): void;
  clear(host: string): void;
}

/**
 * Defect 1. swim's onSuspect clears and restarts the member's timer every time
 * the failure detector suspects it again, i.e. every probe round. Here a running
 * timer is left alone; when it fires, the member is declared faulty at its current
 * incarnation if it is still suspect (a refutation, i.e. alive at a higher
 * incarnation, cancels the timer through swim's own updateAlive). Timers also start
 * when a suspicion is learnt from a peer, as memberlist does, so a member is not
 * left suspect because the node that suspected it died. The timer map is swim's
 * own, so swim's clean-up paths (updateAlive, stop) keep working.
 */
export function installSuspicionTimers(m: SwimMembership, timeoutMs: () => number): SuspicionTimers {
  const declareFaulty = (host: string): void => {
    delete m.hostToSuspectTimeout[host];
    const cur = m.hostToMember[host];
    if (cur === undefined || cur.state !== WireState.Suspect) return;
    m.onUpdate({ ...cur.data(), state: WireState.Faulty });
  };
  const timers: SuspicionTimers = {
    ensure(host) {
      if (m.hostToSuspectTimeout[host] !== undefined) return;
      const t = setTimeout(declareFaulty, timeoutMs(), host);
      t.unref?.();
      m.hostToSuspectTimeout[host] = t;
    },
    clear(host) {
      clearTimeout(m.hostToSuspectTimeout[host]);
      delete m.hostToSuspectTimeout[host];
    },
  };
  m.suspectListener = (probed: SwimMember): void => {
    // The probed object can be stale (swim keeps the one from the start of the round): judge by the current record.
    const cur = m.hostToMember[probed.host];
    if (cur === undefined) return;
    if (cur.state === WireState.Alive) m.onUpdate({ ...cur.data(), state: WireState.Suspect });
    if (m.hostToMember[probed.host]?.state === WireState.Suspect) timers.ensure(probed.host);
  };
  return timers;
}

/**
 * Defect 3, receiving side. swim knows alive, suspect and faulty; a member that
 * says goodbye is recorded as Left, like faulty (kept aside, no longer probed,
 * refused at the same or a lower incarnation) but told apart so peers can report
 * 'left'. swim bound its update listener to the prototype method at construction,
 * so the listener is replaced too (before start() attaches it).
 */
export function installLeftState(m: SwimMembership, onLeft: (host: string) => void, onSelfRemoved?: () => void): void {
  const Member = m.local.constructor as SwimMemberCtor;
  const original = m.onUpdate;
  m.onUpdate = function onUpdate(this: SwimMembership, data: SwimMemberData): void {
    if (data.state !== WireState.Left) {
      original.call(m, data);
      return;
    }
    if (m.isLocal(data.host)) {
      // Incarnations start from the clock, so a goodbye of an earlier run at this address is below ours;
      // one at our incarnation or above was made in this run by another node: a forced removal.
      if (onSelfRemoved !== undefined && data.incarnation >= m.local.incarnation) {
        onSelfRemoved();
        return;
      }
      // Someone holds a goodbye of ours (from an earlier run at this address): refute it as swim refutes faulty.
      m.local.incarnate(data, true, m.preferCurrentMeta);
      m.emit('update', m.local.data());
      return;
    }
    // A member already set aside (faulty, or left earlier) is recorded as left by a newer goodbye or removal.
    const cur = m.hostToMember[data.host] ?? m.hostToFaulty[data.host];
    if (cur === undefined || data.incarnation < cur.incarnation || (cur.state === WireState.Left && data.incarnation === cur.incarnation)) {
      m.emit('drop', data);
      return;
    }
    onLeft(data.host);
    m.hostToFaulty[data.host] = new Member(data);
    delete m.hostToMember[data.host];
    delete m.hostToIterable[data.host];
    m.emit('change', data);
    m.emit('update', data);
  };
  m.updateListener = m.onUpdate.bind(m);
}
