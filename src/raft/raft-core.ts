// RaftCore: the consensus rules as a pure, deterministic state machine (etcd's raft is the
// model). It reads and changes the log through RaftLogStore but does no I/O of its own: no
// timers (tick() is time), no randomness but the injected source, no sockets (messages go out in
// a Ready), no waiting on disks (Ready.mustFlush says what must be durable before sending).
import { EntryType, type LogEntry } from '../storage/log-entry.js'
import type { RaftLogStore } from './log-store.js'
import type { AppendEntries, AppendEntriesResponse, RaftMessage, RequestVote, RequestVoteResponse } from './messages.js'

export type Role = 'follower' | 'candidate' | 'leader'

export interface HardState {
  currentTerm: number
  votedFor: number
  commitIndex: number
}

export interface RaftCoreOptions {
  id: number
  /** Every voter, this node included. */
  peers: readonly number[]
  log: RaftLogStore
  hardState: HardState
  /** Election timeout range in ticks; each election picks a random value inside it. */
  electionTicks: readonly [number, number]
  heartbeatTicks: number
  /** A seeded source of numbers in [0, 1). */
  random: () => number
  /** Entries already applied by the state machine; committed entries above it are handed out. */
  appliedIndex?: number
  maxEntriesPerAppend?: number
  maxBytesPerAppend?: number
  /** AppendEntries in flight to one follower before the leader waits for answers. */
  maxInflightAppends?: number
  /** Bytes of committed entries handed out in one Ready. */
  maxBytesPerApply?: number
  onWarning?: (message: string) => void
}

/** What the driver must do, in this order: persist, flush, send, apply; then call advance(). */
export interface Ready {
  /** Save before sending anything: term or vote changed. */
  hardState: HardState | undefined
  /** The log changed since the last Ready: flush it before sending the messages. */
  mustFlush: boolean
  messages: RaftMessage[]
  /** Committed entries to apply, in order. */
  committedEntries: LogEntry[]
  role: Role
  leaderId: number
  term: number
  /** log.lastIndex when this Ready was made: what the flush covers. */
  lastIndex: number
}

interface Progress {
  /** Highest index known to be durable on the follower. */
  match: number
  /** Next index to send. */
  next: number
  /** probe: one message at a time until a match is found; replicate: pipeline. */
  state: 'probe' | 'replicate'
  probeSent: boolean
  inflight: number
  /** Heard from since the last check-quorum. */
  recentActive: boolean
}

export const defaultMaxEntriesPerAppend = 512
export const defaultMaxBytesPerAppend = 1024 * 1024
export const defaultMaxInflightAppends = 64
export const defaultMaxBytesPerApply = 4 * 1024 * 1024

export class RaftCore {
  readonly id: number
  readonly peers: readonly number[]
  private readonly log: RaftLogStore
  private readonly random: () => number
  private readonly electionTicks: readonly [number, number]
  private readonly heartbeatTicks: number
  private readonly maxEntriesPerAppend: number
  private readonly maxBytesPerAppend: number
  private readonly maxInflightAppends: number
  private readonly maxBytesPerApply: number
  private readonly warn: (message: string) => void

  private term: number
  private votedFor: number
  private roleValue: Role = 'follower'
  private leader = 0
  private commitIndex: number
  /** Committed entries up to here were handed out in a Ready. */
  private appliedIndex: number
  /** The leader's own log is durable up to here (followers answer only after their flush). */
  private durableIndex: number
  private preCandidate = false
  private votes = new Map<number, boolean>()
  private progress = new Map<number, Progress>()
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0

  private outbox: RaftMessage[] = []
  private hardStateChanged = false
  private broadcastPending = false
  private logChanged = false
  private softStateChanged = false

