// RaftCore: the consensus rules as a pure, deterministic state machine (etcd's raft is the
// model). It reads and changes the log through RaftLogStore but does no I/O of its own: no
// timers (tick() is time), no randomness but the injected source, no sockets (messages go out in
// a Ready), no waiting on disks (Ready.mustFlush says what must be durable before sending).
//
// A message is stepped in two parts: what every role does (terms, Raft Figure 2's rules for all
// servers), then the step function of the node's role: stepFollower, stepCandidate or
// stepLeader. What grew beside the rules lives next to this file: the progress tracker and the
// quorum math, the configuration history, the ReadIndex coordinator, leadership transfer and
// the Ready the driver gets.
import { EntryType, maxTermOrIndex, type LogEntry } from '../../storage/log-entry.js'
import type { RaftLogStore } from './log-store.js'
import type { AppendEntries, AppendEntriesResponse, InstallSnapshot, RaftMessage, ReadIndexRequest, RequestVote, RequestVoteResponse, TimeoutNow } from './messages.js'
import { RaftLogError, isDiskFullError } from '../../errors.js'
import type { Progress } from './progress.js'
import { decodeConfiguration, encodeConfiguration, isJoint, isVoter, membersOf, votersOnly, type Configuration } from './configuration.js'
import { hasQuorum } from './quorum.js'
import { ConfigurationHistory, type ConfigurationAt } from './configuration-history.js'
import { enterJoint, leaveJoint, targetConfiguration, type MembershipChange } from './membership-change.js'
import type { PendingRead } from './read-only.js'
import { ReadIndexCoordinator } from './read-index.js'
import { ProgressTracker, type FollowerSummary } from './tracker.js'
import { LeadershipTransfer } from './leadership-transfer.js'
import type { Candidacy, Ready, Role, SnapshotMeta } from './ready.js'
import { defaultMaxBytesPerAppend, defaultMaxEntriesPerAppend, defaultMaxInflightAppends, defaultMaxInflightBytes, defaultMaxPromotionLagEntries, defaultSnapshotTrailingEntries, type RaftCoreOptions, type ReadMode } from './options.js'

export type { Candidacy, HardState, ReadState, Ready, Role, SnapshotMeta } from './ready.js'

export type { RaftCoreOptions, ReadMode } from './options.js'
export { defaultMaxBytesPerAppend, defaultMaxEntriesPerAppend, defaultMaxInflightAppends, defaultMaxInflightBytes, defaultMaxPromotionLagEntries, defaultSnapshotTrailingEntries } from './options.js'

/**
 * The Raft consensus rules as a pure state machine: step(), tick(), propose() and the rest change
 * its state; ready() says what the driver must persist, send and apply; advance() acknowledges it.
 */
export class RaftCore {
  readonly id: number
  private readonly log: RaftLogStore
  private readonly random: () => number
  private readonly electionTicks: readonly [number, number]
  private readonly heartbeatTicks: number
  private readonly maxEntriesPerAppend: number
  private readonly maxBytesPerAppend: number
  private readonly appendTimeoutTicks: number
  private readonly readMode: ReadMode
  private readonly maxPromotionLagEntries: number
  private readonly leaseTicks: number
  private readonly memberSinceIndex: number
  private readonly newClusterToken: (() => string) | undefined
  private readonly snapshotTrailingEntries: number
  private readonly warn: (message: string) => void

  // Persistent state (Raft Figure 2) and what a role knows.
  private term: number
  private votedFor: number
  private roleValue: Role = 'follower'
  /** The step function of the role: stepFollower, stepCandidate or stepLeader. */
  private stepRole: (message: RaftMessage) => void = (message) => this.stepFollower(message)
  private leader = 0
  private commitIndex: number
  /**
   * This node's log is durable up to here: a leader counts itself toward a commit only this far
   * (followers answer only after their flush), and any node applies only this far at once
   * (Ready.durableCommitIndex).
   */
  private durableIndex: number
  /** Truncations and resets of the log so far: a flush started before one vouches for nothing after it. */
  private logCuts = 0
  private preCandidate = false
  /** What kind of candidacy this candidate is in (undefined when not a candidate). */
  private candidacyValue: Candidacy | undefined
  /** A peer told this node it was removed from the cluster (stopStanding). */
  private removedFromCluster = false
  private campaignCount = 0
  /**
   * The log refused to grow (its disk is full): why. Until resumeWrites() nothing is appended,
   * so nothing is acknowledged that is not durable; see diskFull.
   */
  private diskFullError: Error | undefined
  /** The last AppendEntries whose entries could not be appended: stepped again on resumeWrites(). */
  private heldAppend: AppendEntries | undefined

  // Time, in ticks.
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  /** Ticks since this core was made: the clock of in-flight timeouts. */
  private now = 0

  // What grew beside the rules.
  private readonly tracker: ProgressTracker
  private readonly configurations: ConfigurationHistory
  private readonly reads: ReadIndexCoordinator
  private readonly transfer = new LeadershipTransfer()
  private snapshot: SnapshotMeta | undefined
  /** AppendEntries sent in this term by this leader (their seq). */
  private appendSeq = 0

  // A leader's membership work.
  /**
   * Members the latest configuration leaves out are still sent the log (never counted) until it
   * has been committed for an election timeout: so a removed node that holds the log gets C_new
   * and its commit, and learns it was removed. `departingUntil` is the tick they are dropped at
   * (Infinity while the configuration is not committed), for the configuration at `departingFor`.
   */
  private departingFor = -1
  private departingUntil = Number.POSITIVE_INFINITY
  /**
   * Leaving members this leader stopped sending the log to: only one that holds the log from the
   * change on is fed. Probing one back (an empty disk, say) would replay the cluster's past to a
   * node no longer in it, configurations in which its id voted included.
   */
  private givenUp = new Set<number>()
  /** Index of the joint configuration this leader already proposed to leave. */
  private configuredLeave = 0
  /** The term in which this leader proposed a cluster token (one try per term). */
  private tokenProposedInTerm = 0

  // The next Ready.
  private outbox: RaftMessage[] = []
  /** The log may be compacted up to here (Ready.compactTo; 0: nothing new). */
  private compactTo = 0
  /** A snapshot stepped in replaced the log: the state machine must be restored from it (Ready.restore). */
  private restore: SnapshotMeta | undefined
  private hardStateChanged = false
  private broadcastPending = false
  /** Followers wait to hear a commit from the driver's notifyCommitNow(), soon (see commitNews). */
  private commitNotifyPending = false
  private logChanged = false
  private softStateChanged = false
  private commitChanged = false

