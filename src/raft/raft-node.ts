// RaftNode: the driver around RaftCore. It owns the timers, the disk (RaftLog and
// raft_state.meta) and the transport, and does what each Ready asks in order: save term and
// vote, flush the log, send, apply committed entries, advance.
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { RaftLog } from '../storage/raft-log.js'
import { RaftStateFile, stateFileName, type ServerState } from '../storage/raft-state-file.js'
import { RaftLogError } from '../storage/errors.js'
import { EntryType, type LogEntry } from '../storage/log-entry.js'
import { RaftCore, type Ready, type Role } from './raft-core.js'
import type { StateMachine } from './state-machine.js'
import type { Transport } from './transport.js'
import { seededRandom } from './seeded-random.js'
import { checkNodeOptions } from './node-options.js'

export interface RaftNodeOptions {
  /** This node's id, from 1. */
  id: number
  /** Every node of the cluster, this one included. */
  peers: number[]
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
  /** Segment size of the log in bytes. */
  segmentSize?: number
  maxEntriesPerAppend?: number
  maxBytesPerAppend?: number
  /** Seed of the election timer's randomness (default: random). */
  seed?: number
  logger?: { warn(message: string): void }
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
}

interface PendingProposal {
  term: number
  resolve: (result: unknown) => void
  reject: (error: Error) => void
}

const serverStates: Record<Role, ServerState> = { follower: 0, candidate: 1, leader: 2 }

export class RaftNode extends EventEmitter {
  readonly id: number
  private readonly core: RaftCore
  private readonly log: RaftLog
  private readonly stateFile: RaftStateFile
  private readonly transport: Transport
  private readonly stateMachine: StateMachine
  private readonly logger: { warn(message: string): void }
  private readonly timer: NodeJS.Timeout
  /**
   * Proposals waiting for their entry, by log index. More than one can wait at an index: a leader
   * whose log was cut can reuse an index in a later term, while the older entry there may still
   * be committed by another leader. The one whose term the applied entry has wins.
   */
  private readonly pending = new Map<number, PendingProposal[]>()
  private lastApplied: number
  private role: Role = 'follower'
  private leaderId = 0
  private processing: Promise<void> | undefined
  private stopped = false
  private failure: Error | undefined

