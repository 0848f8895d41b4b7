// What a RaftHost sends each peer host: one batch per peer, gathering every group's messages and
// quiesce notices of a turn, sent together; snapshot chunks of many groups spread over batches
// that each hold at most a bounded number of snapshot bytes.
import type { RaftMessage } from '../raft/core/messages.js'
import type { HostBatch, HostTransport } from './host-batch.js'
import type { HostCounters } from './host-options.js'

export class HostOutbox {
  private readonly batches = new Map<number, HostBatch>()

  constructor(
    private readonly nodeId: number,
    private readonly transport: HostTransport,
    private readonly counters: HostCounters,
    /** Snapshot bytes a batch holds at most (a single larger chunk still goes, alone). */
    private readonly maxSnapshotBytes: number,
  ) {}

  /** Peers with a batch waiting. */
  get size(): number {
    return this.batches.size
  }

  /** The batch waiting for `host` (made empty when there is none: an empty one is a beat). */
  batchFor(host: number): HostBatch {
    let batch = this.batches.get(host)
    if (batch === undefined) {
      batch = { from: this.nodeId, messages: [], quiesce: [] }
      this.batches.set(host, batch)
    }
    return batch
  }

  /** Adds `group`'s message for its receiver; a snapshot chunk that would put the batch over its bound sends it first. */
  push(group: number, message: RaftMessage): void {
    if (message.type === 'SnapshotChunk') this.makeRoomForChunk(message.to, message.data.length)
    this.batchFor(message.to).messages.push({ group, message })
  }

  sendAll(): void {
    for (const [host, batch] of this.batches) this.send(host, batch)
    this.batches.clear()
  }

  /**
   * Sends the batch for `host` now if a chunk of `bytes` more would put it over the bound: many
   * groups sending snapshots to one peer must not build a batch larger than a transport takes
   * (gRPC refuses a message over its limit).
   */
  private makeRoomForChunk(host: number, bytes: number): void {
    const batch = this.batches.get(host)
    if (batch === undefined) return
    let held = 0
    for (const { message } of batch.messages) if (message.type === 'SnapshotChunk') held += message.data.length
    if (held === 0 || held + bytes <= this.maxSnapshotBytes) return
    this.batches.delete(host)
    this.send(host, batch)
  }

  private send(host: number, batch: HostBatch): void {
    this.counters.batchesSent++
    this.transport.send(host, batch)
  }
}
