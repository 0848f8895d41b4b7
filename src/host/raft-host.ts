// Many Raft groups in one process over one shared log engine (etcd's RawNode per group, run the
// way dragonboat's NodeHost runs them). One driver turn gathers every group's Ready, stages all
// their entries and hard states in the engine and makes them durable with one flush, sends each
// peer host one batch of every group's messages, then applies what each group committed.
//
// With commitDelayMs (PostgreSQL's commit_delay), a turn of several groups' work that starts soon
// after a flush waits a little, so that more groups share the next flush.
//
// Idle groups go quiet (CockroachDB's quiescence, dragonboat's quiesce): a leader whose followers
// all hold its whole log, committed and applied, with nothing waiting, stops ticking its group and
// tells the followers, which stop too; the group then costs no ticks and sends no heartbeats.
// Instead each host beats once per heartbeat to each peer host: while a host hears its peers, the
// quiet groups they lead stay quiet; when a peer falls silent for an election timeout, the quiet
// groups it led wake and elect a new leader. A proposal or any message but a heartbeat wakes a
// group too. A group with a follower behind (one host down, say) does not go quiet.
//
// A group whose state machine has snapshot() and restore() is snapshotted every
// snapshotEveryEntries applied entries (host-snapshots.ts); its log is compacted behind the
// snapshot, and the engine is purged now and then so that files no group needs are freed. A
// follower behind the leader's log gets the snapshot in chunks, through the same batches. Groups
// change membership through their own log (joint consensus), which is how a replica moves
// between hosts (move-replica.ts).
import { RaftLogError } from '../errors.js'
import type { Ready } from '../raft/core/raft-core.js'
import type { Configuration } from '../raft/core/configuration.js'
import type { MembershipChange } from '../raft/core/membership-change.js'
import type { RaftMessage } from '../raft/core/messages.js'
import { seededRandom } from '../raft/core/seeded-random.js'
import { defaultSnapshotThreshold, defaultSnapshotTrailingEntries } from '../raft/node/node-options.js'
import type { StateMachine } from '../raft/state-machine.js'
import type { GroupReplica } from './group-replica.js'
import type { HostBatch } from './host-batch.js'
import { HostOutbox } from './host-outbox.js'
import { membershipView, proposeChange, removedHere, startTransfer } from './host-membership.js'
import { maxFlushesInFlight, maxSnapshotBytesPerBatch, readTimeoutMs, transferTimeoutMs, type HostCounters, type RaftHostOptions } from './host-options.js'
import { quiesceFollower, quiesceIfIdle, wakes } from './host-quiescence.js'
import { HostReads } from './host-reads.js'
import { groupSnapshotDir, removeSnapshotDir } from './host-snapshots.js'
import { purgeEngine } from './host-purge.js'
import { openReplica, type ReplicaContext } from './open-replica.js'
import { groupName } from './group-catalog.js'

export { maxFlushesInFlight, maxSnapshotBytesPerBatch, readTimeoutMs, transferTimeoutMs, type HostCounters, type RaftHostOptions } from './host-options.js'

export class RaftHost {
  readonly nodeId: number
  readonly counters: HostCounters = { turns: 0, flushes: 0, delayedTurns: 0, batchesSent: 0, groupTicks: 0, compactions: 0, snapshotsTaken: 0, snapshotsReceived: 0, purges: 0, filesFreed: 0 }
  private readonly replicas = new Map<number, GroupReplica>()
  /** Replicas that may have a Ready: the next turn looks at these only. */
  private readonly dirty = new Set<GroupReplica>()
  /** The tick count at which each peer host was last heard from. */
  private readonly lastHeard = new Map<number, number>()
  private readonly outbox: HostOutbox
  /** ReadIndex reads asked and not yet confirmed. */
  private readonly reads = new HostReads(readTimeoutMs)
  private ticks = 0
  private turning = false
  /** Turns whose flush and finish are still to come, chained in order. */
  private finishing = 0
  private finished: Promise<void> = Promise.resolve()
  /** Why the host stopped by itself (an engine failure), if it did. */
  failure: RaftLogError | undefined
  /** Groups whose replica failed here and was dropped (its snapshot could not be restored), with why; the host goes on. */
  readonly failedGroups = new Map<number, RaftLogError>()
  private again = false
  private stopped = false
  private readonly commitDelayMs: number
  /** When the last flush started (performance.now(), ms). */
  private lastFlushStart = -Infinity
  /** The timer of a turn held back by the commit delay. */
  private held: NodeJS.Timeout | undefined
  private readonly electionTicks: readonly [number, number]
  private readonly heartbeatTicks: number
  private readonly quiesceAfterTicks: number
  private readonly random: () => number
  private readonly purgeEveryTicks: number
  /** A group's log was compacted since the last purge. */
  private purgeDue = false
  private readonly context: ReplicaContext

