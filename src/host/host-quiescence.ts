// Quiet groups (CockroachDB's quiescence, dragonboat's quiesce): a leader whose followers all hold
// its whole log, committed and applied, with nothing waiting, stops ticking its group and tells
// the followers, which stop too. What wakes a group again is raft-host.ts's (a proposal, news, a
// silent leader host).
import type { RaftMessage } from '../raft/core/messages.js'
import type { GroupReplica } from './group-replica.js'
import type { QuiesceNotice } from './host-batch.js'

/**
 * Counts one more tick of `replica` (on leader host `nodeId`) idle or not; once idle for
 * `afterTicks` ticks in a row it goes quiet and returns the notice for its followers (with their
 * ids), otherwise undefined.
 */
export function quiesceIfIdle(nodeId: number, replica: GroupReplica, afterTicks: number): { notice: QuiesceNotice; followers: number[] } | undefined {
  const core = replica.core
  if (core.role !== 'leader') return undefined
  const last = replica.log.lastIndex
  const followers = core.followers().filter((follower) => follower.id !== nodeId)
  const idle = replica.proposalsWaiting === 0 && core.committed === last && replica.applied === last && followers.every((follower) => follower.match === last)
  replica.idleTicks = idle ? replica.idleTicks + 1 : 0
  if (replica.idleTicks < afterTicks) return undefined
  replica.quiesced = true
  return { notice: { group: replica.group, term: core.currentTerm, lastIndex: last }, followers: followers.map((follower) => follower.id) }
}

/** A follower told by its leader's host (`from`) that the group went quiet: it stops ticking if it holds all of it. */
export function quiesceFollower(replica: GroupReplica, from: number, notice: QuiesceNotice): void {
  const core = replica.core
  if (core.role === 'follower' && core.leaderId === from && core.currentTerm === notice.term && replica.log.lastIndex === notice.lastIndex && core.committed === notice.lastIndex) replica.quiesced = true
}

/** Whether `message` is news that wakes a quiet group: not a heartbeat, nor an answer to one (a leader's idleness counts what its followers hold anyway). */
export function wakes(message: RaftMessage): boolean {
  if (message.type === 'AppendEntries') return message.entries.length > 0
  return message.type !== 'AppendEntriesResponse'
}
