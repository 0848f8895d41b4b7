// Leadership transfer (Raft dissertation §3.10) as the leader sees it: the voter it hands over to,
// how long it has tried, and the lease it gave away by telling that voter to stand now.

/**
 * A leadership transfer as the leader sees it: its target, how long it has tried, and the lease it
 * gave away.
 */
export class LeadershipTransfer {
  /** The voter leadership is being handed to (0: none). */
  target = 0
  private elapsedTicks = 0
  /**
   * The term in which this leader sent TimeoutNow: the target may be elected with votes cast
   * inside this leader's lease (a transfer vote ignores it), so the lease is void for the rest
   * of that term, even after the transfer times out (CockroachDB steps down; etcd and TiKV
   * closed the same hole).
   */
  timeoutNowTerm = 0

  get active(): boolean {
    return this.target !== 0
  }

  start(target: number): void {
    this.target = target
    this.elapsedTicks = 0
  }

  /** One tick of a transfer under way; true when it has now taken `limitTicks` and is given up. */
  tick(limitTicks: number): boolean {
    if (this.target === 0) return false
    return ++this.elapsedTicks >= limitTicks
  }

  abort(): void {
    this.target = 0
    this.elapsedTicks = 0
  }

  /** TimeoutNow goes out in `term`: the lease of that term is given away. */
  timeoutNowSent(term: number): void {
    this.timeoutNowTerm = term
  }

  /** No lease read may be served in `term`: a transfer is under way, or TimeoutNow went out in it. */
  voidsLease(term: number): boolean {
    return this.target !== 0 || this.timeoutNowTerm === term
  }
}
