// What a leader knows of the members it replicates to (etcd's tracker.ProgressTracker): one
// Progress per member, and the votes of an election. The quorum questions a leader asks are
// answered here: what a majority holds, whether a majority was heard, who is the most up to date.
import { Progress } from './progress.js'
import { hasQuorum, quorumIndex, voteResult, type VoteResult } from './quorum.js'
import type { Configuration } from './configuration.js'

/** Limits of what is in flight to one member. */
export interface InflightLimits {
  /** AppendEntries with entries in flight before the leader waits for answers. */
  maxInflightAppends: number
  /** Payload bytes in flight before the leader waits for answers. */
  maxInflightBytes: number
}

/** One member as status and metrics show it. */
export interface FollowerSummary {
  id: number
  match: number
  next: number
  state: string
  inflight: number
}

/**
 * A leader's view of the members it replicates to, and an election's votes, with the quorum
 * questions asked of them.
 */
export class ProgressTracker {
  private readonly progress = new Map<number, Progress>()
  private readonly votes = new Map<number, boolean>()

  constructor(private readonly limits: InflightLimits) {}

  get(id: number): Progress | undefined {
    return this.progress.get(id)
  }

  /** Every member tracked, with its progress. */
  entries(): IterableIterator<[number, Progress]> {
    return this.progress.entries()
  }

  ids(): number[] {
    return [...this.progress.keys()]
  }

  /** Tracks exactly `ids`: those not tracked yet start by probing from `next`. */
  track(ids: ReadonlySet<number>, next: number): void {
    for (const id of this.progress.keys()) if (!ids.has(id)) this.progress.delete(id)
    for (const id of ids) if (!this.progress.has(id)) this.progress.set(id, new Progress(next, this.limits.maxInflightAppends, this.limits.maxInflightBytes))
  }

  forget(id: number): void {
    this.progress.delete(id)
  }

  /** Forgets every member (a new term's leader starts afresh). */
  clear(): void {
    this.progress.clear()
  }

  /** The highest index a quorum holds, `self` holding `selfIndex` (what is durable on its own disk). */
  committed(config: Configuration, self: number, selfIndex: number): number {
    return quorumIndex(config, (id) => (id === self ? selfIndex : (this.progress.get(id)?.match ?? 0)))
  }

  /** The highest message counter a quorum answered (`self` answers everything): what confirms a ReadIndex round. */
  quorumAckedSeq(config: Configuration, self: number): number {
    return quorumIndex(config, (id) => (id === self ? Number.POSITIVE_INFINITY : (this.progress.get(id)?.ackedSeq ?? 0)))
  }

  /** The tick since which a quorum has heard from the leader, by the answers it sent: a lease starts there. */
  quorumLeaseFrom(config: Configuration, self: number): number {
    return quorumIndex(config, (id) => (id === self ? Number.POSITIVE_INFINITY : (this.progress.get(id)?.leaseFrom ?? Number.NEGATIVE_INFINITY)))
  }

  /** Whether a quorum answered since the last call (check quorum), and starts counting again. */
  quorumActive(config: Configuration, self: number): boolean {
    const active = hasQuorum(config, (id) => id === self || this.progress.get(id)?.recentActive === true)
    for (const progress of this.progress.values()) progress.recentActive = false
    return active
  }

  /** Whether `id` answered within `windowTicks` before `now`. */
  heardWithin(id: number, now: number, windowTicks: number): boolean {
    const progress = this.progress.get(id)
    return progress !== undefined && progress.lastHeardAt >= 0 && now - progress.lastHeardAt < windowTicks
  }

  /**
   * The voter other than `self` that holds the most of the log, among those `eligible` allows
   * (0: none).
   */
  mostUpToDateVoter(config: Configuration, self: number, eligible: (id: number, progress: Progress | undefined) => boolean = () => true): number {
    let best = 0
    let bestMatch = -1
    for (const id of config.voters) {
      const progress = this.progress.get(id)
      if (id === self || !eligible(id, progress)) continue
      const match = progress?.match ?? -1
      if (match > bestMatch) {
        best = id
        bestMatch = match
      }
    }
    return best
  }

  summaries(): FollowerSummary[] {
    return [...this.progress].map(([id, progress]) => ({ id, match: progress.match, next: progress.next, state: progress.state, inflight: progress.inflights.count }))
  }

  // --- votes ---------------------------------------------------------------------------------

  /** A new election: only `self`'s own vote is known. */
  resetVotes(self: number): void {
    this.votes.clear()
    this.votes.set(self, true)
  }

  recordVote(id: number, granted: boolean): void {
    this.votes.set(id, granted)
  }

  /** Members that granted their vote (a new leader has just heard from them). */
  grantedVotes(): number[] {
    return [...this.votes].filter(([, granted]) => granted).map(([id]) => id)
  }

  tallyVotes(config: Configuration): VoteResult {
    return voteResult(config, this.votes)
  }
}
