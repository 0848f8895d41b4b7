// RaftNode.start()'s options, their defaults, and their check, which also turns milliseconds into
// the core's ticks.
import { RaftLogError } from '../../errors.js'
import { checkClusterId } from './cluster-identity.js'
import { halfSnapshotProblem, type StateMachine } from '../state-machine.js'
import type { Transport } from '../transport.js'
import { defaultSnapshotTrailingEntries, type ReadMode } from '../core/options.js'
import { defaultSegmentSizeBytes } from '../../storage/segment-format.js'
import { refuseUnknownOptions } from '../../known-options.js'

/** Entries applied since the last snapshot that trigger a new one. */
export const defaultSnapshotThreshold = 10_000
export { defaultSnapshotTrailingEntries }

export interface RaftNodeOptions {
  /** This node's id, from 1. */
  id: number
  /**
   * The voters of a new cluster, this node included: written as its first configuration
   * (entry 1) on the first start. [] for a node that joins a running cluster (it learns the
   * membership from the leader). Ignored once the log or a snapshot holds a configuration:
   * membership then changes only through changeMembership().
   */
  peers: number[]
  /** Where each of `peers` listens (host:port), recorded in the first configuration for a network transport. */
  addresses?: Record<number, string>
  /**
   * The cluster's id (32 hex digits), recorded in raft_state.meta with the node id on the first
   * start; a directory recorded for another cluster is refused (ERR_WRONG_CLUSTER), as is one
   * of another node (ERR_WRONG_NODE). Default: the recorded one, else, for a new cluster, a hash
   * of its first configuration (the same on every founding node). A joining node is given it.
   */
  clusterId?: string
  /**
   * A new cluster's name, part of its founding id (etcd's --initial-cluster-token): the same
   * on every founding node. Default ''.
   */
  clusterName?: string
  /** Directory of this node's log and raft_state.meta. */
  dir: string
  stateMachine: StateMachine
  transport: Transport
  /** Election timeout range in milliseconds (default [150, 500]). */
  electionTimeout?: [number, number]
  /** Milliseconds between leader heartbeats (default 50); below the election timeout. */
  heartbeatInterval?: number
  /** Index the state machine already holds; committed entries above it are (re)applied. */
  appliedIndex?: number
  /**
   * For a node that joins a running cluster, on its first start: the index of the configuration
   * that made it a member (what the leader answers a join). Recorded in raft_state.meta; the
   * node never campaigns on a configuration older than that (one naming its id in an earlier
   * life). 0, the default, for a founding node.
   */
  memberSince?: number
  /** Segment size of the log in bytes. */
  segmentSize?: number
  /**
   * A ceiling on the bytes of the entries the log holds (RaftLog.usedBytes), in bytes: a leader
   * refuses a proposal that would pass it (ERR_LOG_FULL) and takes a snapshot at once, after
   * which compaction makes room. 0 (the default): none. At least twice segmentSize: the log
   * keeps its open segment, and compaction frees whole segments only.
   */
  maxLogBytes?: number
  maxEntriesPerAppend?: number
  maxBytesPerAppend?: number
  /**
   * Entries applied since the last snapshot that trigger a new one (default 10,000). Needs a
   * state machine with snapshot() and restore(); without them the log is never compacted.
   */
  snapshotThreshold?: number
  /** Entries kept in the log behind a snapshot, so a slightly slow follower needs none (default 5,000). */
  snapshotTrailingEntries?: number
  /** A snapshot being received that gets no chunk for this long is given up, its partial file deleted (ms; default 30,000). */
  snapshotStallTimeoutMs?: number
  /**
   * How read() confirms leadership: 'read-index' (default) with a round of heartbeats that a
   * majority answers; 'lease' without one, while a majority answered within the election
   * timeout's minimum less leaseClockDriftMs: correct only if no clock runs faster than
   * another by more than that (Raft dissertation §6.4.1).
   */
  readMode?: ReadMode
  /** Clock drift allowance of lease reads, in ms (default: a tenth of the election timeout's minimum). */
  leaseClockDriftMs?: number
  /** Seed of the election timer's randomness (default: random). */
  seed?: number
  logger?: { warn(message: string): void }
}

const nodeOptionNames = {
  id: true, peers: true, addresses: true, clusterId: true, clusterName: true, dir: true, stateMachine: true, transport: true, electionTimeout: true, heartbeatInterval: true,
  appliedIndex: true, memberSince: true, segmentSize: true, maxLogBytes: true, maxEntriesPerAppend: true, maxBytesPerAppend: true, snapshotThreshold: true,
  snapshotTrailingEntries: true, snapshotStallTimeoutMs: true, readMode: true, leaseClockDriftMs: true, seed: true, logger: true,
} satisfies Record<keyof RaftNodeOptions, true>


/**
 * etcd's: a Node process's event loop can stall for hundreds of milliseconds (a garbage
 * collection, a burst of TLS handshakes, a large entry to checksum), and a follower that hears no
 * heartbeat for an election timeout deposes a healthy leader. 150-500 ms moved leadership several
 * times in a new user's ordinary session on a 2-core machine.
 */
export const defaultElectionTimeoutMs: [number, number] = [1000, 2000]
export const defaultHeartbeatIntervalMs = 100

function bad(option: string, message: string): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `RaftNode.start: ${option} ${message}`, { argument: option })
}

function isNodeId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= 0xffffffff
}

