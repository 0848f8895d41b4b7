// Many Raft groups in one process over one shared log engine (etcd's RawNode per group, run the
// way dragonboat's NodeHost runs them). One driver turn gathers every group's Ready, stages all
// their entries and hard states in the engine and makes them durable with one flush, sends each
// peer host one batch of every group's messages, then applies what each group committed.
//
// Idle groups go quiet (CockroachDB's quiescence, dragonboat's quiesce): a leader whose followers
// all hold its whole log, committed and applied, with nothing waiting, stops ticking its group and
// tells the followers, which stop too; the group then costs no ticks and sends no heartbeats.
// Instead each host beats once per heartbeat to each peer host: while a host hears its peers, the
// quiet groups they lead stay quiet; when a peer falls silent for an election timeout, the quiet
// groups it led wake and elect a new leader. A proposal or any message but a heartbeat wakes a
// group too. A group with a follower behind (one host down, say) does not go quiet.
import { RaftLogError } from '../errors.js'
import { RaftCore, type Ready } from '../raft/core/raft-core.js'
import type { RaftMessage } from '../raft/core/messages.js'
import { seededRandom } from '../raft/core/seeded-random.js'
import type { StateMachine } from '../raft/state-machine.js'
import type { LogEngine } from '../engine/log-engine.js'
import { GroupReplica } from './group-replica.js'
import type { GroupMessage, HostBatch, HostTransport, QuiesceNotice } from './host-batch.js'

/** How long a read waits for its read index before ERR_TIMEOUT (ms). */
export const readTimeoutMs = 5000

/** Turns whose flush is in flight at most: the next waits, gathering what arrives meanwhile into one flush. */
export const maxFlushesInFlight = 1

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
}

/** Counters for tests and metrics. */
export interface HostCounters {
  turns: number
  /** Engine flushes asked for: at most one per turn, whatever the number of groups written. */
  flushes: number
  /** Batches sent to peer hosts (each carries any number of groups' messages). */
  batchesSent: number
  /** Group ticks done (a quiet group is not ticked). */
  groupTicks: number
}

export class RaftHost {
  readonly nodeId: number
  readonly counters: HostCounters = { turns: 0, flushes: 0, batchesSent: 0, groupTicks: 0 }
  private readonly replicas = new Map<number, GroupReplica>()
  /** Replicas that may have a Ready: the next turn looks at these only. */
  private readonly dirty = new Set<GroupReplica>()
  /** The tick count at which each peer host was last heard from. */
  private readonly lastHeard = new Map<number, number>()
  private readonly outbox = new Map<number, HostBatch>()
  /** ReadIndex reads asked and not yet confirmed, by request id. */
  private readonly reads = new Map<number, { replica: GroupReplica; resolve(index: number): void; reject(error: RaftLogError): void }>()
  private nextReadId = 1
  private ticks = 0
  private turning = false
  /** Turns whose flush and finish are still to come, chained in order. */
  private finishing = 0
  private finished: Promise<void> = Promise.resolve()
  /** Why the host stopped by itself (an engine failure), if it did. */
  failure: RaftLogError | undefined
  private again = false
  private stopped = false
  private readonly electionTicks: readonly [number, number]
  private readonly heartbeatTicks: number
  private readonly quiesceAfterTicks: number
  private readonly random: () => number

