// RaftNode: the driver around RaftCore. It owns the timers, the disk (RaftLog and
// raft_state.meta), the transport and the state machine, and does what each Ready asks, in order.
// The core is the only one that decides what the log holds; the driver carries it out.
//
//   tick · message · propose · read · a snapshot file made durable (stepped in)
//                    │
//                    ▼
//              RaftCore.step()/tick()          (pure: no disk, no socket, no clock)
//                    │ Ready
//                    ▼
//   take(ready):  save term and vote  ─ compact the log (compactTo), prune old snapshots
//                 send the leader's AppendEntries (before its own flush, §10.2.1)
//                 start the flush ─────────┐   (the next Ready is taken meanwhile)
//                                          ▼
//   complete(ready), in order:   send the answers · serve confirmed reads · advance()
//                                record the committed configuration · apply committed entries
//                                (the Applier, beside the loop) · settle membership waiters
//                    │
//                    ▼
//   after the turn:  events for listeners ('role', 'leader', 'configuration', 'removed', 'snapshot')
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { RaftLog, type RaftLogStats } from '../../storage/raft-log.js'
import { RaftStateFile, stateFileName, type ServerState } from '../../storage/raft-state-file.js'
import { RaftLogError, isDiskFullError } from '../../errors.js'
import { frameSizeBytes } from '../../storage/segment-format.js'
import { SnapshotStore } from '../../storage/snapshot-store.js'
import { RaftCore, type Ready, type Role, type SnapshotMeta } from '../core/raft-core.js'
import { Applier } from './applier.js'
import { PendingProposals } from './pending-proposals.js'
import { PendingReads, notLeaderForRead } from './pending-reads.js'
import { Snapshotter } from './snapshotter.js'
import { SnapshotInbox, SnapshotSender } from './snapshot-transfer.js'
import { restoreStartingPoint, type StartingPoint } from './starting-snapshot.js'
import type { InstallSnapshot, RaftMessage } from '../core/messages.js'
import type { SnapshotInfo, StateMachine } from '../state-machine.js'
import type { Transport } from '../transport.js'
import { seededRandom } from '../core/seeded-random.js'
import { describeConfiguration, encodeConfiguration, decodeConfiguration, membersOf, removedOf, votersOnly, type Configuration } from '../core/configuration.js'
import type { MembershipChange } from '../core/membership-change.js'
import { MembershipRequests } from './membership-requests.js'
import { clusterIdOf, deriveClusterId, newClusterToken, settleIdentity } from './cluster-identity.js'
import { configurationsOrLegacy, startingConfigurations, writeFirstConfiguration, type ConfigurationAt } from './starting-configuration.js'
import { checkNodeOptions, defaultElectionTimeoutMs, defaultSnapshotThreshold, defaultSnapshotTrailingEntries, type RaftNodeOptions } from './node-options.js'
import { snapshotsKept } from './snapshotter.js'

export type { RaftNodeOptions } from './node-options.js'

/** Counters and gauges since the node started, for metrics. */
export interface RaftNodeStats {
  /** Proposals this node accepted as leader. */
  proposals: number
  /** Reads served (read() resolved). */
  reads: number
  /** Elections this node started, pre-votes included. */
  elections: number
  snapshotsTaken: number
  snapshotsInstalled: number
  /** How long the last snapshot taken here took, file durable and log compacted (ms). */
  lastSnapshotMs: number | undefined
  /** How long the last snapshot installed here took, from its first chunk to the state restored (ms). */
  lastInstallMs: number | undefined
  log: RaftLogStats
  /** On a leader: each follower's match index, next index, replication state and messages in flight. */
  followers: { id: number; match: number; next: number; state: string; inflight: number }[]
}

/** A snapshot file handed out for a backup (RaftNode.exportSnapshot): kept until release(). */
export interface ExportedSnapshot {
  /** Last entry it covers, and its term. */
  index: number
  term: number
  /** The configuration in force at `index`. */
  configuration: Configuration
  /** The snapshot file, and its size: its bytes are sent as they are. */
  path: string
  sizeBytes: number
  readBytes(offset: number, length: number): Promise<Buffer>
  /** The file may be pruned again. */
  release(): void
}

export interface RaftStatus {
  id: number
  role: Role
  term: number
  leaderId: number
  commitIndex: number
  lastApplied: number
  firstIndex: number
  lastIndex: number
  /** Last index of the newest snapshot (0: none). */
  snapshotIndex: number
  snapshotTerm: number
  /**
   * The node's log cannot grow (its disk is full): it refuses proposals (ERR_DISK_FULL), hands
   * leadership over and answers no appends until space returns, which it finds out by itself.
   */
  diskFull: boolean
  /** Why, and since when, while diskFull: the system's error (ENOSPC …); '' otherwise. */
  diskFullReason: string
  /** Bytes of the entries the log holds (RaftLog.usedBytes; 0 once stopped). */
  logBytes: number
  /** The ceiling a leader refuses writes at (ERR_LOG_FULL); 0: none. */
  maxLogBytes: number
  /** The configuration in use (the latest in the log) and the index of its entry. */
  configuration: Configuration
  configurationIndex: number
  /** 32 hex digits; '' when a joined node was never told (see RaftNode.clusterId). */
  clusterId: string
  /** The id the cluster was founded with (see RaftNode.foundingId). */
  foundingId: string
}

const serverStates: Record<Role, ServerState> = { follower: 0, candidate: 1, leader: 2 }
/** Readies with a flush taken before the node waits for them to complete. */
const maxFlushesInFlight = 16
/**
 * How long a leader with entries still uncommitted waits before telling its followers a new
 * commit index by a notice of its own (ms): a proposal that comes sooner carries it instead, so
 * a steady load sends no extra messages. With nothing uncommitted the core sends the notice at
 * once (RaftCore.commitNews): followers, and so their watchers, hear a write without waiting for
 * the next proposal or heartbeat.
 */
const commitNotifyDelayMs = 3
/** Readies of any kind taken before the node waits (a disk that hangs must not grow memory forever). */
const maxReadiesInFlight = 4096
/**
 * A node paused on a full disk looks for room after this long, then twice as long each time up to
 * maxDiskRetryMs: soon after space is freed, without spinning on a disk that stays full.
 */
const firstDiskRetryMs = 100
const maxDiskRetryMs = 5000

type Timing = ReturnType<typeof checkNodeOptions>

/**
 * A Raft node: consensus (RaftCore), its disk (RaftLog and raft_state.meta), its transport and
 * the user's state machine. Events: 'role' ({ role, term, candidacy? }: a candidate says which
 * kind, see Candidacy; a pre-vote's term is the one it has not left yet), 'leader' ({ leaderId, term }),
 * 'snapshot' ({ index, term, from }: one was taken here, from = 0, or installed from node
 * `from`), 'flush' ({ durationMs }: a flush of the log completed), 'configuration'
 * ({ index, configuration }: a Config entry at `index` is now the one in use, committed or not),
 * 'removed' ({ index, by? }: the committed configuration at `index` no longer names this node,
 * or peer `by` says a committed configuration removed it (it was down meanwhile); it takes no
 * further part and should be stopped), 'failed' (Error: a storage failure stopped the
 * node; it must be stopped and started again).
 */
