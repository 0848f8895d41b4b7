// RaftCore: the consensus rules as a pure, deterministic state machine (etcd's raft is the
// model). It reads and changes the log through RaftLogStore but does no I/O of its own: no
// timers (tick() is time), no randomness but the injected source, no sockets (messages go out in
// a Ready), no waiting on disks (Ready.mustFlush says what must be durable before sending).
import { EntryType, maxTermOrIndex, type LogEntry } from '../storage/log-entry.js'
import type { RaftLogStore } from './log-store.js'
import type { AppendEntries, AppendEntriesResponse, InstallSnapshot, RaftMessage, ReadIndexRequest, ReadIndexResponse, RequestVote, RequestVoteResponse } from './messages.js'
import { RaftLogError } from '../storage/errors.js'
import { Progress } from './progress.js'
import { decodeConfiguration, encodeConfiguration, isJoint, isVoter, membersOf, votersOnly, type Configuration } from './configuration.js'
import { hasQuorum, quorumIndex, voteResult } from './core/quorum.js'
import { ConfigurationHistory, type ConfigurationAt } from './core/configuration-history.js'
import { enterJoint, leaveJoint, targetConfiguration, type MembershipChange } from './membership-change.js'
import { ReadOnlyQueue, type PendingRead } from './read-only.js'

export type Role = 'follower' | 'candidate' | 'leader'

/**
 * A candidate's kind: asking whether it could win without a new term ('pre-vote', Raft
 * dissertation §9.6), standing for a new term after one ('election'), or at once because the
 * leader handed over ('transfer', §3.10).
 */
export type Candidacy = 'pre-vote' | 'election' | 'transfer'

export interface HardState {
  currentTerm: number
  votedFor: number
  commitIndex: number
}

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
  configurations?: readonly { index: number; config: Configuration }[]
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

/** A read may be served once the state machine applied up to `index`. */
export interface ReadState {
  requestId: number
  index: number
}

/** Which entries a snapshot covers: up to `index`, whose term is `term`. */
export interface SnapshotMeta {
  index: number
  term: number
}

/**
 * What the driver must do, in this order: persist the hard state, flush the log, send the
 * messages, then call advance(). Committed entries are applied from the log, up to commitIndex,
 * at the state machine's own pace.
 */
export interface Ready {
  /** Save before sending anything: term or vote changed. */
  hardState: HardState | undefined
  /** The log changed since the last Ready: flush it before sending the messages. */
  mustFlush: boolean
  messages: RaftMessage[]
  /** Entries up to here are committed (never goes back). */
  commitIndex: number
  role: Role
  leaderId: number
  term: number
  /** On a candidate: what kind of candidacy (the term it stands in is `term`, or term + 1 for a pre-vote). */
  candidacy: Candidacy | undefined
  /** log.lastIndex when this Ready was made: what the flush covers. */
  lastIndex: number
  /** How many times the core had cut its log when this Ready was made (for advance()). */
  logCuts: number
  /** Reads asked here (readIndex()) that are confirmed: serve each once applied up to its index. */
  readStates: ReadState[]
  /** Reads asked here that cannot be confirmed (leadership moved): ask again. */
  droppedReads: number[]
}

export const defaultMaxEntriesPerAppend = 512
export const defaultMaxBytesPerAppend = 1024 * 1024
export const defaultMaxInflightAppends = 64
/** etcd's raft bounds bytes in flight the same way (Config.MaxInflightBytes). */
export const defaultMaxInflightBytes = 8 * 1024 * 1024

export class RaftCore {
  readonly id: number
  private readonly log: RaftLogStore
  private readonly random: () => number
  private readonly electionTicks: readonly [number, number]
  private readonly heartbeatTicks: number
  private readonly maxEntriesPerAppend: number
  private readonly maxBytesPerAppend: number
  private readonly maxInflightAppends: number
  private readonly maxInflightBytes: number
  private readonly appendTimeoutTicks: number
  private readonly readMode: ReadMode
  private readonly maxPromotionLagEntries: number
  private readonly leaseTicks: number
  private readonly memberSinceIndex: number
  private readonly newClusterToken: (() => string) | undefined
  /** The term in which this leader proposed a cluster token (one try per term). */
  private tokenProposedInTerm = 0
  private readonly warn: (message: string) => void

