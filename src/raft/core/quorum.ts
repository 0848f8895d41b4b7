// Quorum math (etcd's quorum package): the index a majority of voters holds, whether a majority
// says yes, and an election's outcome, for a majority configuration and for a joint one, where a
// decision needs a majority of the old voters and a majority of the new (Raft dissertation §4.3).
import type { Configuration } from './configuration.js'

/** An election's outcome so far. */
export type VoteResult = 'won' | 'lost' | 'pending'

/** The highest index a majority of `ids` holds, given each one's index. An empty set agrees on anything. */
export function majorityIndex(ids: readonly number[], indexOf: (id: number) => number): number {
  if (ids.length === 0) return Number.POSITIVE_INFINITY
  const indexes = ids.map(indexOf).sort((a, b) => b - a)
  return indexes[Math.floor(ids.length / 2)] as number
}

/** The highest index held by a majority of the voters (of both halves when joint). */
export function quorumIndex(config: Configuration, indexOf: (id: number) => number): number {
  return Math.min(majorityIndex(config.voters, indexOf), majorityIndex(config.outgoing, indexOf))
}

/** Whether `yes` holds for a majority of the voters (of both halves when joint). */
export function hasQuorum(config: Configuration, yes: (id: number) => boolean): boolean {
  return quorumIndex(config, (id) => (yes(id) ? 1 : 0)) >= 1
}

/** A majority's vote: won once a majority granted, lost once a majority can no longer grant. */
function majorityVote(ids: readonly number[], votes: ReadonlyMap<number, boolean>): VoteResult {
  if (ids.length === 0) return 'won'
  let granted = 0
  let rejected = 0
  for (const id of ids) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  const needed = Math.floor(ids.length / 2) + 1
  if (granted >= needed) return 'won'
  if (rejected > ids.length - needed) return 'lost'
  return 'pending'
}

/** An election's outcome so far: won with a majority of both halves, lost when either half cannot reach one. */
export function voteResult(config: Configuration, votes: ReadonlyMap<number, boolean>): VoteResult {
  const incoming = majorityVote(config.voters, votes)
  const outgoing = majorityVote(config.outgoing, votes)
  if (incoming === 'lost' || outgoing === 'lost') return 'lost'
  return incoming === 'won' && outgoing === 'won' ? 'won' : 'pending'
}