export class RaftNode extends EventEmitter {
  readonly id: number
  private readonly core: RaftCore
  private readonly log: RaftLog
  private readonly stateFile: RaftStateFile
  private readonly transport: Transport
  private readonly applier: Applier
  private readonly stateMachine: StateMachine
  private readonly snapshots: SnapshotStore
  private readonly snapshotter: Snapshotter
  private readonly snapshotSender: SnapshotSender
  /** The cluster token in the newest snapshot's configuration (see predatesIdentity). */
  private snapshotToken: string | undefined
  private readonly snapshotInbox: SnapshotInbox
  private readonly logger: { warn(message: string): void }
  private readonly timer: NodeJS.Timeout
  /** Set while the leader waits to tell its followers a commit that no proposal carried yet. */
  private commitNotifyTimer: NodeJS.Timeout | undefined
  private readonly pending = new PendingProposals()
  private readonly counters = { proposals: 0, reads: 0, snapshotsTaken: 0, snapshotsInstalled: 0, lastSnapshotMs: undefined as number | undefined, lastInstallMs: undefined as number | undefined }
  private readonly reads = new PendingReads()
  private readonly membership: MembershipRequests
  /**
   * The id this node's cluster was founded with (32 hex digits, '' when unknown): recorded in
   * raft_state.meta, given to a node that joins, stamped on every batch of Raft messages.
   */
  readonly foundingId: string
  /** The configuration index this node was added at (0: a founding node): see announceRemoved. */
  private readonly joinedAt: number
  /** Index of the configuration last announced ('configuration' event, transport addresses). */
  private announcedConfiguration = -1
  private removed = false
  /** A snapshot stepped into the core whose Ready has not been taken yet: who sent it, and since when. */
  private snapshotStepped: { from: number; startedAt: number } | undefined
  /** A snapshot was taken: older snapshot files go once the log behind it was compacted. */
  private pruneSnapshotsDue = false
  /** Events of this turn, for listeners once it is over (a listener may stop the node). */
  private pendingEvents: [string, unknown][] = []
  /** The peer that said this node was removed (0: none). */
  private toldRemovedBy = 0
  /** What announceRemoved() last looked at. */
  private removedKey = ''
  /** The removed ids last told to the transport, joined. */
  private announcedRemoved = ''
  /** Index of the committed configuration last recorded in raft_state.meta. */
  private savedConfigurationIndex: number
  /** This node was named by a configuration it used: leaving one later means it was removed. */
  private hasBeenMember = false
  /** How long stop() waits for a successor to take over (ms). */
  private readonly handOverBoundMs: number
  private readonly electionTimeoutMaxMs: number
  /** How long read() waits for a read index before it gives up. */
  private readonly readTimeoutMs: number
  /** The role last announced, with a candidate's term and kind of candidacy. */
  private announcedRole = 'follower'
  private leaderId = 0
  /** The term this node last led, while it leads. */
  private leadingTerm = 0
  private processing: Promise<void> | undefined
  /** Readies taken and not yet completed (their flushes run); completions chain in order. */
  private readiesInFlight = 0
  private flushesInFlight = 0
  private completions: Promise<void> = Promise.resolve()
  private stopped = false
  private failure: Error | undefined
  /** While the log cannot grow (RaftCore.diskFull): since when, why, and the next look for room. */
  private diskPause: { since: number; reason: string; retryMs: number; timer: NodeJS.Timeout | undefined } | undefined
  /** The leader's ceiling on RaftLog.usedBytes (0: none), and whether it was reached (said once). */
  private readonly maxLogBytes: number
  private atLogCeiling = false
  /** A snapshot for the ceiling was asked for and not started yet. */
  private ceilingSnapshotAsked = false

