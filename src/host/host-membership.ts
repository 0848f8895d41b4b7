// A group replica's membership changes and leadership transfers on a RaftHost: proposed through its
// core, watched by RaftNode's MembershipRequests after each turn, and the rule by which a replica
// that its group removed leaves its host.
import { RaftLogError } from '../errors.js'
import type { Configuration } from '../raft/core/configuration.js'
import type { MembershipChange } from '../raft/core/membership-change.js'
import type { MembershipView } from '../raft/node/membership-requests.js'
import type { GroupReplica } from './group-replica.js'

/** Proposes `change` (its C_old,new) and resolves once its C_new is committed; throws what the core refuses. */
export function proposeChange(replica: GroupReplica, change: MembershipChange): Promise<Configuration> {
  const jointIndex = replica.core.proposeMembership(change)
  replica.membershipAsked = true
  return replica.membership.waitForChange(jointIndex, replica.core.currentTerm)
}

/** Starts handing leadership to `to` (or the most up-to-date other voter); resolves with the new leader. */
export function startTransfer(nodeId: number, replica: GroupReplica, to: number | undefined, timeoutMs: number): Promise<number> {
  const target = replica.core.transferLeadership(to)
  if (target === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', `Host ${nodeId} is group ${replica.group}'s only voter: there is nobody to hand leadership to`)
  replica.membershipAsked = true
  return replica.membership.waitForTransfer(target, replica.core.currentTerm, timeoutMs, nodeId)
}

/**
 * Whether `replica`'s group removed this host by a committed configuration: its ids are never
 * members again, so the replica goes and its log is freed (the leader stops sending to it).
 */
export function removedHere(nodeId: number, replica: GroupReplica): boolean {
  const core = replica.core
  // Read without copying: this is asked after every turn of every group with work.
  return core.configuration.removed?.includes(nodeId) === true && core.committed >= core.configurationIndex
}

/** What the membership waiters of `replica` look at after a turn. */
export function membershipView(nodeId: number, replica: GroupReplica): MembershipView {
  const core = replica.core
  return {
    nodeId,
    role: core.role,
    term: core.currentTerm,
    leaderId: core.leaderId,
    commitIndex: core.committed,
    configuration: core.configuration,
    configurationIndex: core.configurationIndex,
    transferringTo: core.transferringTo,
    timeoutNowTerm: core.timeoutNowTerm,
    termAt: (index) => replica.log.termAt(index),
  }
}
