// RaftLog: the log of one node, as segment files kept in a map sorted by base index.
//
// Appends build frames in the open segment's write buffer: no system call per entry. flush()
// makes everything appended so far durable with one pwrite and one fdatasync per dirty segment,
// and seals the segments that filled up since the last flush (their frames are durable first).
// Reads go through each segment's memory mapping.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { refuseUnknownOptions } from '../known-options.js'
import { EntryType, type LogEntry, type NewEntry } from './log-entry.js'
import { RaftLogError } from '../errors.js'
import { directoryMode } from './file-modes.js'
import { allocateFileAsync, fsyncDirectory, fsyncDirectoryAsync, isLockHeld, lockFile, pageSizeBytes, recycleFileAsync, unlockFile } from './native.js'
import { Segment, type RecoveryReport } from './segment.js'
import {
  alignUp,
  defaultSegmentSizeBytes,
  flagResetBase,
  frameSizeBytes,
  headerSizeBytes,
  isDroppedSegmentName,
  isRecycledSegmentName,
  isRecyclableSize,
  maxEntrySizeBytes,
  maxSegmentSizeBytes,
  offsetTableSizeBytes,
  parseSegmentFileName,
  recycledDataEnd,
  recycledSegmentPath,
} from './segment-format.js'
import { planRecovery, type Damage, type RecoveryPlan, type SegmentFacts } from './recovery-plan.js'
import { systemError } from './system-error.js'
import { outOfRange, requireBytes, requirePositiveWholeNumber, requireString, requireWholeNumber } from './validate.js'

export interface RaftLogOptions {
  /** Size of each new segment file in bytes: a multiple of the page size. Default 64 MiB. */
  segmentSize?: number
  /**
   * Files that compaction frees to keep and reuse as the next segments, 0 to maxRecycledSegments
   * (default maxRecycledSegments, 2). 0 deletes every freed file, as version 1 did.
   */
  recycledSegments?: number
  /** Where recovery reports what it cut off or removed. Default: console. */
  logger?: { warn(message: string): void }
}

const raftLogOptionNames = { segmentSize: true, recycledSegments: true, logger: true } satisfies Record<keyof RaftLogOptions, true>

export interface SliceOptions {
  /** Stop before the payloads would exceed this many bytes; the first entry is always returned. */
  maxBytes?: number
}

/** Counters since the log was opened, for metrics. */
export interface RaftLogStats {
  entriesAppended: number
  /** Payload bytes appended. */
  bytesAppended: number
  /** Segments made by rotations. */
  segmentsRotated: number
  /** flush() and flushSync() calls that synced something. */
  flushes: number
  /** Rotations that reused a file compaction freed instead of making one. */
  segmentsRecycled: number
}

/** What open() found and repaired. */
export interface OpenReport extends RecoveryReport {
  /** Segment files deleted: leftovers of an interrupted reset(), or files after the end of what can have been acknowledged. */
  removedSegments: string[]
  /** A last segment whose header never reached the disk, started afresh. */
  reinitializedSegments: string[]
}

/**
 * Files that compaction frees and the log keeps to reuse as its next segments (PostgreSQL's
 * wal_recycle, RocksDB's recycle_log_file_num), at most this many; the others are deleted. A
 * reused file's blocks were written before, so its first writes need no metadata (as a
 * zero-filled one's), and it was never written twice to get there (as a zero-filled one was).
 */
export const maxRecycledSegments = 2
/** On by default: a log compacted behind (a node taking snapshots) then writes each byte once. */
const defaultRecycledSegments = maxRecycledSegments
/** Payload bytes per flush below which a log's spares are zero-filled (see prepareSpare). */
const smallFlushBytes = 256 * 1024
/**
 * Sealed segments whose pages stay cached (with the open one): followers a little behind read
 * them, and compaction behind a snapshot recycles them. Recycling reads the file whole (its recycle
 * record checksums the old content), so a file whose pages were dropped is deleted instead.
 */
const cachedSealedSegments = 2
const lockFileName = 'LOCK'
/**
 * The next segment's file while it is made ready on the thread pool. Each instance names its own,
 * so a closed log's late preallocation never touches the spare of a log opened after it on the
 * same directory. open() removes any a crash left, and next-segment.tmp (the earlier name).
 */
const spareFilePattern = /^next-segment(-[0-9a-f]{12})?\.tmp$/

function isSpareFileName(name: string): boolean {
  return spareFilePattern.test(name)
}

/**
 * The durable log of one node: entries by index (from firstIndex to lastIndex) in segment files
 * of segmentSize bytes, one writer per directory (a LOCK file, ERR_LOCKED otherwise). append()
 * returns at once; flush() makes every entry appended before it durable (survives kill -9 and
 * power loss); truncateAfter and reset change the log durably before they return; compact's
 * removals become durable with the next flush (a crash before it brings back whole segments at
 * the start of the log, never a hole).
 * open() recovers what a crash left and refuses damage to acknowledged data (ERR_CORRUPT).
 * After an I/O error the log refuses writes (ERR_IO) until it is reopened. It knows nothing of
 * Raft: terms are numbers its caller gives.
 */
