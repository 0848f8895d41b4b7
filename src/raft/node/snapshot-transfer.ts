// Moving a snapshot file from a leader to a follower (Raft §7, InstallSnapshot), driver to driver:
// the core only says which follower needs which snapshot, and hears back whether it got there.
//
// The sender streams the file in chunks of at most snapshotChunkBytes, a few in flight, read
// from disk as they go (never the whole file in memory), and pins the file so that pruning
// cannot delete it underneath. The receiver writes the chunks in order to a partial file and
// answers how much it holds; the sender goes back to that offset whenever chunks were lost. A
// broken transfer is resumed from the partial file when the same snapshot is sent again.
// The receiver's side, and the bounds it puts on what a sender may write, is snapshot-inbox.ts.
import type { SnapshotFile, SnapshotStore } from '../../storage/snapshot-store.js'
import type { InstallSnapshot, RaftMessage, SnapshotChunk, SnapshotChunkResponse } from '../core/messages.js'

import { logText } from './log-text.js'

export { SnapshotInbox, defaultSnapshotStallTimeoutMs, type SnapshotInboxOptions } from './snapshot-inbox.js'

/** Bytes of the file per SnapshotChunk. */
export const snapshotChunkBytes = 1024 * 1024
/** Chunks sent and not yet answered, per follower. */
export const maxSnapshotChunksInFlight = 4
/** Without an answer for this long, the sender goes back to what the follower last said it holds. */
export const snapshotResendAfterMs = 1000
/** Without any progress for this long, the transfer is given up (the core then starts another). */
export const snapshotTransferTimeoutMs = 10_000
/** Times the follower may refuse the whole file (it failed its checksums) before giving up. */
const maxRefusals = 3

interface Outgoing {
  peer: number
  term: number
  snapshot: SnapshotFile
  index: number
  lastTerm: number
  totalBytes: number
  unpin: () => void
  /** What the follower said it holds. */
  acked: number
  /** Next offset to send. */
  next: number
  reading: boolean
  lastProgressAt: number
  lastSentAt: number
  refusals: number
  done: boolean
}

export interface SnapshotSenderOptions {
  id: number
  store: SnapshotStore
  send(message: RaftMessage): void
  /** The transfer ended: the follower holds the snapshot (done), or it could not be sent. */
  onFinished(peer: number, done: boolean): void
  logger: { warn(message: string): void }
  now?: () => number
}

/** The leader's side: one transfer per follower at a time. */
export class SnapshotSender {
  private readonly transfers = new Map<number, Outgoing>()
  private readonly options: SnapshotSenderOptions
  private readonly now: () => number

  constructor(options: SnapshotSenderOptions) {
    this.options = options
    this.now = options.now ?? Date.now
  }

  /** Transfers in progress, by follower: for status and tests. */
  get active(): { peer: number; index: number; acked: number; totalBytes: number }[] {
    return [...this.transfers.values()].map((t) => ({ peer: t.peer, index: t.index, acked: t.acked, totalBytes: t.totalBytes }))
  }

  /** The core asks for `message.to` to get a snapshot; the newest durable file is sent. */
  start(message: InstallSnapshot): void {
    const running = this.transfers.get(message.to)
    if (running !== undefined && running.term === message.term && running.index >= message.lastIncludedIndex) return
    if (running !== undefined) this.end(running, false)
    // The one asked for, or a newer one (it covers more): the older may have been pruned.
    const files = this.options.store.list()
    const snapshot =
      files.find((file) => file.index === message.lastIncludedIndex && file.header?.term === message.lastIncludedTerm) ??
      files.filter((file) => file.header !== undefined && file.index > message.lastIncludedIndex).at(-1)
    if (snapshot === undefined) {
      this.options.logger.warn(`node ${this.options.id}: no snapshot file for index ${message.lastIncludedIndex} to send to node ${message.to}`)
      this.options.onFinished(message.to, false)
      return
    }
    const now = this.now()
    const transfer: Outgoing = {
      peer: message.to,
      term: message.term,
      snapshot,
      index: snapshot.index,
      lastTerm: (snapshot.header as { term: number }).term,
      totalBytes: snapshot.sizeBytes,
      unpin: this.options.store.pin(snapshot.file),
      acked: 0,
      next: 0,
      reading: false,
      lastProgressAt: now,
      lastSentAt: now,
      refusals: 0,
      done: false,
    }
    this.transfers.set(message.to, transfer)
    this.pump(transfer)
  }

