// Moving a group's replica from one host to another with the group's own membership changes
// (issue 25's placement): a learner on `to` that catches up by log or snapshot, its promotion to
// voter, leadership moved off `from` if it leads, `from` removed, then `from`'s replica dropped
// and its log freed. Each step is decided from the group's configuration as its leader holds it,
// so a move cut short (a crash, a lost leader) is finished by calling moveReplica again.
import { RaftLogError } from '../errors.js'
import { isJoint, membersOf, type Configuration } from '../raft/core/configuration.js'
import type { MembershipChange } from '../raft/core/membership-change.js'

/** What a move needs of each host; RaftHost has it (a remote host would be reached through its client). */
export interface ReplicaHost {
  hasGroup(group: number): boolean
  leaderOf(group: number): number
  configurationOf(group: number): Configuration
  changeMembership(group: number, change: MembershipChange): Promise<Configuration>
  transferLeadership(group: number, to?: number): Promise<number>
  removeReplica(group: number): Promise<void>
}

export interface MoveReplicaOptions {
  /** The hosts that may hold the group, by id (undefined: not reachable now). */
  host(id: number): ReplicaHost | undefined
  /** Every host id of the cluster: where to look for the group's leader. */
  hosts: readonly number[]
  /** Starts an empty replica of `group` on host `to`, joining (RaftHost.joinGroup with a new state machine). */
  startReplica(to: number, group: number): void | Promise<void>
  /** Called before each step: hosts reached over the network read what they know afresh here. */
  refresh?(): Promise<void>
  /** Pause between two looks when a step must wait (ms; default 20). */
  pauseMs?: number
  /** The whole move gives up after this long (ms; default 60,000): ERR_TIMEOUT. */
  timeoutMs?: number
}

/** Errors after which the move looks again: the leader moved, a change is still finishing, the learner is behind. */
const retried = new Set(['ERR_NOT_LEADER', 'ERR_LEADERSHIP_LOST', 'ERR_CHANGE_IN_PROGRESS', 'ERR_LEARNER_BEHIND', 'ERR_LEADERSHIP_TRANSFER', 'ERR_UNSAFE_CHANGE', 'ERR_TIMEOUT', 'ERR_TRANSFER_FAILED', 'ERR_UNKNOWN_OUTCOME', 'ERR_STOPPED', 'ERR_NO_GROUP', 'ERR_UNAVAILABLE', 'ERR_NO_LEADER'])

/**
 * Moves `group`'s replica from host `from` to host `to`: resolves with the group's configuration
 * once `to` votes, `from` is no longer a member and `from`'s replica and log are gone. Rejects with
 * ERR_BAD_ARGUMENT (from = to, or `to` already a voter while `from` is gone), ERR_ID_REMOVED (`to`
 * was removed from the group before: a host never rejoins a group), ERR_TIMEOUT (not done within
 * timeoutMs: call again to go on), or what a host answered that a retry cannot mend.
 */
export async function moveReplica(group: number, from: number, to: number, options: MoveReplicaOptions): Promise<Configuration> {
  for (const [name, id] of [['group', group], ['from', from], ['to', to]] as const) {
    if (!Number.isSafeInteger(id) || id < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `moveReplica: ${name} must be a whole number from 1, got ${String(id)}`, { argument: name })
  }
  if (from === to) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} cannot move from node ${from} to itself`, { argument: 'to' })
  if (!options.hosts.includes(to)) throw new RaftLogError('ERR_BAD_ARGUMENT', `moveReplica: host ${to} is not one of the cluster's hosts (${options.hosts.join(', ')})`, { argument: 'to' })
  const pauseMs = options.pauseMs ?? 20
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  for (;;) {
    if (Date.now() > deadline) throw new RaftLogError('ERR_TIMEOUT', `Group ${group}'s replica did not move from node ${from} to node ${to} within ${options.timeoutMs ?? 60_000} ms; ask again to go on from where it is`, { group })
    try {
      await options.refresh?.()
      const done = await step(group, from, to, options)
      if (done !== undefined) return done
    } catch (error) {
      if (!(error instanceof RaftLogError) || !retried.has(error.code)) throw error
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs))
  }
}

/** One step of the move, decided from the leader's configuration; the configuration once it is all done. */
async function step(group: number, from: number, to: number, options: MoveReplicaOptions): Promise<Configuration | undefined> {
  const leaderId = findLeader(group, options)
  const leader = leaderId === 0 ? undefined : options.host(leaderId)
  if (leader === undefined) return undefined
  const config = leader.configurationOf(group)
  if (isJoint(config)) return undefined
  const members = membersOf(config)
  if (!members.includes(to)) {
    const target = options.host(to)
    if (target !== undefined && !target.hasGroup(group)) await options.startReplica(to, group)
    await leader.changeMembership(group, { addLearners: [{ id: to, address: '' }] })
    return undefined
  }
  if (config.learners.includes(to)) {
    await leader.changeMembership(group, { promote: [to] })
    return undefined
  }
  if (members.includes(from)) {
    // Leadership moves off `from` first: a leader removing itself would lead on, not counting itself, until C_new commits.
    if (leaderId === from) await leader.transferLeadership(group, to)
    else await leader.changeMembership(group, { remove: [from] })
    return undefined
  }
  const old = options.host(from)
  if (old?.hasGroup(group) === true) await old.removeReplica(group)
  return config
}

/** The host that leads `group` as the hosts holding it say (0: none known now). */
function findLeader(group: number, options: MoveReplicaOptions): number {
  for (const id of options.hosts) {
    const host = options.host(id)
    if (host === undefined || !host.hasGroup(group)) continue
    const leader = host.leaderOf(group)
    if (leader === 0) continue
    const candidate = options.host(leader)
    if (candidate?.hasGroup(group) === true && candidate.leaderOf(group) === leader) return leader
  }
  return 0
}