export class RaftLog {
  readonly dir: string
  /** What recovery did when this log was opened. */
  readonly recovery: OpenReport
  /** Counters since open, for metrics. */
  readonly stats: RaftLogStats = { entriesAppended: 0, bytesAppended: 0, segmentsRotated: 0, flushes: 0, segmentsRecycled: 0 }
  private readonly segmentSizeBytes: number
  /** How many freed files this log keeps for reuse (RaftLogOptions.recycledSegments). */
  private recycledSegmentsMax = defaultRecycledSegments
  /** Sorted by base index, contiguous, never empty while open. The last one takes appends. */
  private segments: Segment[] = []
  /** Full segments whose frames are not durable yet; flush() syncs and seals them. */
  private pendingSeal: Segment[] = []
  private lockFd: number | undefined
  private closed = false
  private failure: RaftLogError | undefined
  private flushInFlight: Promise<void> | undefined
  private flushQueued: Promise<void> | undefined
  /** A segment was made or compacted away since the directory was last synced. */
  private directoryUnsynced = false
  /** What the flush() in flight syncs, so that flushSync() can cover it too. */
  private sealingInFlight: Segment[] = []
  private directorySyncInFlight = false
  /** The next segment's file, made ready on the thread pool while the tail fills. */
  private spare: { path: string; sizeBytes: number; ready: boolean; done: Promise<void> } | undefined
  /** stats.flushes and stats.bytesAppended when the open segment was made, and the flushes of the one before it: see prepareSpare. */
  private flushesAtRotation = 0
  private bytesAtRotation = 0
  private previousSegmentFlushes = { flushes: 0, bytes: 0 }
  /** Files compaction freed, kept for the next rotations; ready once their recycle record is durable. */
  private recycled: { path: string; ready: boolean; done: Promise<void> }[] = []
  /** Names this instance's spare and recycled files, so that a closed instance's late work never touches a later one's. */
  private readonly owner = randomBytes(6).toString('hex')
  /** This instance's name for it. */
  private readonly spareFileName = `next-segment-${this.owner}.tmp`

  private constructor(dir: string, lockFd: number, segmentSizeBytes: number) {
    this.dir = dir
    this.lockFd = lockFd
    this.segmentSizeBytes = segmentSizeBytes
    this.recovery = { cutBytes: 0, cutFrames: 0, removedSegments: [], reinitializedSegments: [] }
  }

  /** Opens the log in `dir` (created if missing), locks it against other opens, and recovers it. */
  static open(dir: string, options: RaftLogOptions = {}): RaftLog {
    requireString(dir, 'dir', 'RaftLog.open')
    refuseUnknownOptions(options, raftLogOptionNames, 'RaftLog.open')
    const segmentSizeBytes = checkSegmentSize(options.segmentSize)
    const recycledSegments =
      options.recycledSegments === undefined
        ? defaultRecycledSegments
        : Math.min(requireWholeNumber(options.recycledSegments, 'options.recycledSegments', 'RaftLog.open'), maxRecycledSegments)
    try {
      mkdirSync(dir, { recursive: true, mode: directoryMode })
    } catch (error) {
      throw systemError(error, `Cannot create log directory ${dir}`)
    }
    refuseSharedDirectory(dir)
    const lockFd = lockDirectory(dir)
    const log = new RaftLog(dir, lockFd, segmentSizeBytes)
    log.recycledSegmentsMax = recycledSegments
    try {
      log.load()
    } catch (error) {
      log.releaseAll()
      throw error
    }
    const { cutBytes, cutFrames, removedSegments, reinitializedSegments } = log.recovery
    if (cutBytes > 0 || removedSegments.length > 0 || reinitializedSegments.length > 0) {
      ;(options.logger ?? console).warn(
        `raftlog: recovered ${dir}: cut ${cutBytes} bytes (${cutFrames} checksummed frames) after the last valid entry` +
          `${removedSegments.length > 0 ? `, removed ${removedSegments.join(', ')}` : ''}` +
          `${reinitializedSegments.length > 0 ? `, reinitialised ${reinitializedSegments.join(', ')}` : ''}`,
      )
    }
    return log
  }

  /** Index of the first entry still held; 1 for a new log. */
  get firstIndex(): number {
    this.assertOpen('firstIndex')
    return this.head.baseIndex
  }

  /** Index of the last entry; firstIndex − 1 when the log is empty. */
  get lastIndex(): number {
    this.assertOpen('lastIndex')
    return this.tail.nextIndex - 1
  }

  /** Term of the last entry; the term before firstIndex when empty (0 for a new log). */
  get lastTerm(): number {
    this.assertOpen('lastTerm')
    return lastTermOf(this.tail)
  }