  /** The follower's answer to a chunk. */
  onResponse(message: SnapshotChunkResponse): void {
    const transfer = this.transfers.get(message.from)
    if (transfer === undefined || message.lastIncludedIndex !== transfer.index || message.lastIncludedTerm !== transfer.lastTerm) return
    if (message.done) {
      this.end(transfer, true)
      return
    }
    if (message.error !== '') {
      this.options.logger.warn(`node ${this.options.id}: node ${transfer.peer} refused snapshot ${transfer.snapshot.file}: ${logText(message.error)}`)
      if (++transfer.refusals >= maxRefusals) {
        this.end(transfer, false)
        return
      }
      transfer.acked = 0
      transfer.next = 0
    } else {
      const held = message.heldBytes
      if (held > transfer.acked) transfer.lastProgressAt = this.now()
      // No progress while more was sent (a chunk refused as out of order, or lost), or less
      // than before (the follower started over): go on from what it holds.
      if (held <= transfer.acked && transfer.next > held) transfer.next = held
      transfer.acked = held
      if (transfer.next < held) transfer.next = held
    }
    this.pump(transfer)
  }

  /** Called now and then (the node's tick): goes back after silence, gives up after a long one. */
  tick(): void {
    const now = this.now()
    for (const transfer of this.transfers.values()) {
      if (now - transfer.lastProgressAt > snapshotTransferTimeoutMs) {
        this.options.logger.warn(`node ${this.options.id}: snapshot ${transfer.snapshot.file} to node ${transfer.peer} made no progress for ${snapshotTransferTimeoutMs} ms; giving up`)
        this.end(transfer, false)
      } else if (now - transfer.lastSentAt > snapshotResendAfterMs && transfer.next > transfer.acked) {
        transfer.next = transfer.acked
        this.pump(transfer)
      }
    }
  }

  /** Ends every transfer (leadership lost, node stopping): the core hears nothing more of them. */
  stopAll(): void {
    for (const transfer of this.transfers.values()) {
      transfer.done = true
      transfer.unpin()
    }
    this.transfers.clear()
  }

  private end(transfer: Outgoing, done: boolean): void {
    if (transfer.done) return
    transfer.done = true
    transfer.unpin()
    if (this.transfers.get(transfer.peer) === transfer) this.transfers.delete(transfer.peer)
    this.options.onFinished(transfer.peer, done)
  }

  /** Sends chunks while fewer than the limit are unanswered; one disk read at a time. */
  private pump(transfer: Outgoing): void {
    if (transfer.done || transfer.reading) return
    const window = maxSnapshotChunksInFlight * snapshotChunkBytes
    if (transfer.next >= transfer.totalBytes || transfer.next - transfer.acked >= window) return
    const offset = transfer.next
    const length = Math.min(snapshotChunkBytes, transfer.totalBytes - offset)
    transfer.reading = true
    this.options.store.readBytes(transfer.snapshot, offset, length).then(
      (data) => {
        transfer.reading = false
        if (transfer.done) return
        if (data.length !== length) {
          this.options.logger.warn(`node ${this.options.id}: snapshot ${transfer.snapshot.file} is shorter than it was: giving up on node ${transfer.peer}`)
          this.end(transfer, false)
          return
        }
        const chunk: SnapshotChunk = {
          type: 'SnapshotChunk',
          from: this.options.id,
          to: transfer.peer,
          term: transfer.term,
          lastIncludedIndex: transfer.index,
          lastIncludedTerm: transfer.lastTerm,
          offset,
          totalBytes: transfer.totalBytes,
          data,
        }
        this.options.send(chunk)
        transfer.lastSentAt = this.now()
        transfer.next = Math.max(transfer.next, offset + length)
        this.pump(transfer)
      },
      (error: unknown) => {
        transfer.reading = false
        this.options.logger.warn(`node ${this.options.id}: cannot read snapshot ${transfer.snapshot.file}: ${(error as Error).message}`)
        this.end(transfer, false)
      },
    )
  }
}
