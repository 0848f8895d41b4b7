// One segment file over one mapping: a header, then frames, and once sealed an offset table.
// A Segment knows its own bytes and nothing of its neighbours; RaftLog keeps the order.
import { basename, dirname, join } from 'node:path'
import { readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { EntryType, type LogEntry } from './log-entry.js'
import { RaftLogError } from '../errors.js'
import { advise, fsyncDirectory, mapFile, pageSizeBytes, populateRangeAsync, syncRange, syncRangeAsync, unmap } from './native.js'
import { systemError } from './system-error.js'
import { judgeHeader, walkOpenSegment, type HeaderVerdict, type OpenSegmentWalk } from './recovery-rule.js'
import {
  alignUp,
  checkFrame,
  endOfNonZeroBytes,
  flagResetBase,
  flagSealed,
  frameHeaderSizeBytes,
  frameSizeBytes,
  headerSizeBytes,
  offsetTableSizeBytes,
  readOffsetTable,
  segmentFileName,
  segmentVersion,
  writeFrame,
  writeHeader,
  writeOffsetTable,
} from './segment-format.js'

/** What recovery cut off the end of an open segment. */
export interface RecoveryReport {
  /** Non-zero bytes of log data found after the last valid frame, now zeroed. */
  cutBytes: number
  /** Frames with a valid checksum among them (torn writes are not counted). */
  cutFrames: number
}

/** Payloads up to this size are copied into a shared slab instead of an ArrayBuffer each. */
const slabPayloadMaxBytes = 4096
const slabSizeBytes = 64 * 1024
let slab = new ArrayBuffer(slabSizeBytes)
let slabUsedBytes = 0

/**
 * A copy of bytes[start..end) as a plain Uint8Array the caller may keep. Small copies share a
 * 64 KiB slab (as Node's Buffer pool does): allocating an ArrayBuffer per read costs more than
 * the copy. A kept view keeps its slab alive.
 */
function copyPayload(bytes: Buffer, start: number, end: number): Uint8Array {
  const length = end - start
  if (length > slabPayloadMaxBytes) return new Uint8Array(bytes.subarray(start, end))
  if (slabUsedBytes + length > slabSizeBytes) {
    slab = new ArrayBuffer(slabSizeBytes)
    slabUsedBytes = 0
  }
  const copy = new Uint8Array(slab, slabUsedBytes, length)
  bytes.copy(copy, 0, start, end)
  slabUsedBytes += (length + 7) & ~7
  return copy
}

/** How far ahead of the append position populateAhead() keeps pages faulted in, and its step. */
const populateLeadBytes = 4 * 2 ** 20
const populateChunkBytes = 2 ** 20
let populateSupported = true

export class Segment {
  path: string
  readonly baseIndex: number
  /** Term of entry baseIndex − 1; 0 when there is none. */
  readonly prevTerm: number
  /** Bytes mapped: the file's size (grow() changes it). */
  private size: number
  private mapping: ArrayBuffer
  private bytes: Buffer
  /** The same memory as 32-bit words, for the append and read paths. */
  private words: Uint32Array
  private flags: number
  private count: number
  private appendPosition: number
  /** offsets[i] is the byte offset of the frame of index baseIndex + i. Undefined until loaded. */
  private offsets: Uint32Array | undefined
  /** Sealed segments are checked frame by frame once, on first read; problems by position. */
  private verified: boolean
  private problems = new Map<number, string>()
  /** Bytes from here to appendPosition have not been handed to an msync yet. */
  private unsyncedFrom: number
  /** Bytes before this are known durable (an msync of them completed); at most unsyncedFrom. */
  private durableTo: number
  /** Counts truncations, so an msync that finishes after one does not vouch for new bytes. */
  private truncations = 0
  /** Pages before this offset were handed to the thread pool to be faulted in (populateAhead). */
  private populatedUpTo = 0

  private constructor(path: string, mapping: ArrayBuffer, baseIndex: number, prevTerm: number, flags: number) {
    this.path = path
    this.mapping = mapping
    this.bytes = Buffer.from(mapping)
    this.words = new Uint32Array(mapping, 0, mapping.byteLength >>> 2)
    this.size = mapping.byteLength
    this.baseIndex = baseIndex
    this.prevTerm = prevTerm
    this.flags = flags
    this.count = 0
    this.appendPosition = headerSizeBytes
    this.offsets = undefined
    this.verified = (flags & flagSealed) === 0
    this.unsyncedFrom = headerSizeBytes
    this.durableTo = headerSizeBytes
  }

  /**
   * Creates a new, empty segment, durable at once: it is written whole under a temporary name,
   * synced and renamed, so a crash never leaves a half-made segment under a real name.
   */
  static create(dir: string, baseIndex: number, prevTerm: number, sizeBytes: number, flags = 0): Segment {
    const path = join(dir, segmentFileName(baseIndex))
    const temporaryPath = `${path}.tmp`
    const segment = Segment.make(temporaryPath, baseIndex, prevTerm, sizeBytes, flags)
    try {
      syncRange(segment.mapping, 0, headerSizeBytes)
      renameSync(temporaryPath, path)
      fsyncDirectory(dir)
    } catch (error) {
      segment.unmapOnly()
      rmSync(temporaryPath, { force: true })
      throw systemError(error, `Cannot create segment ${basename(path)}`)
    }
    segment.path = path
    segment.markDurable(headerSizeBytes)
    return segment
  }

  /**
   * Creates the next segment for a rotation without waiting for the disk: its header is synced
   * with its first frames by the next flush, and the caller syncs the directory then too. Until
   * that flush nothing in it is acknowledged, so a crash that loses the header, or the file,
   * loses nothing promised; recovery starts afresh a last segment whose header and first sector
   * are all zero.
   */
  static createForRotation(dir: string, baseIndex: number, prevTerm: number, sizeBytes: number, sparePath?: string): Segment {
    const path = join(dir, segmentFileName(baseIndex))
    let reused = false
    if (sparePath !== undefined) {
      // A file made ready (zeroed, its blocks reserved) on the thread pool: rename it in.
      try {
        reused = statSync(sparePath).size === sizeBytes
        if (reused) renameSync(sparePath, path)
      } catch {
        reused = false
      }
    }
    const segment = Segment.make(path, baseIndex, prevTerm, sizeBytes, 0, !reused)
    // Not even the header is durable yet.
    segment.unsyncedFrom = 0
    segment.durableTo = 0
    return segment
  }

  /** Maps a fresh file (any old one at `path` removed first, unless told) and writes the header. */
  private static make(path: string, baseIndex: number, prevTerm: number, sizeBytes: number, flags: number, removeOld = true): Segment {
    if (removeOld) rmSync(path, { force: true })
    let mapping: ArrayBuffer
    try {
      mapping = mapFile(path, sizeBytes)
    } catch (error) {
      rmSync(path, { force: true })
      throw systemError(error, `Cannot create segment ${segmentFileName(baseIndex)}`)
    }
    const segment = new Segment(path, mapping, baseIndex, prevTerm, flags & flagResetBase)
    segment.offsets = new Uint32Array(1024)
    segment.takeAppends()
    segment.writeOwnHeader()
    return segment
  }

  /**
   * Judges an existing segment file's header (recovery-rule.ts) and, when it was written, maps
   * the segment; otherwise nothing is left mapped. Writes nothing.
   */
  static inspect(path: string): { verdict: HeaderVerdict; segment: Segment | undefined } {
    if (statSync(path).size < headerSizeBytes) return { verdict: judgeHeader(readFileSync(path)), segment: undefined }
    let mapping: ArrayBuffer
    try {
      mapping = mapFile(path, 0)
    } catch (error) {
      throw systemError(error, `Cannot map segment ${basename(path)}`)
    }
    const verdict = judgeHeader(Buffer.from(mapping))
    if (verdict.kind !== 'written') {
      unmap(mapping)
      return { verdict, segment: undefined }
    }
    const { header } = verdict
    const segment = new Segment(path, mapping, header.baseIndex, header.prevTerm, header.flags)
    if (segment.isSealed) {
      segment.count = header.entryCount
      segment.appendPosition = header.offsetTablePosition
      segment.markDurable(segment.appendPosition)
    }
    return { verdict, segment }
  }

  /**
   * Starts afresh a segment whose header was never written (nothing in it was acknowledged):
   * zeroes what was written back of it, then writes and syncs a new header.
   */
  static reinitialize(path: string, baseIndex: number, prevTerm: number): Segment {
    const mapping = mapFile(path, 0)
    const bytes = Buffer.from(mapping)
    const end = endOfNonZeroBytes(bytes, headerSizeBytes, bytes.length)
    bytes.fill(0, headerSizeBytes, end)
    const segment = new Segment(path, mapping, baseIndex, prevTerm, 0)
    segment.offsets = new Uint32Array(1024)
    segment.takeAppends()
    segment.writeOwnHeader()
    segment.syncOrThrow(0, end)
    return segment
  }

  get sizeBytes(): number {
    return this.size
  }

  get fileName(): string {
    return basename(this.path)
  }

  get directory(): string {
    return dirname(this.path)
  }

  get entryCount(): number {
    return this.count
  }

  /** The index the next frame appended here would get. */
  get nextIndex(): number {
    return this.baseIndex + this.count
  }

  get isSealed(): boolean {
    return (this.flags & flagSealed) !== 0
  }

  get isResetBase(): boolean {
    return (this.flags & flagResetBase) !== 0
  }

  /** Bytes of header and frames. */
  get usedBytes(): number {
    return this.appendPosition
  }

  get hasUnsyncedBytes(): boolean {
    return this.unsyncedFrom < this.appendPosition || this.unsyncedFrom < headerSizeBytes
  }

  /**
   * Walks an open segment's frames by the recovery rule and takes them as its own, in memory
   * only: nothing is written until finishRecovery(), so a log refused for damage found later,
   * in this file or another, is left exactly as it was.
   */
  scanFrames(): OpenSegmentWalk {
    this.assert(!this.isSealed, 'scanFrames() is for open segments')
    const walk = walkOpenSegment(this.bytes, this.baseIndex, this.prevTerm)
    this.offsets = walk.offsets
    this.count = walk.frames
    this.appendPosition = walk.end
    return walk
  }

  /**
   * Carries out the cut scanFrames() found: everything after the last frame is zeroed and synced,
   * so no stale frame can ever be read as valid later, and the frames found are synced too: they
   * may only have been in the page cache of a process that died. A file too short for the offset
   * table its frames need (one cut to its used bytes) is grown to at least `minSizeBytes` first.
   */
  finishRecovery(walk: OpenSegmentWalk, minSizeBytes: number): RecoveryReport {
    this.assert(walk.end === this.appendPosition && walk.damage === undefined, 'finishRecovery() takes the walk of scanFrames(), undamaged')
    const end = walk.end
    if (walk.nonZeroEnd > end) this.bytes.fill(0, end, walk.nonZeroEnd)
    this.syncOrThrow(headerSizeBytes, Math.max(walk.nonZeroEnd, end) - headerSizeBytes)
    const neededBytes = end + offsetTableSizeBytes(this.count)
    if (neededBytes > this.sizeBytes) this.grow(Math.max(minSizeBytes, alignUp(neededBytes, pageSizeBytes)))
    this.markDurable(end)
    // After the scan, which wants readahead when the file is not in the page cache.
    this.takeAppends()
    return { cutBytes: walk.cutBytes, cutFrames: walk.cutFrames }
  }

  hasRoomFor(payloadLength: number): boolean {
    return this.hasRoomAt(this.appendPosition, frameSizeBytes(payloadLength), this.count + 1)
  }

  /** Appends one frame; the caller checked hasRoomFor() and that the segment is open. */
  append(term: number, type: EntryType, data: Uint8Array): void {
    const offset = this.appendPosition
    this.appendPosition += writeFrame(this.bytes, this.words, offset, this.nextIndex, term, type, data)
    this.pushOffset(offset)
  }

  /** The entry at `index`, which the caller knows is in this segment. */
  read(index: number): LogEntry {
    const offset = this.frameOffset(index)
    const word = offset >>> 2
    const start = offset + frameHeaderSizeBytes
    return {
      index,
      term: (this.words[word + 2] as number) + (this.words[word + 3] as number) * 2 ** 32,
      type: this.bytes[offset + 24] as EntryType,
      // A copy (slice of a plain Uint8Array): the caller may keep it after the segment is
      // truncated, deleted or unmapped.
      data: copyPayload(this.bytes, start, start + (this.words[word] as number)),
    }
  }

  /** Bytes the entry at `index` takes in a slice (its payload). */
  payloadLength(index: number): number {
    return this.words[this.frameOffset(index) >>> 2] as number
  }

  /** The type byte of the entry at `index`, without copying its payload. */
  typeAt(index: number): EntryType {
    return this.bytes[this.frameOffset(index) + 24] as EntryType
  }

  termAt(index: number): number {
    const word = this.frameOffset(index) >>> 2
    return (this.words[word + 2] as number) + (this.words[word + 3] as number) * 2 ** 32
  }

  /**
   * Seals the segment: its frames must already be durable (syncData). Writes the offset table
   * after the last frame, syncs it, then writes the header with the sealed flag and syncs it.
   */
  seal(): void {
    const offsets = this.loadedOffsets()
    const tablePosition = alignUp(this.appendPosition, 8)
    writeOffsetTable(this.bytes, tablePosition, offsets, this.count)
    this.syncOrThrow(tablePosition, offsetTableSizeBytes(this.count))
    this.flags |= flagSealed
    this.writeOwnHeader(tablePosition)
    this.syncOrThrow(0, headerSizeBytes)
    // From now on it is only read: readahead helps again.
    advise(this.mapping, 'normal')
  }

  /**
   * Keeps the first `keepCount` frames and zeroes every byte after them, durably. Zeroing only
   * the first removed frame is not enough: a shorter new entry followed by a crash would expose
   * the old frames behind it.
   */
  truncate(keepCount: number): void {
    this.assert(keepCount >= 0 && keepCount <= this.count, `keepCount ${keepCount} outside 0..${this.count}`)
    const offsets = this.loadedOffsets()
    if (this.isSealed) this.verify()
    const newEnd = keepCount < this.count ? (offsets[keepCount] as number) : this.appendPosition
    let oldEnd = this.appendPosition
    const wasSealed = this.isSealed
    if (wasSealed) {
      oldEnd = alignUp(this.appendPosition, 8) + offsetTableSizeBytes(this.count)
      // Open the header first: a sealed header over zeroed frames would read as corruption.
      this.flags &= ~flagSealed
      this.writeOwnHeader()
      this.syncOrThrow(0, headerSizeBytes)
    }
    this.bytes.fill(0, newEnd, oldEnd)
    this.syncOrThrow(newEnd, oldEnd - newEnd)
    this.count = keepCount
    this.appendPosition = newEnd
    this.unsyncedFrom = Math.min(this.unsyncedFrom, newEnd)
    this.durableTo = Math.min(this.durableTo, newEnd)
    this.truncations++
    for (const position of this.problems.keys()) if (position >= keepCount) this.problems.delete(position)
    // Open for appends again, from the new end.
    if (wasSealed) this.takeAppends()
  }

  /**
   * Readies an open segment for appends, which write it front to back and msync a little at a
   * time. Two measured problems of writing through a mapping, solved:
   * - Readahead (8 MiB on this disk) filled fresh regions with large folios: the first write
   *   faults there stalled for about 20 ms, three times per 64 MiB, and every small msync wrote
   *   back a whole large folio. MADV_RANDOM keeps faults to single pages; seal() turns
   *   readahead back on for the reads that follow.
   * - A write fault per 4 KiB page on the appending thread was most of the cost of large
   *   appends: populateAhead() takes those faults on the thread pool instead.
   */
  private takeAppends(): void {
    advise(this.mapping, 'random')
    this.populateAhead()
  }

  /**
   * Keeps the pages of the next few MiB after the append position faulted in and writable by the
   * thread pool. One MiB per call: each append and each finished MiB asks for the next, so a
   * writer that never lets the event loop turn still gets them, and the pool runs more than one
   * at a time only while the first lead is filled. MADV_POPULATE_WRITE never changes a byte, so
   * crash safety is unchanged. At most one call into the addon per MiB appended.
   */
  populateAhead(): void {
    if (!populateSupported || this.isSealed || this.mapping.byteLength === 0) return
    // Never behind the append position: the pages holding frames are in place already.
    const from = Math.max(this.populatedUpTo, this.appendPosition)
    if (from >= Math.min(this.sizeBytes, this.appendPosition + populateLeadBytes)) return
    const length = Math.min(populateChunkBytes, this.sizeBytes - from)
    this.populatedUpTo = from + length
    populateRangeAsync(this.mapping, from, length)
      .then(() => this.populateAhead())
      .catch((error: unknown) => {
        // Only a hint: a kernel without MADV_POPULATE_WRITE (before 5.14) says EINVAL once.
        if ((error as NodeJS.ErrnoException).code === 'EINVAL') populateSupported = false
      })
  }

  /**
   * Synchronously makes every appended frame durable, including those an asynchronous sync
   * still has in flight: msync waits for pages already being written back.
   */
  syncData(): void {
    const from = this.durableTo
    const to = this.appendPosition
    if (from < to) this.syncOrThrow(from, to - from)
    this.markDurable(to)
  }

  /** The same on the thread pool; resolves when the frames appended before the call are durable. */
  async syncDataAsync(): Promise<void> {
    const from = this.unsyncedFrom
    const to = this.appendPosition
    if (from >= to) return
    this.unsyncedFrom = to
    const truncations = this.truncations
    try {
      await syncRangeAsync(this.mapping, from, to - from)
    } catch (error) {
      throw systemError(error, `Cannot sync segment ${this.fileName}`, 'ERR_IO')
    }
    // Only a contiguous durable prefix counts, and none after a truncation rewrote the range.
    if (truncations === this.truncations && from <= this.durableTo) this.durableTo = Math.max(this.durableTo, to)
  }

  /** Makes the header durable now (a rotation's header waits for the next flush otherwise). */
  syncHeader(): void {
    if (this.durableTo >= headerSizeBytes) return
    this.syncOrThrow(0, headerSizeBytes)
    this.durableTo = headerSizeBytes
    this.unsyncedFrom = Math.max(this.unsyncedFrom, headerSizeBytes)
  }

  private markDurable(position: number): void {
    this.unsyncedFrom = position
    this.durableTo = position
  }

  /**
   * Checks every frame of a sealed segment once. Reads of a frame that failed throw
   * ERR_CORRUPT; the other frames stay readable.
   */
  verify(): void {
    if (this.verified) return
    const offsets = this.loadedOffsets()
    const limit = alignUp(this.appendPosition, 8)
    for (let position = 0; position < this.count; position++) {
      const offset = offsets[position] as number
      const expectedNext = position + 1 < this.count ? (offsets[position + 1] as number) : limit
      const size = checkFrame(this.bytes, offset, limit, this.baseIndex + position)
      if (typeof size !== 'number') this.problems.set(position, size)
      else if (offset + size !== expectedNext) this.problems.set(position, 'frame size disagrees with the offset table')
    }
    this.verified = true
  }

  /** Unmaps the segment: every view over it reads as empty from now on. */
  close(): void {
    this.unmapOnly()
  }

  /** Unmaps and deletes the file; the caller syncs the directory. */
  delete(): void {
    this.unmapOnly()
    rmSync(this.path, { force: true })
  }

  private frameOffset(index: number): number {
    const position = index - this.baseIndex
    // The hot read path: build no message unless the invariant fails.
    if (!(position >= 0 && position < this.count)) this.assert(false, `index ${index} is not in ${this.fileName}`)
    const offsets = this.offsets ?? this.loadedOffsets()
    if (!this.verified) this.verify()
    const offset = offsets[position] as number
    const problem = this.problems.size === 0 ? undefined : this.problems.get(position)
    if (problem !== undefined) {
      throw new RaftLogError(
        'ERR_CORRUPT',
        `Segment ${this.fileName} is corrupt at byte ${offset} (index ${index}): ${problem}`,
        { file: this.path, offset, index, problem },
      )
    }
    return offset
  }

  /** The offset table: built while appending, read from disk for a sealed segment on first use. */
  private loadedOffsets(): Uint32Array {
    if (this.offsets !== undefined) return this.offsets
    const table = readOffsetTable(this.bytes, this.appendPosition, this.count)
    if (table === undefined) {
      throw new RaftLogError(
        'ERR_CORRUPT',
        `Segment ${this.fileName} is corrupt at byte ${this.appendPosition} (index ${this.baseIndex}): offset table checksum mismatch`,
        { file: this.path, offset: this.appendPosition, index: this.baseIndex, problem: 'offset table checksum mismatch' },
      )
    }
    this.offsets = table
    return table
  }

  private pushOffset(offset: number): void {
    let offsets = this.offsets as Uint32Array
    if (this.count === offsets.length) {
      const grown = new Uint32Array(offsets.length * 2)
      grown.set(offsets)
      offsets = grown
      this.offsets = grown
    }
    offsets[this.count] = offset
    this.count++
  }

  /** A frame fits if the offset table the segment will need when sealed still fits after it. */
  private hasRoomAt(offset: number, frameBytes: number, countAfter: number): boolean {
    return offset + frameBytes + offsetTableSizeBytes(countAfter) <= this.sizeBytes
  }

  /**
   * Makes the file `sizeBytes` long (posix_fallocate: the new bytes are zero and their blocks
   * reserved) and maps it again. The size change is durable with the next msync of its data.
   */
  private grow(sizeBytes: number): void {
    unmap(this.mapping)
    try {
      this.mapping = mapFile(this.path, sizeBytes)
    } catch (error) {
      throw systemError(error, `Cannot grow segment ${this.fileName} to ${sizeBytes} bytes`)
    }
    this.bytes = Buffer.from(this.mapping)
    this.words = new Uint32Array(this.mapping, 0, this.mapping.byteLength >>> 2)
    this.size = sizeBytes
    this.populatedUpTo = 0
  }

  private writeOwnHeader(offsetTablePosition = 0): void {
    writeHeader(this.bytes, {
      version: segmentVersion,
      baseIndex: this.baseIndex,
      entryCount: this.count,
      appendPosition: this.appendPosition,
      prevTerm: this.prevTerm,
      offsetTablePosition,
      flags: this.flags,
    })
  }

  private syncOrThrow(offset: number, length: number): void {
    if (length <= 0) return
    try {
      syncRange(this.mapping, offset, length)
    } catch (error) {
      throw systemError(error, `Cannot sync segment ${this.fileName}`, 'ERR_IO')
    }
  }

  private unmapOnly(): void {
    unmap(this.mapping)
  }

  private assert(condition: boolean, message: string): asserts condition {
    if (!condition) throw new Error(`raftlog invariant failed in ${this.fileName}: ${message}`)
  }
}
