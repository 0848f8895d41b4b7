// LogEngine: the logs of many Raft groups in one directory, in one stream of engine files.
//
// Every change (an entry, a truncation, a compaction, a hard state, a group made or removed) is a
// record naming its group, staged in the batch frame being built; flush() writes that frame with
// one pwrite and makes it durable with one fdatasync, for every group at once. Each group keeps its
// own index in memory (group-index.ts); open() rebuilds them by replaying the files kept
// (engine-replay.ts) under the recovery rule (engine-walk.ts). purge() frees the oldest files once
// no group needs them, rewriting forward the few records of groups that lag (purge-plan.ts).
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { directoryMode } from '../storage/file-modes.js'
import { EntryType, maxTermOrIndex, type LogEntry, type NewEntry } from '../storage/log-entry.js'
import { allocateFileAsync, fsyncDirectory, isLockHeld, lockFile, pageSizeBytes, unlockFile } from '../storage/native.js'
import { maxEntrySizeBytes, maxSegmentSizeBytes, writeU64 } from '../storage/segment-format.js'
import { systemError } from '../storage/system-error.js'
import { outOfRange, requireBytes, requirePositiveWholeNumber, requireString, requireWholeNumber } from '../storage/validate.js'
import {
  batchHeaderSizeBytes,
  defaultEngineFileSizeBytes,
  engineFileName,
  fileHeaderSizeBytes,
  parseEngineFileName,
  recordSizeBytes,
  RecordKind,
  type RecordFields,
} from './engine-format.js'
import { corrupt, EngineFile, type ReadRecord } from './engine-file.js'
import { EngineReplay } from './engine-replay.js'
import { walkEngineFile } from './engine-walk.js'
import { GroupIndex, type GroupHardState } from './group-index.js'
import { GroupLog } from './group-log.js'
import { PendingBatch } from './pending-batch.js'
import { firstNeededFile, planPurge } from './purge-plan.js'
import { refuseUnknownOptions } from '../known-options.js'

export interface LogEngineOptions {
  /** Size of each engine file in bytes, a multiple of the page size. Default 64 MiB. */
  fileSize?: number
  /** A batch frame is written out once its records reach this many bytes. Default 1 MiB. */
  maxBatchBytes?: number
  /** purge() rewrites a group whose oldest needed file is more than this many files behind the active one. Default 4. */
  rewriteLagFiles?: number
  /** purge() asks a lagging group with more live payload bytes than this to compact instead of rewriting it. Default 4 MiB. */
  rewriteMaxBytes?: number
  /** Where recovery reports what it cut off. Default: console. */
  logger?: { warn(message: string): void }
}

const logEngineOptionNames = { fileSize: true, maxBatchBytes: true, rewriteLagFiles: true, rewriteMaxBytes: true, logger: true } satisfies Record<keyof LogEngineOptions, true>

/** What open() found and repaired. */
export interface EngineOpenReport {
  files: number
  batches: number
  records: number
  /** Non-zero bytes after the last valid frame of the last file (a torn write), now zeroed. */
  cutBytes: number
  /** Leftover temporary files of an interrupted file creation, removed. */
  removedFiles: string[]
}

/** What purge() did. */
export interface PurgeReport {
  /** Groups whose live records were written again at the head. */
  rewrittenGroups: number[]
  /** Bytes of records written by the rewrite. */
  rewrittenBytes: number
  /** Lagging groups too large to rewrite: the caller should compact them (snapshot, then compact). */
  compactRequested: number[]
  /** Files deleted, oldest first. */
  freedFiles: string[]
}

/** Counters since open, for metrics. */
export interface LogEngineStats {
  entriesAppended: number
  /** Payload bytes appended. */
  bytesAppended: number
  /** Batch frames written. */
  batchesWritten: number
  /** flush() and flushSync() calls that synced something. */
  flushes: number
  filesCreated: number
  filesFreed: number
  groupsRewritten: number
  bytesRewritten: number
}

/** One file as describeFiles() lists it. */
export interface EngineFileInfo {
  file: string
  sequence: number
  usedBytes: number
  sizeBytes: number
}

const lockFileName = 'LOCK'
/** A spare file being made; open() removes any a crash left. */
const spareFilePattern = /^next-engine-file-[0-9a-f]{12}\.tmp$/
/** Files smaller than this are zero-filled when needed, without a spare. */
const spareFileMinBytes = 1024 * 1024
const defaultMaxBatchBytes = 1024 * 1024
const defaultRewriteLagFiles = 4
const defaultRewriteMaxBytes = 4 * 1024 * 1024
const emptyPayload = new Uint8Array(0)