export function checkNodeOptions(options: RaftNodeOptions): { tickMs: number; electionTicks: [number, number]; heartbeatTicks: number } {
  if (options === null || typeof options !== 'object') throw bad('options', 'must be an object')
  refuseUnknownOptions(options, nodeOptionNames, 'RaftNode.start')
  if (!isNodeId(options.id)) throw bad('id', `must be a whole number from 1, got ${String(options.id)}`)
  if (!Array.isArray(options.peers) || !options.peers.every(isNodeId)) throw bad('peers', 'must be an array of node ids (whole numbers from 1)')
  const duplicate = options.peers.find((peer, i) => options.peers.indexOf(peer) !== i)
  if (duplicate !== undefined) throw bad('peers', `lists node ${duplicate} twice`)
  if (options.peers.length > 0 && !options.peers.includes(options.id)) throw bad('peers', `must include this node's own id ${options.id} (or be empty for a node that joins a running cluster)`)
  if (options.addresses !== undefined) {
    if (options.addresses === null || typeof options.addresses !== 'object') throw bad('addresses', 'must map node ids to host:port')
    for (const [id, address] of Object.entries(options.addresses)) {
      if (!isNodeId(Number(id)) || typeof address !== 'string') throw bad('addresses', `must map node ids to host:port, got ${JSON.stringify(id)}: ${JSON.stringify(address)}`)
    }
  }
  if (options.clusterId !== undefined) checkClusterId(options.clusterId, 'RaftNode.start: clusterId')
  if (typeof options.dir !== 'string' || options.dir.length === 0) throw bad('dir', 'must be a directory path')
  if (typeof options.stateMachine?.apply !== 'function') throw bad('stateMachine', 'must have an apply(entry) method')
  const halfSnapshots = halfSnapshotProblem(options.stateMachine)
  if (halfSnapshots !== undefined) throw bad('stateMachine', halfSnapshots)
  const transport = options.transport
  if (typeof transport?.send !== 'function' || typeof transport.onMessage !== 'function' || typeof transport.close !== 'function') {
    throw bad('transport', 'must have send, onMessage and close (a MemoryNetwork endpoint or a gRPC transport)')
  }
  const [min, max] = options.electionTimeout ?? defaultElectionTimeoutMs
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max <= min) {
    // Raft §5.2: randomized timeouts are what ends split votes; min = max would repeat them forever.
    throw bad('electionTimeout', `must be [min, max] milliseconds with 1 <= min < max (a random timeout in that range ends split votes), got [${min}, ${max}]`)
  }
  const heartbeat = options.heartbeatInterval ?? defaultHeartbeatIntervalMs
  if (!Number.isInteger(heartbeat) || heartbeat < 1 || heartbeat >= min) {
    throw bad('heartbeatInterval', `must be a whole number of milliseconds below the election timeout's minimum (${min}), got ${heartbeat}`)
  }
  if (options.appliedIndex !== undefined && (!Number.isSafeInteger(options.appliedIndex) || options.appliedIndex < 0)) {
    throw bad('appliedIndex', `must be a whole number from 0, got ${String(options.appliedIndex)}`)
  }
  const stall = options.snapshotStallTimeoutMs
  if (stall !== undefined && (!Number.isInteger(stall) || stall < 1 || stall > 2 ** 31 - 1)) {
    throw bad('snapshotStallTimeoutMs', `must be a whole number of milliseconds from 1 to ${2 ** 31 - 1}, got ${String(stall)}`)
  }
  if (options.readMode !== undefined && options.readMode !== 'read-index' && options.readMode !== 'lease') {
    throw bad('readMode', `must be 'read-index' or 'lease', got ${String(options.readMode)}`)
  }
  if (options.leaseClockDriftMs !== undefined && (!Number.isInteger(options.leaseClockDriftMs) || options.leaseClockDriftMs < 0 || options.leaseClockDriftMs >= min)) {
    throw bad('leaseClockDriftMs', `must be a whole number of milliseconds from 0 to below the election timeout's minimum (${min}), got ${String(options.leaseClockDriftMs)}`)
  }
  const maxLogBytes = options.maxLogBytes
  if (maxLogBytes !== undefined && maxLogBytes !== 0) {
    const segment = options.segmentSize ?? defaultSegmentSizeBytes
    if (!Number.isSafeInteger(maxLogBytes) || maxLogBytes < 2 * segment) {
      throw bad('maxLogBytes', `must be 0 (no ceiling) or a whole number of bytes from twice the segment size (${2 * segment}): the log keeps its open segment and compaction frees whole segments only; got ${String(maxLogBytes)}`)
    }
  }
  for (const [option, min] of [['snapshotThreshold', 1], ['snapshotTrailingEntries', 0]] as const) {
    const value = options[option]
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw bad(option, `must be a whole number of entries from ${min}, got ${String(value)}`)
  }
  // One tick per heartbeat interval, as etcd does: an idle node wakes up once per heartbeat and
  // no more. The election timeout is a whole number of ticks, at least two, and its range keeps
  // at least two values (its randomness is what ends split votes).
  const tickMs = heartbeat
  const heartbeatTicks = 1
  const minTicks = Math.max(2, Math.round(min / tickMs))
  const electionTicks: [number, number] = [minTicks, Math.max(minTicks + 1, Math.round(max / tickMs))]
  return { tickMs, electionTicks, heartbeatTicks }
}