  private term: number
  private votedFor: number
  private roleValue: Role = 'follower'
  private leader = 0
  private commitIndex: number
  /** The leader's own log is durable up to here (followers answer only after their flush). */
  private durableIndex: number
  /** Truncations and resets of the log so far: a flush started before one vouches for nothing after it. */
  private logCuts = 0
  private preCandidate = false
  /** What kind of candidacy this candidate is in (undefined when not a candidate). */
  private candidacyValue: Candidacy | undefined
  private votes = new Map<number, boolean>()
  private progress = new Map<number, Progress>()
  /**
   * Members the latest configuration leaves out are still sent the log (never counted) until it
   * has been committed for an election timeout: so a removed node gets C_new and its commit,
   * learns it was removed, and stops (etcd tells a removed member so as well). `departingUntil`
   * is the tick they are dropped at (Infinity while the configuration is not committed), for the
   * configuration at `departingFor`.
   */
  private departingFor = -1
  private departingUntil = Number.POSITIVE_INFINITY
  /**
   * Leaving members this leader stopped sending the log to: only one that holds the log up to
   * where the leader sends from is fed. Probing one back (an empty disk, say) would replay the
   * cluster's past to a node no longer in it, configurations in which its id voted included.
   */
  private givenUp = new Set<number>()
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  /** Ticks since this core was made: the clock of in-flight timeouts. */
  private now = 0
  /** AppendEntries sent in this term by this leader (their seq). */
  private appendSeq = 0
  private snapshot: SnapshotMeta | undefined
  private campaignCount = 0
  /** Configurations by the index they take effect at (see RaftCoreOptions.configurations). */
  private configurations: ConfigurationHistory
  /** The voter this leader hands leadership to, and for how many ticks it has tried (0: none). */
  private leadTransferee = 0
  private transferElapsed = 0
  /**
   * The term in which this leader sent TimeoutNow: the target may be elected with votes cast
   * inside this leader's lease (a transfer vote ignores it), so the lease is void for the rest
   * of that term, even after the transfer times out (CockroachDB steps down; etcd and tikv
   * closed the same hole).
   */
  private leaseGivenAwayInTerm = 0
  /** A peer told this node it was removed from the cluster (stopStanding). */
  private removedFromCluster = false
  /** Index of the joint configuration this leader already proposed to leave. */
  private configuredLeave = 0
  private readonly readOnly = new ReadOnlyQueue()
  /** Reads that arrived before this leader's no-op committed: they wait for it (§6.4 step 1). */
  private readsBeforeNoop: Omit<PendingRead, 'index'>[] = []
  /** This follower's reads forwarded to a leader, by request id. */
  private forwardedReads = new Map<number, number>()
  private readStates: ReadState[] = []
  private droppedReads: number[] = []

  private outbox: RaftMessage[] = []
  private hardStateChanged = false
  private broadcastPending = false
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
    this.maxInflightAppends = options.maxInflightAppends ?? defaultMaxInflightAppends
    this.maxInflightBytes = options.maxInflightBytes ?? defaultMaxInflightBytes
    this.appendTimeoutTicks = options.appendTimeoutTicks ?? options.electionTicks[0]
    this.readMode = options.readMode ?? 'read-index'
    this.maxPromotionLagEntries = options.maxPromotionLagEntries ?? defaultMaxPromotionLagEntries
    this.memberSinceIndex = options.memberSince ?? 0
    this.newClusterToken = options.newClusterToken
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

  /** One unit of time: elections and heartbeats are counted in ticks. */
  tick(): void {
    this.now++
    if (this.roleValue === 'leader') {
      this.heartbeatElapsed++
      this.electionElapsed++
      if (this.electionElapsed >= this.electionTicks[0]) {
        this.electionElapsed = 0
        // Check quorum: a leader that has not heard from a majority for an election timeout
        // steps down, so a partitioned leader stops accepting proposals it cannot commit.
        if (!this.hasActiveQuorum()) {
          this.warn(`node ${this.id}: lost contact with a majority in term ${this.term}; stepping down`)
          this.becomeFollower(this.term, 0)
          return
        }
      }
      if (this.heartbeatElapsed >= this.heartbeatTicks) {
        this.heartbeatElapsed = 0
        this.broadcastHeartbeat()
      }
      this.resendLostAppends()
      this.promoteCaughtUp()
      this.chooseClusterToken()
      if (this.now === this.departingUntil) this.syncProgress()
      // A transfer that has not happened within an election timeout is given up: serve again.
      if (this.leadTransferee !== 0 && ++this.transferElapsed >= this.electionTicks[0]) {
        this.warn(`node ${this.id}: leadership transfer to node ${this.leadTransferee} did not happen within an election timeout; leading on`)
        this.abortTransfer()
      }
      return
    }
    this.electionElapsed++
    // The only voter has nobody to wait for or to disturb: it leads from its first tick.
    if (this.electionElapsed >= this.randomizedElectionTimeout || this.soleVoter()) {
      this.electionElapsed = 0
      this.campaign(true)
    }
  }

  /** This node is the configuration's one voter (a one-node cluster). */
  private soleVoter(): boolean {
    const config = this.configuration
    return config.outgoing.length === 0 && config.voters.length === 1 && config.voters[0] === this.id
  }

