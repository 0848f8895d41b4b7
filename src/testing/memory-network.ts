// MemoryNetwork: nodes in one process, connected through a network a test controls: disconnect a
// node, partition groups, heal, and make links drop, delay and reorder messages, all from a
// seeded random source so a failing run can be replayed.
import type { RaftMessage } from '../raft/core/messages.js'
import { seededRandom } from '../raft/core/seeded-random.js'
import type { Transport } from '../raft/transport.js'

export interface UnreliableOptions {
  /** Probability in [0, 1] that a message is lost. */
  dropRate?: number
  minDelayMs?: number
  maxDelayMs?: number
  /** Deliver in random order within the delay window (otherwise per-link order is kept). */
  reorder?: boolean
}

/**
 * Nodes in one process, connected through a network a test controls: disconnect, partition, heal,
 * drop, delay and reorder, from a seed.
 */
export class MemoryNetwork {
  private readonly handlers = new Map<number, (message: RaftMessage) => void>()
  /** Per node: the ids it knows were removed (it drops their messages and tells them so). */
  private readonly removedBy = new Map<number, ReadonlySet<number>>()
  private readonly removedHandlers = new Map<number, (by: number) => void>()
  private readonly disconnected = new Set<number>()
  private groups: number[][] | undefined
  private unreliable: Required<UnreliableOptions> | undefined
  private extraDelayMs: ((message: RaftMessage) => number) | undefined
  private readonly random: () => number
  private readonly lastDelivery = new Map<string, number>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly immediates = new Set<NodeJS.Immediate>()
  /** Messages delivered and dropped so far, for tests that bound the traffic. */
  readonly counts = { sent: 0, delivered: 0, dropped: 0 }

  constructor(options: { seed?: number } = {}) {
    this.random = seededRandom(options.seed ?? 1)
  }

  /** The transport of node `id`. */
  endpoint(id: number): Transport {
    return {
      send: (message) => this.send(id, message),
      onMessage: (handler) => {
        this.handlers.set(id, handler)
      },
      setRemoved: (ids) => {
        this.removedBy.set(id, new Set(ids))
      },
      onRemoved: (handler) => {
        this.removedHandlers.set(id, handler)
      },
      close: async () => {
        this.handlers.delete(id)
        this.removedHandlers.delete(id)
      },
    }
  }

  disconnect(id: number): void {
    this.disconnected.add(id)
  }

  connect(id: number): void {
    this.disconnected.delete(id)
  }

  /** Only nodes in the same group reach each other until heal(). */
  partition(...groups: number[][]): void {
    this.groups = groups.map((group) => [...group])
  }

  /** Removes partitions and reconnects every node. */
  heal(): void {
    this.groups = undefined
    this.disconnected.clear()
  }

  setUnreliable(options: UnreliableOptions): void {
    this.unreliable = { dropRate: options.dropRate ?? 0.1, minDelayMs: options.minDelayMs ?? 0, maxDelayMs: options.maxDelayMs ?? 20, reorder: options.reorder ?? true }
  }

  setReliable(): void {
    this.unreliable = undefined
  }

  /**
   * Holds messages back: each is delivered `rule(message)` ms later than it would be (0: no
   * change), e.g. a TimeoutNow that arrives after the transfer was given up. undefined: none.
   */
  delayMessages(rule: ((message: RaftMessage) => number) | undefined): void {
    this.extraDelayMs = rule
  }

  /** Cancels every message still in flight. */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    for (const immediate of this.immediates) clearImmediate(immediate)
    this.immediates.clear()
  }

  private reachable(from: number, to: number): boolean {
    if (this.disconnected.has(from) || this.disconnected.has(to)) return false
    return this.groups === undefined || this.groups.some((group) => group.includes(from) && group.includes(to))
  }

  private send(from: number, message: RaftMessage): void {
    this.counts.sent++
    if (message.from !== from) throw new Error(`node ${from} sent a message claiming to be from ${message.from}`)
    if (!this.reachable(from, message.to)) {
      this.counts.dropped++
      return
    }
    const link = this.unreliable
    if (link !== undefined && this.random() < link.dropRate) {
      this.counts.dropped++
      return
    }
    let delay = (link === undefined ? 0 : link.minDelayMs + this.random() * (link.maxDelayMs - link.minDelayMs)) + (this.extraDelayMs?.(message) ?? 0)
    const key = `${from}>${message.to}`
    if (link !== undefined && !link.reorder) {
      // Keep per-link order: never deliver before the previous message on this link.
      const due = Math.max(Date.now() + delay, this.lastDelivery.get(key) ?? 0)
      this.lastDelivery.set(key, due)
      delay = due - Date.now()
    }
    const deliver = (): void => {
      // Checked again at delivery: a partition made meanwhile cuts messages in flight.
      const handler = this.handlers.get(message.to)
      if (handler === undefined || !this.reachable(from, message.to)) {
        this.counts.dropped++
        return
      }
      if (this.removedBy.get(message.to)?.has(from) === true) {
        this.counts.dropped++
        this.removedHandlers.get(from)?.(message.to)
        return
      }
      this.counts.delivered++
      handler(message)
    }
    if (delay < 1) {
      // setTimeout(0) waits a millisecond or more; a reliable link should not.
      const immediate = setImmediate(() => {
        this.immediates.delete(immediate)
        deliver()
      })
      this.immediates.add(immediate)
      return
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      deliver()
    }, delay)
    this.timers.add(timer)
  }
}
