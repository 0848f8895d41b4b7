// One segment file over one mapping: a header, then frames, and once sealed an offset table.
// A Segment knows its own bytes and nothing of its neighbours; RaftLog keeps the order.
import { basename, dirname, join } from 'node:path'
import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, rmSync, statSync, unlink, writeSync } from 'node:fs'
import { EntryType, type LogEntry, type NewEntry } from './log-entry.js'
import { RaftLogError } from '../errors.js'
import { advise, fsyncDirectory, mapFile, pageSizeBytes, syncRange, unmap } from './native.js'
import { DataFile } from './data-file.js'
import { fileMode, openFlags } from './file-modes.js'
import { WriteBuffer } from './write-buffer.js'
import { systemError } from './system-error.js'
import { frameContextOf, judgeHeader, walkOpenSegment, type FrameContext, type HeaderVerdict, type OpenSegmentWalk } from './recovery-rule.js'
import {
  alignUp,
  droppedSegmentPath,
  checkFrame,
  endOfNonZeroBytes,
  flagRecycled,
  flagResetBase,
  flagSealed,
  frameHeaderSizeBytes,
  frameSizeBytes,
  headerBytes,
  headerSizeBytes,
  newSalt,
  offsetTableSizeBytes,
  openHeader,
  parseSegmentFileName,
  readHeader,
  readOffsetTable,
  readRecycleRecord,
  recycledDataEnd,
  sealedHeader,
  segmentFileName,
  unwriteFrame,
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

const emptyPayload = new Uint8Array(0)
/** Writes into a recycled segment end on this boundary, zero-padded: the recovery rule's sector. */
const recycledPadBytes = 512
const sectorZeros = new Uint8Array(recycledPadBytes)

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

/**
 * Zeros written per call when a new segment file is zero-filled: one page. The page cache keeps
 * the folio size a write made (a 1 MiB write makes 1 MiB folios), and a later pwrite of 100 bytes
 * into such a folio dirties, and makes fdatasync write, the whole MiB: measured, every flush of a
 * small batch wrote 1 MiB. Page-sized writes cost 2-3x the time (on the thread pool, for spares).
 */
const zeroChunk = Buffer.alloc(4096)

/**
 * Makes a file of `sizeBytes` zeros whose blocks are written, and syncs it. A block written
 * before needs no metadata when it is written again: fdatasync writes the data and flushes the
 * disk's cache, no journal commit. A preallocated (posix_fallocate) block is "unwritten" to
 * ext4: the first write into it changes the extent tree, which every fdatasync must then commit.
 * On a full disk this fails with ENOSPC, before any mapping of the file exists.
 */
export function writeZeroFile(path: string, sizeBytes: number): void {
  const fd = openSync(path, openFlags.createOrTruncate, fileMode)
  try {
    for (let at = 0; at < sizeBytes; ) at += writeSync(fd, zeroChunk, 0, Math.min(zeroChunk.length, sizeBytes - at), at)
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Full write buffers written out since the last sync whose write-back is started at once. A log
 * that is flushed gains (its flush then waits only for the rest of a large batch: 16 KiB x 64
 * durable measured 0.98x raw fs with it, 0.83x without); one that is not (no-sync appends) loses,
 * since starting write-back makes appends wait for a busy device (1 KiB x 1024 no-sync fell to
 * 0.2-0.3x raw fs): past this many, write-back is left to the kernel until the next sync.
 */
const writebackBuffersAfterSync = 64

/** Reads the entry of the frame at `offset` of `bytes` (a mapping or a write buffer). */
function readEntry(bytes: Buffer, words: Uint32Array, offset: number, index: number): LogEntry {
  const word = offset >>> 2
  const start = offset + frameHeaderSizeBytes
  return {
    index,
    term: (words[word + 2] as number) + (words[word + 3] as number) * 2 ** 32,
    type: bytes[offset + 24] as EntryType,
    // A copy (slice of a plain Uint8Array): the caller may keep it after the segment is
    // truncated, deleted or unmapped.
    data: copyPayload(bytes, start, start + (words[word] as number)),
  }
}

/**
 * One segment file: a 64-byte header (magic RAFT, version, base index, the term before it), then
 * frames, and once sealed an offset table. Open segments take appends (through a WriteBuffer and
 * DataFile) and are recovered by walking their frames; sealed ones are read through the offset
 * table. Errors: ERR_CORRUPT names the file, byte and index; system errors keep their errno code.
 */
export class Segment {
  path: string
  readonly baseIndex: number
  /** Term of entry baseIndex − 1; 0 when there is none. */
  readonly prevTerm: number
  /** The salt its frames carry (format version 2); 0 for a version 1 segment. */
  readonly salt: number
  /** Bytes mapped: the file's size (grow() changes it). */
  private size: number
  /** Where frames (and the offset table) must end: the recycle record's start, or the file's end. */
  private dataEnd: number
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
  /** Bytes from here to appendPosition have not been handed to a sync yet. */
  private unsyncedFrom: number
  /** Bytes before this are known durable (a sync of them completed); at most unsyncedFrom. */
  private durableTo: number
  /** Counts truncations, so a sync that finishes after one does not vouch for new bytes. */
  private truncations = 0
  /** pwrite and fdatasync of the file. */
  private readonly file: DataFile
  /** Frames appended and not yet written to the file (an open segment that took appends). */
  private buffer: WriteBuffer | undefined
  /** Write buffers written out since the last sync (writebackBuffersAfterSync). */
  private buffersSinceSync = 0
  /** Its header on disk is a seal's (or a reopening's) header write cut short: recovery writes it again. */
  private headerCutShort = false
  /** dropCache() freed its pages: reading it again costs device reads. */
  private cacheDropped = false

  private constructor(path: string, mapping: ArrayBuffer, baseIndex: number, prevTerm: number, flags: number, salt: number) {
    this.path = path
    this.mapping = mapping
    this.bytes = Buffer.from(mapping)
    this.words = new Uint32Array(mapping, 0, mapping.byteLength >>> 2)
    this.size = mapping.byteLength
    this.dataEnd = (flags & flagRecycled) !== 0 ? recycledDataEnd(this.size) : this.size
    this.baseIndex = baseIndex
    this.prevTerm = prevTerm
    this.salt = salt
    this.flags = flags
    this.count = 0
    this.appendPosition = headerSizeBytes
    this.offsets = undefined
    this.verified = (flags & flagSealed) === 0
    this.unsyncedFrom = headerSizeBytes
    this.durableTo = headerSizeBytes
    this.file = new DataFile(path)
  }

  /**
   * Creates a new, empty segment, durable at once: it is written whole under a temporary name,
   * synced and renamed, so a crash never leaves a half-made segment under a real name.
   * `beforeRename` runs once the file has its blocks (the step a full disk refuses, with ENOSPC)
   * and before it takes its name: a caller that replaces files changes nothing until then.
   */
  static create(dir: string, baseIndex: number, prevTerm: number, sizeBytes: number, flags = 0, beforeRename?: () => void): Segment {
    const path = join(dir, segmentFileName(baseIndex))
    const temporaryPath = `${path}.tmp`
    try {
      writeZeroFile(temporaryPath, sizeBytes)
    } catch (error) {
      rmSync(temporaryPath, { force: true })
      throw systemError(error, `Cannot create segment ${basename(path)}`)
    }
    const segment = Segment.make(temporaryPath, baseIndex, prevTerm, sizeBytes, flags, true)
    try {
      syncRange(segment.mapping, 0, headerSizeBytes)
      beforeRename?.()
      renameSync(temporaryPath, path)
      fsyncDirectory(dir)
    } catch (error) {
      segment.unmapOnly()
      rmSync(temporaryPath, { force: true })
      throw systemError(error, `Cannot create segment ${basename(path)}`)
    }
    segment.path = path
    segment.file.renamed(path)
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
  static createForRotation(dir: string, baseIndex: number, prevTerm: number, sizeBytes: number, sparePath?: string, recycledPath?: string): Segment {
    const path = join(dir, segmentFileName(baseIndex))
    if (recycledPath !== undefined) {
      const segment = Segment.takeRecycled(recycledPath, path, baseIndex, prevTerm)
      if (segment !== undefined) return segment
    }
    let reused = false
    if (sparePath !== undefined) {
      // A file made ready on the thread pool (its blocks written with zeros and synced, or only
      // reserved for a log written without flushes: RaftLog.prepareSpare): rename it in.
      try {
        reused = statSync(sparePath).size === sizeBytes
        if (reused) renameSync(sparePath, path)
      } catch {
        reused = false
      }
    }
    const segment = Segment.make(path, baseIndex, prevTerm, sizeBytes, 0, reused)
    // Not even the header is durable yet.
    segment.unsyncedFrom = 0
    segment.durableTo = 0
    return segment
  }

  /**
   * Makes a file that compaction freed, and whose recycle record was written (RaftLog.recycle),
   * the segment of `baseIndex`: renamed in, then its header written with one pwrite (a kill never
   * leaves half of it; a disk writes its sector whole). Its frames overwrite the old ones; a salt
   * other than theirs keeps the old ones from ever validating. Like any rotation's, the header
   * becomes durable with the next flush. Undefined when the file is not ready (nothing is changed).
   */
  private static takeRecycled(recycledPath: string, path: string, baseIndex: number, prevTerm: number): Segment | undefined {
    let mapping: ArrayBuffer
    try {
      renameSync(recycledPath, path)
      mapping = mapFile(path, 0)
    } catch {
      rmSync(recycledPath, { force: true })
      return undefined
    }
    const bytes = Buffer.from(mapping)
    const old = readHeader(bytes)
    if (readRecycleRecord(bytes) === undefined) {
      // Never ready: not ours to reuse.
      unmap(mapping)
      rmSync(path, { force: true })
      return undefined
    }
    const segment = new Segment(path, mapping, baseIndex, prevTerm, flagRecycled, newSalt(typeof old === 'string' ? 0 : old.salt))
    segment.offsets = new Uint32Array(1024)
    segment.takeAppends()
    try {
      // The header, and zeros to the end of its sector (recycledPadBytes): where the first frame goes.
      const first = Buffer.alloc(recycledPadBytes)
      headerBytes(openHeader(baseIndex, prevTerm, flagRecycled, segment.salt)).copy(first, 0)
      segment.file.write(first, first.length, 0)
    } catch (error) {
      segment.unmapOnly()
      throw systemError(error, `Cannot write to segment ${segment.fileName}`, 'ERR_IO')
    }
    segment.unsyncedFrom = 0
    segment.durableTo = 0
    return segment
  }

  /**
   * Maps a file and writes the header: a fresh one (any old one at `path` removed first), or with
   * `prepared`, the spare file of `sizeBytes` already there (zero-filled, or its blocks reserved),
   * mapped as it is. Its blocks need no reservation, and a reservation's journal handle can wait
   * behind the file system's commit of the spare being zero-filled beside it (milliseconds at a
   * rotation, measured).
   */
  private static make(path: string, baseIndex: number, prevTerm: number, sizeBytes: number, flags: number, prepared = false): Segment {
    if (!prepared) rmSync(path, { force: true })
    let mapping: ArrayBuffer
    try {
      mapping = mapFile(path, prepared ? 0 : sizeBytes)
    } catch (error) {
      rmSync(path, { force: true })
      throw systemError(error, `Cannot create segment ${segmentFileName(baseIndex)}`)
    }
    const segment = new Segment(path, mapping, baseIndex, prevTerm, flags & flagResetBase, newSalt())
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
    const nameBase = parseSegmentFileName(basename(path)) ?? Number.NaN
    if (statSync(path).size < headerSizeBytes) return { verdict: judgeHeader(readFileSync(path), nameBase), segment: undefined }
    let mapping: ArrayBuffer
    try {
      mapping = mapFile(path, 0)
    } catch (error) {
      throw systemError(error, `Cannot map segment ${basename(path)}`)
    }
    const verdict = judgeHeader(Buffer.from(mapping), nameBase)
    if (verdict.kind !== 'written') {
      unmap(mapping)
      return { verdict, segment: undefined }
    }
    const { header } = verdict
    const segment = new Segment(path, mapping, header.baseIndex, header.prevTerm, header.flags, header.salt)
    segment.headerCutShort = verdict.cutShort === 'seal'
    if (segment.isSealed) {
      segment.count = header.entryCount
      segment.appendPosition = header.offsetTablePosition
      segment.markDurable(segment.appendPosition)
    }
    return { verdict, segment }
  }

  /**
   * Starts afresh a segment whose header was never written, or whose rotation header write a
   * kill cut short (nothing in it was acknowledged): zeroes what was written back of it and syncs
   * that, then writes and syncs a new header. In that order: a header over bytes not yet zero on
   * disk would be a header over frames it never had.
   */
  static reinitialize(path: string, baseIndex: number, prevTerm: number): Segment {
    const mapping = mapFile(path, 0)
    const bytes = Buffer.from(mapping)
    const end = endOfNonZeroBytes(bytes, headerSizeBytes, bytes.length)
    bytes.fill(0, headerSizeBytes, end)
    // All zeros now (a recycled file's record too): a new segment, as if made afresh.
    const segment = new Segment(path, mapping, baseIndex, prevTerm, 0, newSalt())
    segment.syncOrThrow(headerSizeBytes, end - headerSizeBytes)
    segment.offsets = new Uint32Array(1024)
    segment.takeAppends()
    segment.writeOwnHeader()
    segment.syncOrThrow(0, headerSizeBytes)
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

  /** Its file held an earlier segment (and ends with that content's recycle record). */
  get isRecycled(): boolean {
    return (this.flags & flagRecycled) !== 0
  }

  /** Bytes of header and frames. */
  get usedBytes(): number {
    return this.appendPosition
  }

  get isCacheDropped(): boolean {
    return this.cacheDropped
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
    const walk = walkOpenSegment(this.bytes, this.baseIndex, this.prevTerm, this.frameContext())
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
    if (this.headerCutShort) {
      // A seal or reopening cut short: the open header first, as the truncation would have it.
      this.writeOwnHeader()
      this.syncOrThrow(0, headerSizeBytes)
      this.headerCutShort = false
    }
    if (walk.zeroRanges !== undefined) {
      // Recycled: old content stays (no frame of it validates here); only what this segment wrote
      // after its last frame goes, the sector at the end last, so a kill part way leaves a torn frame.
      for (const [from, to] of [...walk.zeroRanges].reverse()) this.bytes.fill(0, from, to)
      this.syncOrThrow(headerSizeBytes, end - headerSizeBytes)
      for (const [from, to] of walk.zeroRanges) this.syncOrThrow(from, to - from)
    } else {
      if (walk.nonZeroEnd > end) this.zeroTail(end, walk.nonZeroEnd)
      this.syncOrThrow(headerSizeBytes, Math.max(walk.nonZeroEnd, end) - headerSizeBytes)
    }
    const neededBytes = end + offsetTableSizeBytes(this.count)
    if (neededBytes > this.dataEnd && this.isRecycled) this.assert(false, 'a recycled segment has room for its offset table')
    if (neededBytes > this.sizeBytes) this.grow(Math.max(minSizeBytes, alignUp(neededBytes, pageSizeBytes())))
    this.markDurable(end)
    // After the scan, which wants readahead when the file is not in the page cache.
    this.takeAppends()
    return { cutBytes: walk.cutBytes, cutFrames: walk.cutFrames }
  }

  /**
   * Zeroes [end, to), where recovery cut the log, so that a kill part way leaves what it found:
   * everything after the frame header at `end` first, then that header's words in the reverse of
   * writeFrame's order, its length last (a length zeroed first would leave payload bytes outside
   * the frame it gives, which the rule refuses).
   */
  private zeroTail(end: number, to: number): void {
    const headerEnd = end + frameHeaderSizeBytes
    if (headerEnd > this.sizeBytes) {
      // Less than a frame header before the end of the file: no frame there to keep readable.
      this.bytes.fill(0, end, to)
      return
    }
    if (to > headerEnd) this.bytes.fill(0, headerEnd, to)
    const word = end >>> 2
    for (const position of [7, 6, 5, 4, 3, 2, 1, 0]) this.words[word + position] = 0
  }

  hasRoomFor(payloadLength: number): boolean {
    return this.hasRoomAt(this.appendPosition, frameSizeBytes(payloadLength), this.count + 1)
  }

  /**
   * Appends one frame; the caller checked hasRoomFor() and that the segment is open. The frame is
   * built in the write buffer (one copy of the payload, one checksum pass) and reaches the file
   * with the next flush's pwrite, or earlier when the buffer is full.
   */
  append(term: number, type: EntryType, data: Uint8Array): void {
    const offset = this.appendPosition
    const frameBytes = frameSizeBytes(data.length)
    const buffer = (this.buffer ??= new WriteBuffer(offset))
    if (!buffer.reserve(frameBytes)) {
      // A full buffer goes to the file now, and to the device while the next one fills: a large
      // batch's flush then waits only for its last part.
      this.writeOut()
      buffer.reserve(frameBytes)
    }
    writeFrame(buffer.bytes, buffer.words, offset - buffer.from, this.nextIndex, term, type, data, this.salt)
    buffer.used += frameBytes
    this.appendPosition += frameBytes
    this.pushOffset(offset)
  }

  /**
   * Appends entries[from..] while they fit, the first one unconditionally (the caller checked
   * that it fits and that the segment is open, and validated them all); returns the position
   * after the last one appended.
   */
  appendEntries(entries: readonly NewEntry[], from: number): number {
    let position = from
    for (; position < entries.length; position++) {
      const entry = entries[position] as NewEntry
      const data = entry.data ?? emptyPayload
      if (position > from && !this.hasRoomFor(data.length)) break
      this.append(entry.term, entry.type ?? EntryType.Normal, data)
    }
    return position
  }

  /** The entry at `index`, which the caller knows is in this segment. */
  read(index: number): LogEntry {
    const offset = this.frameOffset(index)
    const buffer = this.buffer
    if (buffer !== undefined && offset >= buffer.from) return readEntry(buffer.bytes, buffer.words, offset - buffer.from, index)
    return readEntry(this.bytes, this.words, offset, index)
  }

  /** Bytes the entry at `index` takes in a slice (its payload). */
  payloadLength(index: number): number {
    const offset = this.frameOffset(index)
    const buffer = this.buffer
    if (buffer !== undefined && offset >= buffer.from) return buffer.words[(offset - buffer.from) >>> 2] as number
    return this.words[offset >>> 2] as number
  }

  /** The type byte of the entry at `index`, without copying its payload. */
  typeAt(index: number): EntryType {
    const offset = this.frameOffset(index)
    const buffer = this.buffer
    if (buffer !== undefined && offset >= buffer.from) return buffer.bytes[offset - buffer.from + 24] as EntryType
    return this.bytes[offset + 24] as EntryType
  }

  termAt(index: number): number {
    const offset = this.frameOffset(index)
    const buffer = this.buffer
    const inBuffer = buffer !== undefined && offset >= buffer.from
    const words = inBuffer ? buffer.words : this.words
    const word = (inBuffer ? offset - buffer.from : offset) >>> 2
    return (words[word + 2] as number) + (words[word + 3] as number) * 2 ** 32
  }

  /**
   * Writes the buffered frames to the file and, for a log that is being flushed, asks the kernel
   * to start writing them to the device without waiting: when the buffer is full, and for a
   * segment that a rotation leaves full, ahead of the flush that syncs it.
   */
  writeOut(): void {
    const buffer = this.buffer
    if (buffer === undefined || buffer.used === 0) return
    const { from, used } = buffer
    this.writeBuffered()
    if (this.buffersSinceSync++ < writebackBuffersAfterSync) this.file.startWriteback(from, used)
  }

  /**
   * Writes the buffered frames to the file with one pwrite (a process killed during it leaves a
   * prefix of whole pages: the frame it cuts is torn, the rest of its page and sector zero).
   */
  private writeBuffered(): void {
    const buffer = this.buffer
    if (buffer === undefined || buffer.used === 0) return
    try {
      if (!this.isRecycled) {
        this.file.write(buffer.bytes, buffer.used, buffer.from)
      } else {
        // Zeros to the end of the last sector, in the same pwrite where the buffer has room (the
        // bytes after `used` are zero): the recovery rule of a recycled segment then finds, where
        // its frames end, zeros or a whole sector of old content, never this segment's frames
        // beside old bytes in one sector, which it would have to refuse as damage.
        const end = buffer.from + buffer.used
        const padded = alignUp(end, recycledPadBytes) - buffer.from
        if (padded <= buffer.bytes.length) {
          this.file.write(buffer.bytes, padded, buffer.from)
        } else {
          this.file.write(buffer.bytes, buffer.used, buffer.from)
          this.file.write(sectorZeros, padded - buffer.used, end)
        }
      }
    } catch (error) {
      throw systemError(error, `Cannot write to segment ${this.fileName}`, 'ERR_IO')
    }
    buffer.written()
  }

  /**
   * Seals the segment: its frames must already be durable (syncData). Writes the offset table
   * after the last frame, syncs it, then writes the header with the sealed flag and syncs it.
   */
  seal(): void {
    this.assert(this.buffer === undefined || this.buffer.used === 0, 'seal() needs its frames written and synced first')
    const offsets = this.loadedOffsets()
    const tablePosition = alignUp(this.appendPosition, 8)
    if (this.isRecycled) this.writeRecycledOffsetTable(tablePosition, offsets)
    else writeOffsetTable(this.bytes, tablePosition, offsets, this.count)
    this.syncOrThrow(tablePosition, offsetTableSizeBytes(this.count))
    this.flags |= flagSealed
    this.writeOwnHeader()
    this.syncOrThrow(0, headerSizeBytes)
    // From now on it is only read: readahead helps again.
    advise(this.mapping, 'normal')
    this.buffer = undefined
    this.file.close()
  }

  /**
   * Frees the pages of a sealed segment's file from the page cache (those mapped here first; the
   * rest on the thread pool): the log's next writes then take pages just freed. A sealed segment is
   * seldom read again (a follower far behind, a restart), and such a read brings its pages back
   * from the device. A hint: never throws for the drop itself.
   */
  dropCache(): void {
    this.assert(this.isSealed, 'dropCache() is for sealed segments')
    // Marked even if part of it fails: the log does not try again at every seal.
    this.cacheDropped = true
    try {
      advise(this.mapping, 'dontneed')
    } catch {
      // A locked mapping refuses (EINVAL): its pages stay cached; the others still go.
    }
    void this.file.dropCacheAsync()
    this.file.close()
  }

  /**
   * A recycled segment's offset table goes over old content, so it is written as its frames are:
   * one pwrite, zero-padded to the end of its last sector. A kill then leaves each page of it
   * whole or as it was, and a power loss each sector: the recovery rule tells a seal cut short
   * (every sector of the table holds the table or zeros, or its whole old content) from damage.
   * A memcpy through the mapping, killed part way, would leave table bytes beside old bytes in
   * one sector, which the rule cannot tell from damage.
   */
  private writeRecycledOffsetTable(position: number, offsets: Uint32Array): void {
    const padded = Buffer.alloc(alignUp(position + offsetTableSizeBytes(this.count), recycledPadBytes) - position)
    writeOffsetTable(padded, 0, offsets, this.count)
    try {
      this.file.write(padded, padded.length, position)
    } catch (error) {
      throw systemError(error, `Cannot write the offset table of segment ${this.fileName}`, 'ERR_IO')
    }
  }

  /**
   * Keeps the first `keepCount` frames and zeroes every byte after them, durably. Zeroing only
   * the first removed frame is not enough: a shorter new entry followed by a crash would expose
   * the old frames behind it. The removed frames are undone from the last one back, each in the
   * reverse order of its stores (unwriteFrame): a process killed part way leaves frames that were
   * never truncated followed by one an append killed part way would leave, and zeros.
   */
  truncate(keepCount: number): void {
    this.assert(keepCount >= 0 && keepCount <= this.count, `keepCount ${keepCount} outside 0..${this.count}`)
    const offsets = this.loadedOffsets()
    if (this.isSealed) this.verify()
    const newEnd = keepCount < this.count ? (offsets[keepCount] as number) : this.appendPosition
    let oldEnd = this.appendPosition
    const wasSealed = this.isSealed
    if (wasSealed) {
      // Written again from here: cached like any open segment, until it is sealed and dropped anew.
      this.cacheDropped = false
      oldEnd = alignUp(this.appendPosition, 8) + offsetTableSizeBytes(this.count)
      // Open the header first: a sealed header over zeroed frames would read as corruption.
      this.flags &= ~flagSealed
      this.writeOwnHeader()
      this.syncOrThrow(0, headerSizeBytes)
      // The table next: a kill while it is zeroed leaves each of its bytes the table's or zero.
      this.bytes.fill(0, alignUp(this.appendPosition, 8), oldEnd)
    }
    // Frames still in the write buffer never reached the file: dropped there, nothing to zero.
    const fileEnd = Math.min(oldEnd, this.buffer?.from ?? oldEnd)
    for (let position = this.count - 1; position >= keepCount; position--) {
      const offset = offsets[position] as number
      if (offset < fileEnd) unwriteFrame(this.bytes, this.words, offset)
    }
    this.buffer?.dropFrom(newEnd)
    this.syncOrThrow(newEnd, fileEnd - newEnd)
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
   * Readies an open segment for appends: no readahead on its mapping. Readahead brings pages in as
   * large folios, and a pwrite of a few bytes into a large folio dirties all of it: a flush would
   * write back up to megabytes of the zeros ahead of the append position. seal() turns readahead
   * back on for the reads that follow.
   */
  private takeAppends(): void {
    advise(this.mapping, 'random')
  }

  /**
   * Synchronously makes every appended frame durable, including those an asynchronous sync
   * still has in flight: fdatasync waits for pages already being written back.
   */
  syncData(): void {
    this.buffersSinceSync = 0
    const to = this.appendPosition
    if (this.durableTo < to) {
      this.writeBuffered()
      try {
        this.file.syncSync()
      } catch (error) {
        throw systemError(error, `Cannot sync segment ${this.fileName}`, 'ERR_IO')
      }
    }
    this.markDurable(to)
  }

  /**
   * The same with the fdatasync on the thread pool (the pwrite, a copy into the page cache, is
   * made here first); resolves when the frames appended before the call are durable.
   */
  async syncDataAsync(): Promise<void> {
    const from = this.unsyncedFrom
    const to = this.appendPosition
    if (from >= to) return
    this.buffersSinceSync = 0
    this.writeBuffered()
    this.unsyncedFrom = to
    const truncations = this.truncations
    try {
      await this.file.syncAsync()
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
      const size = checkFrame(this.bytes, offset, limit, this.baseIndex + position, this.salt)
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

  /**
   * Takes the file out of the log at once and frees its blocks on the thread pool: unlinking a
   * segment whose pages are cached frees them one by one (about 20 ms for 64 MiB), a rename takes
   * 0.1 ms. The caller syncs the directory; a crash before the unlink leaves a dropped file that
   * the next open removes.
   */
  discard(): void {
    this.unmapOnly()
    const dropped = droppedSegmentPath(this.path)
    try {
      renameSync(this.path, dropped)
    } catch {
      rmSync(this.path, { force: true })
      return
    }
    unlink(dropped, () => {})
  }

  /**
   * Takes the file out of the log, as discard() does, but keeps it under `recycledPath` for a
   * later segment to reuse (RaftLog.recycle writes its recycle record first). False when it could
   * not be renamed: then it is discarded.
   */
  recycleTo(recycledPath: string): boolean {
    this.unmapOnly()
    try {
      renameSync(this.path, recycledPath)
      return true
    } catch {
      rmSync(this.path, { force: true })
      return false
    }
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
    return offset + frameBytes + offsetTableSizeBytes(countAfter) <= this.dataEnd
  }

  /** What recovery checks this segment's frames against. */
  private frameContext(): FrameContext {
    const header = { ...openHeader(this.baseIndex, this.prevTerm, this.flags, this.salt) }
    const context = frameContextOf(this.bytes, header)
    if (context === undefined) this.assert(false, 'its recycle record was checked when it was opened')
    return context
  }

  /**
   * Makes the file `sizeBytes` long (posix_fallocate: the new bytes are zero and their blocks
   * reserved) and maps it again. The size change is durable with the next sync of its data.
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
    this.dataEnd = sizeBytes
  }

  /**
   * Writes the header its state calls for: the sealed header, or the one open header (entry count
   * and append position 0 and 64, whatever the frames), so that recovery knows both headers a
   * seal or a reopening writes over each other.
   */
  private writeOwnHeader(): void {
    const header = this.isSealed
      ? sealedHeader(this.baseIndex, this.prevTerm, this.flags, this.count, this.appendPosition, this.salt)
      : openHeader(this.baseIndex, this.prevTerm, this.flags, this.salt)
    writeHeader(this.bytes, header)
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
    this.buffer = undefined
    this.file.close()
    unmap(this.mapping)
  }

  private assert(condition: boolean, message: string): asserts condition {
    if (!condition) throw new Error(`raftlog invariant failed in ${this.fileName}: ${message}`)
  }
}