  /** Appends entries after lastIndex and returns the new lastIndex. Durable after flush(). */
  append(entries: readonly NewEntry[]): number {
    this.assertWritable('append')
    const payloadBytes = checkNewEntries(entries, this.lastTerm)
    const lastBefore = this.lastIndex
    try {
      // Runs of entries into one segment: the per-entry work stays inside Segment.appendEntries.
      for (let position = 0; position < entries.length; ) {
        const length = (entries[position] as NewEntry).data?.length ?? 0
        let segment = this.tail
        if (segment.isSealed || !segment.hasRoomFor(length)) segment = this.rotate(length)
        position = segment.appendEntries(entries, position)
      }
    } catch (error) {
      // A new segment could not be made (a full disk, say): take back this call's entries, so
      // that the log is as it was (an append is all or nothing) and the same call can be made
      // again once there is room.
      this.truncateAfter(lastBefore)
      throw error
    }
    this.stats.entriesAppended += entries.length
    this.stats.bytesAppended += payloadBytes
    // The next segment's file is made on the thread pool once the tail is half full, or at once
    // in a log that has filled one since it opened: at a writer's full speed its zero-fill, paced
    // so that flushes never queue behind it, needs most of a segment's time.
    const tail = this.tail
    if (this.spare === undefined && this.recycled.length === 0 && (this.stats.segmentsRotated > 0 || tail.usedBytes * 2 > tail.sizeBytes)) void this.prepareSpare()
    return this.lastIndex
  }

  /** The entry at `index` (its data a copy), or undefined past lastIndex. */
  get(index: number): LogEntry | undefined {
    this.assertOpen('get')
    requireWholeNumber(index, 'index', 'RaftLog.get')
    if (index > this.lastIndex) return undefined
    this.checkNotCompacted(index, 'RaftLog.get')
    return this.segmentFor(index).read(index)
  }

  /** Entries from `from` up to `to` (exclusive, default lastIndex + 1). */
  slice(from: number, to?: number, options: SliceOptions = {}): LogEntry[] {
    this.assertOpen('slice')
    requireWholeNumber(from, 'from', 'RaftLog.slice')
    const end = to === undefined ? this.lastIndex + 1 : requireWholeNumber(to, 'to', 'RaftLog.slice')
    const maxBytes = options.maxBytes === undefined ? Infinity : requirePositiveWholeNumber(options.maxBytes, 'maxBytes', 'RaftLog.slice')
    if (from > end) throw outOfRange(to === undefined ? `RaftLog.slice: from ${from} is past the end of the log (lastIndex ${this.lastIndex})` : `RaftLog.slice: from ${from} is after to ${end}`, { from, to: end })
    if (end > this.lastIndex + 1) {
      throw outOfRange(`RaftLog.slice: to ${end} is past the end of the log (lastIndex ${this.lastIndex})`, { to: end })
    }
    if (from === end) return []
    this.checkNotCompacted(from, 'RaftLog.slice')
    const entries: LogEntry[] = []
    let bytes = 0
    let position = this.segmentPosition(from)
    for (let index = from; index < end; index++) {
      let segment = this.segments[position] as Segment
      if (index >= segment.nextIndex) segment = this.segments[++position] as Segment
      bytes += segment.payloadLength(index)
      if (bytes > maxBytes && entries.length > 0) break
      entries.push(segment.read(index))
    }
    return entries
  }

  /**
   * Indexes of the entries of `type` from `from` (default firstIndex) to lastIndex, read from
   * the frame headers without copying payloads: how a reader finds its rare entries (the Raft
   * layer's configuration entries) in a long log.
   */
  indexesOfType(type: EntryType, from = this.firstIndex): number[] {
    this.assertOpen('indexesOfType')
    requireWholeNumber(from, 'from', 'RaftLog.indexesOfType')
    if (from > this.lastIndex) return []
    this.checkNotCompacted(from, 'RaftLog.indexesOfType')
    const found: number[] = []
    let position = this.segmentPosition(from)
    for (let index = from; index <= this.lastIndex; index++) {
      let segment = this.segments[position] as Segment
      if (index >= segment.nextIndex) segment = this.segments[++position] as Segment
      if (segment.typeAt(index) === type) found.push(index)
    }
    return found
  }

  /** Term of the entry at `index`; also answers firstIndex − 1. Undefined outside the log. */
  termAt(index: number): number | undefined {
    this.assertOpen('termAt')
    requireWholeNumber(index, 'index', 'RaftLog.termAt')
    const head = this.head
    if (index === head.baseIndex - 1) return head.prevTerm
    if (index < head.baseIndex || index > this.lastIndex) return undefined
    return this.segmentFor(index).termAt(index)
  }

  /**
   * Drops every entry after `index` (a Raft conflict), durably when it returns: later segments
   * are deleted from the last backwards, then the removed frames are zeroed and synced.
   */
  truncateAfter(index: number): void {
    this.assertWritable('truncateAfter')
    requireWholeNumber(index, 'index', 'RaftLog.truncateAfter')
    const first = this.head.baseIndex
    if (index < first - 1) {
      throw outOfRange(`RaftLog.truncateAfter: index ${index} is before the log, which starts at ${first}`, { index })
    }
    if (index >= this.lastIndex) return
    this.guard(() => {
      let deleted = false
      while (this.segments.length > 1 && this.tail.baseIndex > index) {
        this.dropSegment(this.segments.pop() as Segment)
        deleted = true
      }
      if (deleted) syncDirectory(this.dir)
      const tail = this.tail
      this.pendingSeal = this.pendingSeal.filter((segment) => segment !== tail)
      const keepCount = index + 1 - tail.baseIndex
      if (keepCount < tail.entryCount) tail.truncate(keepCount)
    })
  }