  /**
   * Proposes a new entry; returns its index, or undefined when this node is not the leader or
   * is handing leadership over (transferring).
   */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): number | undefined {
    if (this.roleValue !== 'leader' || this.leadTransferee !== 0) return undefined
    return this.appendOwn(data, type)
  }

  /** Appends an entry of this leader's term and sends it with the next Ready. */
  private appendOwn(data: Uint8Array, type: EntryType): number {
    const index = this.log.append([{ term: this.term, type, data }])
    if (type === EntryType.Config) this.configurationAppended(index, data)
    this.logChanged = true
    // Sent at the next ready(): every proposal made until then travels in the same message.
    this.broadcastPending = true
    return index
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
    this.forwardedReads.set(requestId, this.leader)
    this.send({ type: 'ReadIndex', from: this.id, to: this.leader, term: this.term, requestId })
    return true
  }

  /** Elections this node started (pre-votes included), since it was made: for metrics. */
  get campaigns(): number {
    return this.campaignCount
  }

  /** What this leader knows of each follower (empty on a follower): for status and metrics. */
  followers(): { id: number; match: number; next: number; state: string; inflight: number }[] {
    if (this.roleValue !== 'leader') return []
    return [...this.progress].map(([id, progress]) => ({ id, match: progress.match, next: progress.next, state: progress.state, inflight: progress.inflights.count }))
  }

  /** A new snapshot is durable: followers that need entries before the log's start get it. */
  snapshotTaken(snapshot: SnapshotMeta): void {
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
    const progress = this.progress.get(peer)
    if (this.roleValue !== 'leader' || progress === undefined || progress.state !== 'snapshot') return
    progress.becomeProbe(done ? progress.pendingSnapshot + 1 : progress.match + 1)
  }

  /**
   * A snapshot sent by `message.from` is durable here (the driver received and checked the
   * file). Raft Figure 13: when the log already holds its last entry with the same term, the
   * entries after it stay and nothing needs restoring; otherwise the log is emptied to start
   * right after it. Returns true when the state machine must be restored from the snapshot.
   */
  installSnapshot(message: InstallSnapshot, configuration?: Configuration): boolean {
    if (!this.accepts(message)) return false
    if (message.term < this.term) {
      this.send(this.appendResponse({ from: message.from, seq: 0 }, false, 0, 0, 0))
      return false
    }
    if (this.roleValue !== 'follower' || this.leader !== message.from) this.becomeFollower(message.term, message.from)
    this.electionElapsed = 0
    const { lastIncludedIndex: index, lastIncludedTerm: term } = message
    // The file is durable here whatever happens next: it is this node's to send from now on.
    this.snapshotTaken({ index, term })
    let restore = false
    if (index > this.commitIndex) {
      if (this.log.termAt(index) !== term) {
        this.log.reset(index + 1, term)
        this.logCuts++
        this.durableIndex = index
        // The snapshot's configuration is the one in force now; the log held nothing after it.
        if (configuration !== undefined) {
          this.configurations.resetTo(index, configuration)
          this.syncProgress()
        }
        restore = true
      }
      this.commitTo(index)
    }
    this.send(this.appendResponse({ from: message.from, seq: 0 }, true, Math.max(index, this.commitIndex), 0, 0))
    return restore
  }

  /** Handles one message from a peer. */
  step(message: RaftMessage): void {
    if (!this.accepts(message)) return
    if (message.term > maxTermOrIndex) {
      // Taken, it would leave no term for the next election (a gate in front should drop it).
      this.warn(`node ${this.id}: ignored ${message.type} from node ${message.from} of term ${message.term}, past the largest term raftlog takes (${maxTermOrIndex})`)
      return
    }
    if (message.type === 'InstallSnapshot' || message.type === 'SnapshotChunk' || message.type === 'SnapshotChunkResponse') {
      // The driver moves snapshots; it hands the core installSnapshot() once one is durable.
      this.warn(`node ${this.id}: ${message.type} is the driver's to handle, not the core's`)
      return
    }
    if (message.term > this.term) {
      if (message.type === 'RequestVote' && !message.transfer && this.inLease()) {
        // A node that hears from a live leader ignores would-be candidates: a partitioned node
        // rejoining with a high term cannot depose a healthy leader.
        return
      }
      const preVoteTraffic = (message.type === 'RequestVote' && message.preVote) || (message.type === 'RequestVoteResponse' && message.preVote && message.voteGranted)
      if (!preVoteTraffic) this.becomeFollower(message.term, message.type === 'AppendEntries' ? message.from : 0)
    } else if (message.term < this.term) {
      if (message.type === 'AppendEntries' || (message.type === 'RequestVote' && message.preVote)) {
        // Tell a stale leader or pre-candidate about the newer term.
        if (message.type === 'AppendEntries') this.send(this.appendResponse(message, false, 0, 0, 0))
        else this.send({ type: 'RequestVoteResponse', from: this.id, to: message.from, term: this.term, preVote: true, voteGranted: false })
      }
      return
    }
    switch (message.type) {
      case 'TimeoutNow':
        // The leader hands over: stand now, without a pre-vote (it would be refused in its lease).
        if (this.roleValue === 'follower' && message.from === this.leader) {
          this.warn(`node ${this.id}: node ${message.from} hands leadership over; campaigning for term ${this.term + 1}`)
          this.campaign(false, true)
        }
        return
      case 'ReadIndex':
        return this.handleReadIndex(message)
      case 'ReadIndexResponse':
        return this.handleReadIndexResponse(message)
      case 'RequestVote':
        return this.handleRequestVote(message)
      case 'RequestVoteResponse':
        return this.handleVoteResponse(message)
      case 'AppendEntries':
        return this.handleAppendEntries(message)
      case 'AppendEntriesResponse':
        return this.handleAppendResponse(message)
    }
  }

  /** Only messages from a peer to this node are stepped. */
  /**
   * Only messages to this node from another are stepped. A sender outside the configuration
   * this node knows is heard too: the leader of a newer configuration may be one (the transport
   * keeps out nodes of other clusters); only voters count in any decision.
   */
  private accepts(message: RaftMessage): boolean {
    if (message.from === this.id || message.to !== this.id || message.from < 1) {
      this.warn(`node ${this.id}: ignored ${message.type} from node ${message.from} to node ${message.to}`)
      return false
    }
    // A vote request is answered whatever this node's configuration says of the candidate: this
    // node may be behind (a voter added by a configuration it has not received yet), and refusing
    // could leave a majority unable to elect anyone. A removed server cannot disrupt: it asks for
    // a pre-vote first, which a node that heard from a leader within its lease refuses (Raft
    // dissertation §4.2.3), and its own vote count follows its own configuration.
    return true
  }

  hasReady(): boolean {
    return (
      this.hardStateChanged ||
      this.logChanged ||
      this.softStateChanged ||
      this.broadcastPending ||
      this.outbox.length > 0 ||
      this.commitChanged ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0 ||
      this.readOnly.needsRound
    )
  }

  /** Takes what the driver must do now. */
  ready(): Ready {
    if (this.broadcastPending && this.roleValue === 'leader') {
      for (const peer of this.progress.keys()) this.sendAppends(peer)
    }
    this.broadcastPending = false
    if (this.readOnly.needsRound && this.roleValue === 'leader') {
      // One round of heartbeats, numbered from here, confirms every read that waits now.
      this.readOnly.startRound(this.appendSeq + 1)
      this.broadcastHeartbeat()
      this.confirmReads()
    }
    const ready: Ready = {
      hardState: this.hardStateChanged ? { currentTerm: this.term, votedFor: this.votedFor, commitIndex: this.commitIndex } : undefined,
      mustFlush: this.logChanged,
      messages: this.outbox,
      commitIndex: this.commitIndex,
      role: this.roleValue,
      leaderId: this.leader,
      term: this.term,
      candidacy: this.candidacyValue,
      lastIndex: this.log.lastIndex,
      logCuts: this.logCuts,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
    }
    this.readStates = []
    this.droppedReads = []
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

  // --- membership ----------------------------------------------------------------------

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
    if (this.leadTransferee !== 0) throw new RaftLogError('ERR_LEADERSHIP_TRANSFER', `Node ${this.id} is handing leadership to node ${this.leadTransferee}`)
    if (this.changeUnderWay()) {
      throw new RaftLogError('ERR_CHANGE_IN_PROGRESS', `Membership change: the change at index ${this.configurationIndex} is not finished yet; try again once it is`)
    }
    const target = targetConfiguration(this.configuration, change)
    for (const id of change.promote ?? []) {
      const match = this.progress.get(id)?.match ?? 0
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
    return this.appendOwn(encodeConfiguration(joint), EntryType.Config)
  }

  /**
   * Refuses a change after which the voters this leader heard from within an election timeout
   * (itself included) are not a majority of each half of `joint`: such a configuration could
   * never elect a leader or commit again (etcd's --strict-reconfig-check).
   */
  private checkStartedMajority(joint: Configuration): void {
    const heard = (id: number): boolean => id === this.id || this.heardLately(id)
    if (hasQuorum(joint, heard)) return
    const list = (ids: readonly number[]) => ids.join(', ')
    const silent = [...new Set([...joint.voters, ...joint.outgoing])].filter((id) => !heard(id))
    throw new RaftLogError(
      'ERR_UNSAFE_CHANGE',
      `Membership change refused: nodes ${list(silent)} have not been heard from within an election timeout, and without them the voters ${list(joint.voters)} would have no working majority (the cluster could never elect a leader or commit again); start them first, or add new members as learners`,
      { silent },
    )
  }

  /** This leader heard from `id` within the election timeout's minimum. */
  private heardLately(id: number): boolean {
    const progress = this.progress.get(id)
    return progress !== undefined && progress.lastHeardAt >= 0 && this.now - progress.lastHeardAt < this.electionTicks[0]
  }

  /**
   * Whether a membership change is still being carried out: the latest configuration is joint,
   * or not committed and with other members than the committed one (an entry that only added
   * the cluster token changes nobody's vote, so a change may follow it at once).
   */
  private changeUnderWay(): boolean {
    return this.configurations.changeUnderWay(this.commitIndex)
  }

  /** A leader of a cluster with no token yet proposes one, the configuration otherwise unchanged. */
  private chooseClusterToken(): void {
    const config = this.configuration
    if (this.newClusterToken === undefined || config.clusterToken !== undefined || this.tokenProposedInTerm === this.term) return
    if (this.configurationIndex > this.commitIndex || isJoint(config) || this.leadTransferee !== 0 || membersOf(config).length === 0) return
    this.tokenProposedInTerm = this.term
    this.appendOwn(encodeConfiguration({ ...config, clusterToken: this.newClusterToken() }), EntryType.Config)
  }

  /**
   * Learners asked for as voters (promoteWhenCaughtUp) become voters once they have caught up:
   * acknowledged entries, within maxPromotionLagEntries of this log, heard from lately. One
   * change at a time, as any other.
   */
  private promoteCaughtUp(): void {
    const waiting = this.configuration.promoteWhenCaughtUp ?? []
    if (waiting.length === 0 || this.changeUnderWay() || this.leadTransferee !== 0) return
    const ready = waiting.filter((id) => {
      const match = this.progress.get(id)?.match ?? 0
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

  /** The log was cut after `index`: configurations of removed entries are gone with them. */
  private configurationsCut(index: number): void {
    if (this.configurations.cutAfter(index)) this.syncProgress()
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
    for (const id of this.progress.keys()) if (!members.has(id)) this.progress.delete(id)
    for (const id of members) if (!this.progress.has(id)) this.progress.set(id, new Progress(this.log.lastIndex + 1, this.maxInflightAppends, this.maxInflightBytes))
  }

  /**
   * A member on its way out that needs entries from before the change that removes it (its disk
   * was emptied, say), or a snapshot, is sent nothing more: true when `id` was given up on here.
   */
  private giveUpOnLeaving(id: number): boolean {
    if (membersOf(this.configuration).includes(id)) return false
    this.givenUp.add(id)
    this.progress.delete(id)
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
      if (this.configuredLeave !== this.configurationIndex) {
        this.configuredLeave = this.configurationIndex
        this.appendOwn(encodeConfiguration(leaveJoint(config)), EntryType.Config)
      }
      return
    }
    // Committed: members it leaves out get an election timeout more of the log, to learn so.
    if (this.departingUntil === Number.POSITIVE_INFINITY && this.departingFor === this.configurationIndex) this.departingUntil = this.now + this.electionTicks[1]
    if (!config.voters.includes(this.id)) {
      const successor = this.bestVoter()
      this.warn(`node ${this.id}: no longer a voter of the committed configuration; stepping down${successor === 0 ? '' : ` and handing over to node ${successor}`}`)
      if (successor !== 0) {
        this.leaseGivenAwayInTerm = this.term
        this.send({ type: 'TimeoutNow', from: this.id, to: successor, term: this.term })
      }
      this.becomeFollower(this.term, 0)
    }
  }

  // --- leadership transfer -------------------------------------------------------------------

  /**
   * Hands leadership to `to` (Raft dissertation §3.10), or to the most up-to-date voter: brings
   * it up to date, then tells it to stand now (TimeoutNow). Proposals are refused meanwhile;
   * after an election timeout without a new leader this node leads on. Returns the target, or
   * 0 when there is none (no other voter). Throws ERR_NOT_LEADER or ERR_BAD_ARGUMENT.
   */
  transferLeadership(to?: number): number {
    if (this.roleValue !== 'leader') throw new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader`, { leaderId: this.leader })
    const target = to ?? this.bestVoter()
    if (target === 0) return 0
    if (target === this.id) throw new RaftLogError('ERR_BAD_ARGUMENT', `Leadership transfer: node ${target} leads already`)
    if (!this.configuration.voters.includes(target)) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `Leadership transfer: node ${target} is not another voter of the configuration (${this.configuration.voters.join(', ')})`)
    }
    this.leadTransferee = target
    this.transferElapsed = 0
    const progress = this.progress.get(target) as Progress
    if (progress.match === this.log.lastIndex) this.sendTimeoutNow()
    else this.sendAppends(target)
    return target
  }

  /** The voter a transfer is heading to (0: none). */
  get transferringTo(): number {
    return this.leadTransferee
  }

  /** The term in which this node last sent TimeoutNow (0: never): a transfer may have succeeded since. */
  get timeoutNowTerm(): number {
    return this.leaseGivenAwayInTerm
  }

  private sendTimeoutNow(): void {
    this.leaseGivenAwayInTerm = this.term
    this.send({ type: 'TimeoutNow', from: this.id, to: this.leadTransferee, term: this.term })
  }

  private abortTransfer(): void {
    this.leadTransferee = 0
    this.transferElapsed = 0
  }

  /** The other voter of the new configuration with the most of the log (0: none). */
  /**
   * The voter a leader that is stopping should hand over to: the most up-to-date one that
   * answered within the last two heartbeats; 0 when none did (the others are down: a hand-over
   * could only wait for nothing).
   */
  handOverTarget(): number {
    if (this.roleValue !== 'leader') return 0
    let best = 0
    let bestMatch = -1
    for (const id of this.configuration.voters) {
      const progress = this.progress.get(id)
      if (id === this.id || progress === undefined || this.now - progress.lastHeardAt > 2 * this.heartbeatTicks) continue
      if (progress.match > bestMatch) {
        best = id
        bestMatch = progress.match
      }
    }
    return best
  }

  private bestVoter(): number {
    let best = 0
    let bestMatch = -1
    for (const id of this.configuration.voters) {
      const match = this.progress.get(id)?.match ?? -1
      if (id !== this.id && match > bestMatch) {
        best = id
        bestMatch = match
      }
    }
    return best
  }

  // --- elections -------------------------------------------------------------------------

  /**
   * A peer said this node was removed from the cluster (its committed configuration says so,
   * which this node's log may not hold yet): it never stands again.
   */
  stopStanding(): void {
    this.removedFromCluster = true
    if (this.roleValue === 'candidate') this.becomeFollower(this.term, 0)
  }

  private campaign(preVote: boolean, transfer = false): void {
    // Learners, and nodes the configuration no longer names, never stand; nor does a node on a
    // configuration from before it joined (a replayed past in which its id may have voted), nor
    // one told it was removed.
    if (!isVoter(this.configuration, this.id) || this.configurationIndex < this.memberSinceIndex || this.removedFromCluster) return
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
      this.dropReads(0)
      this.preCandidate = true
      this.setRole('candidate')
      this.leader = 0
    } else {
      this.becomeCandidate()
    }
    this.candidacyValue = preVote ? 'pre-vote' : transfer ? 'transfer' : 'election'
    this.softStateChanged = true
    this.votes = new Map([[this.id, true]])
    const term = preVote ? this.term + 1 : this.term
    for (const peer of others) {
      this.send({ type: 'RequestVote', from: this.id, to: peer, term, preVote, lastLogIndex: this.log.lastIndex, lastLogTerm: this.log.lastTerm, transfer })
    }
  }

  private becomeCandidate(): void {
    this.dropReads(0)
    this.preCandidate = false
    this.term++
    this.votedFor = this.id
    this.hardStateChanged = true
    this.leader = 0
    this.setRole('candidate')
    this.resetElectionTimer()
  }

  private becomeFollower(term: number, leader: number): void {
    this.dropReads(leader)
    this.abortTransfer()
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
    this.progress = new Map()
    this.appendSeq = 0
    this.syncProgress()
    // Its voters were just heard from: a change asked for right after the election is judged
    // on them (checkStartedMajority), not refused for want of an answer to the no-op yet.
    for (const [id, granted] of this.votes) {
      const progress = this.progress.get(id)
      if (granted && progress !== undefined) progress.lastHeardAt = this.now
    }
    // A no-op in the new term: entries of earlier terms commit only under one of the current term.
    this.propose(new Uint8Array(0), EntryType.NoOp)
    // Right behind it when it can (a new cluster's first leader): the same index every time.
    this.chooseClusterToken()
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
    if (this.roleValue !== 'candidate' || message.preVote !== this.preCandidate) return
    this.votes.set(message.from, message.voteGranted)
    const result = voteResult(this.configuration, this.votes)
    if (result === 'won') {
      if (this.preCandidate) this.campaign(false)
      else this.becomeLeader()
    } else if (result === 'lost') {
      this.becomeFollower(this.term, 0)
    }
  }

  private inLease(): boolean {
    return this.leader !== 0 && this.electionElapsed < this.electionTicks[0]
  }

  private hasActiveQuorum(): boolean {
    const active = hasQuorum(this.configuration, (id) => id === this.id || this.progress.get(id)?.recentActive === true)
    for (const progress of this.progress.values()) progress.recentActive = false
    return active
  }

  // --- reads -----------------------------------------------------------------------------

  private handleReadIndex(message: ReadIndexRequest): void {
    if (this.roleValue !== 'leader') {
      this.send({ type: 'ReadIndexResponse', from: this.id, to: message.from, term: this.term, requestId: message.requestId, index: 0 })
      return
    }
    this.takeRead({ requestId: message.requestId, from: message.from })
  }

  private handleReadIndexResponse(message: ReadIndexResponse): void {
    if (!this.forwardedReads.delete(message.requestId)) return
    if (message.index > 0) this.readStates.push({ requestId: message.requestId, index: message.index })
    else this.droppedReads.push(message.requestId)
  }

  /** A read on the leader: served by lease, queued for a round, or held until the no-op commits. */
  private takeRead(read: Omit<PendingRead, 'index'>): void {
    // Until an entry of this term commits, the commit index may be behind what an earlier
    // leader committed: no read index can be given yet (§6.4 step 1).
    if (this.log.termAt(this.commitIndex) !== this.term) {
      this.readsBeforeNoop.push(read)
      return
    }
    if (this.readMode === 'lease' && this.hasLease()) {
      this.answerRead({ ...read, index: this.commitIndex })
      return
    }
    this.readOnly.add({ ...read, index: this.commitIndex })
  }

  /** Reads confirmed by answers: a majority (this leader included) answered a later message. */
  private confirmReads(): void {
    if (this.readOnly.size === 0) return
    const quorumSeq = quorumIndex(this.configuration, (id) => (id === this.id ? Number.POSITIVE_INFINITY : (this.progress.get(id)?.ackedSeq ?? 0)))
    for (const read of this.readOnly.confirm(quorumSeq)) this.answerRead(read)
  }

  private answerRead(read: PendingRead): void {
    if (read.from === this.id) this.readStates.push({ requestId: read.requestId, index: read.index })
    else this.send({ type: 'ReadIndexResponse', from: this.id, to: read.from, term: this.term, requestId: read.requestId, index: read.index })
  }

  /** A majority (this leader included) answered a message sent less than leaseTicks ago. */
  private hasLease(): boolean {
    // A successor asked to stand ignores its lease: while handing over, there is none, and
    // once TimeoutNow went out, none for the rest of the term (a late one still elects).
    if (this.leadTransferee !== 0 || this.leaseGivenAwayInTerm === this.term) return false
    const since = quorumIndex(this.configuration, (id) => (id === this.id ? Number.POSITIVE_INFINITY : (this.progress.get(id)?.leaseFrom ?? Number.NEGATIVE_INFINITY)))
    return this.now - since < this.leaseTicks
  }

  /** Leadership moves (or `leader` is a new one): reads held here or asked elsewhere are lost. */
  private dropReads(leader: number): void {
    if (this.roleValue === 'leader') {
      for (const read of [...this.readOnly.clear(), ...this.readsBeforeNoop.map((r) => ({ ...r, index: 0 }))]) {
        if (read.from === this.id) this.droppedReads.push(read.requestId)
        else this.send({ type: 'ReadIndexResponse', from: this.id, to: read.from, term: this.term, requestId: read.requestId, index: 0 })
      }
      this.readsBeforeNoop = []
    }
    for (const [requestId, askedOf] of this.forwardedReads) {
      if (askedOf === leader) continue
      this.forwardedReads.delete(requestId)
      this.droppedReads.push(requestId)
    }
  }

  // --- replication -----------------------------------------------------------------------

  private handleAppendEntries(message: AppendEntries): void {
    if (this.roleValue !== 'follower' || this.leader !== message.from) this.becomeFollower(message.term, message.from)
    this.electionElapsed = 0
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
    let position = 0
    for (; position < entries.length; position++) {
      const entry = entries[position] as LogEntry
      if (entry.index > this.log.lastIndex) break
      if (this.log.termAt(entry.index) !== entry.term) {
        if (entry.index <= this.commitIndex) throw new Error(`raft invariant: node ${this.id} would truncate committed index ${entry.index}`)
        this.log.truncateAfter(entry.index - 1)
        this.logCuts++
        this.durableIndex = Math.min(this.durableIndex, entry.index - 1)
        this.configurationsCut(entry.index - 1)
        break
      }
    }
    if (position < entries.length) {
      const first = (entries[position] as LogEntry).index
      if (first !== this.log.lastIndex + 1) throw new Error(`raft invariant: node ${this.id} would append index ${first} after ${this.log.lastIndex}`)
      const appended = entries.slice(position)
      this.log.append(appended.map((entry) => ({ term: entry.term, type: entry.type, data: entry.data })))
      for (const entry of appended) if (entry.type === EntryType.Config) this.configurationAppended(entry.index, entry.data)
      this.logChanged = true
    }
    const matchIndex = prevLogIndex + entries.length
    this.commitTo(Math.min(message.leaderCommit, matchIndex))
    this.send(this.appendResponse(message, true, matchIndex, 0, 0))
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

  private handleAppendResponse(message: AppendEntriesResponse): void {
    if (this.roleValue !== 'leader') return
    const progress = this.progress.get(message.from)
    if (progress === undefined) return
    progress.recentActive = true
    progress.lastHeardAt = this.now
    progress.answered(message.seq)
    this.confirmReads()
    if (message.success) {
      if (progress.acknowledged(message.matchIndex, this.appendSeq)) this.maybeCommit()
      if (message.from === this.leadTransferee && progress.match === this.log.lastIndex) this.sendTimeoutNow()
      // Out of the snapshot state only once entries can follow what the follower holds.
      if (progress.state === 'probe' || (progress.state === 'snapshot' && progress.match >= this.log.firstIndex - 1)) progress.becomeReplicate()
      this.sendAppends(message.from)
      return
    }
    // While a snapshot is on its way the follower refuses everything: that is expected.
    if (progress.state === 'snapshot') return
    if (message.conflictIndex < this.configurations.changeStart() && this.giveUpOnLeaving(message.from)) return
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
    const progress = this.progress.get(peer)
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
    const progress = this.progress.get(peer)
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
    const message = this.append(peer, prevLogIndex, prevLogTerm, entries)
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

  private append(peer: number, prevLogIndex: number, prevLogTerm: number, entries: LogEntry[]): AppendEntries {
    const seq = ++this.appendSeq
    this.progress.get(peer)?.recordSent(seq, this.now)
    return { type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex, prevLogTerm, entries, leaderCommit: this.commitIndex, seq }
  }

  /**
   * Heartbeats carry no entries: entries go out on proposals and on answers only, so a slow or
   * dead follower is never sent the same entries again and again. A follower being probed gets
   * an empty probe at next − 1; one that matches, a check at its match index, which also tells
   * it the commit index.
   */
  private broadcastHeartbeat(): void {
    for (const [peer, progress] of this.progress) {
      // While a snapshot is on its way: the log's start, just to keep the follower's timer reset.
      const prevLogIndex = progress.state === 'probe' ? progress.next - 1 : progress.state === 'replicate' ? progress.match : this.log.firstIndex - 1
      const prevLogTerm = this.log.termAt(prevLogIndex)
      if (prevLogTerm === undefined) {
        this.sendSnapshot(peer, progress)
        continue
      }
      this.send(this.append(peer, prevLogIndex, prevLogTerm, []))
    }
  }

  /**
   * An AppendEntries unanswered for appendTimeoutTicks while the follower answered a message
   * sent after it was lost: start again from the match index. A follower that answers nothing
   * is sent nothing but heartbeats.
   */
  private resendLostAppends(): void {
    for (const [peer, progress] of this.progress) {
      const oldest = progress.inflights.oldest
      if (oldest === undefined || progress.ackedSeq <= oldest.seq || this.now - oldest.sentAt < this.appendTimeoutTicks) continue
      progress.becomeProbe(progress.match + 1)
      this.sendAppend(peer, true)
    }
  }

  /** Figure 8: commit the highest index a majority holds, only if it is of the current term. */
  private maybeCommit(): void {
    const candidate = quorumIndex(this.configuration, (id) => (id === this.id ? this.durableIndex : (this.progress.get(id)?.match ?? 0)))
    if (this.log.termAt(candidate) === this.term) this.commitTo(candidate)
  }

  private commitTo(index: number): void {
    if (index <= this.commitIndex) return
    this.commitIndex = index
    this.commitChanged = true
    if (this.roleValue === 'leader') this.membershipCommitted()
    if (this.roleValue === 'leader' && this.readsBeforeNoop.length > 0 && this.log.termAt(index) === this.term) {
      const waiting = this.readsBeforeNoop
      this.readsBeforeNoop = []
      for (const read of waiting) this.takeRead(read)
    }
  }

  private send(message: RaftMessage): void {
    this.outbox.push(message)
  }

  private setRole(role: Role): void {
    if (this.roleValue !== role) this.softStateChanged = true
    this.roleValue = role
    if (role !== 'candidate') this.candidacyValue = undefined
  }

  private resetElectionTimer(): void {
    const [min, max] = this.electionTicks
    this.electionElapsed = 0
    this.randomizedElectionTimeout = min + Math.floor(this.random() * (max - min + 1))
  }
}
