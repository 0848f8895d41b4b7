// The driver's side of membership changes and leadership transfers: who is waiting for what.
// A change is done when its C_new is committed; a transfer when another node leads. The core
// decides; this only watches its state after each step and settles the promises.
import { RaftLogError } from '../../errors.js'
import { isJoint, type Configuration } from '../core/configuration.js'

/** What the waiters look at after each step of the core. */
export interface MembershipView {
  nodeId: number
  role: 'follower' | 'candidate' | 'leader'
  term: number
  leaderId: number
  commitIndex: number
  configuration: Configuration
  configurationIndex: number
  /** The voter a transfer is heading to (0: none). */
  transferringTo: number
  /** The term in which this node sent TimeoutNow (0: never): from then on a transfer may succeed. */
  timeoutNowTerm: number
  /** Term of the entry at `index` in this node's log; undefined when compacted (committed) or beyond it. */
  termAt(index: number): number | undefined
}

interface ChangeWaiter {
  /** Index of the change's C_old,new entry. */
  jointIndex: number
  term: number
  resolve: (config: Configuration) => void
  reject: (error: Error) => void
  /** Set once this node stopped leading: the change is given up on when it fires. */
  giveUp?: NodeJS.Timeout
}

interface TransferWaiter {
  target: number
  term: number
  timer: NodeJS.Timeout
  /** TimeoutNow went out: the target may win, so until a leader is known the outcome is unknown. */
  handedOver: boolean
  resolve: (leaderId: number) => void
  reject: (error: Error) => void
}

/**
 * Who waits for which membership change or leadership transfer; settled from the core's state after
 * each turn.
 */
export class MembershipRequests {
  private changes: ChangeWaiter[] = []
  private transfers: TransferWaiter[] = []

  /**
   * `lostLeadershipGraceMs`: how long a change is still watched after this node stopped leading.
   * A leader that removes itself hands leadership over as C_new commits, and may hear of that
   * commit only from its successor: the change succeeded, and the caller should hear so.
   */
  constructor(private readonly lostLeadershipGraceMs: number) {}

  /** Waits for the change whose C_old,new is at `jointIndex`, proposed in `term`. */
  waitForChange(jointIndex: number, term: number): Promise<Configuration> {
    return new Promise((resolve, reject) => this.changes.push({ jointIndex, term, resolve, reject }))
  }

  /**
   * Waits for a transfer to `target` begun in `term`: resolves once the target leads. Rejects
   * with ERR_TIMEOUT when the core gave it up before telling the target to stand (it never
   * caught up; this node leads on), ERR_TRANSFER_FAILED when another node leads, and
   * ERR_UNKNOWN_OUTCOME when TimeoutNow went out and no leader is known after `timeoutMs` (the
   * target may still win: never "failed" while it may have worked).
   */
  waitForTransfer(target: number, term: number, timeoutMs: number, nodeId: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const waiter: TransferWaiter = {
        target,
        term,
        resolve,
        reject,
        handedOver: false,
        timer: setTimeout(() => {
          this.transfers = this.transfers.filter((other) => other !== waiter)
          if (waiter.handedOver) {
            reject(new RaftLogError('ERR_UNKNOWN_OUTCOME', `Leadership transfer from node ${nodeId} to node ${target}: node ${target} was told to stand, and no leader was heard of within ${timeoutMs} ms; look with raftlog status`))
          } else reject(new RaftLogError('ERR_TIMEOUT', `Leadership transfer from node ${nodeId} to node ${target}: no new leader within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.transfers.push(waiter)
    })
  }

  /** Settles what the core's state now decides. */
  update(view: MembershipView): void {
    const config = view.configuration
    const settled = view.commitIndex >= view.configurationIndex && !isJoint(config)
    this.changes = this.changes.filter((waiter) => {
      // The log no longer holds the change's C_old,new: another leader's entries replaced it.
      const jointTerm = view.termAt(waiter.jointIndex)
      const replaced = jointTerm !== undefined && jointTerm !== waiter.term
      // C_new follows C_old,new: a committed, non-joint configuration after it ends the change.
      if (settled && view.configurationIndex > waiter.jointIndex && !replaced) {
        this.settle(waiter)
        waiter.resolve(config)
        return false
      }
      if (replaced || (view.role === 'leader' && view.term !== waiter.term)) {
        this.settle(waiter)
        waiter.reject(leadershipLost(view, waiter))
        return false
      }
      if (view.role !== 'leader' && waiter.giveUp === undefined) {
        waiter.giveUp = setTimeout(() => {
          this.changes = this.changes.filter((other) => other !== waiter)
          waiter.reject(leadershipLost(view, waiter))
        }, this.lostLeadershipGraceMs)
      }
      return true
    })
    this.transfers = this.transfers.filter((waiter) => {
      if (view.timeoutNowTerm === waiter.term) waiter.handedOver = true
      const settle = (outcome: () => void): false => {
        clearTimeout(waiter.timer)
        outcome()
        return false
      }
      if (view.leaderId === waiter.target) return settle(() => waiter.resolve(waiter.target))
      const other = view.leaderId !== 0 && view.leaderId !== view.nodeId ? view.leaderId : view.role === 'leader' && view.term > waiter.term ? view.nodeId : 0
      if (other !== 0) {
        return settle(() => waiter.reject(new RaftLogError('ERR_TRANSFER_FAILED', `Leadership transfer from node ${view.nodeId} to node ${waiter.target} did not happen: node ${other} leads now (term ${view.term})`, { leaderId: other })))
      }
      // Still leading the same term, the transfer given up before the target was told to stand:
      // it never caught up, and nothing can come of it any more.
      if (view.role === 'leader' && view.term === waiter.term && view.transferringTo === 0 && !waiter.handedOver) {
        return settle(() => waiter.reject(new RaftLogError('ERR_TIMEOUT', `Leadership transfer from node ${view.nodeId} to node ${waiter.target} did not happen within an election timeout (node ${waiter.target} never caught up); node ${view.nodeId} leads on`)))
      }
      // Otherwise (told to stand, or no leader known): wait for one, up to the waiter's bound.
      return true
    })
  }

  private settle(waiter: ChangeWaiter): void {
    if (waiter.giveUp !== undefined) clearTimeout(waiter.giveUp)
  }

  rejectAll(error: Error): void {
    for (const waiter of this.changes) {
      this.settle(waiter)
      waiter.reject(error)
    }
    for (const waiter of this.transfers) {
      clearTimeout(waiter.timer)
      waiter.reject(error)
    }
    this.changes = []
    this.transfers = []
  }
}

function leadershipLost(view: MembershipView, waiter: ChangeWaiter): RaftLogError {
  const leader = view.leaderId === 0 || view.leaderId === view.nodeId ? '' : `; node ${view.leaderId} leads now`
  return new RaftLogError('ERR_LEADERSHIP_LOST', `Node ${view.nodeId} stopped leading before the membership change at index ${waiter.jointIndex} finished: it may still finish (see the members)${leader}`, {
    leaderId: view.leaderId,
  })
}