/**
 * The logs of many Raft groups (ids from 0 to 2^52 − 1) in one directory, one writer per
 * directory (a LOCK file, ERR_LOCKED otherwise). Changes to any group return at once and are
 * staged in one batch; flush() makes every change made before it durable for every group with
 * one fdatasync (survives kill -9 and power loss), and a crash keeps exactly a prefix of the
 * changes made, in their order (a batch frame of more than maxBatchBytes is cut into several, and
 * a crash may keep a prefix of them: change a group's hard state before its entries). open()
 * recovers what a crash left and refuses damage (ERR_CORRUPT naming file and byte). After an I/O
 * error the engine refuses writes (ERR_IO) until it is reopened. Unknown groups: ERR_NO_GROUP.
 */
export class LogEngine {
  readonly dir: string
  readonly recovery: EngineOpenReport = { files: 0, batches: 0, records: 0, cutBytes: 0, removedFiles: [] }
  readonly stats: LogEngineStats = { entriesAppended: 0, bytesAppended: 0, batchesWritten: 0, flushes: 0, filesCreated: 0, filesFreed: 0, groupsRewritten: 0, bytesRewritten: 0 }
  private readonly fileSizeBytes: number
  private readonly maxBatchBytes: number
  private readonly rewriteLagFiles: number
  private readonly rewriteMaxBytes: number
  /** Sorted by sequence, contiguous, never empty while open; the last takes frames. */
  private files: EngineFile[] = []
  private groups = new Map<number, GroupIndex>()
  private readonly pending = new PendingBatch()
  /** Sequence of the next batch frame. */
  private nextBatch = 1
  /** Frames written to the active file since its last sync started. */
  private dirty = false
  private syncInFlight: Promise<void> | undefined
  /** While set, a frame is not cut at maxBatchBytes: a group's rewrite stays in one frame. */
  private holdFrame = false
  /** The next file's zeros, made on the thread pool while the active file fills. */
  private spare: { path: string; ready: boolean } | undefined
  private lockFd: number | undefined
  private closed = false
  private failure: RaftLogError | undefined

  private constructor(dir: string, lockFd: number, options: LogEngineOptions) {
    this.dir = dir
    this.lockFd = lockFd
    this.fileSizeBytes = checkFileSize(options.fileSize)
    this.maxBatchBytes = options.maxBatchBytes === undefined ? defaultMaxBatchBytes : requirePositiveWholeNumber(options.maxBatchBytes, 'options.maxBatchBytes', 'LogEngine.open')
    this.rewriteLagFiles = options.rewriteLagFiles === undefined ? defaultRewriteLagFiles : requireWholeNumber(options.rewriteLagFiles, 'options.rewriteLagFiles', 'LogEngine.open')
    this.rewriteMaxBytes = options.rewriteMaxBytes === undefined ? defaultRewriteMaxBytes : requireWholeNumber(options.rewriteMaxBytes, 'options.rewriteMaxBytes', 'LogEngine.open')
  }

  /** Opens the engine in `dir` (created if missing), locks it against other opens, and recovers every group. */
  static open(dir: string, options: LogEngineOptions = {}): LogEngine {
    requireString(dir, 'dir', 'LogEngine.open')
    refuseUnknownOptions(options, logEngineOptionNames, 'LogEngine.open')
    try {
      mkdirSync(dir, { recursive: true, mode: directoryMode })
    } catch (error) {
      throw systemError(error, `Cannot create engine directory ${dir}`)
    }
    refuseSharedDirectory(dir)
    const lockFd = lockDirectory(dir)
    let engine: LogEngine | undefined
    try {
      engine = new LogEngine(dir, lockFd, options)
      engine.load(options.logger ?? console)
      return engine
    } catch (error) {
      if (engine !== undefined) engine.releaseAll()
      else unlockFile(lockFd)
      throw error
    }
  }

  // ---- groups ----

  /** Ids of the groups held, in no particular order. */
  groupIds(): number[] {
    this.assertOpen('groupIds')
    return [...this.groups.keys()]
  }

  hasGroup(id: number): boolean {
    this.assertOpen('hasGroup')
    return this.groups.has(id)
  }