  private constructor(options: RaftNodeOptions, log: RaftLog, stateFile: RaftStateFile, tickMs: number, electionTicks: [number, number], heartbeatTicks: number) {
    super()
    this.id = options.id
    this.log = log
    this.stateFile = stateFile
    this.transport = options.transport
    this.stateMachine = options.stateMachine
    this.logger = options.logger ?? { warn: (message) => console.warn(message) }
    const saved = stateFile.load()
    this.lastApplied = Math.min(options.appliedIndex ?? 0, log.lastIndex)
    this.core = new RaftCore({
      id: options.id,
      peers: options.peers,
      log,
      hardState: { currentTerm: saved.currentTerm, votedFor: saved.votedFor, commitIndex: saved.commitIndex },
      electionTicks,
      heartbeatTicks,
      random: seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32)),
      appliedIndex: this.lastApplied,
      ...(options.maxEntriesPerAppend === undefined ? {} : { maxEntriesPerAppend: options.maxEntriesPerAppend }),
      ...(options.maxBytesPerAppend === undefined ? {} : { maxBytesPerAppend: options.maxBytesPerAppend }),
      onWarning: (message) => this.logger.warn(message),
    })
    this.transport.onMessage((message) => {
      // After a storage failure the node takes no further part: an answer now could acknowledge
      // entries that never reached the disk.
      if (this.stopped || this.failure !== undefined) return
      this.core.step(message)
      this.schedule()
    })
    this.timer = setInterval(() => {
      this.core.tick()
      this.schedule()
    }, tickMs)
    this.schedule()
  }

  /** Opens (or recovers) the node's log and state in `dir` and starts taking part in the cluster. */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const { tickMs, electionTicks, heartbeatTicks } = checkNodeOptions(options)
    const log = RaftLog.open(options.dir, { ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }), ...(options.logger === undefined ? {} : { logger: options.logger }) })
    let stateFile: RaftStateFile
    try {
      stateFile = RaftStateFile.open(join(options.dir, stateFileName))
    } catch (error) {
      log.close()
      throw error
    }
    return new RaftNode(options, log, stateFile, tickMs, electionTicks, heartbeatTicks)
  }

  /**
   * Proposes `data`; resolves with the state machine's apply() result once the entry is
   * committed and applied here. Rejects with ERR_NOT_LEADER (and leaderId, when known) on a node
   * that is not the leader, and with ERR_PROPOSAL_DROPPED if a new leader overwrote the entry.
   */
  propose(data: Uint8Array): Promise<unknown> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(new RaftLogError('ERR_BAD_ARGUMENT', `RaftNode.propose: data must be a Uint8Array, got ${data === null ? 'null' : typeof data}`, { argument: 'data' }))
    }
    if (this.stopped) return Promise.reject(new RaftLogError('ERR_STOPPED', `RaftNode.propose: node ${this.id} is stopped`))
    if (this.failure !== undefined) return Promise.reject(this.failure)
    const index = this.core.propose(data)
    if (index === undefined) {
      const leaderId = this.core.leaderId
      const error = new RaftLogError('ERR_NOT_LEADER', `Node ${this.id} is not the leader${leaderId === 0 ? ' and knows of none' : `; node ${leaderId} is`}`, { leaderId })
      return Promise.reject(Object.assign(error, { leaderId: leaderId === 0 ? undefined : leaderId }))
    }
    const term = this.core.currentTerm
    const result = new Promise<unknown>((resolve, reject) => {
      const waiting = this.pending.get(index)
      if (waiting === undefined) this.pending.set(index, [{ term, resolve, reject }])
      else waiting.push({ term, resolve, reject })
    })
    this.schedule()
    return result
  }

  status(): RaftStatus {
    return {
      id: this.id,
      role: this.core.role,
      term: this.core.currentTerm,
      leaderId: this.core.leaderId,
      commitIndex: this.core.committed,
      lastApplied: this.lastApplied,
      firstIndex: this.stopped ? 0 : this.log.firstIndex,
      lastIndex: this.stopped ? 0 : this.log.lastIndex,
    }
  }

  /** Stops timers and transport, saves progress, closes the log and state file. start() again recovers. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    await this.processing
    await this.transport.close()
    try {
      if (this.failure === undefined) this.saveState()
    } finally {
      this.log.close()
      this.stateFile.close()
      const stopped = new RaftLogError('ERR_STOPPED', `Node ${this.id} stopped before the entry was applied`)
      this.rejectPending(stopped)
    }
  }

  private schedule(): void {
    if (this.processing !== undefined || this.stopped || this.failure !== undefined || !this.core.hasReady()) return
    this.processing = this.process().finally(() => {
      this.processing = undefined
      this.schedule()
    })
  }

  private async process(): Promise<void> {
    try {
      while (!this.stopped && this.core.hasReady()) {
        const ready = this.core.ready()
        await this.handle(ready)
      }
    } catch (error) {
      this.fail(error as Error)
    }
  }

  private async handle(ready: Ready): Promise<void> {
    if (ready.hardState !== undefined) this.saveState(ready)
    // One flush serves every entry appended before it, however many proposals they came from.
    if (ready.mustFlush) await this.log.flush()
    if (this.stopped) return
    const term = this.core.currentTerm
    for (const message of ready.messages) {
      // A message of a term this node has left since is stale: dropping it is always safe.
      if (message.term >= term || message.type === 'RequestVoteResponse') this.transport.send(message)
    }
    await this.apply(ready.committedEntries)
    this.announce(ready)
    this.core.advance(ready)
  }

  private async apply(entries: LogEntry[]): Promise<void> {
    for (const entry of entries) {
      let result: unknown
      let failed: Error | undefined
      if (entry.type === EntryType.Normal) {
        try {
          result = await this.stateMachine.apply(entry)
        } catch (error) {
          failed = error as Error
        }
      }
      this.lastApplied = entry.index
      const waiting = this.pending.get(entry.index)
      if (waiting === undefined) continue
      this.pending.delete(entry.index)
      for (const proposal of waiting) {
        if (proposal.term !== entry.term) proposal.reject(new RaftLogError('ERR_PROPOSAL_DROPPED', `The entry proposed at index ${entry.index} was replaced by a new leader`))
        else if (failed !== undefined) proposal.reject(failed)
        else proposal.resolve(result)
      }
    }
  }

  private announce(ready: Ready): void {
    if (ready.role !== this.role) {
      this.role = ready.role
      this.emit('role', { role: ready.role, term: ready.term })
    }
    if (ready.leaderId !== this.leaderId) {
      this.leaderId = ready.leaderId
      this.emit('leader', { leaderId: ready.leaderId, term: ready.term })
    }
  }

  private saveState(ready?: Ready): void {
    const hard = ready?.hardState
    this.stateFile.save({
      currentTerm: hard?.currentTerm ?? this.core.currentTerm,
      votedFor: hard?.votedFor ?? this.core.vote,
      commitIndex: hard?.commitIndex ?? this.core.committed,
      lastApplied: this.lastApplied,
      serverState: serverStates[ready?.role ?? this.core.role],
    })
  }

  /** A storage failure stops the node from doing anything more: it must be restarted. */
  private fail(error: Error): void {
    if (this.failure !== undefined) return
    this.failure = error
    this.logger.warn(`node ${this.id}: stopping after a storage failure: ${error.message}`)
    clearInterval(this.timer)
    this.rejectPending(error)
    this.emit('failed', error)
  }

  private rejectPending(error: Error): void {
    for (const waiting of this.pending.values()) for (const proposal of waiting) proposal.reject(error)
    this.pending.clear()
  }
}
