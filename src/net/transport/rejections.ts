// Counting and logging the Raft messages a node drops at its gate (message-check.ts). Every
// rejection is counted by reason; a line is logged at most once per reason per interval, saying
// how many more were dropped since, so a flood from a stranger cannot flood the log too.
import { rejectReasons, type RejectReason } from './message-check.js'

/** Shortest time between two log lines for one reason. */
export const rejectionLogIntervalMs = 10_000

/** A count per reason, every reason present (0 until one is dropped). */
export type RejectionCounts = Record<RejectReason, number>

export function emptyRejectionCounts(): RejectionCounts {
  return Object.fromEntries(rejectReasons.map((reason) => [reason, 0])) as RejectionCounts
}

/**
 * Counts the Raft messages a node drops at its gate, by reason, and logs at most one line per
 * reason per interval.
 */
export class RejectionLog {
  /** When each reason was last logged (ms since the epoch), and how many were dropped unlogged since. */
  private readonly lastLogged = new Map<RejectReason, number>()
  private readonly unlogged = new Map<RejectReason, number>()

  /**
   * `counts` is updated in place (the transport's counts.rejected); `warn` gets the lines.
   * `now` is the clock, in ms (tests pass their own).
   */
  constructor(
    private readonly counts: RejectionCounts,
    private readonly warn: ((message: string) => void) | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts `messages` dropped for `reason`; `detail` says which (sender, peer address, field). */
  reject(reason: RejectReason, detail: string, messages = 1): void {
    this.counts[reason] += messages
    const now = this.now()
    const last = this.lastLogged.get(reason)
    if (last !== undefined && now - last < rejectionLogIntervalMs) {
      this.unlogged.set(reason, (this.unlogged.get(reason) ?? 0) + messages)
      return
    }
    const more = this.unlogged.get(reason) ?? 0
    this.lastLogged.set(reason, now)
    this.unlogged.delete(reason)
    const since = more === 0 ? '' : ` (${more} more dropped for this reason since the last report)`
    this.warn?.(`dropped a Raft message (${reason}): ${detail}${since}`)
  }
}
