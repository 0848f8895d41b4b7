// An in-memory network between RaftHosts, for tests: batches are queued and delivered when the
// test says (deliver()), in order, except to and from hosts it took down (lost) or cut off
// (lost), and to hosts it paused (held until they resume, as a stopped process's socket holds them).
import type { HostBatch, HostTransport } from '../host/host-batch.js'
import type { RaftHost } from '../host/raft-host.js'

export class MemoryHostNetwork {
  private readonly hosts = new Map<number, RaftHost>()
  private queued: { to: number; batch: HostBatch }[] = []
  /** Hosts whose batches go nowhere, in or out. */
  readonly down = new Set<number>()
  /** Hosts cut off from every other: their batches are lost both ways. */
  readonly isolated = new Set<number>()
  /** Hosts that take no batches now: those sent to them wait. */
  readonly paused = new Set<number>()
  /** Batches delivered so far, and Raft messages in them. */
  readonly counts = { batches: 0, messages: 0 }

  /** The transport host `id` sends with. */
  transportFor(id: number): HostTransport {
    return {
      send: (to, batch) => {
        if (!this.down.has(id)) this.queued.push({ to, batch: { ...batch, from: id } })
      },
    }
  }

  /** Attaches `host` (a restarted one takes its predecessor's place). */
  attach(host: RaftHost): void {
    this.hosts.set(host.nodeId, host)
  }

  /** Batches queued and not delivered yet. */
  get pending(): number {
    return this.queued.length
  }

  /** Delivers every batch queued so far (not those their delivery causes); answers how many were delivered or lost (not held). */
  deliver(): number {
    const now = this.queued
    this.queued = []
    let moved = 0
    for (const item of now) {
      const { to, batch } = item
      const host = this.hosts.get(to)
      if (host === undefined || this.down.has(to) || this.down.has(batch.from) || this.isolated.has(to) || this.isolated.has(batch.from)) continue
      if (this.paused.has(to)) {
        this.queued.push(item)
        continue
      }
      moved++
      this.counts.batches++
      this.counts.messages += batch.messages.length
      host.receive(batch)
    }
    return moved
  }
}
