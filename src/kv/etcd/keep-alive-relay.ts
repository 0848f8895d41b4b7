// Keep-alives a follower passes to the leader, every client's on one stream. A stream to the leader
// per client stream took a call of the follower's connection to the leader each, which carries
// 256 at most (max_concurrent_streams): one client's 256 streams left every other client's
// keep-alives through that follower unanswered until their leases ran out.
import type * as grpc from '@grpc/grpc-js'
import type { LeaderForwarder } from './leader-forwarder.js'

/** A keep-alive passed on: told its answer, or that the stream to the leader ended first. */
export interface KeepAliveWaiter {
  answer(response: { ID?: number }): void
  fail(): void
}

export class KeepAliveRelay {
  private upstream: grpc.ClientDuplexStream<unknown, unknown> | undefined
  /** Who waits for the answer to a keep-alive of each lease, in the order they asked (the leader answers each in turn). */
  private readonly waiting = new Map<number, KeepAliveWaiter[]>()

  constructor(private readonly forwarder: LeaderForwarder) {}

  /** Passes a keep-alive of lease `id` to the leader; false when no other node is known to lead. */
  send(id: number, waiter: KeepAliveWaiter): boolean {
    const upstream = this.upstream ?? this.open()
    if (upstream === undefined) return false
    const queue = this.waiting.get(id)
    if (queue === undefined) this.waiting.set(id, [waiter])
    else queue.push(waiter)
    upstream.write({ ID: id })
    return true
  }

  private open(): grpc.ClientDuplexStream<unknown, unknown> | undefined {
    const upstream = this.forwarder.stream('Lease', 'LeaseKeepAlive')
    if (upstream === undefined) return undefined
    this.upstream = upstream
    upstream.on('data', (response: { ID?: number }) => this.answered(response))
    upstream.on('error', () => this.ended(upstream))
    upstream.on('end', () => this.ended(upstream))
    return upstream
  }

  private answered(response: { ID?: number }): void {
    const id = Number(response.ID ?? 0)
    const queue = this.waiting.get(id)
    const waiter = queue?.shift()
    if (queue?.length === 0) this.waiting.delete(id)
    waiter?.answer(response)
  }

  /** The leader's stream ended (a new leader, or the old one stopped): every keep-alive waiting on it fails, and the next opens another. */
  private ended(upstream: grpc.ClientDuplexStream<unknown, unknown>): void {
    if (this.upstream !== upstream) return
    this.upstream = undefined
    const waiters = [...this.waiting.values()].flat()
    this.waiting.clear()
    for (const waiter of waiters) waiter.fail()
  }
}
