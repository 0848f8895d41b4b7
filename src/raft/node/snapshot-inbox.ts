// The follower's side of a snapshot transfer (snapshot-transfer.ts has the leader's): the chunks
// of the snapshot being received, written in order to a partial file, and the bounds that keep a
// sender from filling the disk. A chunk is taken only from the leader of this node's current
// term (any other member, or a stranger on a plaintext port, could otherwise send one); a
// transfer is bounded by the size its first chunk declares, which must fit the free disk space;
// and a transfer that gets no chunk for stallTimeoutMs is given up and its partial file deleted,
// rather than left until the next restart.
import { statfs } from 'node:fs/promises'
import type { SnapshotReceiver, SnapshotStore } from '../../storage/snapshot-store.js'
import type { InstallSnapshot, RaftMessage, SnapshotChunk } from '../core/messages.js'

/** Default of stallTimeoutMs: well past the sender's own give-up (10 s), so a resent snapshot resumes. */
export const defaultSnapshotStallTimeoutMs = 30_000

export interface SnapshotInboxOptions {
  id: number
  store: SnapshotStore
  send(message: RaftMessage): void
  /** The node's current term: chunks of any other term are ignored. */
  currentTerm(): number
  /** The leader this node knows in its current term (0: none): chunks from any other node are ignored. */
  leaderId(): number
  /**
   * The whole file arrived and is durable: hand it to the core. The follower answers "done"
   * only after this resolves, so the leader's next AppendEntries finds the log reset.
   */
  onComplete(message: InstallSnapshot, startedAt: number): Promise<void>
  logger: { warn(message: string): void }
  /** A transfer with no chunk for this long is given up and its partial file deleted (ms). */
  stallTimeoutMs?: number
  /** Bytes free for this node's files in `dir` (default: statfs). Tests give their own. */
  freeBytes?: (dir: string) => Promise<number>
  /**
   * Why no snapshot is taken now, if none is (the node's log cannot grow: installing one needs a
   * new segment): a transfer is refused at its first chunk, saying so, and the leader tries later.
   */
  refusal?: () => string | undefined
}

/** The transfer under way: which snapshot, from whom, and the size its first chunk declared. */
interface Receiving {
  from: number
  index: number
  lastTerm: number
  totalBytes: number
  receiver: SnapshotReceiver
  /** When its first chunk came (ms since 1970). */
  since: number
  stallTimer: NodeJS.Timeout
}

async function statfsFreeBytes(dir: string): Promise<number> {
  const stats = await statfs(dir)
  return stats.bavail * stats.bsize
}

/**
 * A follower's side of a snapshot transfer: takes chunks only from the leader of its term, bounded
 * by the declared size and the free disk, and gives a stalled transfer up.
 */
export class SnapshotInbox {
  private receiving: Receiving | undefined
  /** Chunks are handled one after the other: file writes are asynchronous. */
  private queue: Promise<void> = Promise.resolve()
  private closed = false
  private readonly options: SnapshotInboxOptions
  private readonly stallTimeoutMs: number
  private readonly freeBytes: (dir: string) => Promise<number>

  constructor(options: SnapshotInboxOptions) {
    this.options = options
    this.stallTimeoutMs = options.stallTimeoutMs ?? defaultSnapshotStallTimeoutMs
    this.freeBytes = options.freeBytes ?? statfsFreeBytes
  }

  onChunk(chunk: SnapshotChunk): void {
    // Checked as it arrives, not later in the queue: a chunk of a node that is not the leader
    // now never reaches the disk.
    if (!this.fromLeader(chunk)) return
    this.enqueue(() => this.handle(chunk), `snapshot from node ${chunk.from} failed`)
  }

  /** Drops a partial transfer and stops taking chunks. */
  async close(): Promise<void> {
    this.closed = true
    await this.queue
    await this.drop()
  }

  private enqueue(work: () => Promise<void>, failure: string): void {
    this.queue = this.queue.then(work).catch((error: unknown) => {
      this.options.logger.warn(`node ${this.options.id}: ${failure}: ${(error as Error).message}`)
      return this.drop()
    })
  }

  private fromLeader(chunk: SnapshotChunk): boolean {
    return chunk.term === this.options.currentTerm() && chunk.from === this.options.leaderId()
  }

