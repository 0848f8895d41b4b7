// The reads a node waits on: first for a read index (ReadIndex, Raft dissertation §6.4), then for
// its state machine to apply up to that index.
import { RaftLogError } from '../../errors.js'

interface Waiting {
  resolve: (index: number) => void
  reject: (error: Error) => void
  timer: NodeJS.Timeout
}

/** Reads waiting for a read index, then for the state machine to apply up to it; each has a timeout. */
export class PendingReads {
  private nextRequestId = 1
  /** Reads waiting for their read index, by request id. */
  private readonly asked = new Map<number, Waiting>()
  /** Reads with an index, waiting for the state machine to reach it. */
  private waitingForApply: { index: number; waiting: Waiting }[] = []

  /** A new read: its request id, and the promise of its index. */
  add(timeoutMs: number, onTimeout: () => Error): { requestId: number; index: Promise<number> } {
    const requestId = this.nextRequestId++
    const index = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asked.delete(requestId)
        this.waitingForApply = this.waitingForApply.filter((read) => read.waiting.timer !== timer)
        reject(onTimeout())
      }, timeoutMs)
      this.asked.set(requestId, { resolve, reject, timer })
    })
    return { requestId, index }
  }

  /** The read may be served once applied up to `index`. */
  confirmed(requestId: number, index: number, lastApplied: number): void {
    const waiting = this.asked.get(requestId)
    if (waiting === undefined) return
    this.asked.delete(requestId)
    if (index <= lastApplied) settle(waiting, index)
    else this.waitingForApply.push({ index, waiting })
  }

  /** The state machine applied up to `lastApplied`. */
  applied(lastApplied: number): void {
    if (this.waitingForApply.length === 0) return
    const ready = this.waitingForApply.filter((read) => read.index <= lastApplied)
    if (ready.length === 0) return
    this.waitingForApply = this.waitingForApply.filter((read) => read.index > lastApplied)
    for (const read of ready) settle(read.waiting, read.index)
  }

  fail(requestId: number, error: Error): void {
    const waiting = this.asked.get(requestId)
    if (waiting === undefined) return
    this.asked.delete(requestId)
    clearTimeout(waiting.timer)
    waiting.reject(error)
  }

  rejectAll(error: Error): void {
    for (const waiting of [...this.asked.values(), ...this.waitingForApply.map((read) => read.waiting)]) {
      clearTimeout(waiting.timer)
      waiting.reject(error)
    }
    this.asked.clear()
    this.waitingForApply = []
  }
}

function settle(waiting: Waiting, index: number): void {
  clearTimeout(waiting.timer)
  waiting.resolve(index)
}

export function notLeaderForRead(nodeId: number, leaderId: number): RaftLogError {
  const error = new RaftLogError('ERR_NOT_LEADER', `Node ${nodeId} cannot confirm a read now: ${leaderId === 0 ? 'it knows no leader' : `leadership moved (node ${leaderId} leads)`}; ask again`, { leaderId })
  return Object.assign(error, { leaderId: leaderId === 0 ? undefined : leaderId })
}