  constructor(private readonly options: RaftHostOptions) {
    this.nodeId = options.nodeId
    this.electionTicks = options.electionTicks ?? [10, 20]
    this.heartbeatTicks = options.heartbeatTicks ?? 1
    this.quiesceAfterTicks = options.quiesceAfterTicks ?? 2 * this.electionTicks[1]
    this.random = seededRandom(options.seed ?? options.nodeId)
    this.purgeEveryTicks = options.purgeEveryTicks ?? 100
    this.commitDelayMs = options.commitDelayMs ?? 0
    if (!(this.commitDelayMs >= 0 && this.commitDelayMs <= 1000)) throw new RaftLogError('ERR_BAD_ARGUMENT', `commitDelayMs must be 0 to 1000 ms (got ${String(options.commitDelayMs)})`, { argument: 'commitDelayMs' })
    this.outbox = new HostOutbox(this.nodeId, options.transport, this.counters, options.maxSnapshotBytesPerBatch ?? maxSnapshotBytesPerBatch)
    for (const host of options.hosts) if (host !== this.nodeId) this.lastHeard.set(host, 0)
    this.context = {
      nodeId: this.nodeId,
      engine: options.engine,
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      random: this.random,
      snapshotEveryEntries: options.snapshotEveryEntries ?? defaultSnapshotThreshold,
      snapshotTrailingEntries: options.snapshotTrailingEntries ?? defaultSnapshotTrailingEntries,
      logger: options.logger ?? console,
      coreWarnings: options.logger !== undefined,
      counters: this.counters,
      now: () => this.ticks * (options.tickMs ?? 50),
      send: (group, message) => {
        if (this.stopped) return
        this.outbox.push(group, message)
        this.schedule()
      },
      wake: (replica) => this.wake(replica),
      failGroup: (replica, error) => this.failGroup(replica, error),
    }
  }

  /** No turn running or waiting: what was received has been persisted, sent and applied. */
  get idle(): boolean {
    return !this.turning && this.finishing === 0 && this.dirty.size === 0 && this.outbox.size === 0
  }

  /** Groups with a replica here. */
  get groups(): number[] {
    return [...this.replicas.keys()]
  }

  /** Groups with a replica here that are quiet. */
  get quietGroups(): number {
    let quiet = 0
    for (const replica of this.replicas.values()) if (replica.quiesced) quiet++
    return quiet
  }