  /**
   * Drops whole segments whose every entry is at or before `upTo`, oldest first, so a crash
   * never leaves a hole. The last segment always stays; entries after upTo always stay. Their
   * removal is durable with the next flush (or close).
   */
  compact(upTo: number): void {
    this.assertWritable('compact')
    requireWholeNumber(upTo, 'upTo', 'RaftLog.compact')
    this.guard(() => {
      const keep = this.segments.findIndex((segment) => segment.nextIndex - 1 > upTo)
      const newHead = this.segments[keep === -1 ? this.segments.length - 1 : keep] as Segment
      if (newHead === this.head) return
      // The new head's header carries the term before the log's new first index: it must be
      // durable before the segments holding that entry go (a rotation leaves it to the next flush).
      newHead.syncHeader()
      while (this.head !== newHead) this.dropSegment(this.segments.shift() as Segment, true)
      // Durable with the next flush, on the thread pool: a directory fsync here waits for the
      // journal (10-20 ms beside a zero-fill), and a crash before it only brings back segments
      // whose entries the caller no longer needs.
      this.directoryUnsynced = true
    })
  }

  /**
   * Empties the log so that its next entry is `nextIndex` and termAt(nextIndex − 1) is
   * `prevTerm` (after installing a snapshot). Durable when it returns; a crash part way leaves
   * either the old log or the new one.
   */
  reset(nextIndex: number, prevTerm: number): void {
    this.assertWritable('reset')
    requirePositiveWholeNumber(nextIndex, 'nextIndex', 'RaftLog.reset')
    requireWholeNumber(prevTerm, 'prevTerm', 'RaftLog.reset')
    this.guard(() => {
      // The new segment's blocks first (a full disk refuses them with ENOSPC): until they are
      // had, nothing changes, and the log is as it was. Then the segments at or above the new
      // base go, newest first, since the new segment may take one's name; the reset flag tells
      // recovery that every segment below it is a leftover to delete.
      let dropped = false
      const dropFromNewBase = (): void => {
        dropped = true
        while (this.segments.length > 0 && this.tail.baseIndex >= nextIndex) this.dropSegment(this.segments.pop() as Segment)
      }
      let fresh: Segment
      try {
        fresh = Segment.create(this.dir, nextIndex, prevTerm, this.segmentSizeBytes, flagResetBase, dropFromNewBase)
      } catch (error) {
        // Failed after segments went: on disk it is a truncated old log, which this instance no
        // longer describes; reopening reads it again.
        if (dropped) throw this.fail(error)
        throw error
      }
      for (const segment of this.segments) this.dropSegment(segment)
      this.segments = [fresh]
      this.pendingSeal = []
      syncDirectory(this.dir)
    })
  }

  /** Resolves when every entry appended before the call is durable (survives kill -9 and power loss). */
  flush(): Promise<void> {
    try {
      this.assertWritable('flush')
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.flushInFlight === undefined) return this.startFlush()
    // One flush is running. A second one, shared by every caller until it starts, covers what
    // was appended meanwhile: one fdatasync serves them all.
    this.flushQueued ??= this.flushInFlight
      .catch(() => undefined)
      .then(() => {
        this.flushQueued = undefined
        // A failed log has nothing durable to promise; close() flushed synchronously.
        if (this.failure !== undefined) return Promise.reject(this.failure)
        if (this.closed) return undefined
        return this.startFlush()
      })
    return this.flushQueued
  }

  /** flush(), synchronously on this thread. */
  flushSync(): void {
    this.assertWritable('flushSync')
    this.stats.flushes++
    this.guard(() => {
      // What a flush() in flight is still syncing counts too: this call returns only when it is durable.
      let sealed = false
      for (const segment of [...this.sealingInFlight, ...this.pendingSeal.splice(0)]) {
        if (!this.awaitsSeal(segment)) continue
        segment.syncData()
        segment.seal()
        sealed = true
      }
      if (sealed) this.dropCacheBehind()
      this.tail.syncData()
      if (this.directoryUnsynced || this.directorySyncInFlight) {
        this.directoryUnsynced = false
        syncDirectory(this.dir)
      }
    })
  }

  /** Makes everything durable, unmaps the segments and releases the lock. Idempotent. */
  close(): void {
    if (this.closed) return
    try {
      if (this.failure === undefined) this.flushSync()
    } finally {
      this.releaseAll()
    }
  }

  /** Segment file names with their ranges, oldest first: for tools and tests. */
  describeSegments(): { file: string; baseIndex: number; entryCount: number; sealed: boolean; usedBytes: number; sizeBytes: number }[] {
    this.assertOpen('describeSegments')
    return this.segments.map((segment) => ({
      file: segment.fileName,
      baseIndex: segment.baseIndex,
      entryCount: segment.entryCount,
      sealed: segment.isSealed,
      usedBytes: segment.usedBytes,
      sizeBytes: segment.sizeBytes,
    }))
  }

  private get head(): Segment {
    return this.segments[0] as Segment
  }

  private get tail(): Segment {
    return this.segments[this.segments.length - 1] as Segment
  }

