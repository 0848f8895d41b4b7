// Takes snapshots of the state machine (Raft §7): when enough entries were applied since the last
// one, or when asked. The state machine's bytes are written to a snapshot file beside the Raft
// loop; once the file is durable the core is told (onTaken), and it decides what of the log may
// go (Ready.compactTo): the core is the only one that changes the log.
import type { SnapshotStore } from '../../storage/snapshot-store.js'
import type { SnapshotInfo, StateMachine } from '../state-machine.js'
import { chunksOf, startNow, type SnapshotData } from './snapshot-stream.js'
import { isDiskFullError } from '../../errors.js'

/** Snapshot files kept: the newest valid one and one older (a torn newest one falls back to it). */
export const snapshotsKept = 2
/**
 * After a snapshot the disk had no room for (its partial file is deleted), the next automatic one
 * waits this long, then twice as long after each further failure up to maxSnapshotRetryMs: a
 * full disk is not asked to take a whole snapshot after every applied slice.
 */
const firstSnapshotRetryMs = 1000
const maxSnapshotRetryMs = 60_000

export interface SnapshotterOptions {
  store: SnapshotStore
  stateMachine: StateMachine
  /** Entries applied since the last snapshot that trigger a new one. */
  threshold: number
  /** The newest durable snapshot at start, if any. */
  latest: SnapshotInfo | undefined
  /** Term of a log entry (the snapshot's last one is still in the log when it is taken). */
  termAt(index: number): number | undefined
  /** A snapshot is durable (after durationMs): the core may send it and compact the log behind it. */
  onTaken(snapshot: SnapshotInfo, durationMs: number): void
  /** The metadata stored with a snapshot at `index` (the Raft layer's configuration). */
  metadataAt(index: number): Uint8Array
  logger: { warn(message: string): void }
}

/**
 * Takes snapshots of the state machine into durable files, when enough entries were applied or when
 * asked, and tells the core.
 */
export class Snapshotter {
  private latestSnapshot: SnapshotInfo | undefined
  private inProgress: Promise<SnapshotInfo> | undefined
  /** After a snapshot the disk had no room for: no automatic one before this time (ms since 1970). */
  private retryAt = 0
  /** The pause after the next failure of that kind (doubles up to maxSnapshotRetryMs). */
  private retryMs = firstSnapshotRetryMs
  private readonly options: SnapshotterOptions

  constructor(options: SnapshotterOptions) {
    this.options = options
    this.latestSnapshot = options.latest
  }

  /** The state machine can be snapshotted (it has snapshot() and restore()). */
  get enabled(): boolean {
    return typeof this.options.stateMachine.snapshot === 'function' && typeof this.options.stateMachine.restore === 'function'
  }

  get latest(): SnapshotInfo | undefined {
    return this.latestSnapshot
  }

  /** A snapshot installed from the leader is now the newest. */
  installed(snapshot: SnapshotInfo): void {
    if (this.latestSnapshot === undefined || snapshot.index > this.latestSnapshot.index) this.latestSnapshot = { ...snapshot }
  }

  /** Where the next snapshot is due (the last one plus the threshold); undefined while one is written or when disabled. */
  get dueAt(): number | undefined {
    if (!this.enabled || this.inProgress !== undefined) return undefined
    return (this.latestSnapshot?.index ?? 0) + this.options.threshold
  }

  get busy(): boolean {
    return this.inProgress !== undefined
  }

  /**
   * Called between two entries: starts a snapshot when enough were applied since the last one
   * (with evenBelowThreshold, when any was: the log reached max_log_bytes).
   * `again` is called (between two entries) once it is done, to look again: the entries applied
   * while it was written may be enough for the next.
   */
  maybeTake(lastApplied: number, again?: () => void, options: { evenBelowThreshold?: boolean } = {}): void {
    if (!this.enabled || this.inProgress !== undefined || Date.now() < this.retryAt) return
    const since = lastApplied - (this.latestSnapshot?.index ?? 0)
    if (since < (options.evenBelowThreshold === true ? 1 : this.options.threshold)) return
    this.take(lastApplied).then(
      () => {
        this.retryMs = firstSnapshotRetryMs
        again?.()
      },
      (error: unknown) => {
        if (!isDiskFullError(error)) {
          this.options.logger.warn(`snapshot at index ${lastApplied} failed: ${(error as Error).message}`)
          return
        }
        // Its partial file is gone (the writer deletes it); the log stays as it was.
        this.retryAt = Date.now() + this.retryMs
        this.options.logger.warn(`snapshot at index ${lastApplied} failed: the disk has no room for it (${(error as Error).message}); the next one in ${this.retryMs / 1000} s at the earliest`)
        this.retryMs = Math.min(maxSnapshotRetryMs, this.retryMs * 2)
      },
    )
  }

  /**
   * Takes a snapshot of the state after entry `lastApplied`; must be called between two
   * applies. Resolves once the file is durable and the core was told.
   */
  take(lastApplied: number): Promise<SnapshotInfo> {
    if (this.inProgress !== undefined) return this.inProgress.then(() => this.take(lastApplied))
    if (this.latestSnapshot !== undefined && this.latestSnapshot.index >= lastApplied) return Promise.resolve(this.latestSnapshot)
    const term = this.options.termAt(lastApplied)
    if (term === undefined) return Promise.reject(new Error(`entry ${lastApplied} is not in the log`))
    const meta = { index: lastApplied, term }
    // Called now, between applies: the state machine captures its state at lastApplied.
    const produced = startNow((this.options.stateMachine.snapshot as () => SnapshotData).call(this.options.stateMachine))
    const metadata = this.options.metadataAt(lastApplied)
    const work = this.write(meta, produced, metadata).finally(() => {
      this.inProgress = undefined
    })
    this.inProgress = work
    return work
  }

  /** Waits for a snapshot being written. */
  async idle(): Promise<void> {
    await this.inProgress?.catch(() => undefined)
  }

  private async write(meta: SnapshotInfo, produced: SnapshotData, metadata: Uint8Array): Promise<SnapshotInfo> {
    const started = performance.now()
    const writer = await this.options.store.create({ ...meta, metadata })
    try {
      for await (const chunk of chunksOf(produced)) await writer.write(chunk)
      await writer.finish()
    } catch (error) {
      await writer.abort()
      throw error
    }
    this.latestSnapshot = meta
    this.options.onTaken(meta, performance.now() - started)
    return meta
  }
}