  constructor(options: RaftCoreOptions) {
    this.id = options.id
    this.configurations = new ConfigurationHistory(options.configurations !== undefined && options.configurations.length > 0 ? options.configurations : [{ index: 0, config: votersOnly(options.peers) }])
    this.log = options.log
    this.random = options.random
    this.electionTicks = options.electionTicks
    this.heartbeatTicks = options.heartbeatTicks
    this.maxEntriesPerAppend = options.maxEntriesPerAppend ?? defaultMaxEntriesPerAppend
    this.maxBytesPerAppend = options.maxBytesPerAppend ?? defaultMaxBytesPerAppend
    this.tracker = new ProgressTracker({ maxInflightAppends: options.maxInflightAppends ?? defaultMaxInflightAppends, maxInflightBytes: options.maxInflightBytes ?? defaultMaxInflightBytes })
    this.reads = new ReadIndexCoordinator(this.id, (message) => this.send(message))
    this.appendTimeoutTicks = options.appendTimeoutTicks ?? options.electionTicks[0]
    this.readMode = options.readMode ?? 'read-index'
    this.maxPromotionLagEntries = options.maxPromotionLagEntries ?? defaultMaxPromotionLagEntries
    this.memberSinceIndex = options.memberSince ?? 0
    this.newClusterToken = options.newClusterToken
    this.snapshotTrailingEntries = options.snapshotTrailingEntries ?? defaultSnapshotTrailingEntries
    // A follower that heard from the leader votes for nobody else for electionTicks[0] of its
    // ticks, which may be as little as one tick less in real time (its first tick can come right
    // after the message): the lease ends a tick earlier still, and the drift allowance before that.
    this.leaseTicks = options.electionTicks[0] - 1 - (options.leaseDriftTicks ?? Math.max(1, Math.ceil(options.electionTicks[0] / 10)))
    this.warn = options.onWarning ?? (() => {})
    this.term = options.hardState.currentTerm
    this.votedFor = options.hardState.votedFor
    // A restarted node knows only what it persisted; entries it logged may be committed already,
    // but it relearns that from the leader. Anything the state machine holds is committed.
    const applied = Math.min(options.appliedIndex ?? 0, this.log.lastIndex)
    this.commitIndex = Math.max(Math.min(options.hardState.commitIndex, this.log.lastIndex), applied)
    this.durableIndex = this.log.lastIndex
    this.snapshot = options.snapshot
    this.resetElectionTimer()
  }

  // --- what the driver reads -------------------------------------------------------------------

  get role(): Role {
    return this.roleValue
  }

  get leaderId(): number {
    return this.leader
  }

  get currentTerm(): number {
    return this.term
  }

  get vote(): number {
    return this.votedFor
  }

  get committed(): number {
    return this.commitIndex
  }

  /** The configuration in use: the latest one in the log. */
  get configuration(): Configuration {
    return this.configurations.latest
  }

  /** Index of the Config entry of the configuration in use (0: from the first start). */
  get configurationIndex(): number {
    return this.configurations.latestIndex
  }

  /**
   * The index from which `id` has been a member without a break, as far as this node's
   * configurations reach (0: not a member of the latest): what a node that joins is told.
   */
  memberSince(id: number): number {
    return this.configurations.memberSince(id)
  }

  /** The configuration in force at `index` (the last one at or below it): what a snapshot there holds. */
  configurationAt(index: number): Configuration {
    return this.configurationEntryAt(index).config
  }

  /** The configuration in force at `index` and the index of its entry. */
  configurationEntryAt(index: number): ConfigurationAt {
    return this.configurations.entryAt(index)
  }

  /** Elections this node started (pre-votes included), since it was made: for metrics. */
  get campaigns(): number {
    return this.campaignCount
  }

  /**
   * Why the log cannot grow (its disk is full), while it cannot: undefined otherwise. Meanwhile
   * the node appends nothing: a leader refuses proposals (ERR_DISK_FULL) and hands leadership
   * to another voter, a follower leaves the AppendEntries it cannot persist unanswered (its
   * leader sees a slow follower: heartbeats are answered) and nobody stands for election. The
   * driver retries (resumeWrites) once it finds room.
   */
  get diskFull(): Error | undefined {
    return this.diskFullError
  }

  /** What this leader knows of each follower (empty on a follower): for status and metrics. */
  followers(): FollowerSummary[] {
    return this.roleValue === 'leader' ? this.tracker.summaries() : []
  }

  /** The voter a transfer is heading to (0: none). */
  get transferringTo(): number {
    return this.transfer.target
  }

  /** The term in which this node last sent TimeoutNow (0: never): a transfer may have succeeded since. */
  get timeoutNowTerm(): number {
    return this.transfer.timeoutNowTerm
  }

  // --- time ----------------------------------------------------------------------------------

  /** One unit of time: elections and heartbeats are counted in ticks. */
  tick(): void {
    this.now++
    if (this.roleValue === 'leader') this.tickLeader()
    else this.tickElection()
  }

  /** A follower or candidate: stands when it heard from no leader for an election timeout. */
  private tickElection(): void {
    this.electionElapsed++
    // The only voter has nobody to wait for or to disturb: it leads from its first tick.
    if (this.electionElapsed >= this.randomizedElectionTimeout || this.soleVoter()) {
      this.electionElapsed = 0
      this.campaign(true)
    }
  }

  /** A leader: check quorum, heartbeats, lost appends, its membership work, a transfer's timeout. */
  private tickLeader(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.electionTicks[0]) {
      this.electionElapsed = 0
      // Check quorum: a leader that has not heard from a majority for an election timeout
      // steps down, so a partitioned leader stops accepting proposals it cannot commit.
      if (!this.tracker.quorumActive(this.configuration, this.id)) {
        this.warn(`node ${this.id}: lost contact with a majority in term ${this.term}; stepping down`)
        this.becomeFollower(this.term, 0)
        return
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0
      // Reads waiting behind an unanswered round ride on these heartbeats (its messages may be lost).
      this.reads.queue.startRound(this.appendSeq + 1)
      this.broadcastHeartbeat()
      // A sole voter is its own majority: its round is answered at once.
      this.confirmReads()
    }
    this.resendLostAppends()
    // A hand-over that timed out is tried again while the log still cannot grow.
    if (this.diskFullError !== undefined) this.handOverForDisk()
    this.promoteCaughtUp()
    this.chooseClusterToken()
    if (this.now === this.departingUntil) this.syncProgress()
    // A transfer that has not happened within an election timeout is given up: serve again.
    if (this.transfer.tick(this.electionTicks[0])) {
      this.warn(`node ${this.id}: leadership transfer to node ${this.transfer.target} did not happen within an election timeout; leading on`)
      this.transfer.abort()
    }
  }

  /** This node is the configuration's one voter (a one-node cluster). */
  private soleVoter(): boolean {
    const config = this.configuration
    return config.outgoing.length === 0 && config.voters.length === 1 && config.voters[0] === this.id
  }

  // --- what the driver asks ----------------------------------------------------------------------