  private async handle(chunk: SnapshotChunk): Promise<void> {
    if (this.closed || !this.fromLeader(chunk)) return
    const receiving = this.isReceiving(chunk) ? (this.receiving as Receiving) : await this.begin(chunk)
    if (receiving === undefined) return
    this.receiving = receiving
    receiving.from = chunk.from
    receiving.stallTimer.refresh()
    const receiver = receiving.receiver
    // The size the first chunk declared bounds the file, whatever later chunks declare.
    const fits = chunk.offset + chunk.data.length <= receiving.totalBytes
    if (chunk.offset === receiver.heldBytes && chunk.data.length > 0 && fits) await receiver.write(chunk.offset, chunk.data)
    if (receiver.heldBytes < receiving.totalBytes) this.answer(chunk, receiver.heldBytes, false, '')
    else await this.complete(chunk, receiving)
  }

  /** The chunk belongs to the transfer under way: the same snapshot. */
  private isReceiving(chunk: SnapshotChunk): boolean {
    const current = this.receiving
    return current !== undefined && current.index === chunk.lastIncludedIndex && current.lastTerm === chunk.lastIncludedTerm
  }

  /**
   * Starts receiving the chunk's snapshot (resuming a partial copy of it), or refuses it, saying
   * why, when what is still to come does not fit the free disk space.
   */
  private async begin(chunk: SnapshotChunk): Promise<Receiving | undefined> {
    await this.drop()
    const refused = this.options.refusal?.()
    if (refused !== undefined) {
      this.answer(chunk, 0, false, `node ${this.options.id}: ${refused}`)
      return undefined
    }
    let receiver = await this.options.store.receive(chunk.lastIncludedIndex, chunk.lastIncludedTerm)
    if (receiver.heldBytes > chunk.totalBytes) {
      // A partial copy longer than the file now declared: another file under the same name.
      await receiver.abort()
      receiver = await this.options.store.receive(chunk.lastIncludedIndex, chunk.lastIncludedTerm)
    }
    const free = await this.freeBytes(this.options.store.dir)
    const missing = chunk.totalBytes - receiver.heldBytes
    if (missing > free) {
      await receiver.abort()
      const problem = `snapshot ${chunk.lastIncludedIndex} of ${chunk.totalBytes} bytes does not fit: ${missing} bytes still to come, ${free} free in ${this.options.store.dir}`
      this.options.logger.warn(`node ${this.options.id}: refused ${problem}`)
      this.answer(chunk, 0, false, `node ${this.options.id}: ${problem}`)
      return undefined
    }
    const stallTimer = setTimeout(() => this.stalled(chunk.lastIncludedIndex), this.stallTimeoutMs)
    stallTimer.unref()
    return { from: chunk.from, index: chunk.lastIncludedIndex, lastTerm: chunk.lastIncludedTerm, totalBytes: chunk.totalBytes, receiver, since: Date.now(), stallTimer }
  }

  /** No chunk for stallTimeoutMs: the sender is gone or gave up; its partial file goes too. */
  private stalled(index: number): void {
    this.enqueue(async () => {
      const receiving = this.receiving
      if (receiving === undefined || receiving.index !== index) return
      this.options.logger.warn(`node ${this.options.id}: snapshot ${index} from node ${receiving.from} got no chunk for ${this.stallTimeoutMs} ms (${receiving.receiver.heldBytes} of ${receiving.totalBytes} bytes); its partial file is deleted`)
      await this.drop()
    }, `dropping stalled snapshot ${index} failed`)
  }

  /** Everything is here: check it whole, make it durable, hand it over, then say so. */
  private async complete(chunk: SnapshotChunk, receiving: Receiving): Promise<void> {
    clearTimeout(receiving.stallTimer)
    this.receiving = undefined
    try {
      await receiving.receiver.finish()
    } catch (error) {
      this.answer(chunk, 0, false, (error as Error).message)
      return
    }
    await this.options.onComplete({ type: 'InstallSnapshot', from: chunk.from, to: this.options.id, term: chunk.term, lastIncludedIndex: chunk.lastIncludedIndex, lastIncludedTerm: chunk.lastIncludedTerm }, receiving.since)
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
    const receiving = this.receiving
    this.receiving = undefined
    if (receiving === undefined) return
    clearTimeout(receiving.stallTimer)
    await receiving.receiver.abort()
  }
}
