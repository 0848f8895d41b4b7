// What a RaftHost is made with, its limits with their units, and the counters it keeps.
import type { LogEngine } from '../engine/log-engine.js'
import type { HostTransport } from './host-batch.js'

/** How long a read waits for its read index before ERR_TIMEOUT (ms). */
export const readTimeoutMs = 5000

/** Turns whose flush is in flight at most: the next waits, gathering what arrives meanwhile into one flush. */
export const maxFlushesInFlight = 1

/**
 * Default of RaftHostOptions.maxSnapshotBytesPerBatch: snapshot bytes one batch to a peer host
 * carries at most (a single larger chunk still goes, alone). Chunks of many groups' transfers go in several batches, each well under the transport's
 * message limit (64 MiB over gRPC). A snapshot chunk is at most 1 MiB.
 */
export const maxSnapshotBytesPerBatch = 8 * 1024 * 1024

/** How long a leadership transfer may take before ERR_TIMEOUT or ERR_UNKNOWN_OUTCOME (ms). */
export const transferTimeoutMs = 10_000

export interface RaftHostOptions {
  /** This host's node id (the same id in every group it holds a replica of). */
  nodeId: number
  /** Every host of the cluster, this one included. */
  hosts: readonly number[]
  engine: LogEngine
  transport: HostTransport
  /** Election timeout range in ticks (default [10, 20]). */
  electionTicks?: readonly [number, number]
  /** Heartbeat interval in ticks (default 1): also how often a host beats to its peers. */
  heartbeatTicks?: number
  /** Idle ticks after which a leader quiesces its group (default: twice the election timeout's maximum). */
  quiesceAfterTicks?: number
  /** Seed of the election timers' randomness (default: the node id). */
  seed?: number
  /** Entries applied since a group's last snapshot that trigger its next one (default 10,000, as RaftNode's). Groups whose state machine has no snapshot() and restore() take none. */
  snapshotEveryEntries?: number
  /** Entries kept in a group's log behind its snapshot, for followers a little behind (default 5,000). */
  snapshotTrailingEntries?: number
  /** Ticks between two engine purges, when some group's log was compacted since the last (default 100). */
  purgeEveryTicks?: number
  /** Snapshot bytes a batch to one peer host carries at most (default maxSnapshotBytesPerBatch, 8 MiB); a single larger chunk still goes alone. */
  maxSnapshotBytesPerBatch?: number
  /** Milliseconds one tick stands for (default 50): snapshot transfers resend and give up by the host's clock, in ticks. */
  tickMs?: number
  /**
   * Commit delay (ms, default 0: off), as PostgreSQL's `commit_delay` with `commit_siblings`: a
   * turn that carries the work of more than one group and starts within this time of the last
   * flush's end waits for the rest of it, so that what other groups receive meanwhile shares its
   * flush. Fewer flushes when many groups are busy, for up to this much latency; a turn of one
   * group's work never waits, so a lone client's latency does not change. The delay runs from
   * the last flush's start, so a disk slower than it is never waited for: it only spares a quick
   * disk flushes (worth it where a volume's IOPS are limited or paid for), at up to a few times
   * the delay in latency per proposal (bench:busy-groups, README).
   */
  commitDelayMs?: number
  /** Where snapshot and transfer problems are reported (default: console). */
  logger?: { warn(message: string): void }
}

/** Counters for tests and metrics. */
export interface HostCounters {
  turns: number
  /** Engine flushes asked for: at most one per turn, whatever the number of groups written. */
  flushes: number
  /** Turns held back by the commit delay (RaftHostOptions.commitDelayMs). */
  delayedTurns: number
  /** Batches sent to peer hosts (each carries any number of groups' messages). */
  batchesSent: number
  /** Group ticks done (a quiet group is not ticked). */
  groupTicks: number
  /** Group logs compacted behind a snapshot. */
  compactions: number
  /** Snapshots taken here, and received here from a leader (stepped into the group's core). */
  snapshotsTaken: number
  snapshotsReceived: number
  /** Engine purges, and engine files they freed. */
  purges: number
  filesFreed: number
}