  constructor(options: RaftCoreOptions) {
    this.id = options.id
    this.peers = [...options.peers]
    this.log = options.log
    this.random = options.random
    this.electionTicks = options.electionTicks
    this.heartbeatTicks = options.heartbeatTicks
    this.maxEntriesPerAppend = options.maxEntriesPerAppend ?? defaultMaxEntriesPerAppend
    this.maxBytesPerAppend = options.maxBytesPerAppend ?? defaultMaxBytesPerAppend
    this.maxInflightAppends = options.maxInflightAppends ?? defaultMaxInflightAppends
    this.maxBytesPerApply = options.maxBytesPerApply ?? defaultMaxBytesPerApply
    this.warn = options.onWarning ?? (() => {})
    this.term = options.hardState.currentTerm
    this.votedFor = options.hardState.votedFor
    // A restarted node knows only what it persisted; entries it logged may be committed already,
    // but it relearns that from the leader. Anything the state machine holds is committed.
    this.appliedIndex = Math.min(options.appliedIndex ?? 0, this.log.lastIndex)
    this.commitIndex = Math.max(Math.min(options.hardState.commitIndex, this.log.lastIndex), this.appliedIndex)
    this.durableIndex = this.log.lastIndex
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

  private get quorum(): number {
    return Math.floor(this.peers.length / 2) + 1
  }

  /** One unit of time: elections and heartbeats are counted in ticks. */
  tick(): void {
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
      return
    }
    this.electionElapsed++
    if (this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.campaign(true)
    }
  }

  /** Proposes a new entry; returns its index, or undefined when this node is not the leader. */
  propose(data: Uint8Array, type: EntryType = EntryType.Normal): number | undefined {
    if (this.roleValue !== 'leader') return undefined
    const index = this.log.append([{ term: this.term, type, data }])
    this.logChanged = true
    // Sent at the next ready(): every proposal made until then travels in the same message.
    this.broadcastPending = true
    return index
  }