  /** Makes an empty group (first index 1). ERR_GROUP_EXISTS when it is held already. */
  createGroup(id: number): void {
    this.assertWritable('createGroup')
    checkGroupId(id, 'LogEngine.createGroup')
    if (this.groups.has(id)) throw new RaftLogError('ERR_GROUP_EXISTS', `LogEngine.createGroup: group ${id} exists already in ${this.dir}`, { group: id })
    this.guard(() => {
      const at = this.stage({ kind: RecordKind.Reset, group: id, index: 1, term: 0, entryType: 0, vote: 0 })
      const group = new GroupIndex(id)
      group.reset(1, 0, at.file)
      this.groups.set(id, group)
    })
  }

  /** Drops a group and everything it holds; its files are freed by later purges. */
  removeGroup(id: number): void {
    this.assertWritable('removeGroup')
    this.groupOf(id, 'removeGroup')
    this.guard(() => {
      this.stage({ kind: RecordKind.Remove, group: id, index: 0, term: 0, entryType: 0, vote: 0 })
      this.groups.delete(id)
    })
  }

  /** A view of one group shaped like RaftLog (RaftLogStore), for a Raft core. */
  group(id: number): GroupLog {
    this.groupOf(id, 'group')
    return new GroupLog(this, id)
  }

  // ---- reads ----

  /** Index of the group's first entry (1 for a new group; later after compaction or a reset). */
  firstIndex(id: number): number {
    return this.groupOf(id, 'firstIndex').first
  }

  /** Index of the group's last entry; firstIndex − 1 when it holds none. */
  lastIndex(id: number): number {
    return this.groupOf(id, 'lastIndex').last
  }

  /** Term of the group's last entry, or of entry firstIndex − 1 when it holds none. */
  lastTerm(id: number): number {
    return this.groupOf(id, 'lastTerm').lastTerm
  }

  /** Term at `index`, also answering firstIndex − 1; undefined outside that range. */
  termAt(id: number, index: number): number | undefined {
    return this.groupOf(id, 'termAt').termAt(index)
  }

  /** The entry at `index` (data a copy), undefined past the end; ERR_OUT_OF_RANGE if compacted. */
  get(id: number, index: number): LogEntry | undefined {
    const group = this.groupOf(id, 'get')
    requireWholeNumber(index, 'index', 'LogEngine.get')
    if (index < group.first) throw outOfRange(`LogEngine.get: index ${index} of group ${id} is compacted: it starts at ${group.first}`, { group: id, index })
    if (index > group.last) return undefined
    return this.readEntry(group, index)
  }

  /**
   * Entries [from, to) of a group (to defaults to lastIndex + 1), their data copies. With
   * maxBytes, stops before the entry that would pass it, but always returns the first. Throws
   * ERR_OUT_OF_RANGE for a range outside [firstIndex, lastIndex + 1].
   */
  entries(id: number, from: number, to?: number, options: { maxBytes?: number } = {}): LogEntry[] {
    const group = this.groupOf(id, 'entries')
    requireWholeNumber(from, 'from', 'LogEngine.entries')
    const end = to === undefined ? group.last + 1 : requireWholeNumber(to, 'to', 'LogEngine.entries')
    if (from < group.first || end > group.last + 1 || from > end) {
      throw outOfRange(`LogEngine.entries: range ${from}..${end} of group ${id} is outside ${group.first}..${group.last + 1}`, { group: id, from, to: end })
    }
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY
    const result: LogEntry[] = []
    let bytes = 0
    for (let index = from; index < end; index++) {
      bytes += group.payloadLength(index)
      if (result.length > 0 && bytes > maxBytes) break
      result.push(this.readEntry(group, index))
    }
    return result
  }

  /** Indexes of a group's configuration entries (EntryType.Config) from `from` (default its first index) on, ascending; read from its index, not its files. */
  configIndexes(id: number, from?: number): number[] {
    return this.groupOf(id, 'configIndexes').configIndexes(from)
  }

  hardState(id: number): GroupHardState {
    return { ...this.groupOf(id, 'hardState').hardState }
  }

  // ---- changes (staged; durable with the next flush) ----