  private constructor(
    options: RaftNodeOptions,
    log: RaftLog,
    stateFile: RaftStateFile,
    snapshots: SnapshotStore,
    start: StartingPoint,
    configurations: ConfigurationAt[],
    clusterId: string,
    timing: Timing,
  ) {
    super()
    this.foundingId = clusterId
    this.maxLogBytes = options.maxLogBytes ?? 0
    this.electionTimeoutMaxMs = (options.electionTimeout ?? defaultElectionTimeoutMs)[1]
    this.membership = new MembershipRequests(3 * this.electionTimeoutMaxMs)
    const { tickMs, electionTicks, heartbeatTicks } = timing
    this.id = options.id
    this.log = log
    this.stateFile = stateFile
    this.snapshots = snapshots
    this.transport = options.transport
    this.stateMachine = options.stateMachine
    // Long enough for an election and a round of heartbeats after it.
    this.readTimeoutMs = 4 * (options.electionTimeout ?? defaultElectionTimeoutMs)[1]
    this.logger = options.logger ?? { warn: (message) => console.warn(message) }
    const saved = stateFile.load()
    this.savedConfigurationIndex = saved.configuration?.index ?? 0
    this.joinedAt = saved.memberSince ?? 0
    const appliedIndex = Math.min(start.appliedIndex, log.lastIndex)
    this.core = new RaftCore({
      ...(start.snapshot === undefined ? {} : { snapshot: start.snapshot }),
      id: options.id,
      peers: options.peers,
      configurations,
      log,
      hardState: { currentTerm: saved.currentTerm, votedFor: saved.votedFor, commitIndex: saved.commitIndex },
      electionTicks,
      heartbeatTicks,
      random: seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32)),
      appliedIndex,
      ...(options.maxEntriesPerAppend === undefined ? {} : { maxEntriesPerAppend: options.maxEntriesPerAppend }),
      ...(options.maxBytesPerAppend === undefined ? {} : { maxBytesPerAppend: options.maxBytesPerAppend }),
      readMode: options.readMode ?? 'read-index',
      snapshotTrailingEntries: options.snapshotTrailingEntries ?? defaultSnapshotTrailingEntries,
      memberSince: saved.memberSince ?? 0,
      ...(options.leaseClockDriftMs === undefined ? {} : { leaseDriftTicks: Math.ceil(options.leaseClockDriftMs / tickMs) }),
      newClusterToken,
      onWarning: (message) => this.logger.warn(message),
    })
    this.snapshotToken = start.snapshot === undefined || start.metadata.length === 0 ? undefined : decodeConfiguration(start.metadata).clusterToken
    this.snapshotter = new Snapshotter({
      store: snapshots,
      stateMachine: options.stateMachine,
      threshold: options.snapshotThreshold ?? defaultSnapshotThreshold,
      latest: start.snapshot,
      termAt: (index) => log.termAt(index),
      onTaken: (snapshot, durationMs) => {
        // The core decides what of the log goes (Ready.compactTo); older files go after it.
        this.pruneSnapshotsDue = true
        this.snapshotToken = this.tokenAt(snapshot.index)
        this.guard(() => this.core.snapshotTaken(snapshot))
        this.counters.snapshotsTaken++
        this.counters.lastSnapshotMs = durationMs
        this.emitAfterTurn('snapshot', { ...snapshot, from: 0 })
      },
      // A snapshot carries the configuration in force at its last entry (Raft dissertation §4.1).
      metadataAt: (index) => encodeConfiguration(this.core.configurationAt(index)),
      logger: this.logger,
    })
    this.applier = new Applier({
      log,
      stateMachine: options.stateMachine,
      appliedIndex,
      onApplied: (entry, outcome) => this.pending.applied(entry.index, entry.term, outcome),
      onSliceApplied: (lastApplied) => {
        this.reads.applied(lastApplied)
        this.maybeSnapshot(lastApplied)
      },
      sliceEndsAt: () => this.snapshotter.dueAt,
      onFailure: (error) => this.fail(error),
    })
    this.snapshotSender = new SnapshotSender({
      id: this.id,
      store: snapshots,
      send: (message) => this.transport.send(message),
      onFinished: (peer, done) => this.guard(() => this.core.reportSnapshot(peer, done)),
      logger: this.logger,
    })
    this.snapshotInbox = new SnapshotInbox({
      id: this.id,
      store: snapshots,
      send: (message) => this.transport.send(message),
      currentTerm: () => this.core.currentTerm,
      leaderId: () => this.core.leaderId,
      onComplete: (message, startedAt) => this.installSnapshot(message, startedAt),
      refusal: () => (this.diskPause === undefined ? undefined : `its disk is full (${this.diskPause.reason}): it takes no snapshot until there is room`),
      logger: this.logger,
      ...(options.snapshotStallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.snapshotStallTimeoutMs }),
    })
    this.transport.onMessage((message) => {
      // After a storage failure the node takes no further part: an answer now could acknowledge
      // entries that never reached the disk.
      if (this.stopped || this.failure !== undefined) return
      // Snapshot files move driver to driver; everything else is the core's.
      if (message.type === 'SnapshotChunk') this.snapshotInbox.onChunk(message)
      else if (message.type === 'SnapshotChunkResponse') this.snapshotSender.onResponse(message)
      else this.guard(() => this.core.step(message))
    })
    // A peer whose committed configuration removed this node says so (it may have been down).
    this.transport.onRemoved?.((by) => this.toldRemoved(by))
    this.handOverBoundMs = 3 * heartbeatTicks * tickMs + 100
    this.timer = setInterval(() => {
      this.guard(() => this.core.tick())
      this.snapshotSender.tick()
    }, tickMs)
    // A node that restarts after it was removed: its log names it in an earlier configuration.
    this.hasBeenMember = configurations.some((entry) => membersOf(entry.config).includes(this.id))
    // A member told it so before it stopped: its log may never say it.
    if (saved.removed === true) {
      this.removed = true
      this.core.stopStanding()
    }
    this.announceConfiguration()
    this.announceRemoved()
    // Committed entries above what the state machine holds are applied again, beside the loop.
    this.applier.advanceTo(this.core.committed)
    this.schedule()
  }

  /** Opens (or recovers) the node's log and state in `dir` and starts taking part in the cluster. */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const timing = checkNodeOptions(options)
    const log = RaftLog.open(options.dir, { ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }), ...(options.logger === undefined ? {} : { logger: options.logger }) })
    let stateFile: RaftStateFile | undefined
    try {
      stateFile = RaftStateFile.open(join(options.dir, stateFileName))
      const saved = stateFile.load()
      const identity = settleIdentity(saved, options.id, options.clusterId, options.dir)
      const snapshots = SnapshotStore.open(options.dir)
      const logger = options.logger ?? console
      const start = await restoreStartingPoint(log, snapshots, options.stateMachine, options.appliedIndex ?? 0, logger)
      let configurations = startingConfigurations(log, start, saved.configuration, logger)
      const first = votersOnly(options.peers, options.addresses ?? {})
      // A directory that joined a cluster (its id recorded) never founds one, even with an empty log.
      const founding = options.peers.length > 0 && configurations.length === 0 && start.snapshot === undefined && log.lastIndex === 0 && saved.currentTerm === 0 && (saved.clusterId ?? '') === ''
      if (founding) {
        configurations = [await writeFirstConfiguration(log, first)]
        stateFile.save({ ...saved, currentTerm: 1, commitIndex: 1, configuration: { index: 1, data: encodeConfiguration(first) } })
      }
      configurations = configurationsOrLegacy(configurations, first, log, start, options.dir)
      const clusterId = identity.clusterId !== '' ? identity.clusterId : options.peers.length > 0 ? deriveClusterId(first, options.clusterName ?? '') : ''
      stateFile.save({ ...stateFile.load(), nodeId: options.id, clusterId, memberSince: saved.memberSince || (options.memberSince ?? 0) })
      if (clusterId !== '') options.transport.setClusterId?.(clusterId)
      return new RaftNode(options, log, stateFile, snapshots, start, configurations, clusterId, timing)
    } catch (error) {
      stateFile?.close()
      log.close()
      throw error
    }
  }

  /**
   * Proposes `data`; resolves with the state machine's apply() result once the entry is
   * committed and applied here. Never throws: rejects with ERR_NOT_LEADER (and leaderId, when
   * known) on a node that is not the leader; ERR_LEADERSHIP_LOST when this node stopped leading
   * before the entry committed (it may or may not be applied later); ERR_PROPOSAL_DROPPED when
   * another entry was committed at its index; ERR_STOPPED; or the storage failure that stopped
   * the node.
   */
  propose(data: Uint8Array): Promise<unknown> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', `RaftNode.propose: data must be a Uint8Array, got ${data === null ? 'null' : typeof data}`, { argument: 'data' }))
    }
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `RaftNode.propose: node ${this.id} is stopped`))
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const refused = this.core.role === 'leader' ? (this.diskFullRefusal() ?? this.logFullRefusal(data.length)) : undefined
    if (refused !== undefined) return Promise.reject(refused)
    let index: number | undefined
    try {
      index = this.core.propose(data)
    } catch (error) {
      // The disk refused room just now: the core paused, and the proposal was never appended.
      if (isDiskFullError(error)) {
        this.schedule()
        return Promise.reject(error)
      }
      this.fail(error as Error)
      return Promise.reject(this.failure ?? error)
    }
    if (index === undefined && this.core.transferringTo !== 0) {
      const leaderId = this.core.transferringTo
      const error = new RaftLogError('ERR_LEADERSHIP_TRANSFER', `Node ${this.id} is handing leadership to node ${leaderId}; propose there once it leads`, { leaderId })
      return Promise.reject(Object.assign(error, { leaderId }))
    }
    if (index === undefined) {
      const leaderId = this.core.leaderId
      const error = new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader${leaderId === 0 ? ' and knows of none' : `; node ${leaderId} is`}`, { leaderId })
      return Promise.reject(Object.assign(error, { leaderId: leaderId === 0 ? undefined : leaderId }))
    }
    const result = this.pending.add(index, this.core.currentTerm)
    this.counters.proposals++
    this.schedule(true)
    return result
  }

  /**
   * Changes the membership (Raft dissertation §4.3, joint consensus): the leader proposes
   * C_old,new, then C_new once that commits; resolves with C_new once it is committed. Any
   * combination of additions, promotions, demotions, address updates and removals is one
   * change. Add new members as
   * learners and promote them once they caught up: a new voter that is far behind can stall
   * commits. A leader removed by the change hands leadership over and steps down.
   * Rejects with ERR_NOT_LEADER (with leaderId), ERR_CHANGE_IN_PROGRESS (one change at a time),
   * ERR_LEARNER_BEHIND (a learner to promote is more than maxPromotionLagEntries behind: try
   * again later), ERR_LEADERSHIP_TRANSFER, ERR_BAD_ARGUMENT (naming the node), ERR_LEADERSHIP_LOST
   * (this node stopped leading: the change may still finish; look at status().configuration),
   * ERR_STOPPED or the storage failure that stopped the node.
   */
  changeMembership(change: MembershipChange): Promise<Configuration> {
    const refused = this.refuse('changeMembership')
    if (refused !== undefined) return Promise.reject(refused)
    let jointIndex: number
    try {
      jointIndex = this.core.proposeMembership(change)
    } catch (error) {
      if (!(error instanceof RaftLogError)) this.fail(error as Error)
      return Promise.reject(error)
    }
    const done = this.membership.waitForChange(jointIndex, this.core.currentTerm)
    this.schedule(true)
    return done
  }

  /**
   * Hands leadership to voter `to`, or to the most up-to-date other voter (Raft dissertation
   * §3.10): brings it up to date, tells it to stand at once (TimeoutNow), and refuses proposals
   * meanwhile (ERR_LEADERSHIP_TRANSFER). Resolves with the target's id once this node hears
   * that it leads. Rejects with ERR_NOT_LEADER, ERR_BAD_ARGUMENT (not another voter; no other
   * voter), ERR_TIMEOUT (the target never caught up within an election timeout: this node leads
   * on), ERR_TRANSFER_FAILED (another node leads now), ERR_UNKNOWN_OUTCOME (the target was told
   * to stand and no leader was heard of within three election timeouts: it may still have
   * worked), ERR_STOPPED.
   */
  transferLeadership(to?: number): Promise<number> {
    const refused = this.refuse('transferLeadership')
    if (refused !== undefined) return Promise.reject(refused)
    if (to !== undefined && (!Number.isSafeInteger(to) || to < 1)) {
      return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', `RaftNode.transferLeadership: to must be a node id (a whole number from 1), got ${String(to)}`, { argument: 'to' }))
    }
    let target = 0
    try {
      target = this.core.transferLeadership(to)
    } catch (error) {
      if (!(error instanceof RaftLogError)) this.fail(error as Error)
      return Promise.reject(error)
    }
    if (target === 0) return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', `Node ${this.id} is the only voter: there is nobody to hand leadership to`))
    // The core gives up after an election timeout; this bound only covers a leader that never speaks.
    const done = this.membership.waitForTransfer(target, this.core.currentTerm, 3 * this.electionTimeoutMaxMs, this.id)
    this.schedule(true)
    return done
  }

  /** The configuration in use: the latest in the log (committed or not). */
  get configuration(): Configuration {
    return this.core.configuration
  }

  /**
   * The index from which node `id` has been a member without a break, as far as this node's
   * configurations reach (0: not a member): what a leader tells a node that joins, to be given
   * to its start as `memberSince`.
   */
  memberSince(id: number): number {
    return this.core.memberSince(id)
  }

  /**
   * Takes a snapshot now (of the state after the last applied entry) and compacts the log
   * behind it; resolves with what it covers. ERR_UNSUPPORTED without snapshot()/restore().
   */
  async snapshot(): Promise<SnapshotInfo> {
    if (!this.snapshotter.enabled) throw new RaftLogError('ERR_UNSUPPORTED', `RaftNode.snapshot: node ${this.id}'s state machine has no snapshot() and restore()`)
    if (this.stopped) throw new RaftLogError('ERR_STOPPED', `RaftNode.snapshot: node ${this.id} is stopped`)
    if (this.failure !== undefined) throw this.failure
    const taken = await this.applier.betweenTwoEntries(() => this.snapshotter.take(this.applier.lastApplied))
    // The turn that compacts the log behind it (Ready.compactTo) is over when this resolves.
    await this.processing
    await this.completions
    return taken
  }

  /**
   * A consistent snapshot for a backup (raftlog snapshot save): confirms with a majority that this
   * node leads (ReadIndex), then takes a snapshot at what it has applied by then, so the snapshot
   * holds every write acknowledged before the call. The file stays pinned (never pruned) until
   * release() is called. Rejects with ERR_NOT_LEADER on a follower, ERR_UNSUPPORTED without
   * snapshot()/restore(), and as read() and snapshot() do.
   */
  async exportSnapshot(): Promise<ExportedSnapshot> {
    if (this.core.role !== 'leader') {
      const leaderId = this.core.leaderId
      const error = new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader${leaderId === 0 ? ' and knows of none' : `; node ${leaderId} is`}: a backup is taken by the leader`, { leaderId })
      throw Object.assign(error, { leaderId: leaderId === 0 ? undefined : leaderId })
    }
    const readIndex = await this.read()
    const taken = await this.snapshot()
    if (taken.index < readIndex) throw new Error(`Invariant: snapshot at ${taken.index} is behind the read index ${readIndex}`)
    const file = this.snapshots.list().find((candidate) => candidate.index === taken.index)
    if (file === undefined) throw new RaftLogError('ERR_CORRUPT', `Snapshot ${taken.index} vanished from ${this.log.dir} as it was exported`)
    const release = this.snapshots.pin(file.file)
    try {
      const reader = await this.snapshots.read(file)
      await reader.close()
      return {
        index: taken.index,
        term: taken.term,
        configuration: decodeConfiguration(reader.meta.metadata),
        path: file.path,
        sizeBytes: file.sizeBytes,
        readBytes: (offset, length) => this.snapshots.readBytes(file, offset, length),
        release,
      }
    } catch (error) {
      release()
      throw error
    }
  }

  /**
   * A linearizable read point (Raft dissertation §6.4, ReadIndex): resolves with an index once
   * this node has confirmed that the leader it knows was still leading after the call (a
   * majority answered it, or its lease held in 'lease' mode) and its own state machine has
   * applied up to that index. Read the state machine then: it holds every write committed
   * before the call. Works on followers too (they ask the leader). No log entry is written.
   * Rejects with ERR_NOT_LEADER when no leader is known or leadership moved (ask again),
   * ERR_TIMEOUT, ERR_STOPPED, or the storage error that failed the node.
   */
  read(): Promise<number> {
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `RaftNode.read: node ${this.id} is stopped`))
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const { requestId, index } = this.reads.add(this.readTimeoutMs, () => new RaftLogError('ERR_TIMEOUT', `Node ${this.id} got no read index within ${this.readTimeoutMs} ms`))
    let asked = false
    this.guard(() => {
      asked = this.core.readIndex(requestId)
    }, true)
    if (this.failure !== undefined) this.reads.fail(requestId, this.failure)
    else if (!asked) this.reads.fail(requestId, notLeaderForRead(this.id, 0))
    return index.then((readIndex) => {
      this.counters.reads++
      return readIndex
    })
  }

  /** ERR_DISK_FULL while this leader's log cannot grow (it hands leadership over meanwhile). */
  private diskFullRefusal(): RaftLogError | undefined {
    const pause = this.diskPause
    if (pause === undefined && this.core.diskFull === undefined) return undefined
    const reason = pause?.reason ?? this.core.diskFull?.message ?? 'no room'
    const to = this.core.transferringTo
    const error = new RaftLogError(
      'ERR_DISK_FULL',
      `Node ${this.id} cannot write: its disk is full (${reason}); it takes no proposals until there is room again, which it finds out by itself${to === 0 ? '' : `, and hands leadership to node ${to}`}: propose again${to === 0 ? '' : ' there'}`,
      { leaderId: to },
    )
    return Object.assign(error, to === 0 ? {} : { leaderId: to })
  }

  /**
   * ERR_LOG_FULL when the entry would take this leader's log past maxLogBytes. Starts a snapshot
   * (whatever snapshotThreshold says), after which the log is compacted and takes writes again.
   */
  private logFullRefusal(payloadBytes: number): RaftLogError | undefined {
    if (this.maxLogBytes === 0) return undefined
    const logBytes = this.log.usedBytes
    if (logBytes + frameSizeBytes(payloadBytes) <= this.maxLogBytes) {
      this.atLogCeiling = false
      return undefined
    }
    if (!this.atLogCeiling) {
      this.atLogCeiling = true
      this.emitAfterTurn('logFull', { logBytes, maxLogBytes: this.maxLogBytes })
    }
    this.snapshotForCeiling()
    const snapshots = this.snapshotter.enabled
      ? 'it takes a snapshot now and compacts its log behind it, then takes writes again: retry shortly. If this lasts, lower snapshot_trailing_entries (compaction drops whole segment files, log_segment_size each: the entries kept behind a snapshot must leave the oldest files free) or raise max_log_bytes (and the disk under it); both are read when the node starts'
      : 'its state machine takes no snapshots (no snapshot() and restore()), so its log is never compacted: raise max_log_bytes'
    return new RaftLogError('ERR_LOG_FULL', `Node ${this.id}'s log holds ${logBytes} bytes and would pass its ceiling, max_log_bytes ${this.maxLogBytes}, with this entry; ${snapshots}`, {
      logBytes,
      maxLogBytes: this.maxLogBytes,
    })
  }

  /** A snapshot now, between two entries, so that compaction brings the log back under maxLogBytes. */
  private snapshotForCeiling(): void {
    // Once per wait: every proposal refused meanwhile asks for the same snapshot.
    if (!this.snapshotter.enabled || this.snapshotter.busy || this.ceilingSnapshotAsked) return
    this.ceilingSnapshotAsked = true
    void this.applier
      .betweenTwoEntries(() => this.snapshotter.maybeTake(this.applier.lastApplied, undefined, { evenBelowThreshold: true }))
      .finally(() => (this.ceilingSnapshotAsked = false))
  }

  /** Counters since start, for metrics (see also the 'flush' event: { durationMs } per flush). */
  stats(): RaftNodeStats {
    return { ...this.counters, elections: this.core.campaigns, log: { ...this.log.stats }, followers: this.core.followers() }
  }

  status(): RaftStatus {
    const snapshot = this.snapshotter.latest
    return {
      id: this.id,
      role: this.core.role,
      term: this.core.currentTerm,
      leaderId: this.core.leaderId,
      commitIndex: this.core.committed,
      lastApplied: this.applier.lastApplied,
      firstIndex: this.stopped ? 0 : this.log.firstIndex,
      lastIndex: this.stopped ? 0 : this.log.lastIndex,
      snapshotIndex: snapshot?.index ?? 0,
      snapshotTerm: snapshot?.term ?? 0,
      diskFull: this.diskPause !== undefined,
      diskFullReason: this.diskPause === undefined ? '' : `since ${new Date(this.diskPause.since).toISOString()}: ${this.diskPause.reason}`,
      logBytes: this.stopped ? 0 : this.log.usedBytes,
      maxLogBytes: this.maxLogBytes,
      configuration: this.core.configuration,
      configurationIndex: this.core.configurationIndex,
      clusterId: this.clusterId,
      foundingId: this.foundingId,
    }
  }

  /** The current term (what status().term says, without making the whole status). */
  get term(): number {
    return this.core.currentTerm
  }

  /**
   * The cluster's id as users see it (32 hex digits; '' when unknown): the founding id until the
   * first leader's random token is committed, then a hash of both (clusterIdOf).
   */
  get clusterId(): string {
    return clusterIdOf(this.foundingId, this.core.configurationEntryAt(this.core.committed).config.clusterToken)
  }

  /**
   * Whether a committed configuration no longer names this node (it was removed; the 'removed'
   * event said so, or it was so when the node started): it takes no further part.
   */
  get wasRemoved(): boolean {
    return this.removed
  }

  /** The storage failure that stopped this node, if one did. */
  get failed(): Error | undefined {
    return this.failure
  }

  /**
   * Stops timers and transport, saves progress, closes the log and state file. start() again
   * recovers. A leader with another voter hands leadership over first (bounded by an election
   * timeout), so the cluster goes on without waiting for one to pass: a rolling restart costs
   * no election.
   */
  async stop(): Promise<void> {
    if (this.stopped) return
    const successor = this.failure === undefined ? this.core.handOverTarget() : 0
    if (successor !== 0) {
      // A live successor takes over within a round trip or two; one that is down (the others
      // stopped first) must not hold the stop up for an election timeout.
      let bound: NodeJS.Timeout | undefined
      const outcome = await Promise.race([
        this.transferLeadership(successor).then(
          () => undefined,
          (error: Error) => error.message,
        ),
        new Promise<string>((resolve) => (bound = setTimeout(() => resolve(`no successor took over within ${this.handOverBoundMs} ms`), this.handOverBoundMs))),
      ])
      clearTimeout(bound)
      if (outcome !== undefined) this.logger.warn(`node ${this.id}: stopping without handing leadership over: ${outcome}`)
    }
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    clearTimeout(this.commitNotifyTimer)
    clearTimeout(this.diskPause?.timer)
    await this.processing
    await this.completions
    await this.applier.stop()
    await this.snapshotter.idle()
    this.snapshotSender.stopAll()
    await this.snapshotInbox.close()
    await this.transport.close()
    try {
      if (this.failure === undefined) this.saveState()
    } finally {
      this.log.close()
      this.stateFile.close()
      this.pending.rejectAll(new RaftLogError('ERR_STOPPED', `Node ${this.id} stopped before the entry was applied`))
      this.reads.rejectAll(new RaftLogError('ERR_STOPPED', `Node ${this.id} stopped before the read could be served`))
      this.membership.rejectAll(new RaftLogError('ERR_STOPPED', `Node ${this.id} stopped`))
    }
  }

  /** Why a request cannot start now, if it cannot. */
  private refuse(method: string): Error | undefined {
    if (this.stopped) return new RaftLogError('ERR_STOPPED', `RaftNode.${method}: node ${this.id} is stopped`)
    return this.failure
  }

  /**
   * Runs a step of the core; any error there (a failed disk, a broken invariant) fails the node.
   * `clientRequest`: a proposal or a read, batched with the others of this turn.
   */
  private guard(action: () => void, clientRequest = false): void {
    if (this.stopped || this.failure !== undefined) return
    try {
      action()
    } catch (error) {
      this.fail(error as Error)
      return
    }
    this.schedule(clientRequest)
  }

  /**
   * Takes the core's Readies soon. After a client request (a proposal, a read), on the event
   * loop's next check phase, so that every request of this turn (each client call is its own
   * callback) goes into one Ready: one AppendEntries and one flush for the proposals (group
   * commit), one round of heartbeats for the reads. After anything else (a batch of messages, a
   * tick, a completion) at the end of the current task, which has already seen all of it.
   */
  private schedule(clientRequest = false): void {
    if (this.commitNotifyTimer === undefined && this.core.commitNotifyDue && !this.stopped && this.failure === undefined) {
      this.commitNotifyTimer = setTimeout(() => {
        this.commitNotifyTimer = undefined
        this.guard(() => this.core.notifyCommitNow())
      }, commitNotifyDelayMs)
    }
    if (this.processing !== undefined || this.stopped || this.failure !== undefined || !this.core.hasReady()) return
    const turn = clientRequest ? new Promise<void>((resolve) => setImmediate(resolve)) : Promise.resolve()
    this.processing = turn
      .then(() => this.process())
      .finally(() => {
        this.processing = undefined
        this.schedule()
      })
  }

  /**
   * Takes every Ready the core has. Flushes pipeline: a Ready's answers wait for its flush,
   * but the next Ready is taken at once, so a slow disk never holds back the leader's heartbeats
   * and new entries (§10.2.1); completions run in the order the Readies were taken.
   */
  private async process(): Promise<void> {
    try {
      while (!this.stopped && this.failure === undefined && this.core.hasReady()) {
        // A disk far behind holds back new Readies (and so new entries); one merely slow never
        // stops the heartbeats, which need no flush.
        if (this.flushesInFlight >= maxFlushesInFlight || this.readiesInFlight >= maxReadiesInFlight) await this.completions
        this.take(this.core.ready())
      }
    } catch (error) {
      this.fail(error as Error)
    }
  }

  private take(ready: Ready): void {
    this.followDiskState(ready.diskFull)
    if (ready.hardState !== undefined) this.saveState(ready)
    // What the core decided about the log beyond appends: compaction behind a snapshot, and a
    // snapshot stepped in that replaced it.
    if (ready.compactTo !== undefined) this.log.compact(ready.compactTo)
    if (this.pruneSnapshotsDue) {
      this.pruneSnapshotsDue = false
      this.snapshots.prune(snapshotsKept)
    }
    if (this.snapshotStepped !== undefined) this.snapshotLanded(ready.restore)
    // A leader's AppendEntries go out before its own flush (Raft dissertation §10.2.1): the
    // followers write while it writes, and it counts itself toward a commit only once its flush
    // is done (advance()). Every answer waits for the flush: it may vouch for these entries.
    this.send(ready.messages, true)
    // One flush serves every entry appended before it, however many proposals they came from.
    const flushed = ready.mustFlush ? this.timed(this.log.flush()) : undefined
    this.readiesInFlight++
    if (flushed !== undefined) this.flushesInFlight++
    this.completions = this.completions
      .then(() => flushed)
      .then(
        () => this.complete(ready),
        (error: unknown) => this.fail(error as Error),
      )
      .finally(() => {
        this.readiesInFlight--
        if (flushed !== undefined) this.flushesInFlight--
        this.schedule()
      })
    // What is committed and already durable here need not wait for that flush (nor for the
    // flushes still in flight before it): a follower told a commit with the next entry, a
    // leader acknowledged beside new proposals, apply (answer, wake watchers) now. After the
    // flush is chained: a failure here fails the node, and the flush's outcome is still heard.
    this.saveCommittedConfiguration(ready.durableCommitIndex)
    this.applier.advanceTo(ready.durableCommitIndex)
  }

  /**
   * A snapshot when enough entries were applied, or any were and either the log reached
   * maxLogBytes (a follower's too: it refuses nothing, but its disk is the same size) or the
   * newest snapshot predates the cluster's identity (see predatesIdentity); once written, look
   * again (between two entries).
   */
  private maybeSnapshot(lastApplied: number): void {
    const latest = this.snapshotter.latest
    const evenBelowThreshold =
      (this.maxLogBytes > 0 && !this.stopped && this.log.usedBytes >= this.maxLogBytes) ||
      (latest !== undefined && this.snapshotToken !== this.tokenAt(lastApplied))
    this.snapshotter.maybeTake(
      lastApplied,
      () => {
        if (!this.stopped && this.failure === undefined) void this.applier.betweenTwoEntries(() => this.maybeSnapshot(this.applier.lastApplied))
      },
      { evenBelowThreshold },
    )
  }

  /**
   * The core says whether its log can grow: on the change, pause (one 'paused' event, a look for
   * room after firstDiskRetryMs) or resume (one 'resumed' event).
   */
  private followDiskState(full: boolean): void {
    const pause = this.diskPause
    if (full && pause === undefined) {
      const reason = this.core.diskFull?.message ?? 'no room'
      this.diskPause = { since: Date.now(), reason, retryMs: firstDiskRetryMs, timer: undefined }
      this.lookForRoomLater()
      this.emitAfterTurn('paused', { reason, leader: this.core.role === 'leader', handingOverTo: this.core.transferringTo })
    } else if (!full && pause !== undefined) {
      clearTimeout(pause.timer)
      this.diskPause = undefined
      this.emitAfterTurn('resumed', { pausedMs: Date.now() - pause.since })
    }
  }

  private lookForRoomLater(): void {
    const pause = this.diskPause
    if (pause === undefined || this.stopped || this.failure !== undefined) return
    pause.timer = setTimeout(() => this.lookForRoom(), pause.retryMs)
    pause.retryMs = Math.min(maxDiskRetryMs, pause.retryMs * 2)
  }

  /**
   * Asks the log for the next segment's blocks (what the disk refused): once it has them, the
   * core takes up what it held back (resumeWrites), in order; still no room, look again later.
   */
  private lookForRoom(): void {
    if (this.stopped || this.failure !== undefined || this.diskPause === undefined) return
    this.log.reserveNextSegment().then(
      () => {
        this.guard(() => this.core.resumeWrites())
        // Still paused (the entry held back needs more than one segment, say): later.
        if (this.core.diskFull !== undefined) this.lookForRoomLater()
      },
      (error: unknown) => {
        if (isDiskFullError(error)) this.lookForRoomLater()
        else this.fail(error as Error)
      },
    )
  }

  /** Emits 'flush' with the flush's duration when it completes. */
  private timed(flush: Promise<void>): Promise<void> {
    const started = performance.now()
    return flush.then(() => {
      this.emit('flush', { durationMs: performance.now() - started })
    })
  }

  /** The Ready's flush is done: answer, apply, advance. */
  private complete(ready: Ready): void {
    if (this.stopped || this.failure !== undefined) return
    this.guard(() => {
      this.send(ready.messages, false)
      this.announce(ready)
      for (const read of ready.readStates) this.reads.confirmed(read.requestId, read.index, this.applier.lastApplied)
      for (const requestId of ready.droppedReads) this.reads.fail(requestId, notLeaderForRead(this.id, ready.leaderId))
      this.core.advance(ready)
      this.saveCommittedConfiguration(Math.min(ready.commitIndex, ready.lastIndex))
      this.applier.advanceTo(ready.commitIndex)
      this.membership.update({
        nodeId: this.id,
        role: this.core.role,
        term: this.core.currentTerm,
        leaderId: this.core.leaderId,
        commitIndex: this.core.committed,
        configuration: this.core.configuration,
        configurationIndex: this.core.configurationIndex,
        transferringTo: this.core.transferringTo,
        timeoutNowTerm: this.core.timeoutNowTerm,
        termAt: (index) => (index < this.log.firstIndex ? undefined : this.log.termAt(index)),
      })
      // After the waiters: a 'removed' listener may stop the node, which rejects what still waits.
      this.announceConfiguration()
      this.announceRemoved()
    })
  }

  /** Tells the transport and listeners about a configuration new since the last call, and a removal once committed. */
  private announceConfiguration(): void {
    const index = this.core.configurationIndex
    const configuration = this.core.configuration
    if (index !== this.announcedConfiguration) {
      this.announcedConfiguration = index
      // A node that joins knows no configuration until the leader's entries reach it; the
      // transport keeps the addresses it was given meanwhile.
      if (membersOf(configuration).length > 0) this.transport.setAddresses?.(configuration.addresses)
      this.emitAfterTurn('configuration', { index, configuration })
    }
    // A node left out of a committed configuration takes no further part. Only one that was a
    // member notices: a joining node is not named until its learner entry reaches it.
    const named = membersOf(configuration).includes(this.id)
    if (named) this.hasBeenMember = true
    else if ((this.hasBeenMember || removedOf(configuration).includes(this.id)) && !this.removed && index <= this.core.committed) {
      this.removed = true
      this.logger.warn(`node ${this.id}: the configuration at index ${index} (${describeConfiguration(configuration)}) no longer names this node; it should be stopped (ids are never reused: to bring the machine back, join it under a new node id)`)
      this.emitAfterTurn('removed', { index })
    }
  }

  /** The cluster token of the configuration in force at `index`. */
  private tokenAt(index: number): string | undefined {
    return this.core.configurationAt(index).clusterToken
  }

  /**
   * The newest snapshot was taken before the cluster got the identity it has now (a recovery
   * as a new cluster, a restore, or the first leader's token): a node that installed it would
   * take the old cluster's id and refuse this one's messages. It is not sent; the next snapshot,
   * taken at once (maybeSnapshot), carries the committed configuration.
   */
  private predatesIdentity(): boolean {
    return this.snapshotter.enabled && this.snapshotter.latest !== undefined && this.snapshotToken !== this.tokenAt(this.core.committed)
  }

  /** Sends the leader's replication messages (`early`) or all the others. */
  private send(messages: readonly RaftMessage[], early: boolean): void {
    const term = this.core.currentTerm
    for (const message of messages) {
      if ((message.type === 'AppendEntries' || message.type === 'InstallSnapshot') !== early) continue
      // A message of a term this node has left since is stale: dropping it is always safe.
      if (message.term < term && message.type !== 'RequestVoteResponse') continue
      if (message.type === 'InstallSnapshot' && this.predatesIdentity()) this.guard(() => this.core.reportSnapshot(message.to, false))
      else if (message.type === 'InstallSnapshot') this.snapshotSender.start(message)
      else this.transport.send(message)
    }
  }

  private announce(ready: Ready): void {
    if (this.leadingTerm !== 0 && (ready.role !== 'leader' || ready.term !== this.leadingTerm)) {
      this.pending.leadershipLost(this.id, this.leadingTerm, ready.commitIndex)
      this.snapshotSender.stopAll()
    }
    this.leadingTerm = ready.role === 'leader' ? ready.term : 0
    // A candidate's pre-vote, then its election, are two announcements in one role.
    const roleKey = ready.role === 'candidate' ? `candidate/${ready.term}/${ready.candidacy}` : ready.role
    if (roleKey !== this.announcedRole) {
      this.announcedRole = roleKey
      this.emitAfterTurn('role', { role: ready.role, term: ready.term, ...(ready.candidacy === undefined ? {} : { candidacy: ready.candidacy }) })
    }
    if (ready.leaderId !== this.leaderId) {
      this.leaderId = ready.leaderId
      this.emitAfterTurn('leader', { leaderId: ready.leaderId, term: ready.term })
    }
  }

  /**
   * A snapshot from the leader is durable here: it is stepped into the core, which replaces the
   * log when the snapshot is ahead of it and says so in the next Ready (restore). The applier
   * stops first, so nothing reads the log while the core cuts it.
   */
  private async installSnapshot(message: InstallSnapshot, startedAt: number): Promise<void> {
    if (this.stopped || this.failure !== undefined) return
    if (!this.snapshotter.enabled) {
      this.fail(new RaftLogError('ERR_UNSUPPORTED', `Node ${this.id} received a snapshot from node ${message.from}, but its state machine has no restore()`))
      return
    }
    const configuration = await this.snapshotConfiguration(message.lastIncludedIndex)
    await this.applier.pause()
    this.snapshotStepped = { from: message.from, startedAt }
    this.guard(() => this.core.step({ ...message, ...(configuration === undefined ? {} : { configuration }) }))
    // Stepped but nothing to do (a stale term): the applier goes on.
    if (this.snapshotStepped !== undefined && !this.core.hasReady()) this.snapshotLanded(undefined)
  }

  /** The Ready after a snapshot was stepped in: restore the state machine from it, or go on applying. */
  private snapshotLanded(restore: SnapshotMeta | undefined): void {
    const stepped = this.snapshotStepped as { from: number; startedAt: number }
    this.snapshotStepped = undefined
    if (restore === undefined || this.failure !== undefined) {
      this.applier.resume()
      return
    }
    this.snapshotter.installed(restore)
    this.snapshotToken = this.tokenAt(restore.index)
    // The log now starts after the snapshot: a state machine that cannot be restored leaves the
    // node nothing to apply from, so a failure here fails the node.
    this.applier
      .restoreTo(restore.index, async () => {
        const snapshot = this.snapshots.list().find((file) => file.index === restore.index)
        if (snapshot === undefined) throw new RaftLogError('ERR_CORRUPT', `Snapshot ${restore.index} vanished from ${this.log.dir} after it was installed`)
        const reader = await this.snapshots.read(snapshot)
        try {
          await (this.stateMachine.restore as NonNullable<StateMachine['restore']>).call(this.stateMachine, reader.chunks(), restore)
        } finally {
          await reader.close()
        }
      })
      .then(
        () => {
          this.counters.snapshotsInstalled++
          this.counters.lastInstallMs = Date.now() - stepped.startedAt
          this.emitAfterTurn('snapshot', { ...restore, from: stepped.from })
        },
        (error: unknown) => this.fail(error as Error),
      )
  }

  /** The configuration a received snapshot carries (undefined: it has none, or an unreadable one). */
  private async snapshotConfiguration(index: number): Promise<Configuration | undefined> {
    const file = this.snapshots.list().find((candidate) => candidate.index === index)
    if (file === undefined) return undefined
    const reader = await this.snapshots.read(file)
    try {
      return reader.meta.metadata.length === 0 ? undefined : decodeConfiguration(reader.meta.metadata)
    } catch (error) {
      this.logger.warn(`node ${this.id}: snapshot ${file.file} has no readable configuration: ${(error as Error).message}`)
      return undefined
    } finally {
      await reader.close()
    }
  }

  /**
   * Records the configuration committed as of `index`, which this node holds durably, before
   * anything at or past it is applied: a state machine's appliedIndex may let the user compact
   * the log that held it, and membership then survives a log compacted without a snapshot.
   */
  private saveCommittedConfiguration(index: number): void {
    const committed = this.core.configurationEntryAt(index)
    if (committed.index <= this.savedConfigurationIndex || membersOf(committed.config).length === 0) return
    this.savedConfigurationIndex = committed.index
    this.saveState(undefined, { index: committed.index, data: encodeConfiguration(committed.config) })
  }

  /** Tells the transport which ids a committed configuration removed: they are refused, and told so. */
  private announceRemoved(): void {
    const entry = this.core.configurationEntryAt(this.core.committed)
    // Called every turn: work only when something it depends on moved.
    const key = `${entry.index}/${this.core.configurationIndex}`
    if (key === this.removedKey) return
    this.removedKey = key
    const committed = entry.config
    const members = new Set(membersOf(this.core.configuration))
    // Not a configuration from before this node joined: a node catching up by log commits the
    // cluster's history first, and after a recover (--as-new-cluster) that history carries the
    // old cluster's token. Its batches would then be refused by the cluster it joined, and its
    // own refuse the cluster's: it never caught up. Until then it sends no token, which is taken.
    if (committed.clusterToken !== undefined && entry.index >= this.joinedAt) this.transport.setClusterToken?.(committed.clusterToken)
    // At once, the leader's too: a removed node that still answers the log it is sent is told
    // it was removed (and remembers it), and a decommissioned machine's certificate opens nothing.
    const removed = removedOf(committed).filter((id) => !members.has(id))
    if (removed.join() === this.announcedRemoved) return
    this.announcedRemoved = removed.join()
    this.transport.setRemoved?.(removed)
  }

  /** Peer `by` says a committed configuration removed this node: it takes no further part. */
  private toldRemoved(by: number): void {
    if (this.removed || this.stopped || this.toldRemovedBy !== 0) return
    this.toldRemovedBy = by
    this.core.stopStanding()
    // After what this node already stepped: a leader that removed itself may not have completed
    // the turn that commits its own removal yet, and its caller should hear that it succeeded.
    void (this.processing ?? Promise.resolve()).then(() => this.completions).finally(() => this.announceToldRemoved())
  }

  private announceToldRemoved(): void {
    if (this.removed || this.stopped) return
    this.removed = true
    // Remembered: started again, the node knows at once (its log may never say so).
    this.guard(() => this.stateFile.save({ ...this.stateFile.load(), removed: true }))
    this.logger.warn(`node ${this.id}: node ${this.toldRemovedBy} says this node was removed from the cluster; it should be stopped (ids are never reused: to bring the machine back, join it under a new node id)`)
    this.emitAfterTurn('removed', { index: this.core.configurationIndex, by: this.toldRemovedBy })
  }

  private saveState(ready?: Ready, configuration?: { index: number; data: Uint8Array }): void {
    const hard = ready?.hardState
    this.stateFile.save({
      currentTerm: hard?.currentTerm ?? this.core.currentTerm,
      votedFor: hard?.votedFor ?? this.core.vote,
      commitIndex: hard?.commitIndex ?? this.core.committed,
      lastApplied: this.applier.lastApplied,
      serverState: serverStates[ready?.role ?? this.core.role],
      ...(configuration === undefined ? {} : { configuration }),
    })
  }

  /**
   * Emits `event` once the current turn is over: listeners run outside the Raft loop, so one
   * that stops the node (on 'removed', say) never does so halfway through a turn.
   */
  private emitAfterTurn(event: string, payload: unknown): void {
    this.pendingEvents.push([event, payload])
    if (this.pendingEvents.length > 1) return
    setImmediate(() => {
      const events = this.pendingEvents
      this.pendingEvents = []
      for (const [name, value] of events) this.emit(name, value)
    })
  }

  /**
   * A storage failure (or a broken invariant) stops the node from doing anything more: it must
   * be stopped and started again, which re-reads the truth from disk. 'failed' is emitted on the
   * next turn of the event loop, so a listener added right after start() still hears of a
   * failure found while starting.
   */
  private fail(error: Error): void {
    if (this.failure !== undefined || this.stopped) return
    this.failure = error
    this.logger.warn(`node ${this.id}: stopping after a storage failure: ${error.message}`)
    clearInterval(this.timer)
    clearTimeout(this.commitNotifyTimer)
    clearTimeout(this.diskPause?.timer)
    void this.applier.stop()
    this.pending.rejectAll(error)
    this.reads.rejectAll(error)
    this.membership.rejectAll(error)
    setImmediate(() => this.emit('failed', error))
  }
}
