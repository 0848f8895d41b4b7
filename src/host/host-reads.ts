// ReadIndex reads asked on a RaftHost (Raft dissertation §6.4): each waits, under its own request
// id, for its group's core to confirm a read index (or drop the read when leadership moves), for
// at most readTimeoutMs.
import { RaftLogError } from '../errors.js'
import type { Ready } from '../raft/core/raft-core.js'

interface Waiting {
  resolve(index: number): void
  reject(error: RaftLogError): void
}

/** The reads of every group on one host, by request id (unique per host). */
export class HostReads {
  private readonly waiting = new Map<number, Waiting>()
  private nextId = 1

  constructor(private readonly timeoutMs: number) {}

  /** A new request id, for RaftCore.readIndex(). */
  nextRequestId(): number {
    return this.nextId++
  }

  /** Resolves with the read index of `requestId` once confirmed; ERR_TIMEOUT after timeoutMs. */
  wait(requestId: number, group: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiting.delete(requestId)) reject(new RaftLogError('ERR_TIMEOUT', `Group ${group}: no read index within ${this.timeoutMs} ms`))
      }, this.timeoutMs)
      const settle = (then: () => void): void => {
        clearTimeout(timer)
        then()
      }
      this.waiting.set(requestId, { resolve: (index) => settle(() => resolve(index)), reject: (error) => settle(() => reject(error)) })
    })
  }

  /** Settles the reads a group's Ready confirmed or dropped (leadership moved: ERR_NOT_LEADER, ask again). */
  settle(group: number, ready: Ready): void {
    for (const { requestId, index } of ready.readStates) this.take(requestId)?.resolve(index)
    for (const requestId of ready.droppedReads) this.take(requestId)?.reject(new RaftLogError('ERR_NOT_LEADER', `Group ${group}: leadership moved while a read was confirmed; ask again`))
  }

  /** Fails every read waiting (the host stopped). */
  rejectAll(error: RaftLogError): void {
    for (const read of this.waiting.values()) read.reject(error)
    this.waiting.clear()
  }

  private take(requestId: number): Waiting | undefined {
    const read = this.waiting.get(requestId)
    this.waiting.delete(requestId)
    return read
  }
}