  private startFlush(): Promise<void> {
    this.stats.flushes++
    const sealing = this.pendingSeal.splice(0)
    this.sealingInFlight = sealing
    const syncs = [...sealing, this.tail].map((segment) => segment.syncDataAsync())
    if (this.directoryUnsynced) {
      this.directoryUnsynced = false
      this.directorySyncInFlight = true
      syncs.push(syncDirectoryAsync(this.dir).finally(() => (this.directorySyncInFlight = false)))
    }
    const flush = Promise.all(syncs)
      .then(() => {
        let sealed = false
        for (const segment of sealing) {
          // Seal only what is still a full, fully synced segment of this log: a truncation or
          // reset meanwhile may have reopened or deleted it.
          if (!this.awaitsSeal(segment)) continue
          if (segment.hasUnsyncedBytes) {
            this.pendingSeal.push(segment)
          } else {
            segment.seal()
            sealed = true
          }
        }
        if (sealed) this.dropCacheBehind()
      })
      .catch((error: unknown) => {
        throw this.fail(error)
      })
      .finally(() => {
        this.flushInFlight = undefined
        this.sealingInFlight = []
      })
    this.flushInFlight = flush
    return flush
  }

  /**
   * Frees the cached pages of every sealed segment older than the newest `cachedSealedSegments`
   * sealed ones, as PostgreSQL does for each WAL segment it closes: a log is written once and
   * seldom read again, and its next writes then reuse the pages just freed instead of taking new
   * ones, which on a virtual machine whose host took free memory back cost more than the write
   * itself (1 KiB x 1,024 durable: 1.3-1.5 ms a batch, 3.5-4 ms once new pages run out). Walks back
   * from the newest until a segment already dropped: after a restart, all the older ones go once.
   * Called after seals, never between them: a drop is a hint and never fails a flush.
   */
  private dropCacheBehind(): void {
    let kept = 0
    for (let at = this.segments.length - 1; at >= 0; at--) {
      const segment = this.segments[at] as Segment
      if (!segment.isSealed) continue
      if (kept < cachedSealedSegments) {
        kept++
        continue
      }
      if (segment.isCacheDropped) return
      segment.dropCache()
    }
  }

  /** Still a full, unsealed segment of this log: a truncation or reset may have reopened or deleted it. */
  private awaitsSeal(segment: Segment): boolean {
    return this.segments.includes(segment) && segment !== this.tail && !segment.isSealed
  }

  /** Starts a new segment after the tail for an entry of `payloadLength` bytes. */
  private rotate(payloadLength: number): Segment {
    const previous = this.tail
    const neededBytes = headerSizeBytes + frameSizeBytes(payloadLength) + offsetTableSizeBytes(1)
    // An entry larger than a whole segment gets a segment of its own, sized to fit.
    const sizeBytes = Math.max(this.segmentSizeBytes, alignUp(neededBytes, pageSizeBytes()))
    if (previous.entryCount === 0 && !previous.isSealed) {
      // An empty open tail too small for this entry is replaced under the same name.
      const replacement = Segment.create(this.dir, previous.baseIndex, previous.prevTerm, sizeBytes, previous.isResetBase ? flagResetBase : 0)
      previous.close()
      this.segments[this.segments.length - 1] = replacement
      return replacement
    }
    // No disk wait on the append path: the file was made ready on the thread pool, and its
    // header and directory entry become durable with the next flush, before anything written
    // here is acknowledged.
    const recycledAt = sizeBytes === this.segmentSizeBytes ? this.recycled.findIndex((file) => file.ready) : -1
    const recycled = recycledAt === -1 ? undefined : this.recycled.splice(recycledAt, 1)[0]
    const spare = recycled === undefined && this.spare?.ready === true && this.spare.sizeBytes === sizeBytes ? this.spare : undefined
    if (spare !== undefined) this.spare = undefined
    const next = Segment.createForRotation(this.dir, previous.nextIndex, lastTermOf(previous), sizeBytes, spare?.path, recycled?.path)
    if (next.isRecycled) this.stats.segmentsRecycled++
    this.directoryUnsynced = true
    if (!previous.isSealed) {
      previous.writeOut()
      this.pendingSeal.push(previous)
    }
    this.segments.push(next)
    this.stats.segmentsRotated++
    this.previousSegmentFlushes = this.openSegmentFlushes()
    this.flushesAtRotation = this.stats.flushes
    this.bytesAtRotation = this.stats.bytesAppended
    return next
  }

  /**
   * Resolves once every file compaction freed so far is ready for reuse (or was given up), so the
   * next rotations take them whatever the timing: crash-test's writer waits for it after each
   * compaction, so that a seed replays a run exactly. Never rejects.
   */
  recyclingSettled(): Promise<void> {
    return Promise.all(this.recycled.map((file) => file.done)).then(() => undefined)
  }

  /**
   * Writes the recycle record of a file compaction freed on the thread pool; rotate() reuses it
   * once that is durable. A failure (a full disk) only loses the file: the next rotation makes one.
   */
  private startRecycling(path: string): void {
    const file = { path, ready: false, done: Promise.resolve() }
    this.recycled.push(file)
    // The directory synced too before the file is reused: its old name must be gone for good before
    // new frames overwrite what that name held (a crash would otherwise show a segment's name
    // over another segment's content).
    const made = recycleFileAsync(path, recycledDataEnd(this.segmentSizeBytes)).then(() => fsyncDirectoryAsync(this.dir))
    file.done = made.then(
      () => {
        file.ready = true
        // Closed (or reset) meanwhile: nobody will take it.
        if (!this.recycled.includes(file)) rmSync(path, { force: true })
      },
      () => {
        this.recycled = this.recycled.filter((other) => other !== file)
        rmSync(path, { force: true })
      },
    )
  }

