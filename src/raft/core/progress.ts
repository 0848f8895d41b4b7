// What a leader knows of one follower's log, and how much it may send it before hearing back.
// Modelled on etcd's raft/tracker: a follower is probed one message at a time until its log
// matches, then replicated to with a window of messages in flight that only its answers free.

/** One AppendEntries (with entries) sent and not yet answered. */
interface Inflight {
  /** Last index it carried: an answer matching at or past it frees it. */
  lastIndex: number
  bytes: number
  /** Core tick it was sent at. */
  sentAt: number
  /** Its AppendEntries seq: an answer to a later one while this one waits suggests it was lost. */
  seq: number
}

/**
 * The AppendEntries in flight to one follower, oldest first. Freed by answers only (or declared
 * lost by the leader after a timeout): never by the passing of heartbeats, so a silent follower
 * is sent at most a window's worth of entries.
 */
export class Inflights {
  private items: Inflight[] = []
  private head = 0
  private totalBytes = 0

  constructor(
    /** Messages in flight at most. */
    readonly maxCount: number,
    /** Payload bytes in flight at most; one message larger than this may go when none is in flight. */
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.totalBytes
  }

  get full(): boolean {
    return this.count >= this.maxCount || (this.count > 0 && this.totalBytes >= this.maxBytes)
  }

  /** The oldest message in flight. */
  get oldest(): Inflight | undefined {
    return this.items[this.head]
  }

  /** The newest message in flight. */
  get newest(): Inflight | undefined {
    return this.count === 0 ? undefined : this.items[this.items.length - 1]
  }

  add(lastIndex: number, bytes: number, sentAt: number, seq: number): void {
    this.items.push({ lastIndex, bytes, sentAt, seq })
    this.totalBytes += bytes
  }

  /** Frees every message whose entries the follower now holds (last index at most `index`). */
  freeTo(index: number): void {
    while (this.head < this.items.length && (this.items[this.head] as Inflight).lastIndex <= index) {
      this.totalBytes -= (this.items[this.head] as Inflight).bytes
      this.head++
    }
    // Compact now and then so the array does not grow without bound.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }

  reset(): void {
    this.items = []
    this.head = 0
    this.totalBytes = 0
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

/** Send ticks remembered per follower for lease reads. */
const maxSentTicks = 1024

/**
 * What a leader knows of one member: how far it matches, what is in flight to it, and whether it is
 * being probed, replicated to or sent a snapshot.
 */
export class Progress {
  /** Highest index known to be durable on the follower (0: nothing known). */
  match = 0
  /** Next index to send. */
  next: number
  /**
   * probe: the leader does not know where the follower's log matches; one message with entries
   * at a time. replicate: the logs match up to `match`; entries stream in a window. snapshot:
   * the follower needs entries the leader compacted; a snapshot is on its way, nothing else is.
   */
  state: ProgressState = 'probe'
  /** In the snapshot state: the last index the snapshot being sent covers. */
  pendingSnapshot = 0
  readonly inflights: Inflights
  /** Answered since the last check-quorum (an election timeout). */
  recentActive = true
  /** The leader's tick when this follower last answered (-1: never). */
  lastHeardAt = -1
  /**
   * The leader's message counter when `match` last rose: a refusal of a message sent after it,
   * at an index at or below match, means the follower lost entries it had acknowledged.
   */
  matchSeq = 0
  /**
   * Highest commit index this follower has been told of, as far as its log matches (what an
   * AppendEntries or commit notice carried, up to the last entry it was sent). A notice whose
   * entries did not arrive (dropped, or held on a full disk) still counts: that follower hears
   * the commit from the next AppendEntries or heartbeat instead.
   */
  commitSent = 0
  /** Highest message counter this follower has answered in the current term (for ReadIndex). */
  ackedSeq = 0
  /**
   * Core tick at which the leader sent the newest message this follower answered: the follower
   * heard from the leader no earlier than this, so it votes for nobody else before this tick
   * plus an election timeout (what a lease read relies on).
   */
  leaseFrom = Number.NEGATIVE_INFINITY
  /** (seq, tick) of recent messages to this follower, oldest first, to find leaseFrom. */
  private sentTicks: { seq: number; tick: number }[] = []

  constructor(next: number, maxInflightAppends: number, maxInflightBytes: number) {
    this.next = next
    this.inflights = new Inflights(maxInflightAppends, maxInflightBytes)
  }

  /** Whether an AppendEntries with entries may be sent now. */
  get paused(): boolean {
    if (this.state === 'snapshot') return true
    // A probe is a single message: the follower answers it before the next one goes.
    if (this.state === 'probe') return this.inflights.count > 0
    return this.inflights.full
  }

  /** The follower's log matches up to `match`: stream entries after what is already in flight. */
  becomeReplicate(): void {
    this.state = 'replicate'
    this.pendingSnapshot = 0
    this.next = Math.max(this.match + 1, (this.inflights.newest?.lastIndex ?? 0) + 1)
  }

  /** Where the logs match is unknown again: probe from `next`, forgetting what is in flight. */
  becomeProbe(next: number): void {
    this.state = 'probe'
    this.next = Math.max(this.match + 1, next)
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  /** A snapshot up to `index` is being sent: no entries until it is installed (or fails). */
  becomeSnapshot(index: number): void {
    this.state = 'snapshot'
    this.pendingSnapshot = index
    this.inflights.reset()
  }

  /** Any AppendEntries numbered `seq` went to this follower at tick `now`. */
  recordSent(seq: number, now: number): void {
    this.sentTicks.push({ seq, tick: now })
    // Bounded: a follower that answers nothing keeps only the newest few.
    if (this.sentTicks.length > maxSentTicks) this.sentTicks.splice(0, this.sentTicks.length - maxSentTicks)
  }

  /** The follower answered the message numbered `seq`. */
  answered(seq: number): void {
    if (seq <= this.ackedSeq) return
    this.ackedSeq = seq
    let tick: number | undefined
    while (this.sentTicks.length > 0 && (this.sentTicks[0] as { seq: number }).seq <= seq) tick = (this.sentTicks.shift() as { tick: number }).tick
    if (tick !== undefined) this.leaseFrom = Math.max(this.leaseFrom, tick)
  }

  /** Records entries up to `lastIndex` sent at tick `now` in the AppendEntries numbered `seq`. */
  sent(lastIndex: number, bytes: number, now: number, seq: number): void {
    this.inflights.add(lastIndex, bytes, now, seq)
    // A probe leaves next where it is: the answer says whether the logs match at next − 1.
    if (this.state === 'replicate') this.next = lastIndex + 1
  }

  /**
   * The follower holds everything up to `index`; returns whether match rose. `sentSeq` is the
   * leader's message counter now: every message numbered above it is sent knowing this match.
   */
  acknowledged(index: number, sentSeq: number): boolean {
    this.inflights.freeTo(index)
    if (index <= this.match) return false
    this.match = index
    this.matchSeq = sentSeq
    if (this.next <= index) this.next = index + 1
    return true
  }
}