  /**
   * Appends entries to a group from index `at` (default lastIndex + 1): when at ≤ lastIndex, the
   * entries from `at` on are dropped first (a Raft conflict). firstIndex ≤ at ≤ lastIndex + 1;
   * terms never go back; an empty list changes nothing. Returns the new lastIndex.
   */
  append(id: number, entries: readonly NewEntry[], at?: number): number {
    this.assertWritable('append')
    const group = this.groupOf(id, 'append')
    const from = at === undefined ? group.last + 1 : requireWholeNumber(at, 'at', 'LogEngine.append')
    if (from < group.first || from > group.last + 1) {
      throw outOfRange(`LogEngine.append: index ${from} of group ${id} is outside ${group.first}..${group.last + 1}`, { group: id, at: from })
    }
    checkNewEntries(entries, group.termAt(from - 1) ?? 0, from)
    this.guard(() => {
      let index = from
      for (const entry of entries) {
        const data = entry.data ?? emptyPayload
        const location = this.stage({ kind: RecordKind.Entry, group: id, index, term: entry.term, entryType: entry.type ?? EntryType.Normal, vote: 0 }, data)
        group.putEntry(index, entry.term, location.file, location.offset, data.length, entry.type === EntryType.Config)
        this.stats.entriesAppended++
        this.stats.bytesAppended += data.length
        index++
      }
    })
    return group.last
  }

  /** Drops a group's entries after `index` (index ≥ firstIndex − 1). */
  truncateAfter(id: number, index: number): void {
    this.assertWritable('truncateAfter')
    const group = this.groupOf(id, 'truncateAfter')
    requireWholeNumber(index, 'index', 'LogEngine.truncateAfter')
    if (index < group.first - 1) throw outOfRange(`LogEngine.truncateAfter: index ${index} is before group ${id}, which starts at ${group.first}`, { group: id, index })
    if (index >= group.last) return
    this.guard(() => {
      this.stage({ kind: RecordKind.Truncate, group: id, index, term: 0, entryType: 0, vote: 0 })
      group.dropFrom(index + 1)
    })
  }

  /** Drops a group's entries up to and including `upTo` (≤ lastIndex); its files go with later purges. */
  compact(id: number, upTo: number): void {
    this.assertWritable('compact')
    const group = this.groupOf(id, 'compact')
    requireWholeNumber(upTo, 'upTo', 'LogEngine.compact')
    if (upTo < group.first) return
    if (upTo > group.last) throw outOfRange(`LogEngine.compact: index ${upTo} is past group ${id}'s last entry ${group.last}`, { group: id, upTo })
    const prevTerm = group.termAt(upTo) as number
    this.guard(() => {
      // The last index then lets replay tell a group that held nothing more from one whose entries are gone.
      const lastThen = Buffer.alloc(8)
      writeU64(lastThen, 0, group.last)
      const at = this.stage({ kind: RecordKind.Compact, group: id, index: upTo + 1, term: prevTerm, entryType: 0, vote: 0 }, lastThen)
      group.compact(upTo + 1, prevTerm, at.file)
    })
  }

  /** Empties a group so that its next entry is `nextIndex` and termAt(nextIndex − 1) is `prevTerm` (a snapshot installed). */
  reset(id: number, nextIndex: number, prevTerm: number): void {
    this.assertWritable('reset')
    const group = this.groupOf(id, 'reset')
    requirePositiveWholeNumber(nextIndex, 'nextIndex', 'LogEngine.reset')
    requireWholeNumber(prevTerm, 'prevTerm', 'LogEngine.reset')
    this.guard(() => {
      const at = this.stage({ kind: RecordKind.Reset, group: id, index: nextIndex, term: prevTerm, entryType: 0, vote: 0 })
      group.reset(nextIndex, prevTerm, at.file)
    })
  }

