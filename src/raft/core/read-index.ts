// The reads a node has in hand (Raft dissertation §6.4, etcd's read_only.go with its ReadIndex
// messages): on a leader, reads waiting for its term's no-op to commit and reads waiting for a
// round of heartbeats (ReadOnlyQueue); on a follower, reads it asked the leader for; and what is
// ready to hand the driver: confirmed read states and reads that must be asked again.
import type { RaftMessage } from './messages.js'
import { ReadOnlyQueue, type PendingRead } from './read-only.js'
import type { ReadState } from './ready.js'

/**
 * The reads a node has in hand: held for the no-op, queued for a round, forwarded to the leader,
 * and what is ready for the driver.
 */
export class ReadIndexCoordinator {
  /** Reads waiting for a round of heartbeats that shows this leader still leads. */
  readonly queue = new ReadOnlyQueue()
  /** Reads that arrived before this leader's no-op committed: they wait for it (§6.4 step 1). */
  private beforeNoop: Omit<PendingRead, 'index'>[] = []
  /** This follower's reads forwarded to a leader: request id → that leader. */
  private readonly forwarded = new Map<number, number>()
  private states: ReadState[] = []
  private dropped: number[] = []

  constructor(
    private readonly self: number,
    private readonly send: (message: RaftMessage) => void,
  ) {}

  /** A follower's read: asked of `leader`, whose answer comes as a ReadIndexResponse. */
  forward(requestId: number, leader: number, term: number): void {
    this.forwarded.set(requestId, leader)
    this.send({ type: 'ReadIndex', from: this.self, to: leader, term, requestId })
  }

  /**
   * Node `from` answered a forwarded read: `index` 0 means it could not confirm it. Only the
   * leader it was asked of answers it: another node's index (a lower one: a stale read) is ignored.
   */
  leaderAnswered(from: number, requestId: number, index: number): void {
    if (this.forwarded.get(requestId) !== from) return
    this.forwarded.delete(requestId)
    if (index > 0) this.states.push({ requestId, index })
    else this.dropped.push(requestId)
  }

  holdUntilNoop(read: Omit<PendingRead, 'index'>): void {
    this.beforeNoop.push(read)
  }

  /** The reads held for the no-op, now that it committed. */
  takeHeld(): Omit<PendingRead, 'index'>[] {
    const held = this.beforeNoop
    this.beforeNoop = []
    return held
  }

  /** Answers `read` at its index: a local one becomes a read state, a follower's is sent back. */
  serve(read: PendingRead, term: number): void {
    if (read.from === this.self) this.states.push({ requestId: read.requestId, index: read.index })
    else this.send({ type: 'ReadIndexResponse', from: this.self, to: read.from, term, requestId: read.requestId, index: read.index })
  }

  /** A majority answered messages numbered `quorumSeq` or later: the reads of the rounds up to it are served. */
  confirm(quorumSeq: number, term: number): void {
    if (this.queue.size === 0) return
    for (const read of this.queue.confirm(quorumSeq)) this.serve(read, term)
  }

  /**
   * Leadership moves, or `leader` is a new one: reads this node held as leader (`wasLeader`) and
   * reads it asked of another leader are lost, and must be asked again.
   */
  dropAll(wasLeader: boolean, leader: number, term: number): void {
    if (wasLeader) {
      for (const read of [...this.queue.clear(), ...this.takeHeld()]) {
        if (read.from === this.self) this.dropped.push(read.requestId)
        else this.send({ type: 'ReadIndexResponse', from: this.self, to: read.from, term, requestId: read.requestId, index: 0 })
      }
    }
    for (const [requestId, askedOf] of this.forwarded) {
      if (askedOf === leader) continue
      this.forwarded.delete(requestId)
      this.dropped.push(requestId)
    }
  }

  /** Whether there are read states or dropped reads for the driver. */
  get hasOutput(): boolean {
    return this.states.length > 0 || this.dropped.length > 0
  }

  /** Read states and dropped reads since the last call, for a Ready. */
  take(): { readStates: ReadState[]; droppedReads: number[] } {
    const taken = { readStates: this.states, droppedReads: this.dropped }
    this.states = []
    this.dropped = []
    return taken
  }
}