  /** Handles one message from a peer. */
  step(message: RaftMessage): void {
    if (!this.peers.includes(message.from) || message.from === this.id || message.to !== this.id) {
      this.warn(`node ${this.id}: ignored ${message.type} from unknown node ${message.from} (to ${message.to})`)
      return
    }
    if (message.term > this.term) {
      if (message.type === 'RequestVote' && this.inLease()) {
        // A node that hears from a live leader ignores would-be candidates: a partitioned node
        // rejoining with a high term cannot depose a healthy leader.
        return
      }
      const preVoteTraffic = (message.type === 'RequestVote' && message.preVote) || (message.type === 'RequestVoteResponse' && message.preVote && message.voteGranted)
      if (!preVoteTraffic) this.becomeFollower(message.term, message.type === 'AppendEntries' ? message.from : 0)
    } else if (message.term < this.term) {
      if (message.type === 'AppendEntries' || (message.type === 'RequestVote' && message.preVote)) {
        // Tell a stale leader or pre-candidate about the newer term.
        if (message.type === 'AppendEntries') this.send(this.appendResponse(message.from, false, 0, 0, 0))
        else this.send({ type: 'RequestVoteResponse', from: this.id, to: message.from, term: this.term, preVote: true, voteGranted: false })
      }
      return
    }
    switch (message.type) {
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

  hasReady(): boolean {
    return this.hardStateChanged || this.logChanged || this.softStateChanged || this.broadcastPending || this.outbox.length > 0 || this.commitIndex > this.appliedIndex
  }

  /** Takes what the driver must do now. */
  ready(): Ready {
    if (this.broadcastPending && this.roleValue === 'leader') {
      for (const peer of this.peers) if (peer !== this.id) this.sendAppend(peer)
    }
    this.broadcastPending = false
    const committedEntries =
      this.commitIndex > this.appliedIndex ? this.log.slice(this.appliedIndex + 1, this.commitIndex + 1, { maxBytes: this.maxBytesPerApply }) : []
    const last = committedEntries[committedEntries.length - 1]
    if (last !== undefined) this.appliedIndex = last.index
    const ready: Ready = {
      hardState: this.hardStateChanged ? { currentTerm: this.term, votedFor: this.votedFor, commitIndex: this.commitIndex } : undefined,
      mustFlush: this.logChanged,
      messages: this.outbox,
      committedEntries,
      role: this.roleValue,
      leaderId: this.leader,
      term: this.term,
      lastIndex: this.log.lastIndex,
    }
    this.outbox = []
    this.hardStateChanged = false
    this.logChanged = false
    this.softStateChanged = false
    return ready
  }

  /** The driver did what `ready` asked: its log is durable up to ready.lastIndex. */
  advance(ready: Ready): void {
    if (ready.mustFlush) this.durableIndex = Math.min(Math.max(this.durableIndex, ready.lastIndex), this.log.lastIndex)
    if (this.roleValue === 'leader') this.maybeCommit()
  }

  // --- elections -------------------------------------------------------------------------

  private campaign(preVote: boolean): void {
    if (this.peers.length === 1) {
      this.becomeCandidate()
      this.becomeLeader()
      return
    }
    if (preVote) {
      // Pre-vote: ask whether we could win before disturbing anyone with a new term.
      this.preCandidate = true
      this.setRole('candidate')
      this.leader = 0
    } else {
      this.becomeCandidate()
    }
    this.votes = new Map([[this.id, true]])
    const term = preVote ? this.term + 1 : this.term
    for (const peer of this.peers) {
      if (peer === this.id) continue
      this.send({ type: 'RequestVote', from: this.id, to: peer, term, preVote, lastLogIndex: this.log.lastIndex, lastLogTerm: this.log.lastTerm })
    }
  }

  private becomeCandidate(): void {
    this.preCandidate = false
    this.term++
    this.votedFor = this.id
    this.hardStateChanged = true
    this.leader = 0
    this.setRole('candidate')
    this.resetElectionTimer()
  }

  private becomeFollower(term: number, leader: number): void {
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
    const next = this.log.lastIndex + 1
    for (const peer of this.peers) {
      if (peer !== this.id) this.progress.set(peer, { match: 0, next, state: 'probe', probeSent: false, inflight: 0, recentActive: true })
    }
    // A no-op in the new term: entries of earlier terms commit only under one of the current term.
    this.propose(new Uint8Array(0), EntryType.NoOp)
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
    let granted = 0
    let rejected = 0
    for (const vote of this.votes.values()) vote ? granted++ : rejected++
    if (granted >= this.quorum) {
      if (this.preCandidate) this.campaign(false)
      else this.becomeLeader()
    } else if (rejected >= this.quorum) {
      this.becomeFollower(this.term, 0)
    }
  }

  private inLease(): boolean {
    return this.leader !== 0 && this.electionElapsed < this.electionTicks[0]
  }

  private hasActiveQuorum(): boolean {
    let active = 1
    for (const progress of this.progress.values()) {
      if (progress.recentActive) active++
      progress.recentActive = false
    }
    return active >= this.quorum
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
    }
    if (prevLogIndex > this.log.lastIndex) {
      this.send(this.appendResponse(message.from, false, message.prevLogIndex, this.log.lastIndex + 1, 0))
      return
    }
    const ourTerm = this.log.termAt(prevLogIndex)
    if (ourTerm !== prevLogTerm) {
      const conflictTerm = ourTerm ?? 0
      this.send(this.appendResponse(message.from, false, message.prevLogIndex, this.firstIndexOfTerm(prevLogIndex, conflictTerm), conflictTerm))
      return
    }
    let position = 0
    for (; position < entries.length; position++) {
      const entry = entries[position] as LogEntry
      if (entry.index > this.log.lastIndex) break
      if (this.log.termAt(entry.index) !== entry.term) {
        if (entry.index <= this.commitIndex) throw new Error(`raft invariant: node ${this.id} would truncate committed index ${entry.index}`)
        this.log.truncateAfter(entry.index - 1)
        this.durableIndex = Math.min(this.durableIndex, entry.index - 1)
        break
      }
    }
    if (position < entries.length) {
      const first = (entries[position] as LogEntry).index
      if (first !== this.log.lastIndex + 1) throw new Error(`raft invariant: node ${this.id} would append index ${first} after ${this.log.lastIndex}`)
      this.log.append(entries.slice(position).map((entry) => ({ term: entry.term, type: entry.type, data: entry.data })))
      this.logChanged = true
    }
    const matchIndex = prevLogIndex + entries.length
    const commit = Math.min(message.leaderCommit, matchIndex)
    if (commit > this.commitIndex) this.commitIndex = commit
    this.send(this.appendResponse(message.from, true, matchIndex, 0, 0))
  }

  /** The first index of the run of `term` that ends at `index`: the leader skips it whole. */
  private firstIndexOfTerm(index: number, term: number): number {
    if (term === 0) return Math.min(index, this.log.lastIndex + 1)
    let first = index
    while (first - 1 >= this.log.firstIndex && this.log.termAt(first - 1) === term) first--
    return Math.max(first, this.commitIndex + 1)
  }

  private appendResponse(to: number, success: boolean, matchIndex: number, conflictIndex: number, conflictTerm: number): AppendEntriesResponse {
    return { type: 'AppendEntriesResponse', from: this.id, to, term: this.term, success, matchIndex, conflictIndex, conflictTerm }
  }

  private handleAppendResponse(message: AppendEntriesResponse): void {
    if (this.roleValue !== 'leader') return
    const progress = this.progress.get(message.from)
    if (progress === undefined) return
    progress.recentActive = true
    if (message.success) {
      progress.inflight = Math.max(0, progress.inflight - 1)
      if (message.matchIndex > progress.match) {
        progress.match = message.matchIndex
        progress.next = Math.max(progress.next, message.matchIndex + 1)
        if (progress.state === 'probe') this.becomeReplicate(progress)
        this.maybeCommit()
      } else if (progress.state === 'probe') {
        this.becomeReplicate(progress)
      }
      progress.probeSent = false
      if (progress.next <= this.log.lastIndex) this.sendAppend(message.from)
      return
    }
    // On failure matchIndex carries the prevLogIndex that was refused; older refusals are stale.
    const refused = message.matchIndex
    if (refused <= progress.match || (progress.state === 'probe' && refused !== progress.next - 1)) return
    let next = message.conflictIndex
    if (message.conflictTerm > 0) {
      const lastOfTerm = this.lastIndexOfTerm(message.conflictTerm, refused)
      if (lastOfTerm !== undefined) next = lastOfTerm + 1
    }
    progress.state = 'probe'
    progress.inflight = 0
    progress.probeSent = false
    progress.next = Math.max(progress.match + 1, Math.min(next, refused, this.log.lastIndex + 1))
    this.sendAppend(message.from)
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

  private becomeReplicate(progress: Progress): void {
    progress.state = 'replicate'
    progress.next = progress.match + 1
    progress.inflight = 0
  }

  private sendAppend(peer: number, force = false): void {
    const progress = this.progress.get(peer) as Progress
    if (!force) {
      if (progress.state === 'probe' && progress.probeSent) return
      if (progress.state === 'replicate' && progress.inflight >= this.maxInflightAppends) return
    }
    const prevLogIndex = progress.next - 1
    const prevLogTerm = this.log.termAt(prevLogIndex)
    if (prevLogTerm === undefined) {
      this.warn(`node ${this.id}: cannot send index ${prevLogIndex} to node ${peer}: it is no longer in the log`)
      return
    }
    const last = Math.min(this.log.lastIndex, prevLogIndex + this.maxEntriesPerAppend)
    const entries = progress.next <= last ? this.log.slice(progress.next, last + 1, { maxBytes: this.maxBytesPerAppend }) : []
    this.send({ type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex, prevLogTerm, entries, leaderCommit: this.commitIndex })
    if (progress.state === 'probe') {
      progress.probeSent = true
    } else if (entries.length > 0) {
      // Pipelining: assume it arrives and send the next batch without waiting.
      progress.next = (entries[entries.length - 1] as LogEntry).index + 1
      progress.inflight++
    }
  }

  private broadcastHeartbeat(): void {
    for (const [peer, progress] of this.progress) {
      if (progress.state === 'probe') {
        progress.probeSent = false
        this.sendAppend(peer)
      } else if (progress.match < this.log.lastIndex) {
        // Behind: resend from next (or probe at the end: a refusal shows lost messages).
        progress.inflight = 0
        this.sendAppend(peer, true)
      } else {
        const prevLogTerm = this.log.termAt(progress.match) ?? 0
        this.send({ type: 'AppendEntries', from: this.id, to: peer, term: this.term, prevLogIndex: progress.match, prevLogTerm, entries: [], leaderCommit: this.commitIndex })
      }
    }
  }

  /** Figure 8: commit the highest index a majority holds, only if it is of the current term. */
  private maybeCommit(): void {
    const matches = this.peers.map((peer) => (peer === this.id ? this.durableIndex : (this.progress.get(peer)?.match ?? 0))).sort((a, b) => b - a)
    const candidate = matches[this.quorum - 1] as number
    if (candidate > this.commitIndex && this.log.termAt(candidate) === this.term) this.commitIndex = candidate
  }

  private send(message: RaftMessage): void {
    this.outbox.push(message)
  }

  private setRole(role: Role): void {
    if (this.roleValue !== role) this.softStateChanged = true
    this.roleValue = role
  }

  private resetElectionTimer(): void {
    const [min, max] = this.electionTicks
    this.electionElapsed = 0
    this.randomizedElectionTimeout = min + Math.floor(this.random() * (max - min + 1))
  }
}
