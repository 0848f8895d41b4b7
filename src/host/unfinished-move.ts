// A move is recorded as done (the catalog's 'moved' entry) only once the group itself is done with
// it. The entry takes the old host off the group's replicas, and that host then drops its replica
// and its log: said while the group still counts the old host as a voter (a 'moved' proposed
// straight after 'move', skipping the steps GroupAdmin.move takes), a voter's copy would be gone
// while the group still needs its vote, and the steps left could no longer be taken (a client's
// membership change must be a step of a move the catalog records). Checked before the entry
// enters the log, on the group's leader's configuration; the catalog's apply cannot ask it, since
// every host must apply the entry alike.
import { isJoint, membersOf, type Configuration } from '../raft/core/configuration.js'

/** How often, and how far apart (ms), the group's hosts are asked for a leader before the check gives up. */
const leaderAttempts = 10
const leaderPauseMs = 200
/**
 * No round of asking starts after this long (ms): a host that does not answer holds each round for
 * its whole deadline (HostClient.groupStateAt, 2 s), and ten of them would outlast GroupAdmin's
 * call (15 s), which then failed with no word of why.
 */
export const leaderSearchMs = 8000

/** What a host says of a group (HostClient.groupStateAt, or RaftHost for this host's own). */
export interface GroupState {
  hasGroup: boolean
  leaderId: number
  configuration: Configuration | undefined
}

/**
 * Why `group`'s move from `from` to `to` must not be recorded as done now, as `CODE: message`, or
 * undefined when its leader counts `to` as a voter and `from` as no member. `replicas`: the hosts
 * the catalog lists for it (during the move both `from` and `to`); `stateAt` asks one of them.
 */
export async function unfinishedMoveProblem(group: number, from: number, to: number, replicas: readonly number[], stateAt: (host: number) => Promise<GroupState>): Promise<string | undefined> {
  let leader: { host: number; state: GroupState } | undefined
  const giveUpAt = Date.now() + leaderSearchMs
  // The move's last step may have just moved leadership: an election takes a moment.
  for (let attempt = 0; leader === undefined && attempt < leaderAttempts; attempt++) {
    if (attempt > 0 && Date.now() + leaderPauseMs > giveUpAt) break
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, leaderPauseMs))
    const states = await Promise.all(replicas.map((host) => stateAt(host).then((state) => ({ host, state }), () => undefined)))
    leader = states.find((answer) => answer !== undefined && answer.state.hasGroup && answer.state.leaderId === answer.host && answer.state.configuration !== undefined)
  }
  if (leader === undefined) return `ERR_NO_LEADER: No leader of group ${group} answered, so its move from node ${from} to node ${to} cannot be checked as done: ask again`
  const configuration = leader.state.configuration as Configuration
  const voters = configuration.voters.join(', ') || 'none'
  const learners = configuration.learners.length === 0 ? '' : `, learners ${configuration.learners.join(', ')}`
  const unfinished = isJoint(configuration) || membersOf(configuration).includes(from) || !configuration.voters.includes(to)
  if (!unfinished) return undefined
  return `ERR_BAD_ARGUMENT: Group ${group}'s move from node ${from} to node ${to} is not done: its leader (node ${leader.host}) has voters ${voters}${learners}${isJoint(configuration) ? ' (a change under way)' : ''}. Finish it with raftlog group move ${group} --from ${from} --to ${to}, which goes on from where it is`
}