  /** Records a group's hard state (term, vote: a node id or 0, commit). */
  setHardState(id: number, state: GroupHardState): void {
    this.assertWritable('setHardState')
    const group = this.groupOf(id, 'setHardState')
    requireWholeNumber(state?.term, 'state.term', 'LogEngine.setHardState')
    requireWholeNumber(state.commit, 'state.commit', 'LogEngine.setHardState')
    requireWholeNumber(state.vote, 'state.vote', 'LogEngine.setHardState')
    if (state.vote > 0xffffffff) throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.setHardState: state.vote must fit 32 bits, got ${state.vote}`, { argument: 'state.vote' })
    this.guard(() => {
      const at = this.stage({ kind: RecordKind.HardState, group: id, index: state.commit, term: state.term, entryType: 0, vote: state.vote })
      group.setHardState(state, at.file)
    })
  }

  // ---- durability ----

  /** Resolves when every change made before the call is durable, for every group (one fdatasync). */
  flush(): Promise<void> {
    try {
      this.assertWritable('flush')
      this.guard(() => this.writePending())
    } catch (error) {
      return Promise.reject(error)
    }
    if (!this.dirty) return this.syncInFlight ?? Promise.resolve()
    this.dirty = false
    this.stats.flushes++
    const sync = this.active.syncAsync().catch((error: unknown) => {
      throw this.fail(systemError(error, `Cannot sync engine file ${this.dir}`, 'ERR_IO'))
    })
    const tracked = sync.finally(() => {
      if (this.syncInFlight === tracked) this.syncInFlight = undefined
    })
    this.syncInFlight = tracked
    return tracked
  }

  /** flush(), synchronously on this thread. */
  flushSync(): void {
    this.assertWritable('flushSync')
    this.guard(() => {
      this.writePending()
      if (!this.dirty && this.syncInFlight === undefined) return
      this.dirty = false
      this.stats.flushes++
      this.syncActive()
    })
  }

  /**
   * Makes everything durable, then frees the oldest files no group needs. A group whose oldest
   * needed file is more than rewriteLagFiles behind the active file has its live records (state,
   * hard state, entries) written again at the head, in one frame, first; one holding more than
   * rewriteMaxBytes is listed in compactRequested instead. Each freed file is followed by a
   * directory fsync, oldest first, so a crash never leaves a hole.
   */
  purge(): PurgeReport {
    this.assertWritable('purge')
    const report: PurgeReport = { rewrittenGroups: [], rewrittenBytes: 0, compactRequested: [], freedFiles: [] }
    this.guard(() => {
      this.flushSync()
      const plan = planPurge(this.pins(), this.active.sequence, { rewriteLagFiles: this.rewriteLagFiles, rewriteMaxBytes: this.rewriteMaxBytes })
      report.compactRequested = plan.compactRequested
      for (const id of plan.rewrite) {
        report.rewrittenBytes += this.rewrite(this.groups.get(id) as GroupIndex)
        report.rewrittenGroups.push(id)
      }
      if (plan.rewrite.length > 0) this.flushSync()
      const keepFrom = firstNeededFile(this.pins(), this.active.sequence)
      while ((this.files[0] as EngineFile).sequence < keepFrom) {
        const file = this.files.shift() as EngineFile
        file.delete()
        syncDirectory(this.dir)
        report.freedFiles.push(file.fileName)
        this.stats.filesFreed++
      }
    })
    return report
  }

  /** The engine's files, oldest first: for tools and tests. */
  describeFiles(): EngineFileInfo[] {
    this.assertOpen('describeFiles')
    return this.files.map((file) => ({ file: file.fileName, sequence: file.sequence, usedBytes: file.appendPosition, sizeBytes: file.sizeBytes }))
  }

  /** Makes everything durable, unmaps the files and releases the lock. Idempotent. */
  close(): void {
    if (this.closed) return
    try {
      if (this.failure === undefined) this.flushSync()
    } finally {
      this.releaseAll()
    }
  }

  // ---- inside ----

  private get active(): EngineFile {
    return this.files[this.files.length - 1] as EngineFile
  }

  private load(logger: { warn(message: string): void }): void {
    const names = readdirSync(this.dir)
    for (const name of names) {
      if (/^engine_\d{20}\.log\.tmp$/.test(name) || spareFilePattern.test(name)) {
        rmSync(join(this.dir, name), { force: true })
        this.recovery.removedFiles.push(name)
      }
    }
    const sequences = names.map((name) => parseEngineFileName(name)).filter((sequence): sequence is number => sequence !== undefined).sort((a, b) => a - b)
    for (let i = 1; i < sequences.length; i++) {
      const expected = (sequences[i - 1] as number) + 1
      if (sequences[i] !== expected) throw corrupt(join(this.dir, engineFileName(expected)), 0, `the file is missing: ${engineFileName(sequences[i - 1] as number)} is followed by ${engineFileName(sequences[i] as number)}`)
    }
    if (sequences.length === 0) {
      this.files.push(EngineFile.create(this.dir, 1, 1, this.fileSizeBytes))
      this.stats.filesCreated++
      return
    }
    const replay = new EngineReplay()
    let tornEnd = 0
    for (const [position, sequence] of sequences.entries()) tornEnd = this.replayFile(sequence, position === sequences.length - 1, replay)
    const broken = replay.finish()
    if (broken.length > 0) {
      throw corrupt(this.files[0]!.path, 0, `group ${broken[0]} lacks records it needs (its first index, or entries between it and its last): a file before this one is missing`)
    }
    // Only now that nothing is refused does recovery write.
    this.finishLastFile(tornEnd)
    this.groups = replay.groups
    this.recovery.files = sequences.length
    this.recovery.records = replay.records
    if (this.recovery.cutBytes > 0) logger.warn(`raftlog engine ${this.dir}: recovery cut ${this.recovery.cutBytes} bytes of a torn write off the end of ${this.active.fileName}`)
  }

  /** Opens, walks and replays one file; returns where the non-zero bytes after its frames end. */
  private replayFile(sequence: number, isLast: boolean, replay: EngineReplay): number {
    const file = EngineFile.open(join(this.dir, engineFileName(sequence)), sequence)
    this.files.push(file)
    const previous = this.files[this.files.length - 2]
    if (previous !== undefined && file.firstBatch !== this.nextBatch) {
      throw corrupt(file.path, 0, `its first batch is ${file.firstBatch}, but ${previous.fileName} ends before batch ${this.nextBatch}`)
    }
    const walk = walkEngineFile(file.view, file.firstBatch, isLast, (fields, offset, bytes) => replay.apply(fields, sequence, offset, bytes))
    if (walk.damage !== undefined) throw corrupt(file.path, walk.damage.offset, walk.damage.problem)
    file.appendPosition = walk.end
    this.nextBatch = file.firstBatch + walk.batches
    this.recovery.batches += walk.batches
    return walk.nonZeroEnd
  }

  /** Zeroes a torn end of the last file (up to `nonZeroEnd`) and syncs what it keeps. */
  private finishLastFile(nonZeroEnd: number): void {
    const file = this.active
    try {
      if (nonZeroEnd > file.appendPosition) {
        this.recovery.cutBytes = nonZeroEnd - file.appendPosition
        file.zero(file.appendPosition, nonZeroEnd)
      }
      // The frames found may only have been in the page cache of a process that died: make them
      // durable before anyone builds on them (a node acknowledging entries it recovered), and the
      // directory too (that process may have died between a file's rename and its directory sync).
      file.syncSync()
      fsyncDirectory(this.dir)
    } catch (error) {
      throw systemError(error, `Cannot make the recovered end of ${file.fileName} durable`, 'ERR_IO')
    }
  }

  /** Stages one record in the frame being built; returns where it will lie. */
  private stage(fields: RecordFields, payload: Uint8Array = emptyPayload): { file: number; offset: number } {
    this.makeRoom(recordSizeBytes(payload.length))
    const offset = this.pending.add(fields, payload)
    return { file: this.pending.file, offset }
  }

  /** Ensures the frame being built can take `recordBytes` more, writing it out or rotating as needed. */
  private makeRoom(recordBytes: number): void {
    for (;;) {
      const active = this.active
      if (this.pending.isEmpty) {
        if (active.appendPosition + batchHeaderSizeBytes + recordBytes <= active.sizeBytes) {
          this.pending.begin(active.sequence, active.appendPosition, this.nextBatch)
          return
        }
        this.rotate(recordBytes)
        continue
      }
      const fitsFile = this.pending.fileOffset + this.pending.used + recordBytes <= active.sizeBytes
      if (fitsFile && (this.holdFrame || this.pending.used + recordBytes <= this.maxBatchBytes)) return
      this.writePending()
    }
  }

  /** Writes the frame being built to the active file (pwrite, not synced). */
  private writePending(): void {
    if (this.pending.isEmpty) return
    const active = this.active
    const frame = this.pending.finish()
    active.write(frame, frame.length, this.pending.fileOffset)
    active.appendPosition = this.pending.fileOffset + frame.length
    this.pending.clear()
    this.nextBatch++
    this.dirty = true
    this.stats.batchesWritten++
    if (this.spare === undefined && active.appendPosition * 2 > active.sizeBytes) this.prepareSpare()
  }

  /**
   * Starts the next file, able to take a frame of `recordBytes` of records. The active file is
   * made durable whole first: only the last file may then end in a torn write.
   */
  private rotate(recordBytes: number): void {
    this.writePending()
    this.syncActive()
    this.dirty = false
    const needed = fileHeaderSizeBytes + batchHeaderSizeBytes + recordBytes
    const page = pageSizeBytes()
    const size = Math.max(this.fileSizeBytes, Math.ceil(needed / page) * page)
    // The spare, when its zeros are ready: filling 64 MiB here would stall the event loop.
    const spare = size === this.fileSizeBytes && this.spare?.ready === true ? this.spare.path : undefined
    if (spare !== undefined) this.spare = undefined
    this.files.push(EngineFile.create(this.dir, this.active.sequence + 1, this.nextBatch, size, spare))
    this.stats.filesCreated++
  }

  /**
   * Starts making the next file's zeros on the thread pool once the active file is half full (one
   * at a time; not for files under spareFileMinBytes, which fill in well under a millisecond).
   */
  private prepareSpare(): void {
    if (this.spare !== undefined || this.closed || this.fileSizeBytes < spareFileMinBytes) return
    const spare = { path: join(this.dir, `next-engine-file-${randomBytes(6).toString('hex')}.tmp`), ready: false }
    this.spare = spare
    allocateFileAsync(spare.path, this.fileSizeBytes, true).then(
      () => {
        if (this.spare === spare && !this.closed) spare.ready = true
        else rmSync(spare.path, { force: true })
      },
      () => {
        // No spare (a full disk, say): the next rotation fills its file itself, and reports the error if it recurs.
        rmSync(spare.path, { force: true })
        if (this.spare === spare) this.spare = undefined
      },
    )
  }

  private syncActive(): void {
    try {
      this.active.syncSync()
    } catch (error) {
      throw systemError(error, `Cannot sync engine file ${this.active.fileName}`, 'ERR_IO')
    }
  }

  /** Writes a group's state, hard state and live entries again at the head, in one frame; returns the bytes. */
  private rewrite(group: GroupIndex): number {
    const entries = group.entryCount > 0 ? this.entries(group.id, group.first) : []
    const records: Array<{ fields: RecordFields; payload: Uint8Array }> = [
      { fields: { kind: RecordKind.Reset, group: group.id, index: group.first, term: group.prevTerm, entryType: 0, vote: 0 }, payload: emptyPayload },
    ]
    if (group.hardStateFile >= 0) {
      const { term, vote, commit } = group.hardState
      records.push({ fields: { kind: RecordKind.HardState, group: group.id, index: commit, term, entryType: 0, vote }, payload: emptyPayload })
    }
    for (const entry of entries) {
      records.push({ fields: { kind: RecordKind.Entry, group: group.id, index: entry.index, term: entry.term, entryType: entry.type, vote: 0 }, payload: entry.data })
    }
    const total = records.reduce((sum, record) => sum + recordSizeBytes(record.payload.length), 0)
    // One frame: a crash keeps all of the rewrite or none of it, never a Reset without its entries.
    this.writePending()
    if (this.active.appendPosition + batchHeaderSizeBytes + total > this.active.sizeBytes) this.rotate(total)
    this.holdFrame = true
    try {
      const first = this.stage(records[0]!.fields)
      group.reset(group.first, group.prevTerm, first.file)
      for (const record of records.slice(1)) {
        const at = this.stage(record.fields, record.payload)
        if (record.fields.kind === RecordKind.HardState) group.setHardState(group.hardState, at.file)
        else group.putEntry(record.fields.index, record.fields.term, at.file, at.offset, record.payload.length, record.fields.entryType === EntryType.Config)
      }
    } finally {
      this.holdFrame = false
    }
    this.writePending()
    this.stats.groupsRewritten++
    this.stats.bytesRewritten += total
    return total
  }

  private *pins(): Iterable<{ id: number; minFile: number; liveBytes: number }> {
    for (const group of this.groups.values()) yield { id: group.id, minFile: group.minFile(), liveBytes: group.liveBytes }
  }

  private readEntry(group: GroupIndex, index: number): LogEntry {
    const { file, offset } = group.location(index)
    const record = this.readRecord(file, offset)
    const { fields } = record
    if (fields.kind !== RecordKind.Entry || fields.group !== group.id || fields.index !== index) {
      const path = join(this.dir, engineFileName(file))
      throw corrupt(path, offset, `the record there is not entry ${index} of group ${group.id}`)
    }
    return { index, term: fields.term, type: fields.entryType as EntryType, data: record.payload }
  }

  private readRecord(file: number, offset: number): ReadRecord {
    if (this.pending.holds(file, offset)) return this.pending.readRecord(offset)
    const engineFile = this.files[file - (this.files[0] as EngineFile).sequence]
    if (engineFile === undefined || engineFile.sequence !== file) throw new Error(`engine file ${file} is not open`)
    return engineFile.readRecord(offset)
  }

  private groupOf(id: number, method: string): GroupIndex {
    this.assertOpen(method)
    const group = this.groups.get(id)
    if (group === undefined) {
      checkGroupId(id, `LogEngine.${method}`)
      throw new RaftLogError('ERR_NO_GROUP', `LogEngine.${method}: group ${id} is not in ${this.dir}`, { group: id })
    }
    return group
  }

  /** Runs a mutation; a failed write or sync puts the engine in the failed state instead of being retried. */
  private guard(mutation: () => void): void {
    try {
      mutation()
    } catch (error) {
      throw this.fail(error)
    }
  }

  /**
   * After a failed write or sync the kernel may already have dropped dirty pages, and the frame
   * being built may hold part of a change: refuse every further write until the engine is
   * reopened from disk.
   */
  private fail(error: unknown): RaftLogError {
    this.failure ??= new RaftLogError('ERR_IO', `Engine ${this.dir} failed and refuses writes until it is reopened: ${(error as Error).message ?? String(error)}`, { dir: this.dir }, { cause: error })
    return error instanceof RaftLogError ? error : this.failure
  }

  private assertOpen(method: string): void {
    if (this.closed) throw new RaftLogError('ERR_CLOSED', `LogEngine.${method}: the engine in ${this.dir} is closed`, { dir: this.dir })
  }

  private assertWritable(method: string): void {
    this.assertOpen(method)
    if (this.failure !== undefined) throw this.failure
  }

  private releaseAll(): void {
    this.closed = true
    // A spare still being made is removed when its zeros are done (prepareSpare).
    if (this.spare?.ready === true) rmSync(this.spare.path, { force: true })
    this.spare = undefined
    for (const file of this.files) file.close()
    this.files = []
    this.groups = new Map()
    if (this.lockFd !== undefined) unlockFile(this.lockFd)
    this.lockFd = undefined
  }
}

function checkGroupId(id: unknown, method: string): number {
  const value = requireWholeNumber(id, 'group', method)
  if (value > maxTermOrIndex) throw new RaftLogError('ERR_BAD_ARGUMENT', `${method}: group must be at most 2^52-1, got ${value}`, { argument: 'group', value })
  return value
}

function checkFileSize(value: number | undefined): number {
  if (value === undefined) return defaultEngineFileSizeBytes
  requirePositiveWholeNumber(value, 'options.fileSize', 'LogEngine.open')
  if (value % pageSizeBytes() !== 0 || value > maxSegmentSizeBytes) {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.open: options.fileSize must be a multiple of the page size (${pageSizeBytes()}) up to ${maxSegmentSizeBytes}, got ${value}`, {
      argument: 'options.fileSize',
      value,
    })
  }
  return value
}