  /**
   * Proposes a new entry; returns its index, or undefined when this node is not the leader or
   * is handing leadership over (transferring).
   */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): number | undefined {
    if (this.roleValue !== 'leader' || this.transfer.active) return undefined
    if (this.diskFullError !== undefined) throw this.diskFullRefusal()
    try {
      return this.appendOwn(data, type)
    } catch (error) {
      if (!isDiskFullError(error)) throw error
      this.pauseWrites(error as Error)
      throw this.diskFullRefusal()
    }
  }

  /**
   * The driver found room on the disk again: appending goes on, beginning with the
   * AppendEntries held back, stepped again as it came (its entries, in their order); a leader
   * that owes its term's no-op appends it. If the disk is still full the node stays paused.
   */
  resumeWrites(): void {
    if (this.diskFullError === undefined) return
    this.diskFullError = undefined
    this.softStateChanged = true
    const held = this.heldAppend
    this.heldAppend = undefined
    if (this.roleValue === 'leader') {
      // Entries of earlier terms commit only under one of this term (§5.4.2).
      if (this.log.lastTerm !== this.term) this.appendInternal(new Uint8Array(0), EntryType.NoOp)
      this.membershipCommitted()
    }
    if (held === undefined) return
    this.step(held)
    // Still no room for all of it: its first entry alone fits the segment the driver just
    // reserved. Acknowledging a prefix is what a shorter message would have had: the leader
    // sends the rest again.
    const heldAgain = this.heldAppend as AppendEntries | undefined
    if (this.diskFullError !== undefined && heldAgain === held && held.entries.length > 1) {
      this.diskFullError = undefined
      this.heldAppend = undefined
      this.step({ ...held, entries: held.entries.slice(0, 1) })
    }
  }

  /** The log could not grow (a full disk): stop appending until resumeWrites(). */
  private pauseWrites(error: Error): void {
    if (this.diskFullError !== undefined) return
    this.diskFullError = error
    this.softStateChanged = true
    // The driver says so (one line): the core has nothing to add but the hand-over.
    this.handOverForDisk()
  }

  /**
   * A leader that cannot append cannot commit: it hands leadership to the most up-to-date voter,
   * which can (Raft dissertation §3.10). A sole voter leads on and refuses proposals.
   */
  private handOverForDisk(): void {
    if (this.roleValue !== 'leader' || this.transfer.active) return
    const target = this.tracker.mostUpToDateVoter(this.configuration, this.id)
    if (target === 0) return
    this.transferLeadership(target)
  }

  private diskFullRefusal(): RaftLogError {
    const reason = this.diskFullError?.message ?? 'no room'
    return new RaftLogError('ERR_DISK_FULL', `Node ${this.id} cannot append to its log: its disk is full (${reason}); it hands leadership over and resumes by itself once there is room: propose again`, { leaderId: this.leader }, { cause: this.diskFullError })
  }

  /**
   * An entry the leader appends of its own accord (its no-op, a configuration, the cluster's
   * token): on a full disk it is not appended, and the index is undefined.
   */
  private appendInternal(data: Uint8Array, type: EntryType): number | undefined {
    if (this.diskFullError !== undefined) return undefined
    try {
      return this.appendOwn(data, type)
    } catch (error) {
      if (!isDiskFullError(error)) throw error
      this.pauseWrites(error as Error)
      return undefined
    }
  }

  /**
   * Asks for a read index for the read `requestId` (Raft dissertation §6.4). The answer comes
   * in Ready.readStates, or Ready.droppedReads when leadership moves first. A follower asks its
   * leader. Returns false when no leader is known (nothing will come back).
   */
  readIndex(requestId: number): boolean {
    if (this.roleValue === 'leader') {
      this.takeRead({ requestId, from: this.id })
      return true
    }
    if (this.leader === 0) return false
    this.reads.forward(requestId, this.leader, this.term)
    return true
  }

  /**
   * A new snapshot of the state machine is durable: followers that need entries before the
   * log's start get it, and the log behind it, less snapshotTrailingEntries, may go (Ready.compactTo).
   */
  snapshotTaken(snapshot: SnapshotMeta): void {
    this.snapshotDurable(snapshot)
    const upTo = Math.min(snapshot.index - this.snapshotTrailingEntries, this.commitIndex)
    if (upTo > this.compactTo && upTo >= this.log.firstIndex) this.compactTo = upTo
  }

  /** A snapshot file is durable here (taken, or received from the leader): it is this node's to send. */
  private snapshotDurable(snapshot: SnapshotMeta): void {
    if (this.snapshot === undefined || snapshot.index > this.snapshot.index) this.snapshot = { ...snapshot }
    // Configurations older than the one in force at the snapshot are never asked for again
    // (configurationAt() serves snapshots, which only move forward).
    this.configurations.forgetBefore(snapshot.index)
  }

  /**
   * The driver's report on a snapshot transfer to `peer` (etcd's ReportSnapshot). Done: the
   * follower holds it, so probe from just after it (its own answer may be lost). Failed: probe
   * again, which sends a snapshot again when it is still needed.
   */
  reportSnapshot(peer: number, done: boolean): void {
    const progress = this.tracker.get(peer)
    if (this.roleValue !== 'leader' || progress === undefined || progress.state !== 'snapshot') return
    progress.becomeProbe(done ? progress.pendingSnapshot + 1 : progress.match + 1)
  }

  /**
   * A peer said this node was removed from the cluster (its committed configuration says so,
   * which this node's log may not hold yet): it never stands again.
   */
  stopStanding(): void {
    this.removedFromCluster = true
    if (this.roleValue === 'candidate') this.becomeFollower(this.term, 0)
  }

  // --- stepping messages --------------------------------------------------------------------------

  /** Handles one message from a peer. */
  step(message: RaftMessage): void {
    if (!this.accepts(message)) return
    if (message.term > maxTermOrIndex) {
      // Taken, it would leave no term for the next election (a gate in front should drop it).
      this.warn(`node ${this.id}: ignored ${message.type} from node ${message.from} of term ${message.term}, past the largest term raftlog takes (${maxTermOrIndex})`)
      return
    }
    if (message.type === 'SnapshotChunk' || message.type === 'SnapshotChunkResponse') {
      // The driver moves snapshot files; it steps InstallSnapshot in once one is durable.
      this.warn(`node ${this.id}: ${message.type} is the driver's to handle, not the core's`)
      return
    }
    if (message.term > this.term) {
      if (message.type === 'RequestVote' && !message.transfer && this.inLease() && message.from !== this.leader) {
        // A node that hears from a live leader ignores would-be candidates: a partitioned node
        // rejoining with a high term cannot depose a healthy leader. The leader itself asking
        // has stopped leading (it restarted, or stepped down): waiting out its lease would only
        // leave the group without a leader for longer.
        return
      }
      const preVoteTraffic = (message.type === 'RequestVote' && message.preVote) || (message.type === 'RequestVoteResponse' && message.preVote && message.voteGranted)
      if (!preVoteTraffic) this.becomeFollower(message.term, message.type === 'AppendEntries' || message.type === 'InstallSnapshot' ? message.from : 0)
    } else if (message.term < this.term) {
      // Tell a stale leader or pre-candidate about the newer term; anything else stale is dropped.
      if (message.type === 'AppendEntries') this.send(this.appendResponse(message, false, 0, 0, 0))
      else if (message.type === 'InstallSnapshot') this.send(this.appendResponse({ from: message.from, seq: 0 }, false, 0, 0, 0))
      else if (message.type === 'RequestVote' && message.preVote) this.send({ type: 'RequestVoteResponse', from: this.id, to: message.from, term: this.term, preVote: true, voteGranted: false })
      return
    }
    this.stepRole(message)
  }

  /**
   * Only messages to this node from another are stepped. A sender outside the configuration
   * this node knows is heard too: the leader of a newer configuration may be one (the transport
   * keeps out nodes of other clusters); only voters count in any decision. A vote request is
   * answered whatever this node's configuration says of the candidate: this node may be behind
   * (a voter added by a configuration it has not received yet), and refusing could leave a
   * majority unable to elect anyone; a removed server cannot disrupt, since it asks for a
   * pre-vote first, which a node that heard from a leader within its lease refuses (Raft
   * dissertation §4.2.3).
   */
  private accepts(message: RaftMessage): boolean {
    if (message.from === this.id || message.to !== this.id || message.from < 1) {
      this.warn(`node ${this.id}: ignored ${message.type} from node ${message.from} to node ${message.to}`)
      return false
    }
    return true
  }

  private stepFollower(message: RaftMessage): void {
    switch (message.type) {
      case 'InstallSnapshot':
        return this.handleSnapshot(message)
      case 'TimeoutNow':
        return this.handleTimeoutNow(message)
      case 'AppendEntries':
        return this.handleAppendEntries(message)
      case 'RequestVote':
        return this.handleRequestVote(message)
      case 'ReadIndex':
        return this.refuseReadIndex(message)
      case 'ReadIndexResponse':
        return this.reads.leaderAnswered(message.from, message.requestId, message.index)
      default:
        return undefined
    }
  }

  private stepCandidate(message: RaftMessage): void {
    switch (message.type) {
      case 'RequestVoteResponse':
        return this.handleVoteResponse(message)
      case 'AppendEntries':
      case 'InstallSnapshot':
        // A leader of this term exists: this candidate lost.
        this.becomeFollower(message.term, message.from)
        return message.type === 'AppendEntries' ? this.handleAppendEntries(message) : this.handleSnapshot(message)
      case 'RequestVote':
        return this.handleRequestVote(message)
      case 'ReadIndex':
        return this.refuseReadIndex(message)
      case 'ReadIndexResponse':
        return this.reads.leaderAnswered(message.from, message.requestId, message.index)
      default:
        return undefined
    }
  }

  private stepLeader(message: RaftMessage): void {
    switch (message.type) {
      case 'AppendEntriesResponse':
        return this.handleAppendResponse(message)
      case 'ReadIndex':
        return this.takeRead({ requestId: message.requestId, from: message.from })
      case 'RequestVote':
        return this.handleRequestVote(message)
      case 'AppendEntries':
      case 'InstallSnapshot':
        // Two leaders of one term cannot be: the safety checks would say so. Heard as a follower would.
        this.becomeFollower(message.term, message.from)
        return message.type === 'AppendEntries' ? this.handleAppendEntries(message) : this.handleSnapshot(message)
      case 'ReadIndexResponse':
        return this.reads.leaderAnswered(message.from, message.requestId, message.index)
      default:
        return undefined
    }
  }

  // --- the Ready ---------------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.hardStateChanged ||
      this.logChanged ||
      this.softStateChanged ||
      this.broadcastPending ||
      this.outbox.length > 0 ||
      this.commitChanged ||
      this.reads.hasOutput ||
      (this.reads.queue.roundDue && this.roleValue === 'leader') ||
      this.compactTo > 0 ||
      this.restore !== undefined
    )
  }

  /** Takes what the driver must do now. */
  ready(): Ready {
    if (this.broadcastPending && this.roleValue === 'leader') {
      for (const peer of this.tracker.ids()) this.sendAppends(peer)
    }
    this.broadcastPending = false
    if (this.reads.queue.roundDue && this.roleValue === 'leader') {
      // One round of heartbeats, numbered from here, confirms every read that waits now.
      this.reads.queue.startRound(this.appendSeq + 1)
      this.broadcastHeartbeat()
      // A sole voter is its own majority: its round is answered at once.
      this.confirmReads()
      this.confirmReads()
    }
    const { readStates, droppedReads } = this.reads.take()
    const ready: Ready = {
      hardState: this.hardStateChanged ? { currentTerm: this.term, votedFor: this.votedFor, commitIndex: this.commitIndex } : undefined,
      mustFlush: this.logChanged,
      messages: this.outbox,
      commitIndex: this.commitIndex,
      durableCommitIndex: Math.min(this.commitIndex, this.durableIndex),
      role: this.roleValue,
      leaderId: this.leader,
      term: this.term,
      candidacy: this.candidacyValue,
      lastIndex: this.log.lastIndex,
      logCuts: this.logCuts,
      readStates,
      droppedReads,
      compactTo: this.compactTo > 0 ? this.compactTo : undefined,
      restore: this.restore,
      diskFull: this.diskFullError !== undefined,
    }
    this.compactTo = 0
    this.restore = undefined
    this.outbox = []
    this.hardStateChanged = false
    this.logChanged = false
    this.softStateChanged = false
    this.commitChanged = false
    return ready
  }

  /**
   * The driver did what `ready` asked: its log is durable up to ready.lastIndex. Readies may be
   * advanced after later ones were taken (the driver pipelines flushes), in the order taken.
   */
  advance(ready: Ready): void {
    // The flush covered the log as it was when the Ready was made, unless it was cut since:
    // then the entries at those indexes are other, newer ones, not yet durable.
    if (ready.mustFlush && ready.logCuts === this.logCuts) this.durableIndex = Math.min(Math.max(this.durableIndex, ready.lastIndex), this.log.lastIndex)
    if (this.roleValue === 'leader') this.maybeCommit()
  }

  // --- elections ---------------------------------------------------------------------------------

  private campaign(preVote: boolean, transfer = false): void {
    // Learners, and nodes the configuration no longer names, never stand; nor does a node on a
    // configuration from before it joined (a replayed past in which its id may have voted), nor
    // one told it was removed.
    // Nor one whose log cannot grow: it could not append the no-op that lets it commit.
    if (!isVoter(this.configuration, this.id) || this.configurationIndex < this.memberSinceIndex || this.removedFromCluster || this.diskFullError !== undefined) return
    if (this.term >= maxTermOrIndex) {
      this.warn(`node ${this.id}: term ${this.term} is the largest raftlog takes; it cannot stand for another`)
      return
    }
    this.campaignCount++
    const others = membersOf(this.configuration).filter((id) => id !== this.id && isVoter(this.configuration, id))
    if (others.length === 0) {
      this.becomeCandidate()
      this.becomeLeader()
      return
    }
    if (preVote) {
      // Pre-vote: ask whether we could win before disturbing anyone with a new term.
      this.reads.dropAll(this.roleValue === 'leader', 0, this.term)
      this.preCandidate = true
      this.setRole('candidate')
      this.leader = 0
    } else {
      this.becomeCandidate()
    }
    this.candidacyValue = preVote ? 'pre-vote' : transfer ? 'transfer' : 'election'
    this.softStateChanged = true
    this.tracker.resetVotes(this.id)
    const term = preVote ? this.term + 1 : this.term
    for (const peer of others) {
      this.send({ type: 'RequestVote', from: this.id, to: peer, term, preVote, lastLogIndex: this.log.lastIndex, lastLogTerm: this.log.lastTerm, transfer })
    }
  }

  private becomeCandidate(): void {
    this.reads.dropAll(this.roleValue === 'leader', 0, this.term)
    this.preCandidate = false
    this.term++
    this.votedFor = this.id
    this.hardStateChanged = true
    this.leader = 0
    this.setRole('candidate')
    this.resetElectionTimer()
  }

  private becomeFollower(term: number, leader: number): void {
    this.reads.dropAll(this.roleValue === 'leader', leader, this.term)
    this.transfer.abort()
    if (term > this.term) {
      this.term = term
      this.votedFor = 0
      this.hardStateChanged = true
    }
    this.preCandidate = false
    this.setRole('follower')
    if (this.leader !== leader) this.softStateChanged = true
    this.leader = leader
    this.resetElectionTimer()
  }

  private becomeLeader(): void {
    this.setRole('leader')
    this.leader = this.id
    this.softStateChanged = true
    this.heartbeatElapsed = 0
    this.electionElapsed = 0
    this.tracker.clear()
    this.appendSeq = 0
    this.syncProgress()
    // Its voters were just heard from: a change asked for right after the election is judged
    // on them (checkStartedMajority), not refused for want of an answer to the no-op yet.
    for (const id of this.tracker.grantedVotes()) {
      const progress = this.tracker.get(id)
      if (progress !== undefined) progress.lastHeardAt = this.now
    }
    // A no-op in the new term: entries of earlier terms commit only under one of the current term.
    // On a full disk it is owed (resumeWrites) and leadership goes to another voter.
    this.appendInternal(new Uint8Array(0), EntryType.NoOp)
    // Right behind it when it can (a new cluster's first leader): the same index every time.
    this.chooseClusterToken()
  }

  /** The leader hands over: stand now, without a pre-vote (it would be refused in its lease). */
  private handleTimeoutNow(message: TimeoutNow): void {
    if (message.from !== this.leader) return
    this.warn(`node ${this.id}: node ${message.from} hands leadership over; campaigning for term ${this.term + 1}`)
    this.campaign(false, true)
  }

  private handleRequestVote(message: RequestVote): void {
    const upToDate =
      message.lastLogTerm > this.log.lastTerm || (message.lastLogTerm === this.log.lastTerm && message.lastLogIndex >= this.log.lastIndex)
    if (message.preVote) {
      const granted = upToDate && message.term > this.term
      this.send({ type: 'RequestVoteResponse', from: this.id, to: message.from, term: granted ? message.term : this.term, preVote: true, voteGranted: granted })
      return
    }
    const canVote = this.votedFor === message.from || (this.votedFor === 0 && this.leader === 0)
    const granted = canVote && upToDate
    if (granted) {
      this.votedFor = message.from
      this.hardStateChanged = true
      this.electionElapsed = 0
    }
    this.send({ type: 'RequestVoteResponse', from: this.id, to: message.from, term: this.term, preVote: false, voteGranted: granted })
  }

  private handleVoteResponse(message: RequestVoteResponse): void {
    if (message.preVote !== this.preCandidate) return
    this.tracker.recordVote(message.from, message.voteGranted)
    const result = this.tracker.tallyVotes(this.configuration)
    if (result === 'won') {
      if (this.preCandidate) this.campaign(false)
      else this.becomeLeader()
    } else if (result === 'lost') {
      this.becomeFollower(this.term, 0)
    }
  }

  /** This node heard from a leader within the election timeout's minimum: it votes for nobody else. */
  private inLease(): boolean {
    return this.leader !== 0 && this.electionElapsed < this.electionTicks[0]
  }

  // --- reads -------------------------------------------------------------------------------------

  /** Not the leader: the follower that asked must ask again (index 0). */
  private refuseReadIndex(message: ReadIndexRequest): void {
    this.send({ type: 'ReadIndexResponse', from: this.id, to: message.from, term: this.term, requestId: message.requestId, index: 0 })
  }

  /** A read on the leader: served by lease, queued for a round, or held until the no-op commits. */
  private takeRead(read: Omit<PendingRead, 'index'>): void {
    // Until an entry of this term commits, the commit index may be behind what an earlier
    // leader committed: no read index can be given yet (§6.4 step 1).
    if (this.log.termAt(this.commitIndex) !== this.term) {
      this.reads.holdUntilNoop(read)
      return
    }
    if (this.readMode === 'lease' && this.hasLease()) {
      this.reads.serve({ ...read, index: this.commitIndex }, this.term)
      return
    }
    this.reads.queue.add({ ...read, index: this.commitIndex })
  }

  /** Reads confirmed by answers: a majority (this leader included) answered a later message. */
  private confirmReads(): void {
    this.reads.confirm(this.tracker.quorumAckedSeq(this.configuration, this.id), this.term)
  }

  /** A majority (this leader included) answered a message sent less than leaseTicks ago. */
  private hasLease(): boolean {
    // A successor asked to stand ignores its lease: while handing over, there is none, and
    // once TimeoutNow went out, none for the rest of the term (a late one still elects).
    if (this.transfer.voidsLease(this.term)) return false
    return this.now - this.tracker.quorumLeaseFrom(this.configuration, this.id) < this.leaseTicks
  }

  // --- replication: a follower ---------------------------------------------------------------------

  private handleAppendEntries(message: AppendEntries): void {
    if (this.leader !== message.from) this.becomeFollower(message.term, message.from)
    this.electionElapsed = 0
    if (message.commitNotice === true) return this.takeCommitNotice(message)
    let { prevLogIndex, prevLogTerm } = message
    let entries = message.entries
    if (prevLogIndex < this.commitIndex) {
      // Entries up to our commit index are the same everywhere: skip what we already hold.
      const skip = Math.min(entries.length, this.commitIndex - prevLogIndex)
      entries = entries.slice(skip)
      prevLogIndex += skip
      prevLogTerm = skip === 0 ? prevLogTerm : (message.entries[skip - 1] as LogEntry).term
      if (prevLogIndex < this.commitIndex) {
        // All of it is committed here, perhaps below a snapshot the log no longer holds (etcd
        // answers the same): we match the leader up to our commit index.
        this.send(this.appendResponse(message, true, this.commitIndex, 0, 0))
        return
      }
    }
    if (prevLogIndex > this.log.lastIndex) {
      this.send(this.appendResponse(message, false, message.prevLogIndex, this.log.lastIndex + 1, 0))
      return
    }
    const ourTerm = this.log.termAt(prevLogIndex)
    if (ourTerm !== prevLogTerm) {
      const conflictTerm = ourTerm ?? 0
      this.send(this.appendResponse(message, false, message.prevLogIndex, this.firstIndexOfTerm(prevLogIndex, conflictTerm), conflictTerm))
      return
    }
    // Entries this node cannot persist are not acknowledged: the message waits for room.
    if (!this.appendFromLeader(entries)) {
      this.heldAppend = message
      return
    }
    const matchIndex = prevLogIndex + entries.length
    this.commitTo(Math.min(message.leaderCommit, matchIndex))
    this.send(this.appendResponse(message, true, matchIndex, 0, 0))
  }

  /**
   * A commit notice is not answered: it commits what this log holds up to the leader's index
   * there, if the log matches it there (it holds the last entry it was sent, perhaps not durable
   * yet: it applies only what is); anything else waits for the next AppendEntries, which is
   * answered.
   */
  private takeCommitNotice(message: AppendEntries): void {
    if (message.prevLogIndex <= this.commitIndex || this.log.termAt(message.prevLogIndex) !== message.prevLogTerm) return
    this.commitTo(Math.min(message.leaderCommit, message.prevLogIndex))
  }

  /**
   * Appends the leader's `entries` that are new here, first cutting the log where it conflicts.
   * False when there are new entries and the log cannot take them (a full disk): then nothing
   * was appended (RaftLogStore.append takes all or nothing).
   */
  private appendFromLeader(entries: readonly LogEntry[]): boolean {
    let position = 0
    for (; position < entries.length; position++) {
      const entry = entries[position] as LogEntry
      if (entry.index > this.log.lastIndex) break
      if (this.log.termAt(entry.index) !== entry.term) {
        if (entry.index <= this.commitIndex) throw new Error(`raft invariant: node ${this.id} would truncate committed index ${entry.index}`)
        if (this.diskFullError !== undefined) return false
        this.log.truncateAfter(entry.index - 1)
        this.logCuts++
        this.durableIndex = Math.min(this.durableIndex, entry.index - 1)
        if (this.configurations.cutAfter(entry.index - 1)) this.syncProgress()
        break
      }
    }
    if (position === entries.length) return true
    if (this.diskFullError !== undefined) return false
    const first = (entries[position] as LogEntry).index
    if (first !== this.log.lastIndex + 1) throw new Error(`raft invariant: node ${this.id} would append index ${first} after ${this.log.lastIndex}`)
    const appended = entries.slice(position)
    try {
      this.log.append(appended.map((entry) => ({ term: entry.term, type: entry.type, data: entry.data })))
    } catch (error) {
      if (!isDiskFullError(error)) throw error
      this.pauseWrites(error as Error)
      return false
    }
    for (const entry of appended) if (entry.type === EntryType.Config) this.configurationAppended(entry.index, entry.data)
    this.logChanged = true
    return true
  }

  /**
   * The driver stepped in a snapshot received from `message.from`: the file is durable here. Raft
   * Figure 13: when the log already holds its last entry with the same term, the entries after it
   * stay and nothing needs restoring; otherwise the log is emptied to start right after it, and
   * Ready.restore tells the driver to restore the state machine from the file.
   */
  private handleSnapshot(message: InstallSnapshot): void {
    if (this.leader !== message.from) this.becomeFollower(message.term, message.from)
    this.electionElapsed = 0
    const { lastIncludedIndex: index, lastIncludedTerm: term } = message
    this.snapshotDurable({ index, term })
    if (index > this.commitIndex) {
      if (this.log.termAt(index) !== term) {
        // A reset makes a new segment: on a full disk the snapshot stays unanswered (the leader
        // sends it again), and the log as it was (RaftLog.reset changes nothing when it cannot).
        if (this.diskFullError !== undefined) return
        try {
          this.log.reset(index + 1, term)
        } catch (error) {
          if (!isDiskFullError(error)) throw error
          this.pauseWrites(error as Error)
          return
        }
        this.logCuts++
        this.durableIndex = index
        // The snapshot's configuration is the one in force now; the log held nothing after it.
        if (message.configuration !== undefined) {
          this.configurations.resetTo(index, message.configuration)
          this.syncProgress()
        }
        this.restore = { index, term }
      }
      this.commitTo(index)
    }
    this.send(this.appendResponse({ from: message.from, seq: 0 }, true, Math.max(index, this.commitIndex), 0, 0))
  }

  /** The first index of the run of `term` that ends at `index`: the leader skips it whole. */
  private firstIndexOfTerm(index: number, term: number): number {
    if (term === 0) return Math.min(index, this.log.lastIndex + 1)
    let first = index
    while (first - 1 >= this.log.firstIndex && this.log.termAt(first - 1) === term) first--
    return Math.max(first, this.commitIndex + 1)
  }

  private appendResponse(request: Pick<AppendEntries, 'from' | 'seq'>, success: boolean, matchIndex: number, conflictIndex: number, conflictTerm: number): AppendEntriesResponse {
    return { type: 'AppendEntriesResponse', from: this.id, to: request.from, term: this.term, success, matchIndex, conflictIndex, conflictTerm, seq: request.seq }
  }

  // --- replication: the leader -------------------------------------------------------------------

  /** Appends an entry of this leader's term and sends it with the next Ready. */
  private appendOwn(data: Uint8Array, type: EntryType): number {
    const index = this.log.append([{ term: this.term, type, data }])
    if (type === EntryType.Config) this.configurationAppended(index, data)
    this.logChanged = true
    // Sent at the next ready(): every proposal made until then travels in the same message.
    this.broadcastPending = true
    return index
  }

  private handleAppendResponse(message: AppendEntriesResponse): void {
    const progress = this.tracker.get(message.from)
    if (progress === undefined) return
    progress.recentActive = true
    progress.lastHeardAt = this.now
    progress.answered(message.seq)
    this.confirmReads()
    if (message.success) {
      const advanced = progress.acknowledged(message.matchIndex, this.appendSeq)
      // Out of the snapshot state only once entries can follow what the follower holds. Before
      // the commit below: a follower whose answer commits is then replicating, and told at once.
      if (progress.state === 'probe' || (progress.state === 'snapshot' && progress.match >= this.log.firstIndex - 1)) progress.becomeReplicate()
      if (advanced) {
        this.maybeCommit()
        if (progress.commitSent < this.commitIndex) this.commitNews()
      }
      if (message.from === this.transfer.target && progress.match === this.log.lastIndex) this.sendTimeoutNow()
      this.sendAppends(message.from)
      return
    }
    // While a snapshot is on its way the follower refuses everything: that is expected.
    if (progress.state === 'snapshot') return
    if (message.conflictIndex <= this.configurations.entryAt(this.configurations.changeStart() - 1).index && this.giveUpOnLeaving(message.from)) return
    // On failure matchIndex carries the prevLogIndex that was refused.
    const refused = message.matchIndex
    if (refused <= progress.match) {
      // Usually a stale answer to a message sent before the follower caught up. But a message
      // sent after match was known, refused at or below match, means the follower lost entries
      // it had acknowledged (a wiped or replaced disk): find its real end again.
      if (message.seq <= progress.matchSeq) return
      this.warn(
        `node ${this.id}: node ${message.from} refused index ${refused} after acknowledging up to ${progress.match}: it lost entries (a wiped or replaced disk?); probing back from index ${message.conflictIndex}`,
      )
      progress.match = 0
      progress.matchSeq = 0
    } else if (progress.state === 'probe' && refused !== progress.next - 1) {
      return
    }
    let next = message.conflictIndex
    if (message.conflictTerm > 0) {
      const lastOfTerm = this.lastIndexOfTerm(message.conflictTerm, refused)
      if (lastOfTerm !== undefined) next = lastOfTerm + 1
    }
    progress.becomeProbe(Math.max(1, Math.min(next, refused, this.log.lastIndex + 1)))
    this.sendAppend(message.from, true)
  }

  /** The last index at or below `atMost` holding `term` in the leader's log, if any. */
  private lastIndexOfTerm(term: number, atMost: number): number | undefined {
    for (let index = Math.min(atMost, this.log.lastIndex); index >= this.log.firstIndex; index--) {
      const found = this.log.termAt(index) as number
      if (found === term) return index
      if (found < term) return undefined
    }
    return undefined
  }

  /** Sends entries to `peer` while its window has room. */
  private sendAppends(peer: number): void {
    // A commit may have just removed the peer, or ended this node's leadership.
    const progress = this.tracker.get(peer)
    if (progress === undefined || this.roleValue !== 'leader') return
    while (!progress.paused && progress.next <= this.log.lastIndex) {
      if (!this.sendAppend(peer, false)) return
    }
  }

  /**
   * Sends one AppendEntries from progress.next; with `evenIfEmpty` also when there is nothing
   * to send (a probe). Returns whether a message went out.
   */
  private sendAppend(peer: number, evenIfEmpty: boolean): boolean {
    const progress = this.tracker.get(peer)
    if (progress === undefined || this.roleValue !== 'leader' || progress.state === 'snapshot') return false
    const prevLogIndex = progress.next - 1
    const prevLogTerm = this.log.termAt(prevLogIndex)
    if (prevLogTerm === undefined) {
      // Compacted away: only a snapshot can bring this follower up to the log's start.
      this.sendSnapshot(peer, progress)
      return false
    }
    const last = Math.min(this.log.lastIndex, prevLogIndex + this.maxEntriesPerAppend)
    const entries = !progress.paused && progress.next <= last ? this.log.slice(progress.next, last + 1, { maxBytes: this.maxBytesPerAppend }) : []
    if (entries.length === 0 && !evenIfEmpty) return false
    const message = this.appendEntries(peer, prevLogIndex, prevLogTerm, entries)
    this.send(message)
    const lastSent = entries[entries.length - 1]
    if (lastSent !== undefined) {
      let bytes = 0
      for (const entry of entries) bytes += entry.data.length
      progress.sent(lastSent.index, bytes, this.now, message.seq)
    }
    return true
  }

  private sendSnapshot(peer: number, progress: Progress): void {
    if (this.giveUpOnLeaving(peer)) return
    const snapshot = this.snapshot
    if (snapshot === undefined || snapshot.index < this.log.firstIndex - 1) {
      this.warn(`node ${this.id}: node ${peer} needs index ${progress.next} which is compacted, and no snapshot covers it`)
      return
    }
    progress.becomeSnapshot(snapshot.index)
    this.send({ type: 'InstallSnapshot', from: this.id, to: peer, term: this.term, lastIncludedIndex: snapshot.index, lastIncludedTerm: snapshot.term })
  }

  private appendEntries(peer: number, prevLogIndex: number, prevLogTerm: number, entries: LogEntry[]): AppendEntries {
    const seq = ++this.appendSeq
    const progress = this.tracker.get(peer)
    if (progress !== undefined) {
      progress.recordSent(seq, this.now)
      // The follower commits up to what its log matches of this message.
      progress.commitSent = Math.max(progress.commitSent, Math.min(this.commitIndex, prevLogIndex + entries.length))
    }
    return { type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex, prevLogTerm, entries, leaderCommit: this.commitIndex, seq }
  }

  /**
   * Heartbeats carry no entries: entries go out on proposals and on answers only, so a slow or
   * dead follower is never sent the same entries again and again. A follower being probed gets
   * an empty probe at next − 1; one that matches, a check at its match index, which also tells
   * it the commit index.
   */
  private broadcastHeartbeat(): void {
    for (const [peer, progress] of this.tracker.entries()) {
      // While a snapshot is on its way: the log's start, just to keep the follower's timer reset.
      const prevLogIndex = progress.state === 'probe' ? progress.next - 1 : progress.state === 'replicate' ? progress.match : this.log.firstIndex - 1
      const prevLogTerm = this.log.termAt(prevLogIndex)
      if (prevLogTerm === undefined) {
        this.sendSnapshot(peer, progress)
        continue
      }
      this.send(this.appendEntries(peer, prevLogIndex, prevLogTerm, []))
    }
  }

  /**
   * An AppendEntries unanswered for appendTimeoutTicks while the follower answered a message
   * sent after it was lost: start again from the match index. A follower that answers nothing
   * is sent nothing but heartbeats.
   */
  private resendLostAppends(): void {
    for (const [peer, progress] of this.tracker.entries()) {
      const oldest = progress.inflights.oldest
      if (oldest === undefined || progress.ackedSeq <= oldest.seq || this.now - oldest.sentAt < this.appendTimeoutTicks) continue
      progress.becomeProbe(progress.match + 1)
      this.sendAppend(peer, true)
    }
  }

  /** Whether followers may not know the commit index yet: the driver calls notifyCommitNow() soon. */
  get commitNotifyDue(): boolean {
    return this.commitNotifyPending && this.roleValue === 'leader'
  }

  /**
   * Tells the commit index, with the next Ready, to every follower that has not heard it by
   * another message since it rose (see commitNotifyPending).
   */
  notifyCommitNow(): void {
    if (this.commitNotifyPending && this.roleValue === 'leader') this.notifyCommit()
    this.commitNotifyPending = false
  }

  /**
   * The commit index rose, or a follower's match did. With nothing left uncommitted no
   * proposal's AppendEntries will carry the news soon: notices go now. Otherwise the driver
   * calls notifyCommitNow() soon after, unless a proposal carried it first.
   */
  private commitNews(): void {
    if (this.commitIndex < this.log.lastIndex) {
      this.commitNotifyPending = true
      return
    }
    this.notifyCommit()
    this.commitNotifyPending = false
  }

  /**
   * A commit notice (an empty AppendEntries, not answered) to every replicating follower that
   * was sent committed entries it has not been told are committed (no other message carried it).
   * It names the last entry sent, acknowledged or not: a follower still writing it commits it
   * when the notice comes (it arrives after the entries, on the same stream) and applies it once
   * its own flush is done, without a round trip of its acknowledgement first. As etcd's leader,
   * whose empty MsgApp after a commit goes at the follower's next index.
   */
  private notifyCommit(): void {
    for (const [peer, progress] of this.tracker.entries()) {
      const sentThrough = progress.next - 1
      const committedThere = Math.min(this.commitIndex, sentThrough)
      if (progress.state !== 'replicate' || committedThere <= progress.commitSent) continue
      const prevLogTerm = this.log.termAt(sentThrough)
      if (prevLogTerm === undefined) continue
      progress.commitSent = committedThere
      this.send({ type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex: sentThrough, prevLogTerm, entries: [], leaderCommit: this.commitIndex, seq: this.appendSeq, commitNotice: true })
    }
  }

  /** Figure 8: commit the highest index a majority holds, only if it is of the current term. */
  private maybeCommit(): void {
    const candidate = this.tracker.committed(this.configuration, this.id, this.durableIndex)
    if (this.log.termAt(candidate) === this.term) this.commitTo(candidate)
  }

  private commitTo(index: number): void {
    if (index <= this.commitIndex) return
    this.commitIndex = index
    this.commitChanged = true
    if (this.roleValue !== 'leader') return
    this.commitNews()
    this.membershipCommitted()
    if (this.roleValue === 'leader' && this.log.termAt(index) === this.term) for (const read of this.reads.takeHeld()) this.takeRead(read)
  }

  // --- membership (Raft dissertation chapter 4) -------------------------------------------------

  /**
   * Starts a membership change (Raft dissertation §4.3): proposes C_old,new; once that commits
   * the leader proposes C_new by itself. Returns the index of the C_old,new entry. Throws
   * ERR_NOT_LEADER, ERR_CHANGE_IN_PROGRESS (one change at a time: the last configuration must be
   * committed and not joint), ERR_LEARNER_BEHIND (a learner to promote is more than
   * maxPromotionLagEntries behind), ERR_ID_REMOVED (an id removed before), ERR_UNSAFE_CHANGE
   * (the voters heard from lately would not be a majority of every configuration involved:
   * etcd's --strict-reconfig-check) or ERR_BAD_ARGUMENT.
   */
  proposeMembership(change: MembershipChange): number {
    if (this.roleValue !== 'leader') throw new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader`, { leaderId: this.leader })
    if (this.transfer.active) throw new RaftLogError('ERR_LEADERSHIP_TRANSFER', `Node ${this.id} is handing leadership to node ${this.transfer.target}`)
    if (this.configurations.changeUnderWay(this.commitIndex)) {
      throw new RaftLogError('ERR_CHANGE_IN_PROGRESS', `Membership change: the change at index ${this.configurationIndex} is not finished yet; try again once it is`)
    }
    const target = targetConfiguration(this.configuration, change)
    for (const id of change.promote ?? []) {
      const match = this.tracker.get(id)?.match ?? 0
      // A learner that has acknowledged nothing may not even be running: never count on it.
      if (match === 0) {
        throw new RaftLogError('ERR_LEARNER_BEHIND', `Node ${id} has not acknowledged any entry yet (is it running?); try again once it has caught up`, { id, match })
      }
      if (this.log.lastIndex - match > this.maxPromotionLagEntries) {
        throw new RaftLogError('ERR_LEARNER_BEHIND', `Node ${id} is ${this.log.lastIndex - match} entries behind (at most ${this.maxPromotionLagEntries} to become a voter); try again once it has caught up`, { id, match })
      }
    }
    const joint = enterJoint(this.configuration, target)
    this.checkStartedMajority(joint)
    if (this.diskFullError !== undefined) throw this.diskFullRefusal()
    try {
      return this.appendOwn(encodeConfiguration(joint), EntryType.Config)
    } catch (error) {
      if (!isDiskFullError(error)) throw error
      this.pauseWrites(error as Error)
      throw this.diskFullRefusal()
    }
  }

  /**
   * Refuses a change after which the voters this leader heard from within an election timeout
   * (itself included) are not a majority of each half of `joint`: such a configuration could
   * never elect a leader or commit again (etcd's --strict-reconfig-check). A voter the change
   * gives a new address counts as silent: it answers at its old one until restarted.
   */
  private checkStartedMajority(joint: Configuration): void {
    const current = this.configuration.addresses
    const moving = (id: number): boolean => id !== this.id && current[id] !== undefined && joint.addresses[id] !== undefined && current[id] !== joint.addresses[id]
    const heard = (id: number): boolean => id === this.id || (this.heardLately(id) && !moving(id))
    if (hasQuorum(joint, heard)) return
    const list = (ids: readonly number[]) => ids.join(', ')
    const silent = [...new Set([...joint.voters, ...joint.outgoing])].filter((id) => !heard(id))
    const moved = silent.filter(moving)
    const notHeard = silent.filter((id) => !moving(id))
    const why = [
      ...(notHeard.length > 0 ? [`nodes ${list(notHeard)} have not been heard from within an election timeout`] : []),
      ...(moved.length > 0 ? [`nodes ${list(moved)} would move to an address where they do not answer until restarted there`] : []),
    ].join(', and ')
    throw new RaftLogError(
      'ERR_UNSAFE_CHANGE',
      `Membership change refused: ${why}, and without them the voters ${list(joint.voters)} would have no working majority (the cluster could never elect a leader or commit again); ${moved.length > 0 ? 'stop a member before moving it, and move one at a time while the others form a majority' : 'start them first, or add new members as learners'}`,
      { silent },
    )
  }

  /** This leader heard from `id` within the election timeout's minimum. */
  private heardLately(id: number): boolean {
    return this.tracker.heardWithin(id, this.now, this.electionTicks[0])
  }

  /** A leader of a cluster with no token yet proposes one, the configuration otherwise unchanged. */
  private chooseClusterToken(): void {
    const config = this.configuration
    if (this.newClusterToken === undefined || config.clusterToken !== undefined || this.tokenProposedInTerm === this.term) return
    if (this.configurationIndex > this.commitIndex || isJoint(config) || this.transfer.active || membersOf(config).length === 0) return
    if (this.appendInternal(encodeConfiguration({ ...config, clusterToken: this.newClusterToken() }), EntryType.Config) !== undefined) this.tokenProposedInTerm = this.term
  }

  /**
   * Learners asked for as voters (promoteWhenCaughtUp) become voters once they have caught up:
   * acknowledged entries, within maxPromotionLagEntries of this log, heard from lately. One
   * change at a time, as any other.
   */
  private promoteCaughtUp(): void {
    const waiting = this.configuration.promoteWhenCaughtUp ?? []
    if (waiting.length === 0 || this.configurations.changeUnderWay(this.commitIndex) || this.transfer.active || this.diskFullError !== undefined) return
    const ready = waiting.filter((id) => {
      const match = this.tracker.get(id)?.match ?? 0
      return match > 0 && this.log.lastIndex - match <= this.maxPromotionLagEntries && this.heardLately(id)
    })
    if (ready.length === 0) return
    try {
      this.proposeMembership({ promote: ready })
    } catch (error) {
      // Not now (a majority unheard): tried again on a later tick.
      if (!(error instanceof RaftLogError)) throw error
    }
  }

  /** A Config entry at `index` is in the log now: its configuration is the one in use. */
  private configurationAppended(index: number, data: Uint8Array): void {
    // Old news (a node that started from a committed configuration its log no longer reaches)
    // is dropped by the history.
    if (index <= this.configurationIndex) return
    let config: Configuration
    try {
      config = decodeConfiguration(data)
    } catch (error) {
      this.warn(`node ${this.id}: ignored the configuration entry at index ${index}: ${(error as Error).message}`)
      return
    }
    if (this.configurations.append(index, config)) this.syncProgress()
  }

  /** A leader tracks every member but itself, and members on their way out; anyone else tracks no one. */
  private syncProgress(): void {
    if (this.roleValue !== 'leader') return
    if (this.departingFor !== this.configurationIndex) {
      this.departingFor = this.configurationIndex
      this.departingUntil = Number.POSITIVE_INFINITY
      this.givenUp.clear()
    }
    const members = new Set(membersOf(this.configuration).filter((id) => id !== this.id))
    if (this.now < this.departingUntil) for (const id of this.configurations.leavingMembers(this.id)) if (!this.givenUp.has(id)) members.add(id)
    this.tracker.track(members, this.log.lastIndex + 1)
  }

  /**
   * A member on its way out that lacks even the configuration in force before the change that
   * removes it (its disk was emptied, say), or needs a snapshot, is sent nothing more: replaying
   * the log to it would pass through configurations in which its id may have voted. True when
   * `id` was given up on here.
   */
  private giveUpOnLeaving(id: number): boolean {
    if (membersOf(this.configuration).includes(id)) return false
    this.givenUp.add(id)
    this.tracker.forget(id)
    return true
  }

  /**
   * What a leader does when the commit index passes a Config entry: after C_old,new, propose
   * C_new; after C_new, step down if it is not one of the new voters (handing over first).
   */
  private membershipCommitted(): void {
    if (this.configurationIndex > this.commitIndex) return
    const config = this.configuration
    if (isJoint(config)) {
      if (this.configuredLeave !== this.configurationIndex && this.appendInternal(encodeConfiguration(leaveJoint(config)), EntryType.Config) !== undefined) {
        this.configuredLeave = this.configurationIndex
      }
      return
    }
    // Committed: members it leaves out get an election timeout more of the log, to learn so.
    if (this.departingUntil === Number.POSITIVE_INFINITY && this.departingFor === this.configurationIndex) this.departingUntil = this.now + this.electionTicks[1]
    if (!config.voters.includes(this.id)) {
      const successor = this.tracker.mostUpToDateVoter(config, this.id)
      this.warn(`node ${this.id}: no longer a voter of the committed configuration; stepping down${successor === 0 ? '' : ` and handing over to node ${successor}`}`)
      if (successor !== 0) {
        this.transfer.timeoutNowSent(this.term)
        this.send({ type: 'TimeoutNow', from: this.id, to: successor, term: this.term })
      }
      this.becomeFollower(this.term, 0)
    }
  }

  // --- leadership transfer (Raft dissertation §3.10) -------------------------------------------------

  /**
   * Hands leadership to `to` (Raft dissertation §3.10), or to the most up-to-date voter: brings
   * it up to date, then tells it to stand now (TimeoutNow). Proposals are refused meanwhile;
   * after an election timeout without a new leader this node leads on. Returns the target, or
   * 0 when there is none (no other voter). Throws ERR_NOT_LEADER or ERR_BAD_ARGUMENT.
   */
  transferLeadership(to?: number): number {
    if (this.roleValue !== 'leader') throw new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader`, { leaderId: this.leader })
    const target = to ?? this.tracker.mostUpToDateVoter(this.configuration, this.id)
    if (target === 0) return 0
    if (target === this.id) throw new RaftLogError('ERR_BAD_ARGUMENT', `Leadership transfer: node ${target} leads already`)
    if (!this.configuration.voters.includes(target)) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `Leadership transfer: node ${target} is not another voter of the configuration (${this.configuration.voters.join(', ')})`)
    }
    this.transfer.start(target)
    const progress = this.tracker.get(target) as Progress
    if (progress.match === this.log.lastIndex) this.sendTimeoutNow()
    else this.sendAppends(target)
    return target
  }

  /**
   * The voter a leader that is stopping should hand over to: the most up-to-date one that
   * answered within the last two heartbeats; 0 when none did (the others are down: a hand-over
   * could only wait for nothing).
   */
  handOverTarget(): number {
    if (this.roleValue !== 'leader') return 0
    return this.tracker.mostUpToDateVoter(this.configuration, this.id, (_id, progress) => progress !== undefined && this.now - progress.lastHeardAt <= 2 * this.heartbeatTicks)
  }

  private sendTimeoutNow(): void {
    this.transfer.timeoutNowSent(this.term)
    this.send({ type: 'TimeoutNow', from: this.id, to: this.transfer.target, term: this.term })
  }

  // --- plumbing ----------------------------------------------------------------------------------

  private send(message: RaftMessage): void {
    this.outbox.push(message)
  }

  private setRole(role: Role): void {
    if (this.roleValue !== role) this.softStateChanged = true
    this.roleValue = role
    if (role !== 'candidate') this.candidacyValue = undefined
    this.stepRole = role === 'leader' ? (message) => this.stepLeader(message) : role === 'candidate' ? (message) => this.stepCandidate(message) : (message) => this.stepFollower(message)
  }

  private resetElectionTimer(): void {
    const [min, max] = this.electionTicks
    this.electionElapsed = 0
    this.randomizedElectionTimeout = min + Math.floor(this.random() * (max - min + 1))
  }
}
