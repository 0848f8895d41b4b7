// When `raftlog cluster --restart` starts a dead node again: at once would spin on a node that
// dies at start (a taken port, a damaged log), so the pause doubles while the node keeps dying
// soon after it starts, and falls back to the minimum once it has run for a while.

/** First pause before a restart. */
export const restartMinMs = 1000
/** Longest pause between restarts. */
export const restartMaxMs = 30_000
/** A node that ran this long before dying gets the first pause again. */
export const restartStableMs = 60_000

/**
 * The pause before a node that keeps dying is started again: doubling, up to a maximum, and
 * starting over once it ran a while.
 */
export class RestartBackoff {
  private pauseMs = 0

  /** The pause before starting again a node that ran for `ranMs` before it died. */
  next(ranMs: number): number {
    this.pauseMs = ranMs >= restartStableMs || this.pauseMs === 0 ? restartMinMs : Math.min(restartMaxMs, this.pauseMs * 2)
    return this.pauseMs
  }
}
