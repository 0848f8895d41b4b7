// An in-memory network between RaftHosts, for tests: batches are queued and delivered when the
// test says (deliver()), in order, except to and from hosts it took down or cut off.
import type { HostBatch, HostTransport } from '../host/host-batch.js'
import type { RaftHost } from '../host/raft-host.js'

export class MemoryHostNetwork {
  private readonly hosts = new Map<number, RaftHost>()
  private queued: { to: number; batch: HostBatch }[] = []
  /** Hosts whose batches go nowhere, in or out. */
  readonly down = new Set<number>()
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

  attach(host: RaftHost): void {
    this.hosts.set(host.nodeId, host)
  }

  /** Delivers every batch queued so far (not those their delivery causes). */
  deliver(): number {
    const now = this.queued
    this.queued = []
    for (const { to, batch } of now) {
      const host = this.hosts.get(to)
      if (host === undefined || this.down.has(to) || this.down.has(batch.from)) continue
      this.counts.batches++
      this.counts.messages += batch.messages.length
      host.receive(batch)
    }
    return now.length
  }
}
