// What a RaftCore is made with: its id, its log, what it persisted, its timing in ticks, the
// limits of replication, and how it serves reads. Defaults are named with their units.
import type { RaftLogStore } from './log-store.js'
import type { ConfigurationAt } from './configuration-history.js'
import type { HardState, SnapshotMeta } from './ready.js'

export interface RaftCoreOptions {
  id: number
  /**
   * The first configuration's voters, this node included, when neither the log nor a snapshot
   * holds one (a new cluster). Empty for a node that joins: it learns the configuration from
   * the leader. Ignored once a configuration is in `configurations`.
   */
  peers: readonly number[]
  /**
   * Configurations in force from an index on, oldest first: the snapshot's (at its index) and
   * every Config entry of the log after it. The last one is the one in use (Raft §4.1: a node
   * uses the latest configuration in its log, committed or not).
   */
  configurations?: readonly ConfigurationAt[]
  log: RaftLogStore
  hardState: HardState
  /** Election timeout range in ticks; each election picks a random value inside it. */
  electionTicks: readonly [number, number]
  heartbeatTicks: number
  /** A seeded source of numbers in [0, 1). */
  random: () => number
  /** Entries the state machine already holds: they are committed. */
  appliedIndex?: number
  /** The newest durable snapshot, sent to followers that need compacted entries. */
  snapshot?: SnapshotMeta
  /**
   * Entries kept in the log behind a snapshot (default 5,000): a follower that is only a little
   * behind still gets entries rather than a whole snapshot. Ready.compactTo says what may go.
   */
  snapshotTrailingEntries?: number
  maxEntriesPerAppend?: number
  /** Payload bytes per AppendEntries; a single larger entry still goes alone. */
  maxBytesPerAppend?: number
  /** AppendEntries with entries in flight to one follower before the leader waits for answers. */
  maxInflightAppends?: number
  /** Payload bytes in flight to one follower before the leader waits for answers. */
  maxInflightBytes?: number
  /**
   * Ticks after which an unanswered AppendEntries counts as lost and its entries are sent again,
   * if the follower answered something sent later (a silent follower is sent nothing more).
   * Default: the election timeout's minimum.
   */
  appendTimeoutTicks?: number
  /**
   * 'read-index' (default): every read is confirmed by a round of heartbeats. 'lease': the
   * leader serves reads without a round while a majority answered messages it sent less than an
   * election timeout minus leaseDriftTicks ago; correct only while no node's clock runs faster
   * than another's by more than that allowance (the dissertation's §6.4.1 assumption).
   */
  readMode?: ReadMode
  /** Ticks taken off the election timeout for clock drift in lease reads (default: a tenth of it, at least 1). */
  leaseDriftTicks?: number
  /** A learner may become a voter only within this many entries of the leader's log (default 1,000). */
  maxPromotionLagEntries?: number
  /**
   * For a node that joined a running cluster: the index of the configuration that made it a
   * member (0, the default, for a founding node). Configurations older than that which name
   * its id are another node's, from before the id was taken: it never campaigns on them.
   */
  memberSince?: number
  /**
   * Makes the random part of the cluster's identity (32 hex digits). Given, a leader whose
   * configuration has none yet proposes one (a Config entry with the same members), once no
   * change is under way. The core has no randomness of its own to spare for it.
   */
  newClusterToken?: () => string
  onWarning?: (message: string) => void
}

export type ReadMode = 'read-index' | 'lease'

export const defaultMaxPromotionLagEntries = 1000
export const defaultSnapshotTrailingEntries = 5_000
export const defaultMaxEntriesPerAppend = 512
export const defaultMaxBytesPerAppend = 1024 * 1024
export const defaultMaxInflightAppends = 64
/** etcd's raft bounds bytes in flight the same way (Config.MaxInflightBytes). */
export const defaultMaxInflightBytes = 8 * 1024 * 1024

