// Linearizable reads without a log entry (Raft dissertation §6.4, etcd's read_only.go): a read
// gets the commit index of the moment it arrived, and may be served once the leader has shown it
// was still the leader after that moment (a majority answered a message sent later) and the
// state machine has applied up to that index. One round of heartbeats serves every read queued
// before it.

/** A read the leader holds: local (`from` = the leader) or forwarded by a follower. */
export interface PendingRead {
  requestId: number
  /** The node that asked. */
  from: number
  /** The commit index when the read arrived. */
  index: number
}

interface Round {
  /** AppendEntries numbered from here on were sent after these reads arrived. */
  seq: number
  reads: PendingRead[]
}

/**
 * Reads a leader holds until a round of heartbeats, numbered after they arrived, is answered by a
 * majority.
 */
export class ReadOnlyQueue {
  /** Reads that arrived since the last round was sent. */
  private waiting: PendingRead[] = []
  /** Rounds sent, oldest first, waiting for a majority to answer. */
  private rounds: Round[] = []

  get size(): number {
    return this.waiting.length + this.rounds.reduce((sum, round) => sum + round.reads.length, 0)
  }

  /** Whether reads wait for a round to be sent. */
  get needsRound(): boolean {
    return this.waiting.length > 0
  }

  /**
   * Whether a round should go out now: reads wait and no round is unanswered. While one is,
   * reads that arrive wait for its answer and then share the next round (etcd's read loop asks
   * one ReadIndex at a time the same way): under load, one round serves a turn's worth of reads
   * at a time instead of every turn sending its own.
   */
  get roundDue(): boolean {
    return this.waiting.length > 0 && this.rounds.length === 0
  }

  add(read: PendingRead): void {
    this.waiting.push(read)
  }

  /** A round of messages numbered from `seq` is being sent: it confirms every read waiting now. */
  startRound(seq: number): void {
    if (this.waiting.length === 0) return
    this.rounds.push({ seq, reads: this.waiting })
    this.waiting = []
  }

  /** A majority answered messages numbered `seq` or later: the rounds up to it are confirmed. */
  confirm(quorumSeq: number): PendingRead[] {
    const confirmed: PendingRead[] = []
    while (this.rounds.length > 0 && (this.rounds[0] as Round).seq <= quorumSeq) confirmed.push(...(this.rounds.shift() as Round).reads)
    return confirmed
  }

  /** Every read held (leadership lost): they must be asked again, elsewhere. */
  clear(): PendingRead[] {
    const all = [...this.rounds.flatMap((round) => round.reads), ...this.waiting]
    this.rounds = []
    this.waiting = []
    return all
  }
}
