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

