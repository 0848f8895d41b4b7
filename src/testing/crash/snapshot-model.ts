// What the crash-test parent knows from the snapshot writer's lines, and the check of a restarted
// node against it: every acknowledged proposal in the restored state exactly once and at the
// index it was acknowledged at, nothing that was never proposed, nothing applied twice, and an
// applied index never below an acknowledged one nor below what an earlier restart applied.
import type { RaftStatus } from '../../raft/node/raft-node.js'
import type { Ledger } from './ledger.js'
import type { Violation } from './model.js'

/** The crash test's knowledge of snapshot rounds (fed the writer's lines), and the check of each restarted node's ledger against it. */
export class SnapshotModel {
  /** Every id ever proposed (acknowledged or in flight when the writer died). */
  private readonly proposed = new Set<string>()
  /** id → the index it was acknowledged (or, after a check, found applied) at: these must stay. */
  private readonly acknowledged = new Map<string, number>()
  private highestAcknowledged = 0
  /** The applied index the last restart reached: a later one never goes below it. */
  private appliedFloor = 0
  acknowledgedCount = 0
  /** How the writer died: `<point> <step> <what>`, or undefined when it did not say. */
  killedAt: string | undefined

  /** Feeds one line of the writer's protocol. */
  observe(line: string): void {
    const [kind = '', a = '', b = ''] = line.trim().split(' ')
    switch (kind) {
      case 'P':
        this.proposed.add(a)
        break
      case 'A':
        if (!this.acknowledged.has(a)) this.acknowledgedCount++
        this.acknowledged.set(a, Number(b))
        this.highestAcknowledged = Math.max(this.highestAcknowledged, Number(b))
        break
      case 'K':
        this.killedAt = line.trim().slice(2)
        break
      default:
        break
    }
  }

  /** Starts a round: forgets how the last writer died. */
  startRound(): void {
    this.killedAt = undefined
  }

  /** Checks the state a restarted node reached; afterwards what it applied must stay. */
  check(ledger: Ledger, status: RaftStatus, round: number): Violation[] {
    const violations: Violation[] = []
    const fail = (problem: string, index?: number): void => {
      violations.push({ round, ...(index === undefined ? {} : { index }), problem })
    }
    for (const [id, index] of this.acknowledged) {
      const line = ledger.lines.get(id)
      if (line === undefined) fail(`acknowledged proposal ${id} is not in the restored state`, index)
      else if (line.index !== index) fail(`acknowledged proposal ${id} was applied at index ${line.index}, not ${index}`, index)
    }
    for (const [id, line] of ledger.lines) {
      if (!this.proposed.has(id) && !this.acknowledged.has(id)) fail(`proposal ${id} in the restored state was never proposed`, line.index)
      if (line.times !== 1) fail(`proposal ${id} was applied ${line.times} times`, line.index)
    }
    for (const problem of ledger.outOfOrder) fail(problem)
    if (status.lastApplied < this.highestAcknowledged) fail(`the applied index ${status.lastApplied} is below acknowledged index ${this.highestAcknowledged}`)
    if (status.lastApplied < this.appliedFloor) fail(`the applied index went back from ${this.appliedFloor} to ${status.lastApplied}`)
    // Applied after a restart is committed: from now on it must stay, like an acknowledged one.
    for (const [id, line] of ledger.lines) {
      if (!this.acknowledged.has(id)) this.acknowledged.set(id, line.index)
    }
    this.highestAcknowledged = Math.max(this.highestAcknowledged, ledger.lastIndex)
    this.appliedFloor = Math.max(this.appliedFloor, status.lastApplied)
    return violations
  }

  get stateSize(): number {
    return this.acknowledged.size
  }
}