function checkNewEntries(entries: readonly NewEntry[], previousTerm: number, from: number): void {
  if (!Array.isArray(entries)) throw new RaftLogError('ERR_BAD_ARGUMENT', 'LogEngine.append: entries must be an array of { term, type?, data? }', { argument: 'entries' })
  let term = previousTerm
  for (let position = 0; position < entries.length; position++) {
    const entry = entries[position] as NewEntry | undefined
    const argument = `entries[${position}]`
    if (entry === null || typeof entry !== 'object') throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.append: ${argument} must be an object { term, type?, data? }`, { argument })
    requireWholeNumber(entry.term, `${argument}.term`, 'LogEngine.append')
    if (entry.term > maxTermOrIndex || from + position > maxTermOrIndex) throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.append: ${argument} passes 2^52-1`, { argument })
    if (entry.term < term) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.append: ${argument}.term ${entry.term} is lower than the term before it (${term}); terms never go back`, {
        argument: `${argument}.term`,
        value: entry.term,
      })
    }
    term = entry.term
    if (entry.type !== undefined && entry.type !== EntryType.Normal && entry.type !== EntryType.NoOp && entry.type !== EntryType.Config) {
      throw new RaftLogError('ERR_BAD_ARGUMENT', `LogEngine.append: ${argument}.type must be 0, 1 or 2 (EntryType), got ${String(entry.type)}`, { argument: `${argument}.type` })
    }
    if (entry.data !== undefined) {
      const data = requireBytes(entry.data, `${argument}.data`, 'LogEngine.append')
      if (data.length > maxEntrySizeBytes) {
        throw new RaftLogError('ERR_ENTRY_TOO_LARGE', `LogEngine.append: ${argument}.data is ${data.length} bytes; the limit is ${maxEntrySizeBytes}`, { argument: `${argument}.data`, size: data.length })
      }
    }
  }
}

/** A directory other users may write to is refused (ERR_UNSAFE_DIRECTORY), as RaftLog refuses one. */
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
    if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `Engine directory ${dir} is already open (locked through ${path}) by this or another process`, { dir })
    throw systemError(error, `Cannot lock engine directory ${dir}`)
  }
}

function syncDirectory(dir: string): void {
  try {
    fsyncDirectory(dir)
  } catch (error) {
    throw systemError(error, `Cannot sync engine directory ${dir}`, 'ERR_IO')
  }
}