  /** Flushes since the open segment was made, and the payload bytes appended meanwhile. */
  private openSegmentFlushes(): { flushes: number; bytes: number } {
    return { flushes: this.stats.flushes - this.flushesAtRotation, bytes: this.stats.bytesAppended - this.bytesAtRotation }
  }

  /**
   * Starts making the next segment's file on the thread pool; rotate() takes it when ready. Its
   * blocks are written with zeros when the log's flushes are small (under smallFlushBytes of
   * payload each on average, over the open segment, or the one before while the open one has had
   * none): a small flush into written blocks commits no metadata, which is most of its cost. A log
   * written without flushes, or flushed in large batches, gets them only reserved: the zeros would
   * double what reaches the device, for flushes that gain little or nothing from them.
   */
  private prepareSpare(): Promise<void> {
    const path = join(this.dir, this.spareFileName)
    const spare = { path, sizeBytes: this.segmentSizeBytes, ready: false, done: Promise.resolve() }
    this.spare = spare
    const current = this.openSegmentFlushes()
    const basis = current.flushes > 0 ? current : this.previousSegmentFlushes
    const flushed = basis.flushes > 0 && basis.bytes / basis.flushes < smallFlushBytes
    spare.done = allocateFileAsync(path, spare.sizeBytes, flushed).then(
      () => {
        spare.ready = true
        // Closed (or reset) while it was being made: nobody will take it.
        if (this.spare !== spare) rmSync(path, { force: true })
      },
      (error: unknown) => {
        // No spare (a full disk, say): the rotation makes its file itself and reports the error.
        if (this.spare === spare) this.spare = undefined
        rmSync(path, { force: true })
        throw systemError(error, `Cannot make the next segment's file in ${this.dir}`)
      },
    )
    // Nobody may wait for it (reserveNextSegment does): a failure is the rotation's to report.
    spare.done.catch(() => undefined)
    return spare.done
  }

  /**
   * Makes the next segment's file now (on the thread pool, its blocks written or reserved: see
   * prepareSpare), so that the next
   * rotation takes no new space; resolves once it is ready, rejects with the system's error
   * (ENOSPC, EDQUOT) when the disk has no room for it. A node paused on a full disk calls it to
   * find out that space is back: once it resolves, the room for the next segment is held.
   */
  reserveNextSegment(): Promise<void> {
    try {
      this.assertWritable('reserveNextSegment')
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.recycled.some((file) => file.ready)) return Promise.resolve()
    // A freed file being made ready serves as well, unless that fails.
    const recycling = this.recycled[0]
    if (recycling !== undefined) return recycling.done.then(() => this.reserveNextSegment())
    return this.spare?.done ?? this.prepareSpare()
  }

  /**
   * Bytes of the entries the log holds, in its segments (their headers and frames, from the
   * first segment to the open one): what max_log_bytes bounds. The files, made whole when
   * created, take up to a segment (and a spare) more on disk.
   */
  get usedBytes(): number {
    this.assertOpen('usedBytes')
    let bytes = 0
    for (const segment of this.segments) bytes += segment.usedBytes
    return bytes
  }

  /**
   * Recovers the directory in two steps: every file is judged and the whole plan made first
   * (recovery-plan.ts), reading only; then, unless the plan found damage, it is carried out.
   * Damaged data is refused with ERR_CORRUPT and not one byte on disk changes.
   */
  private load(): void {
    const opened = new Map<string, Segment>()
    const facts: SegmentFacts[] = []
    for (const name of this.segmentNames()) {
      const { verdict, segment } = Segment.inspect(join(this.dir, name))
      if (segment !== undefined) {
        opened.set(name, segment)
        // Tracked from now on, so that a failed open unmaps it.
        this.segments.push(segment)
      }
      facts.push({ name, nameBase: parseSegmentFileName(name) as number, verdict, walk: () => (segment as Segment).scanFrames() })
    }
    const plan = planRecovery(facts)
    if (plan.kind === 'damage') throw damageError(this.dir, plan.damage)
    this.carryOut(plan, opened)
    // The last run may have died after a rotation renamed a segment in but before a flush synced
    // the directory: the first flush of this run syncs it.
    this.directoryUnsynced = true
  }

  /** Deletes, cuts, seals and starts afresh what the plan says, each step durable before the next. */
  private carryOut(plan: RecoveryPlan, opened: Map<string, Segment>): void {
    this.removeLeftoverFiles()
    for (const { name } of plan.removals) {
      const segment = opened.get(name)
      if (segment === undefined) rmSync(join(this.dir, name), { force: true })
      else segment.delete()
      this.recovery.removedSegments.push(name)
    }
    if (plan.removals.length > 0) syncDirectory(this.dir)
    this.segments = plan.kept.map((kept) => opened.get(kept.name) as Segment)
    plan.kept.forEach((kept, position) => {
      if (kept.walk === undefined) return
      const report = this.segments[position]!.finishRecovery(kept.walk, this.segmentSizeBytes)
      this.recovery.cutBytes += report.cutBytes
      this.recovery.cutFrames += report.cutFrames
    })
    // Open segments before the last were full when the process died; recovered and synced above.
    for (const segment of this.segments.slice(0, -1)) if (!segment.isSealed) segment.seal()
    if (plan.fresh !== undefined) this.startAfresh(plan.fresh.name, plan.fresh.recreate)
    if (this.segments.length === 0) this.segments = [Segment.create(this.dir, 1, 0, this.segmentSizeBytes)]
  }