  /**
   * Starts this host's replica of group `group`, applying to `stateMachine` (empty: a group the
   * engine holds is fed again from its newest snapshot, then its log). `peers` (host ids, this one
   * among them) are the group's first voters, used only while neither its log nor a snapshot
   * holds a configuration: after a membership change, the group's own configuration wins.
   * Throws ERR_GROUP_EXISTS, ERR_BAD_ARGUMENT (peers without this host; snapshots held but the
   * state machine cannot restore them), ERR_CORRUPT (the log starts after what any snapshot covers).
   */
  addGroup(group: number, peers: readonly number[], stateMachine: StateMachine): void {
    if (this.stopped) throw new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`)
    if (this.replicas.has(group)) throw new RaftLogError('ERR_GROUP_EXISTS', `Group ${group} has a replica on host ${this.nodeId} already`)
    if (peers.length === 0) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group} needs its first voters (peers); a replica that joins a running group starts with joinGroup()`, { argument: 'peers' })
    const replica = openReplica(this.context, group, peers, stateMachine)
    this.failedGroups.delete(group)
    this.replicas.set(group, replica)
    this.wake(replica)
  }

  /**
   * Starts a replica of `group` on this host, which is joining it (or was, before a restart): an
   * empty `stateMachine` that learns the group's configuration from its leader, once the leader
   * added this host (changeMembership({ addLearners })), and catches up by log or snapshot. It
   * never stands for election before a configuration makes it a voter. Throws ERR_GROUP_EXISTS.
   */
  joinGroup(group: number, stateMachine: StateMachine): void {
    if (this.stopped) throw new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`)
    if (this.replicas.has(group)) throw new RaftLogError('ERR_GROUP_EXISTS', `Group ${group} has a replica on host ${this.nodeId} already`)
    const replica = openReplica(this.context, group, [], stateMachine)
    this.failedGroups.delete(group)
    this.replicas.set(group, replica)
    this.wake(replica)
  }

  /** Stops and forgets this host's replica of `group` (its log and snapshots stay: removeReplica() frees them). */
  dropGroup(group: number): void {
    const replica = this.replicas.get(group)
    if (replica === undefined) return
    replica.closed = true
    replica.failWaiting('the group was dropped from this host')
    replica.membership.rejectAll(new RaftLogError('ERR_STOPPED', `Group ${group} was dropped from host ${this.nodeId}`))
    replica.snapshots?.close()
    this.replicas.delete(group)
    this.dirty.delete(replica)
  }

  /**
   * Drops this host's replica of `group` and frees what it held: its log leaves the engine
   * (durable when this resolves; its files go with later purges) and its snapshot folder is
   * deleted. For a replica the group no longer counts (moveReplica removed it first): removing a
   * voter's replica this way loses that voter's copy. Does nothing for a group not held here.
   */
  async removeReplica(group: number): Promise<void> {
    this.dropGroup(group)
    const engine = this.options.engine
    if (engine.hasGroup(group)) engine.removeGroup(group)
    // The log goes first: a crash after it leaves a folder the next addGroup deletes, never a log without its snapshot.
    await engine.flush()
    removeSnapshotDir(groupSnapshotDir(engine.dir, group))
    this.purgeDue = true
  }

  /**
   * Host `id` joined the cluster: it gets this host's heartbeats, and its silence wakes quiet
   * groups, as the hosts given at the start. Does nothing for a host known already.
   */
  addHost(id: number): void {
    if (id !== this.nodeId && !this.lastHeard.has(id)) this.lastHeard.set(id, this.ticks)
  }

  /** Whether this host holds a replica of `group`. */
  hasGroup(group: number): boolean {
    return this.replicas.has(group)
  }

  /** The configuration of `group` in use on this host (the latest in its log, committed or not). */
  configurationOf(group: number): Configuration {
    return this.replica(group).core.configuration
  }

  /** Index of the Config entry of that configuration (0: the peers `addGroup` was given). */
  configurationIndexOf(group: number): number {
    return this.replica(group).core.configurationIndex
  }

  /**
   * Changes `group`'s membership (Raft dissertation §4.3, joint consensus) from its leader on
   * this host: `change` adds learners or voters (host ids, address '' on a host network),
   * promotes learners, removes members. Resolves with the new configuration once it is committed.
   * Rejects with ERR_NOT_LEADER (with leaderId), ERR_CHANGE_IN_PROGRESS, ERR_LEARNER_BEHIND,
   * ERR_UNSAFE_CHANGE, ERR_ID_REMOVED (a host once removed from the group never rejoins it),
   * ERR_BAD_ARGUMENT, ERR_LEADERSHIP_LOST (this host stopped leading: the change may still finish),
   * ERR_NO_GROUP, ERR_STOPPED.
   */
  changeMembership(group: number, change: MembershipChange): Promise<Configuration> {
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`))
    try {
      const replica = this.replica(group)
      this.awaken(replica)
      const done = proposeChange(replica, change)
      this.wake(replica)
      return done
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Hands `group`'s leadership from this host to voter `to` (or the most up-to-date other voter)
   * and resolves with the new leader's id once this host hears it leads. Rejects with
   * ERR_NOT_LEADER, ERR_BAD_ARGUMENT (no such other voter), ERR_TIMEOUT (the target never caught
   * up), ERR_TRANSFER_FAILED (another host leads now), ERR_UNKNOWN_OUTCOME (no leader heard of
   * within transferTimeoutMs), ERR_NO_GROUP, ERR_STOPPED.
   */
  transferLeadership(group: number, to?: number): Promise<number> {
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`))
    try {
      const replica = this.replica(group)
      this.awaken(replica)
      const done = startTransfer(this.nodeId, replica, to, transferTimeoutMs)
      this.wake(replica)
      return done
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** Which host leads `group` as this host knows it (0: none known). */
  leaderOf(group: number): number {
    return this.replica(group).core.leaderId
  }

  /**
   * Proposes `data` to `group` and resolves with its state machine's answer once applied here.
   * ERR_NOT_LEADER (with leaderId) when this host does not lead the group; ERR_LEADERSHIP_LOST
   * when leadership moved before the entry was applied (it may or may not be).
   */
  propose(group: number, data: Uint8Array): Promise<unknown> {
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`))
    const replica = this.replica(group)
    this.awaken(replica)
    const index = replica.core.role === 'leader' ? replica.core.propose(data) : undefined
    if (index === undefined) return Promise.reject(Object.assign(new RaftLogError('ERR_NOT_LEADER', `Host ${this.nodeId} does not lead ${groupName(group)} (leader: ${replica.core.leaderId || 'unknown'})`), { leaderId: replica.core.leaderId }))
    const answer = replica.expect(index, replica.core.currentTerm)
    this.wake(replica)
    return answer
  }

  /**
   * A linearizable read of `group` (Raft dissertation §6.4, ReadIndex): resolves once this host's
   * replica holds every write committed before the call (read its state machine then), on a
   * follower too (it asks the leader). ERR_NOT_LEADER when no leader is known or leadership moved
   * (ask again).
   */
  read(group: number): Promise<void> {
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`))
    const replica = this.replica(group)
    const requestId = this.reads.nextRequestId()
    // The leader confirms its leadership with a round of heartbeats: a quiet group wakes for it.
    this.awaken(replica)
    if (!replica.core.readIndex(requestId)) return Promise.reject(new RaftLogError('ERR_NOT_LEADER', `Host ${this.nodeId} knows no leader of ${groupName(group)}`))
    const confirmed = this.reads.wait(requestId, group)
    this.wake(replica)
    return confirmed.then((index) => replica.whenApplied(index))
  }

  /** A batch from a peer host: every group's messages are stepped, quiesce notices taken, the peer counted alive. */
  receive(batch: HostBatch): void {
    if (this.stopped) return
    this.lastHeard.set(batch.from, this.ticks)
    for (const { group, message } of batch.messages) {
      const replica = this.replicas.get(group)
      if (replica === undefined) continue
      if (wakes(message)) this.awaken(replica)
      // Snapshot files move host to host; the core hears of one once it is durable here.
      if (message.type === 'SnapshotChunk' || message.type === 'SnapshotChunkResponse') {
        replica.snapshots?.receive(message)
        continue
      }
      replica.core.step(message)
      this.wake(replica)
    }
    for (const notice of batch.quiesce) {
      const replica = this.replicas.get(notice.group)
      if (replica !== undefined) quiesceFollower(replica, batch.from, notice)
    }
  }

  /**
   * One tick of the clock: every group that is not quiet ticks; a leader idle long enough
   * quiesces its group; this host beats to each peer every heartbeat; a peer silent for an
   * election timeout wakes every quiet group.
   */
  tick(): void {
    if (this.stopped) return
    this.ticks++
    const silent = new Set([...this.lastHeard].filter(([, heard]) => this.ticks - heard > this.electionTicks[1]).map(([host]) => host))
    for (const replica of this.replicas.values()) {
      // A quiet follower whose leader's host fell silent wakes: its election timer runs again.
      if (replica.quiesced && silent.has(replica.core.leaderId)) replica.quiesced = false
      if (replica.quiesced) continue
      replica.core.tick()
      replica.snapshots?.tick()
      this.counters.groupTicks++
      const quiet = quiesceIfIdle(this.nodeId, replica, this.quiesceAfterTicks)
      if (quiet !== undefined) for (const follower of quiet.followers) this.outbox.batchFor(follower).quiesce.push(quiet.notice)
      if (replica.core.hasReady()) this.wake(replica)
    }
    if (this.ticks % this.heartbeatTicks === 0) for (const host of this.lastHeard.keys()) this.outbox.batchFor(host)
    if (this.purgeDue && this.ticks % this.purgeEveryTicks === 0) this.purge()
    this.schedule()
  }

  /**
   * Frees the engine files no group needs any more (LogEngine.purge; synchronous: it flushes
   * first). A group the engine asks to compact (too large to rewrite forward) is snapshotted
   * now, below its threshold. Called every purgeEveryTicks ticks after some log was compacted.
   */
  purge(): void {
    if (this.stopped) return
    this.purgeDue = false
    try {
      purgeEngine(this.options.engine, this.replicas, this.counters)
    } catch (error) {
      this.fail(error)
    }
  }

  /** Stops the host: no more ticks, turns or messages (its engine is the caller's to close). */
  stop(): void {
    this.stopped = true
    clearTimeout(this.held)
    for (const replica of this.replicas.values()) {
      replica.failWaiting('the host stopped')
      replica.membership.rejectAll(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} stopped`))
      replica.snapshots?.close()
    }
    this.reads.rejectAll(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} stopped`))
  }

  private replica(group: number): GroupReplica {
    const replica = this.replicas.get(group)
    if (replica === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} has no replica on host ${this.nodeId}`)
    return replica
  }

  /** A quiet group has work: it ticks again. */
  private awaken(replica: GroupReplica): void {
    replica.quiesced = false
    replica.idleTicks = 0
  }

  private wake(replica: GroupReplica): void {
    this.dirty.add(replica)
    this.schedule()
  }

  private schedule(): void {
    if (this.turning) {
      this.again = true
      return
    }
    // A turn held back by the commit delay runs when its timer fires, with all that came meanwhile.
    if (this.held !== undefined) return
    if (this.dirty.size === 0 && this.outbox.size === 0) return
    this.turning = true
    // After this I/O's callbacks: the proposals and messages that arrive together go in one turn.
    setImmediate(() => this.turn())
  }

  /**
   * One turn for every group with work: take their Readies, stage their hard states and entries,
   * send the leaders' replication, and start one engine flush for all of them. What must wait for
   * the flush (the other messages, applying, advance) runs when it is done, turns in order; the
   * next turn does not wait for it (flushes pipeline, as RaftNode's do).
   */
  private turn(): void {
    try {
      do {
        this.again = false
        if (this.stopped) return
        // A flush in flight: what comes meanwhile waits for it and goes in the next turn, together (group commit).
        if (this.finishing >= maxFlushesInFlight) return
        const delay = this.commitDelayLeft()
        if (delay > 0) {
          this.counters.delayedTurns++
          this.held = setTimeout(() => {
            this.held = undefined
            this.schedule()
          }, delay)
          return
        }
        const readies: [GroupReplica, Ready][] = []
        for (const replica of this.dirty) if (replica.core.hasReady()) readies.push([replica, replica.core.ready()])
        this.dirty.clear()
        if (readies.length === 0) continue
        this.counters.turns++
        let mustFlush = false
        for (const [replica, ready] of readies) {
          if (ready.hardState !== undefined) {
            this.options.engine.setHardState(replica.group, { term: ready.hardState.currentTerm, vote: ready.hardState.votedFor, commit: ready.hardState.commitIndex })
            mustFlush = true
          }
          if (ready.mustFlush) mustFlush = true
          if (ready.role !== 'leader') replica.failWaiting('this host no longer leads the group')
          if (replica.carryOutLogChanges(ready, (error) => this.failGroup(replica, error))) {
            this.counters.compactions++
            this.purgeDue = true
          }
          // The leader's replication goes out before its own flush (Raft dissertation §10.2.1),
          // and what is committed and already durable here applies before it (Ready.durableCommitIndex).
          this.queue(replica.group, ready.messages, true)
          this.applyDurable(replica, ready.durableCommitIndex)
        }
        this.outbox.sendAll()
        let flushed: Promise<void> | undefined
        if (mustFlush) {
          this.counters.flushes++
          this.lastFlushStart = performance.now()
          flushed = this.options.engine.flush()
        }
        this.finishing++
        this.finished = this.finished
          .then(() => flushed)
          .then(() => this.finish(readies))
          .catch((error: unknown) => this.fail(error))
          .finally(() => {
            this.finishing--
            this.schedule()
          })
      } while (this.again || this.dirty.size > 0)
      if (this.outbox.size > 0) this.outbox.sendAll()
    } finally {
      this.turning = false
    }
  }

  /**
   * How long the next turn waits (ms) for the commit delay: the rest of commitDelayMs since the
   * last flush started, when more than one group has work; otherwise 0. A flush that took longer
   * than the delay gathered enough meanwhile: the turn after it does not wait.
   */
  private commitDelayLeft(): number {
    if (this.commitDelayMs === 0) return 0
    const left = this.lastFlushStart + this.commitDelayMs - performance.now()
    if (left <= 0) return 0
    let groups = 0
    for (const replica of this.dirty) if (replica.core.hasReady() && ++groups > 1) return left
    return 0
  }

  /** Applies a replica's committed entries it holds durably; a failure (its log unreadable) drops that group here. */
  private applyDurable(replica: GroupReplica, index: number): void {
    try {
      void replica.applyTo(index)
    } catch (error) {
      this.failGroup(replica, error)
    }
  }

  /** After a turn's flush: the answers and votes go out, committed entries apply, the cores advance. */
  private finish(readies: readonly [GroupReplica, Ready][]): void {
    if (this.stopped) return
    for (const [replica, ready] of readies) {
      // Dropped from this host since the turn: its log may be gone from the engine.
      if (replica.closed) continue
      this.queue(replica.group, ready.messages, false)
      void replica.applyTo(ready.commitIndex)
      this.reads.settle(replica.group, ready)
      replica.core.advance(ready)
      if (replica.membershipAsked) replica.membership.update(membershipView(this.nodeId, replica))
      if (replica.core.hasReady()) this.dirty.add(replica)
      if (removedHere(this.nodeId, replica)) void this.removeReplica(replica.group).catch((error: unknown) => this.fail(error))
    }
    this.outbox.sendAll()
  }

  /**
   * A replica whose state machine cannot be restored from its snapshot (a corrupt file, a
   * restore() that throws) has nothing to apply from: it is dropped from this host, its files
   * kept for repair, and the group goes on with its other replicas. The other groups go on.
   */
  private failGroup(replica: GroupReplica, error: unknown): void {
    if (this.stopped || this.replicas.get(replica.group) !== replica) return
    const failure = error instanceof RaftLogError ? error : new RaftLogError('ERR_IO', `Group ${replica.group} on host ${this.nodeId}: ${(error as Error).message}`)
    this.failedGroups.set(replica.group, failure)
    this.context.logger.warn(`raftlog host ${this.nodeId}: group ${replica.group} stops here: ${failure.message}`)
    this.dropGroup(replica.group)
  }

  /** The engine failed (a disk error): nothing here can be made durable any more, so the host stops. */
  private fail(error: unknown): void {
    if (this.stopped) return
    this.failure = error instanceof RaftLogError ? error : new RaftLogError('ERR_IO', `Host ${this.nodeId}: ${(error as Error).message}`)
    this.stop()
  }

  private queue(group: number, messages: readonly RaftMessage[], early: boolean): void {
    for (const message of messages) {
      // A leader's replication, and its request to send a snapshot, need no flush of its own.
      if ((message.type === 'AppendEntries' || message.type === 'InstallSnapshot') !== early) continue
      if (message.type === 'InstallSnapshot') {
        // The core names the snapshot; the file goes in chunks (never as this message).
        const snapshots = this.replicas.get(group)?.snapshots
        if (snapshots !== undefined) snapshots.send(message)
        else this.replicas.get(group)?.core.reportSnapshot(message.to, false)
        continue
      }
      this.outbox.push(group, message)
    }
  }
}