  constructor(private readonly options: RaftHostOptions) {
    this.nodeId = options.nodeId
    this.electionTicks = options.electionTicks ?? [10, 20]
    this.heartbeatTicks = options.heartbeatTicks ?? 1
    this.quiesceAfterTicks = options.quiesceAfterTicks ?? 2 * this.electionTicks[1]
    this.random = seededRandom(options.seed ?? options.nodeId)
    for (const host of options.hosts) if (host !== this.nodeId) this.lastHeard.set(host, 0)
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
   * Starts this host's replica of group `group`, whose voters are `peers` (host ids, this one
   * among them), applying to `stateMachine`. A group the engine holds already resumes from its
   * log and hard state (the state machine is fed again from the first entry: it must be empty).
   */
  addGroup(group: number, peers: readonly number[], stateMachine: StateMachine): void {
    if (this.replicas.has(group)) throw new RaftLogError('ERR_GROUP_EXISTS', `Group ${group} has a replica on host ${this.nodeId} already`)
    if (!peers.includes(this.nodeId)) throw new RaftLogError('ERR_BAD_ARGUMENT', `Group ${group}'s peers ${peers.join(', ')} do not include this host (${this.nodeId})`)
    const engine = this.options.engine
    if (!engine.hasGroup(group)) engine.createGroup(group)
    const log = engine.group(group)
    const saved = engine.hardState(group)
    const core = new RaftCore({
      id: this.nodeId,
      peers,
      log,
      hardState: { currentTerm: saved.term, votedFor: saved.vote, commitIndex: saved.commit },
      electionTicks: this.electionTicks,
      heartbeatTicks: this.heartbeatTicks,
      random: this.random,
      appliedIndex: 0,
    })
    const replica = new GroupReplica(group, core, log, stateMachine, 0)
    this.replicas.set(group, replica)
    this.wake(replica)
  }