  /** Segment file names sorted by base index. */
  private segmentNames(): string[] {
    return readdirSync(this.dir)
      .filter((name) => parseSegmentFileName(name) !== undefined)
      .sort((a, b) => (parseSegmentFileName(a) as number) - (parseSegmentFileName(b) as number))
  }

  /** Half-made, spare and dropped segments a crash (or another instance's close) left behind: never data. */
  private removeLeftoverFiles(): void {
    const leftovers = readdirSync(this.dir).filter(
      (name) => (name.startsWith('segment_') && name.endsWith('.log.tmp')) || isSpareFileName(name) || isDroppedSegmentName(name) || isRecycledSegmentName(name),
    )
    for (const name of leftovers) rmSync(join(this.dir, name), { force: true })
    if (leftovers.length > 0) syncDirectory(this.dir)
  }

  /** The last file's header was never written: nothing in it was acknowledged, so it starts empty. */
  private startAfresh(name: string, recreate: boolean): void {
    const baseIndex = parseSegmentFileName(name) as number
    const previous = this.segments[this.segments.length - 1]
    const prevTerm = previous === undefined ? 0 : lastTermOf(previous)
    const segment = recreate
      ? Segment.create(this.dir, baseIndex, prevTerm, this.segmentSizeBytes)
      : Segment.reinitialize(join(this.dir, name), baseIndex, prevTerm)
    this.recovery.reinitializedSegments.push(name)
    this.segments.push(segment)
  }

  private segmentFor(index: number): Segment {
    return this.segments[this.segmentPosition(index)] as Segment
  }

  /** Binary search: the position of the last segment whose base index is at most `index`. */
  private segmentPosition(index: number): number {
    let low = 0
    let high = this.segments.length - 1
    while (low < high) {
      const middle = (low + high + 1) >>> 1
      if ((this.segments[middle] as Segment).baseIndex <= index) low = middle
      else high = middle - 1
    }
    return low
  }

  private checkNotCompacted(index: number, method: string): void {
    const first = this.head.baseIndex
    if (index < first) {
      // Index 0 is no entry's (a log starts at 1): not one that compaction took.
      const why = index === 0 ? 'is no entry: indexes start at 1' : 'is compacted'
      throw outOfRange(`${method}: index ${index} ${why}: the log now starts at ${first}`, { index, firstIndex: first })
    }
  }

  /** Takes a segment out of the log: kept for reuse when `reuse` (compaction) and there is room, else deleted. */
  private dropSegment(segment: Segment, reuse = false): void {
    this.pendingSeal = this.pendingSeal.filter((pending) => pending !== segment)
    // A file whose pages left the cache would be read back whole to be recycled (dropCacheBehind).
    const recyclable = segment.sizeBytes === this.segmentSizeBytes && isRecyclableSize(segment.sizeBytes) && !segment.isCacheDropped
    if (reuse && this.recycled.length < this.recycledSegmentsMax && recyclable) {
      const path = recycledSegmentPath(segment.path, this.owner)
      if (segment.recycleTo(path)) this.startRecycling(path)
      return
    }
    segment.discard()
  }

  /** Runs a mutation; a failed sync puts the log in the failed state instead of being retried. */
  private guard(mutation: () => void): void {
    try {
      mutation()
    } catch (error) {
      if (error instanceof RaftLogError && (error.code === 'ERR_IO' || error.code === 'ERR_CORRUPT')) throw this.fail(error)
      throw error
    }
  }

  /**
   * After a failed sync the kernel may already have dropped the dirty pages, so retrying
   * proves nothing: refuse every further write until the log is reopened from disk.
   */
  private fail(error: unknown): RaftLogError {
    this.failure ??= new RaftLogError(
      'ERR_IO',
      `Log ${this.dir} failed and refuses writes until it is reopened: ${(error as Error).message ?? String(error)}`,
      { dir: this.dir },
      { cause: error },
    )
    return error instanceof RaftLogError ? error : this.failure
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new RaftLogError('ERR_CLOSED', `RaftLog.${method}: the log in ${this.dir} is closed`, { dir: this.dir })
  }

  private assertWritable(method: string): void {
    this.assertOpen(method)
    if (this.failure !== undefined) throw this.failure
  }

  private releaseAll(): void {
    this.closed = true
    for (const segment of this.segments) segment.close()
    this.segments = []
    this.pendingSeal = []
    // A spare still being made is removed when its preallocation finishes (prepareSpare).
    if (this.spare?.ready === true) rmSync(this.spare.path, { force: true })
    this.spare = undefined
    // One still being made is removed when its record is written (startRecycling).
    for (const file of this.recycled) if (file.ready) rmSync(file.path, { force: true })
    this.recycled = []
    if (this.lockFd !== undefined) unlockFile(this.lockFd)
    this.lockFd = undefined
  }
}

function syncDirectory(dir: string): void {
  try {
    fsyncDirectory(dir)
  } catch (error) {
    throw systemError(error, `Cannot sync log directory ${dir}`, 'ERR_IO')
  }
}

