// Membership on the wire: a Configuration as the protocol's ConfigurationInfo and back, and each
// member's place and progress as the Status reply shows it.
import type { Configuration } from '../raft/core/configuration.js'
import { membersOf } from '../raft/core/configuration.js'
import type { RaftNode } from '../raft/node/raft-node.js'

export interface WireMember {
  id: number
  address: string
}

export interface WireConfiguration {
  voters: number[]
  outgoing: number[]
  learners: number[]
  members: WireMember[]
  removed?: number[]
}

/** One member as a node's Status reply shows it. */
export interface MemberStatus {
  id: number
  address: string
  /** voter, learner; during a joint change: 'voter (joining)', 'voter (leaving)'. */
  suffrage: string
  /** The member's last index the leader knows it holds (for the leader itself: its last index). */
  matchIndex: number
  /** False on a follower, or for a member the leader has not heard from. */
  matchKnown: boolean
}

export function toWireConfiguration(config: Configuration): WireConfiguration {
  return {
    voters: config.voters,
    outgoing: config.outgoing,
    learners: config.learners,
    members: membersOf(config).map((id) => ({ id, address: config.addresses[id] ?? '' })),
    removed: config.removed ?? [],
  }
}

export function fromWireConfiguration(wire: WireConfiguration): Configuration {
  const addresses: Record<number, string> = {}
  for (const member of wire.members ?? []) if (member.address !== '') addresses[member.id] = member.address
  const removed = wire.removed ?? []
  return { voters: wire.voters ?? [], outgoing: wire.outgoing ?? [], learners: wire.learners ?? [], addresses, ...(removed.length > 0 ? { removed } : {}) }
}

/** Where a member stands in `config`. */
export function suffrageOf(config: Configuration, id: number): string {
  const incoming = config.voters.includes(id)
  const learner = (config.promoteWhenCaughtUp ?? []).includes(id) ? 'learner (voter once caught up)' : 'learner'
  if (config.outgoing.length === 0) return incoming ? 'voter' : learner
  const outgoing = config.outgoing.includes(id)
  if (incoming && outgoing) return 'voter'
  if (incoming) return 'voter (joining)'
  if (outgoing) return 'voter (leaving)'
  return learner
}

/** Every member of the node's configuration; with match indexes when the node leads. */
export function memberStatuses(node: RaftNode): MemberStatus[] {
  const status = node.status()
  const config = status.configuration
  const leading = status.role === 'leader'
  const matches = new Map(leading ? node.stats().followers.map((follower) => [follower.id, follower.match]) : [])
  return membersOf(config).map((id) => {
    const match = id === node.id && leading ? status.lastIndex : matches.get(id)
    return { id, address: config.addresses[id] ?? '', suffrage: suffrageOf(config, id), matchIndex: match ?? 0, matchKnown: match !== undefined && match > 0 }
  })
}
