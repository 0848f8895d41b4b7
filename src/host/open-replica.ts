// Makes a group's replica on a RaftHost: its log in the engine (made when new), its starting
// point (newest snapshot, configurations from the snapshot and the log, or the given peers for a
// group that holds none), its core, and its snapshots wired to the host's batches.
import { RaftLogError } from '../errors.js'
import { decodeConfiguration, encodeConfiguration } from '../raft/core/configuration.js'
import type { InstallSnapshot, RaftMessage } from '../raft/core/messages.js'
import { RaftCore } from '../raft/core/raft-core.js'
import type { StateMachine } from '../raft/state-machine.js'
import type { LogEngine } from '../engine/log-engine.js'
import { GroupReplica } from './group-replica.js'
import type { HostCounters } from './host-options.js'
import { groupStart } from './group-start.js'
import { GroupSnapshots, groupSnapshotDir, removeSnapshotDir } from './host-snapshots.js'

/** What openReplica needs of its host. */
export interface ReplicaContext {
  nodeId: number
  engine: LogEngine
  electionTicks: readonly [number, number]
  heartbeatTicks: number
  random: () => number
  snapshotEveryEntries: number
  snapshotTrailingEntries: number
  logger: { warn(message: string): void }
  /** Whether the cores' warnings (elections, stepping down) go to the logger too (only when one was given). */
  coreWarnings: boolean
  /** Where snapshots taken and installed are counted. */
  counters: HostCounters
  /** The host's clock in ms (its ticks): snapshot transfers time out by it. */
  now(): number
  /** Queues a message of `group` for its peer host and gets a turn going. */
  send(group: number, message: RaftMessage): void
  /** The replica has something for the next turn. */
  wake(replica: GroupReplica): void
  /** The replica cannot go on (its state machine cannot be restored from its snapshot): the group fails on this host only. */
  failGroup(replica: GroupReplica, error: unknown): void
}

/**
 * Starts the replica of `group`. `peers` (host ids, this one among them) are its voters only when
 * neither its log nor a snapshot holds a configuration; empty peers: a replica that joins, which
 * learns its configuration from the leader. A group the engine holds resumes from its snapshot and log.
 */
export function openReplica(context: ReplicaContext, group: number, peers: readonly number[], stateMachine: StateMachine): GroupReplica {
  const { engine, nodeId, logger } = context
  const snapshotDir = groupSnapshotDir(engine.dir, group)
  if (!engine.hasGroup(group)) {
    // A folder left by a removal that crashed after the group's log went: it belongs to nobody.
    removeSnapshotDir(snapshotDir)
    engine.createGroup(group)
  }
  const log = engine.group(group)
  const stored = GroupSnapshots.newest(snapshotDir, logger)
  const snapshotting = GroupSnapshots.supported(stateMachine)
  if (stored !== undefined && !snapshotting) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} on host ${nodeId} holds snapshot ${stored.file}, but its state machine has no snapshot() and restore() to load it`, { argument: 'stateMachine' })
  }
  const start = groupStart(group, log, stored, logger)
  if (start.configurations.length === 0 && peers.length > 0 && !peers.includes(nodeId)) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group}'s peers ${peers.join(', ')} do not include this host (${nodeId})`, { argument: 'peers' })
  }
  const saved = engine.hardState(group)
  const snapshot = stored === undefined ? undefined : { index: stored.index, term: stored.term }
  const core = new RaftCore({
    id: nodeId,
    peers,
    configurations: start.configurations,
    log,
    hardState: { currentTerm: saved.term, votedFor: saved.vote, commitIndex: saved.commit },
    electionTicks: context.electionTicks,
    heartbeatTicks: context.heartbeatTicks,
    random: context.random,
    appliedIndex: start.appliedIndex,
    ...(snapshot === undefined ? {} : { snapshot }),
    snapshotTrailingEntries: context.snapshotTrailingEntries,
    ...(context.coreWarnings ? { onWarning: (message: string) => logger.warn(`raftlog host ${nodeId}, group ${group}: ${message}`) } : {}),
  })
  const replica = new GroupReplica(group, core, log, stateMachine, 0)
  if (snapshotting) replica.snapshots = snapshotsOf(context, replica, snapshot)
  if (snapshot !== undefined) {
    const snapshots = replica.snapshots as GroupSnapshots
    replica.restoreFrom(snapshot, () => snapshots.restore(snapshot)).catch((error: unknown) => context.failGroup(replica, error))
  }
  return replica
}

function snapshotsOf(context: ReplicaContext, replica: GroupReplica, latest: { index: number; term: number } | undefined): GroupSnapshots {
  const { core, group } = replica
  const snapshots: GroupSnapshots = new GroupSnapshots({
    hostId: context.nodeId,
    group,
    engineDir: context.engine.dir,
    stateMachine: replica.stateMachine,
    everyEntries: context.snapshotEveryEntries,
    termAt: (index) => replica.log.termAt(index),
    // A snapshot carries the configuration in force at its last entry (Raft dissertation §4.1).
    metadataAt: (index) => encodeConfiguration(core.configurationAt(index)),
    latest,
    send: (message) => context.send(group, message),
    currentTerm: () => core.currentTerm,
    leaderId: () => core.leaderId,
    onTaken: (taken) => {
      if (replica.closed) return
      // The core decides what of the log goes (Ready.compactTo); older files go after it.
      core.snapshotTaken(taken)
      context.counters.snapshotsTaken++
      context.wake(replica)
    },
    onSent: (peer, done) => {
      if (replica.closed) return
      core.reportSnapshot(peer, done)
      context.wake(replica)
    },
    onReceived: async (message: InstallSnapshot) => {
      if (replica.closed) return
      const metadata = await snapshots.metadataOf(message.lastIncludedIndex)
      const configuration = metadata.length === 0 ? undefined : decodeConfiguration(metadata)
      replica.quiesced = false
      context.counters.snapshotsReceived++
      core.step({ ...message, ...(configuration === undefined ? {} : { configuration }) })
      context.wake(replica)
    },
    logger: context.logger,
    now: context.now,
  })
  return snapshots
}