  /** Stops and forgets this host's replica of `group` (its log stays in the engine until removeGroup on the engine). */
  dropGroup(group: number): void {
    const replica = this.replicas.get(group)
    if (replica === undefined) return
    replica.failWaiting('the group was dropped from this host')
    this.replicas.delete(group)
    this.dirty.delete(replica)
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
    replica.quiesced = false
    replica.idleTicks = 0
    const index = replica.core.role === 'leader' ? replica.core.propose(data) : undefined
    if (index === undefined) return Promise.reject(Object.assign(new RaftLogError('ERR_NOT_LEADER', `Host ${this.nodeId} does not lead group ${group} (leader: ${replica.core.leaderId || 'unknown'})`), { leaderId: replica.core.leaderId }))
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
    const requestId = this.nextReadId++
    // The leader confirms its leadership with a round of heartbeats: a quiet group wakes for it.
    replica.quiesced = false
    replica.idleTicks = 0
    if (!replica.core.readIndex(requestId)) return Promise.reject(new RaftLogError('ERR_NOT_LEADER', `Host ${this.nodeId} knows no leader of group ${group}`))
    const confirmed = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.reads.delete(requestId)) reject(new RaftLogError('ERR_TIMEOUT', `Group ${group}: no read index within ${readTimeoutMs} ms`))
      }, readTimeoutMs)
      const settle = (then: () => void): void => {
        clearTimeout(timer)
        then()
      }
      this.reads.set(requestId, { replica, resolve: (index) => settle(() => resolve(index)), reject: (error) => settle(() => reject(error)) })
    })
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
      if (wakes(message)) {
        replica.quiesced = false
        replica.idleTicks = 0
      }
      replica.core.step(message)
      this.wake(replica)
    }
    for (const notice of batch.quiesce) this.quiesceFollower(batch.from, notice)
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
      this.counters.groupTicks++
      this.maybeQuiesce(replica)
      if (replica.core.hasReady()) this.wake(replica)
    }
    if (this.ticks % this.heartbeatTicks === 0) for (const host of this.lastHeard.keys()) this.batchFor(host)
    this.schedule()
  }

  /** Stops the host: no more ticks, turns or messages (its engine is the caller's to close). */
  stop(): void {
    this.stopped = true
    for (const replica of this.replicas.values()) replica.failWaiting('the host stopped')
    for (const read of this.reads.values()) read.reject(new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} stopped`))
    this.reads.clear()
  }

  private replica(group: number): GroupReplica {
    const replica = this.replicas.get(group)
    if (replica === undefined) throw new RaftLogError('ERR_NO_GROUP', `Group ${group} has no replica on host ${this.nodeId}`)
    return replica
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
          // The leader's replication goes out before its own flush (Raft dissertation §10.2.1).
          this.queue(replica.group, ready.messages, true)
        }
        this.sendAll()
        let flushed: Promise<void> | undefined
        if (mustFlush) {
          this.counters.flushes++
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
      if (this.outbox.size > 0) this.sendAll()
    } finally {
      this.turning = false
    }
  }

  /** After a turn's flush: the answers and votes go out, committed entries apply, the cores advance. */
  private finish(readies: readonly [GroupReplica, Ready][]): void {
    if (this.stopped) return
    for (const [replica, ready] of readies) {
      this.queue(replica.group, ready.messages, false)
      void replica.applyTo(ready.commitIndex)
      for (const { requestId, index } of ready.readStates) {
        const read = this.reads.get(requestId)
        this.reads.delete(requestId)
        read?.resolve(index)
      }
      for (const requestId of ready.droppedReads) {
        const read = this.reads.get(requestId)
        this.reads.delete(requestId)
        read?.reject(new RaftLogError('ERR_NOT_LEADER', `Group ${replica.group}: leadership moved while a read was confirmed; ask again`))
      }
      replica.core.advance(ready)
      if (replica.core.hasReady()) this.dirty.add(replica)
    }
    this.sendAll()
  }

  /** The engine failed (a disk error): nothing here can be made durable any more, so the host stops. */
  private fail(error: unknown): void {
    if (this.stopped) return
    this.failure = error instanceof RaftLogError ? error : new RaftLogError('ERR_IO', `Host ${this.nodeId}: ${(error as Error).message}`)
    this.stop()
  }

  private queue(group: number, messages: readonly RaftMessage[], early: boolean): void {
    for (const message of messages) {
      if ((message.type === 'AppendEntries') !== early) continue
      this.batchFor(message.to).messages.push({ group, message } satisfies GroupMessage)
    }
  }

  private batchFor(host: number): HostBatch {
    let batch = this.outbox.get(host)
    if (batch === undefined) {
      batch = { from: this.nodeId, messages: [], quiesce: [] }
      this.outbox.set(host, batch)
    }
    return batch
  }

  private sendAll(): void {
    for (const [host, batch] of this.outbox) {
      this.counters.batchesSent++
      this.options.transport.send(host, batch)
    }
    this.outbox.clear()
  }

  /** A leader with nothing to do for long enough tells its followers, and stops ticking its group. */
  private maybeQuiesce(replica: GroupReplica): void {
    const core = replica.core
    if (core.role !== 'leader') return
    const last = replica.log.lastIndex
    const followers = core.followers().filter((follower) => follower.id !== this.nodeId)
    const idle = replica.proposalsWaiting === 0 && core.committed === last && replica.applied === last && followers.every((follower) => follower.match === last)
    replica.idleTicks = idle ? replica.idleTicks + 1 : 0
    if (replica.idleTicks < this.quiesceAfterTicks) return
    replica.quiesced = true
    const notice: QuiesceNotice = { group: replica.group, term: core.currentTerm, lastIndex: last }
    for (const follower of followers) this.batchFor(follower.id).quiesce.push(notice)
  }

  private quiesceFollower(from: number, notice: QuiesceNotice): void {
    const replica = this.replicas.get(notice.group)
    if (replica === undefined) return
    const core = replica.core
    if (core.role === 'follower' && core.leaderId === from && core.currentTerm === notice.term && replica.log.lastIndex === notice.lastIndex && core.committed === notice.lastIndex) replica.quiesced = true
  }

  /**
   * Hands `group`'s leadership to host `to` (Raft dissertation §3.10: brought up to date, then
   * told to stand at once), for the leader balancer. Returns the target; the new leader is known
   * once it is elected (leaderOf). ERR_NO_GROUP, ERR_NOT_LEADER (this host does not lead the
   * group), ERR_BAD_ARGUMENT (`to` is not another voter of it).
   */
  transferLeader(group: number, to: number): number {
    if (this.stopped) throw new RaftLogError('ERR_STOPPED', `Host ${this.nodeId} is stopped`)
    const replica = this.replica(group)
    // A quiet group does not tick: the transfer's timeout and its appends need it awake.
    replica.quiesced = false
    replica.idleTicks = 0
    const target = replica.core.transferLeadership(to)
    this.wake(replica)
    return target
  }
}

/** Whether `message` is news that wakes a quiet group: not a heartbeat, nor an answer to one (a leader's idleness counts what its followers hold anyway). */
function wakes(message: RaftMessage): boolean {
  if (message.type === 'AppendEntries') return message.entries.length > 0
  return message.type !== 'AppendEntriesResponse'
}
