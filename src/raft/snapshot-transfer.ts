// Moving a snapshot file from a leader to a follower (Raft §7, InstallSnapshot), driver to driver:
// the core only says which follower needs which snapshot, and hears back whether it got there.
//
// The sender streams the file in chunks of at most snapshotChunkBytes, a few in flight, read
// from disk as they go (never the whole file in memory), and pins the file so that pruning
// cannot delete it underneath. The receiver writes the chunks in order to a partial file and
// answers how much it holds; the sender goes back to that offset whenever chunks were lost. A
// broken transfer is resumed from the partial file when the same snapshot is sent again.
import type { SnapshotFile, SnapshotReceiver, SnapshotStore } from '../storage/snapshot-store.js'
import type { InstallSnapshot, RaftMessage, SnapshotChunk, SnapshotChunkResponse } from './messages.js'

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
      this.options.logger.warn(`node ${this.options.id}: node ${transfer.peer} refused snapshot ${transfer.snapshot.file}: ${message.error}`)
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

export interface SnapshotInboxOptions {
  id: number
  store: SnapshotStore
  send(message: RaftMessage): void
  /** The node's current term: chunks of older terms are ignored. */
  currentTerm(): number
  /**
   * The whole file arrived and is durable: hand it to the core. The follower answers "done"
   * only after this resolves, so the leader's next AppendEntries finds the log reset.
   */
  onComplete(message: InstallSnapshot, startedAt: number): Promise<void>
  logger: { warn(message: string): void }
}

/** The follower's side: the snapshot being received, written in order. */
export class SnapshotInbox {
  private receiver: SnapshotReceiver | undefined
  private receiving: { from: number; term: number; index: number; lastTerm: number } | undefined
  /** When the first chunk of the snapshot being received came (ms since 1970). */
  private receivingSince = 0
  /** Chunks are handled one after the other: file writes are asynchronous. */
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  private readonly options: SnapshotInboxOptions

  constructor(options: SnapshotInboxOptions) {
    this.options = options
  }

  onChunk(chunk: SnapshotChunk): void {
    this.queue = this.queue.then(() => this.handle(chunk)).catch((error: unknown) => {
      this.options.logger.warn(`node ${this.options.id}: snapshot from node ${chunk.from} failed: ${(error as Error).message}`)
      void this.drop()
    })
  }

  /** Drops a partial transfer and stops taking chunks. */
  async close(): Promise<void> {
    this.closed = true
    await this.queue
    await this.drop()
  }

  private async handle(chunk: SnapshotChunk): Promise<void> {
    if (this.closed || chunk.term < this.options.currentTerm()) return
    const same = this.receiving !== undefined && this.receiving.index === chunk.lastIncludedIndex && this.receiving.lastTerm === chunk.lastIncludedTerm
    if (!same) {
      await this.drop()
      this.receiver = await this.options.store.receive(chunk.lastIncludedIndex, chunk.lastIncludedTerm)
      this.receivingSince = Date.now()
    }
    this.receiving = { from: chunk.from, term: chunk.term, index: chunk.lastIncludedIndex, lastTerm: chunk.lastIncludedTerm }
    const receiver = this.receiver as SnapshotReceiver
    if (chunk.offset === receiver.heldBytes && chunk.data.length > 0) await receiver.write(chunk.offset, chunk.data)
    if (receiver.heldBytes < chunk.totalBytes) {
      this.answer(chunk, receiver.heldBytes, false, '')
      return
    }
    // Everything is here: check it whole, make it durable, hand it over, then say so.
    this.receiver = undefined
    this.receiving = undefined
    try {
      await receiver.finish()
    } catch (error) {
      this.answer(chunk, 0, false, (error as Error).message)
      return
    }
    await this.options.onComplete({ type: 'InstallSnapshot', from: chunk.from, to: this.options.id, term: chunk.term, lastIncludedIndex: chunk.lastIncludedIndex, lastIncludedTerm: chunk.lastIncludedTerm }, this.receivingSince)
    this.answer(chunk, chunk.totalBytes, true, '')
  }

  private answer(chunk: SnapshotChunk, heldBytes: number, done: boolean, error: string): void {
    this.options.send({
      type: 'SnapshotChunkResponse',
      from: this.options.id,
      to: chunk.from,
      term: this.options.currentTerm(),
      lastIncludedIndex: chunk.lastIncludedIndex,
      lastIncludedTerm: chunk.lastIncludedTerm,
      heldBytes,
      done,
      error,
    })
  }

  private async drop(): Promise<void> {
    const receiver = this.receiver
    this.receiver = undefined
    this.receiving = undefined
    await receiver?.abort()
  }
}