async function syncDirectoryAsync(dir: string): Promise<void> {
  try {
    await fsyncDirectoryAsync(dir)
  } catch (error) {
    throw systemError(error, `Cannot sync log directory ${dir}`, 'ERR_IO')
  }
}

function lastTermOf(segment: Segment): number {
  return segment.entryCount > 0 ? segment.termAt(segment.nextIndex - 1) : segment.prevTerm
}

function checkSegmentSize(value: number | undefined): number {
  if (value === undefined) return defaultSegmentSizeBytes
  requirePositiveWholeNumber(value, 'options.segmentSize', 'RaftLog.open')
  if (value % pageSizeBytes() !== 0 || value > maxSegmentSizeBytes) {
    throw new RaftLogError(
      'ERR_BAD_ARGUMENT',
      `RaftLog.open: options.segmentSize must be a multiple of the page size (${pageSizeBytes()}) up to ${maxSegmentSizeBytes}, got ${value}`,
      { argument: 'options.segmentSize', value },
    )
  }
  return value
}

/**
 * Checks entries before anything is written and returns their payload bytes. The loop builds no
 * message (it runs for every entry appended); an entry that fails is explained by badEntry().
 */
function checkNewEntries(entries: readonly NewEntry[], lastTerm: number): number {
  if (!Array.isArray(entries)) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', 'RaftLog.append: entries must be an array of { term, type?, data? }', { argument: 'entries' })
  }
  let term = lastTerm
  let bytes = 0
  for (let position = 0; position < entries.length; position++) {
    const entry = entries[position] as NewEntry | undefined
    if (entry === null || typeof entry !== 'object') throw badEntry(entry, position, term)
    const entryTerm = entry.term
    const type = entry.type
    const data = entry.data
    if (typeof entryTerm !== 'number' || !Number.isSafeInteger(entryTerm) || entryTerm < term) throw badEntry(entry, position, term)
    if (type !== undefined && type !== EntryType.Normal && type !== EntryType.NoOp && type !== EntryType.Config) throw badEntry(entry, position, term)
    if (data !== undefined) {
      if (!(data instanceof Uint8Array) || data.length > maxEntrySizeBytes) throw badEntry(entry, position, term)
      bytes += data.length
    }
    term = entryTerm
  }
  return bytes
}

/** The error for entries[position], which checkNewEntries found wrong (`term`: the term before it). */
function badEntry(entry: NewEntry | undefined, position: number, term: number): RaftLogError {
  const argument = `entries[${position}]`
  try {
    if (entry === null || typeof entry !== 'object') {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `RaftLog.append: ${argument} must be an object { term, type?, data? }`, { argument })
    }
    requireWholeNumber(entry.term, `${argument}.term`, 'RaftLog.append')
    if (entry.term < term) {
      throw new RaftLogError(
        'ERR_BAD_ARGUMENT',
        `RaftLog.append: ${argument}.term ${entry.term} is lower than the term before it (${term}); terms never go back`,
        { argument: `${argument}.term`, value: entry.term },
      )
    }
    if (entry.type !== undefined && entry.type !== EntryType.Normal && entry.type !== EntryType.NoOp && entry.type !== EntryType.Config) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `RaftLog.append: ${argument}.type must be 0, 1 or 2 (EntryType), got ${String(entry.type)}`, {
        argument: `${argument}.type`,
      })
    }
    const data = requireBytes(entry.data, `${argument}.data`, 'RaftLog.append')
    throw new RaftLogError('ERR_ENTRY_TOO_LARGE', `RaftLog.append: ${argument}.data is ${data.length} bytes; the limit is ${maxEntrySizeBytes}`, {
      argument: `${argument}.data`,
      size: data.length,
    })
  } catch (error) {
    return error as RaftLogError
  }
}
/**
 * A directory other users may write to lets them plant files (or symlinks) under the names the
 * log will open: refused (ERR_UNSAFE_DIRECTORY), as etcd refuses a data directory that is not 0700.
 */
function refuseSharedDirectory(dir: string): void {
  const { mode } = statSync(dir)
  if ((mode & 0o022) === 0) return
  const octal = (mode & 0o777).toString(8).padStart(3, '0')
  throw new RaftLogError('ERR_UNSAFE_DIRECTORY', `${dir} can be written by other users (mode ${octal}): run \`chmod go-w ${dir}\` (raftlog creates its directories 0700)`, { dir })
}


function lockDirectory(dir: string): number {
  const path = join(dir, lockFileName)
  try {
    return lockFile(path)
  } catch (error) {
    if (isLockHeld(error)) {
      throw new RaftLogError('ERR_LOCKED', `Log directory ${dir} is already open (locked through ${path}) by this or another process`, {
        dir,
      })
    }
    throw systemError(error, `Cannot lock log directory ${dir}`)
  }
}

function damageError(dir: string, damage: Damage): RaftLogError {
  const { file, offset, index, problem, code } = damage
  const what = code === 'ERR_UNSUPPORTED_VERSION' ? 'cannot be read' : 'is corrupt'
  return new RaftLogError(code, `Segment ${file} ${what} at byte ${offset} (index ${index}): ${problem}`, {
    file: join(dir, file),
    offset,
    index,
    problem,
  })
}
