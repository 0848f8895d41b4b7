// One node as a status call shows it: what it answered, or why it could not be reached.
import type { MemberStatus } from '../membership-wire.js'

/** A node's status, from the node itself or, when unreachable, from the configuration. */
export interface NodeStatus {
  /** From the node itself, or from the configuration when it cannot be reached (null if unknown). */
  id: number | null
  address: string
  reachable: boolean
  role?: string
  term?: number
  leaderId?: number
  commitIndex?: number
  lastApplied?: number
  firstIndex?: number
  lastIndex?: number
  snapshotIndex?: number
  snapshotTerm?: number
  /** The key-value store's writes applied up to lastApplied. */
  kvWritesApplied?: number
  /** Bytes of the node's directory. */
  diskBytes?: number
  /** Its log cannot grow (a full disk): it appends nothing, and refuses proposals, until there is room. */
  diskFull?: boolean
  /** Since when and why, while diskFull ('since <ISO time>: <the system's error>'); '' otherwise. */
  diskFullReason?: string
  /** Bytes of the entries its log holds, and the ceiling a leader refuses writes at (0: none). */
  logBytes?: number
  maxLogBytes?: number
  /** Linearizable reads the node served since it started. */
  reads?: number
  clusterId?: string
  /** The id its cluster was founded with (clusterId adds the cluster's random token). */
  foundingId?: string
  /** Index of the configuration entry in use. */
  configurationIndex?: number
  /** The members of the configuration the node uses; with match indexes when it leads. */
  members?: MemberStatus[]
  /** In the leader's configuration: voter, learner, voter (joining), voter (leaving), or 'not a member'. */
  suffrage?: string
  /** Entries the leader holds that this member does not yet (the leader's view); undefined when unknown. */
  behind?: number
  error?: string
}

/**
 * Each status with the member's suffrage and lag as the leader (the one of the highest term)
 * sees them; a node the leader's configuration leaves out is 'not a member'. A member whose
 * address another member answers at (added under another node's address) gets a row of its own,
 * unreachable, and that node is listed once, at its own address.
 */
export function withMembership(statuses: NodeStatus[]): NodeStatus[] {
  const leader = statuses.filter((status) => status.reachable && status.role === 'leader').sort((a, b) => (b.term ?? 0) - (a.term ?? 0))[0]
  const view = leader?.members ?? statuses.find((status) => status.members !== undefined && status.members.length > 0)?.members
  if (view === undefined || view.length === 0) return statuses
  const seen = statuses.map((status) => {
    if (status.id === null) return status
    const member = view.find((m) => m.id === status.id)
    if (member === undefined) return { ...status, suffrage: 'not a member' }
    const behind = leader !== undefined && member.matchKnown ? Math.max(0, (leader.lastIndex ?? 0) - member.matchIndex) : undefined
    return { ...status, suffrage: member.suffrage, ...(behind === undefined ? {} : { behind }) }
  })
  // A member no answer came from as itself: its address is another member's (a node added at a
  // wrong address), so that node answered there. Listed all the same, never shown as that node.
  const aliased: NodeStatus[] = []
  for (const member of view) {
    if (statuses.some((status) => status.id === member.id)) continue
    const there = statuses.find((status) => status.address === member.address && status.id !== null && status.id !== member.id)
    if (there !== undefined) aliased.push({ id: member.id, address: member.address, reachable: false, suffrage: member.suffrage, error: `node ${there.id} answers at its address` })
  }
  // The same node reached at a second address (another member's): only its row at its own address stays.
  const own = seen.filter((status) => {
    const address = view.find((m) => m.id === status.id)?.address
    return status.id === null || status.address === address || !seen.some((other) => other.id === status.id && other.address === address)
  })
  return [...own, ...aliased]
}
