// The proposals a leader accepted and that wait for their entry to be applied, by log index.
import { RaftLogError } from '../../errors.js'

interface Waiting {
  term: number
  resolve: (result: unknown) => void
  reject: (error: Error) => void
}

/**
 * The proposals this leader is waiting on, by index and term: each resolves with apply()'s result,
 * or rejects when another entry took its index or leadership was lost.
 */
export class PendingProposals {
  /**
   * More than one proposal can wait at an index: a leader whose log was cut can reuse an index in
   * a later term, while the older entry there may still be committed by another leader. The one
   * whose term the applied entry has wins.
   */
  private readonly byIndex = new Map<number, Waiting[]>()

  get size(): number {
    return this.byIndex.size
  }

  /** A promise settled when the entry at `index` is applied (or known lost). */
  add(index: number, term: number): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const waiting = this.byIndex.get(index)
      if (waiting === undefined) this.byIndex.set(index, [{ term, resolve, reject }])
      else waiting.push({ term, resolve, reject })
    })
  }

  /** The entry at `index` of `term` was applied with this outcome. */
  applied(index: number, term: number, outcome: { result: unknown } | { error: Error }): void {
    const waiting = this.byIndex.get(index)
    if (waiting === undefined) return
    this.byIndex.delete(index)
    for (const proposal of waiting) {
      if (proposal.term !== term) proposal.reject(new RaftLogError('ERR_PROPOSAL_DROPPED', `The entry proposed at index ${index} was replaced by a new leader; it was not applied`, { index }))
      else if ('error' in outcome) proposal.reject(outcome.error)
      else proposal.resolve(outcome.result)
    }
  }

  /**
   * This node stopped leading `term`: a proposal above the commit index may still be committed
   * by a later leader, or be lost; nobody can tell yet (Raft §8 calls for client sessions).
   */
  leadershipLost(nodeId: number, term: number, commitIndex: number): void {
    for (const [index, waiting] of this.byIndex) {
      if (index <= commitIndex) continue
      const lost = waiting.filter((proposal) => proposal.term <= term)
      if (lost.length === 0) continue
      const kept = waiting.filter((proposal) => proposal.term > term)
      if (kept.length === 0) this.byIndex.delete(index)
      else this.byIndex.set(index, kept)
      for (const proposal of lost) {
        proposal.reject(
          new RaftLogError(
            'ERR_LEADERSHIP_LOST',
            `Node ${nodeId} lost leadership of term ${proposal.term} before the entry at index ${index} was committed: it may or may not be applied`,
            { index, term: proposal.term },
          ),
        )
      }
    }
  }

  rejectAll(error: Error): void {
    for (const waiting of this.byIndex.values()) for (const proposal of waiting) proposal.reject(error)
    this.byIndex.clear()
  }
}
