// The recovery rule (DESIGN §3): from a segment file's bytes alone, what a crash can have left
// there, and so what recovery may cut, and what is damage it must refuse. RaftLog.open() and the
// read-only tools (verify, inspect, dump, repair) all judge a segment here, so `raftlog verify`
// reports exactly what open() would refuse or cut.
//
// Two kinds of crash, and what each can leave past the last flush:
// - A power loss. The disk model is the one etcd's WAL relies on: segment files are preallocated,
//   so a region never written back reads as zeros; a 512-byte sector is written whole or not at
//   all; pages are written back in any order. Every sector past the last durable byte holds either
//   the new data or zeros.
// - A process killed (SIGKILL) while it writes. The page cache keeps every write made before the
//   kill and none after. Frames reach the file with pwrite, which a kill stops between two pages:
//   a prefix of whole pages, so the frame it cuts is torn. Seals, truncations and recovery write
//   through the mapping: a prefix of the stores the code makes, in its order, one memcpy or memset
//   counting as any subset of its bytes. Those writes are ordered so that every such prefix is
//   recognisable: a frame's checksum is its last store (writeFrame: how frames of earlier versions
//   were written through the mapping), a truncation undoes a frame's stores in reverse
//   (unwriteFrame), a seal writes its offset table before the header, and a header is one of two
//   known headers written over each other.
// A kill and then a power loss leave such a prefix with its sectors each written back or zero. So:
// - an all-zero frame header ends the log (nothing from there on was acknowledged);
// - a frame failing its checksum with all its bytes inside some sector at zero is a torn write,
//   and ends the log too;
// - a frame whose checksum word is zero, whose other fields are each zero or what its append
//   wrote, and after which the segment holds nothing, is an unfinished write: its append never
//   returned, so no flush covered it; it ends the log too;
// - anything else (a checksum mismatch with no zero sector and a non-zero checksum word, or with
//   something after it; a wrong index, a term going back, a length past the file, a damaged
//   header) cannot come from a crash: it is damage.
//
// A recycled segment (format version 2, flagRecycled) reuses the file of a segment that compaction
// freed, so a region never written back reads as what the file held before, not as zeros. Its
// recycle record holds the CRC-32 of each sector of that old content, and every frame carries the
// segment's salt. So, in a recycled segment, where no valid frame of the next index is:
// - bytes that are no frame of this segment (their salt is another, their index not the one
//   expected, and their checksum fails with this segment's salt too) are stale: the end of the log;
// - a frame of this segment (its salt or its index right) failing its checksum is torn when one of
//   its sectors holds the old content its recycle record gives, or zeros (the part of a sector
//   that a truncation or recovery zeroed); otherwise it is damage, as in any segment.
import { crc32Range } from './crc32.js'
import {
  endOfNonZeroBytes,
  firstNonZeroByte,
  flagRecycled,
  flagSealed,
  frameChecksum,
  frameChecksumWithSalt,
  frameSalt,
  frameHeaderSizeBytes,
  frameIndex,
  frameSizeBytes,
  frameTerm,
  headerBytes,
  headerSizeBytes,
  offsetTableBytes,
  offsetTableSizeBytes,
  openHeader,
  readHeader,
  readRecycleRecord,
  readU64,
  recycledDataEnd,
  recycleSectorBytes,
  sealedHeader,
  type SegmentHeader,
} from './segment-format.js'

/** What the frames of a segment are checked against, beyond its base index and previous term. */
export interface FrameContext {
  /** The segment's salt (0 for version 1). */
  salt: number
  /** Recycled segments: the CRC-32 of each sector as the file held it before (its recycle record). */
  sectorChecksums: Uint32Array | undefined
  /** Where frames must end: the recycle record's start, or the end of the file. */
  dataEnd: number
}

/** The context of a segment of version 1 (or any whose frames are not salted), over `length` bytes. */
export function plainContext(length: number): FrameContext {
  return { salt: 0, sectorChecksums: undefined, dataEnd: length }
}

/**
 * The frame context a written header gives, reading the recycle record of a recycled segment;
 * undefined when the header says recycled and the record is missing or damaged (the record was
 * durable before the file took its name: that is damage).
 */
export function frameContextOf(bytes: Buffer, header: SegmentHeader): FrameContext | undefined {
  if ((header.flags & flagRecycled) === 0) return { salt: header.salt, sectorChecksums: undefined, dataEnd: bytes.length }
  const sectorChecksums = header.salt === 0 ? undefined : readRecycleRecord(bytes)
  if (sectorChecksums === undefined) return undefined
  return { salt: header.salt, sectorChecksums, dataEnd: recycledDataEnd(bytes.length) }
}

/** The unit a disk writes atomically. Smaller than any page, so it holds for every disk. */
export const sectorSizeBytes = 512

/** What a segment's first 64 bytes (and its first sector) say about it. */
export type HeaderVerdict =
  /**
   * A header to trust. With cutShort 'seal': a kill stopped the header write of a seal (or of the
   * reopening of a sealed segment by a truncation); `header` is the open header, the segment is
   * recovered as open, and its header must be written again before anything else.
   */
  | { kind: 'written'; header: SegmentHeader; cutShort?: 'seal' }
  /**
   * All zero, and so is the rest of the first sector: nothing in the file was ever acknowledged.
   * With cutShort 'rotation': not all zero, but a rotation's header write stopped by a kill, over a
   * file that holds nothing else; `problem` says what is wrong with the header if it is not that.
   * With recycled: a recycled file renamed in by a rotation whose header never reached the disk
   * (it still holds its earlier life's sealed header and a valid recycle record).
   */
  | { kind: 'never written'; shorterThanHeader: boolean; cutShort?: 'rotation'; problem?: string; recycled?: boolean }
  | { kind: 'damaged'; problem: string; code: 'ERR_CORRUPT' | 'ERR_UNSUPPORTED_VERSION' }

/**
 * A header is written whole (64 bytes inside one sector) as far as a disk is concerned, and a
 * rotation's header is synced by the flush that acknowledges its first frames. So an all-zero
 * header over an all-zero first sector was never written back; but the first frame shares that
 * sector, so a zero header with anything else in its sector was written, and then damaged. A
 * header that fails its checks is damage too, unless its bytes are a header write that a kill
 * stopped (headerCutShort). `nameBase` is the base index the file's name carries.
 */
export function judgeHeader(bytes: Buffer, nameBase: number): HeaderVerdict {
  if (bytes.length < headerSizeBytes) {
    // A crash between creating a file and reserving its blocks leaves it empty; any byte in it is not ours.
    if (firstNonZeroByte(bytes, 0, bytes.length) === -1) return { kind: 'never written', shorterThanHeader: true }
    return damaged(`not a segment: ${bytes.length} bytes, shorter than a header, and not all zero`)
  }
  const header = readHeader(bytes)
  if (header === 'no header') {
    const nonZero = firstNonZeroByte(bytes, headerSizeBytes, Math.min(sectorSizeBytes, bytes.length))
    if (nonZero === -1) return { kind: 'never written', shorterThanHeader: false }
    return damaged(`header is all zero, but byte ${nonZero} of its sector is not: the header was written, then lost`)
  }
  if (header === 'unsupported version') {
    return { kind: 'damaged', problem: `format version ${bytes.readUInt32LE(4)} is not one this raftlog reads`, code: 'ERR_UNSUPPORTED_VERSION' }
  }
  if (typeof header === 'string') {
    const problem = header === 'bad magic' ? 'not a segment: header bad magic' : `header ${header}`
    return headerCutShort(bytes, nameBase, problem) ?? damaged(problem)
  }
  if (header.baseIndex < nameBase && readRecycleRecord(bytes) !== undefined) {
    // A rotation into a recycled file renames it, then writes the new header (one pwrite, inside a
    // sector), synced by the flush that acknowledges its first frames: until then the file holds
    // the header of its earlier life (sealed, or open when it was compacted before a flush sealed
    // it), and nothing of the new segment was acknowledged.
    return { kind: 'never written', shorterThanHeader: false, recycled: true }
  }
  if ((header.flags & flagRecycled) !== 0 && frameContextOf(bytes, header) === undefined) {
    return damaged('recycle record missing or checksum mismatch')
  }
  return { kind: 'written', header }
}

function damaged(problem: string): HeaderVerdict {
  return { kind: 'damaged', problem, code: 'ERR_CORRUPT' }
}

/**
 * A header that fails its checks because a kill stopped the memcpy writing it: each byte is the
 * old header's or the new one's, for one of the two places the code writes a header over another
 * in a file under its real name.
 * - A rotation writes the open header over zeros, before any frame: each byte is zero or that
 *   header's (its previous term and checksum aside: they depend on the segment before, and the
 *   file is started afresh from it), and the rest of the first sector, where the first frame
 *   goes, is zero.
 * - A seal writes the sealed header over the open one once the frames and the offset table after
 *   them are durable; a truncation writes them the other way round before it changes a frame or
 *   the table. So the frames must walk cleanly up to an offset table complete to its last byte,
 *   and each byte be the open header's or the sealed header's for exactly those frames. The
 *   fields both share (previous term, flags but the sealed bit) are read from the bytes; the
 *   checksum bytes, which match only the true values, vouch for them.
 */
function headerCutShort(bytes: Buffer, nameBase: number, problem: string): HeaderVerdict | undefined {
  // A name no raftlog gives (a base index past 2^53) is no header write of ours.
  if (!Number.isSafeInteger(nameBase)) return undefined
  const rotation = Buffer.from(headerBytes(openHeader(nameBase, 0, 0, 1)))
  // The previous term and checksum depend on the segment before, the salt is random, and the
  // version is 2 (1 before version 2 existed).
  const dependsOnPrevious = (i: number): boolean => (i >= 32 && i < 40) || (i >= 52 && i < 60) || (i === 4 && bytes[4] === 1)
  if (eachHeaderByte(bytes, (i, byte) => byte === 0 || byte === rotation[i] || dependsOnPrevious(i))) {
    if (firstNonZeroByte(bytes, headerSizeBytes, Math.min(sectorSizeBytes, bytes.length)) === -1) {
      return { kind: 'never written', shorterThanHeader: false, cutShort: 'rotation', problem }
    }
  }
  const prevTerm = readU64(bytes, 32)
  // Unsigned: flags are a u32, and random damage may set the high bit.
  const flags = (bytes.readUInt32LE(48) & ~flagSealed) >>> 0
  if (Number.isNaN(prevTerm)) return undefined
  // The salt (version 2) is the same in both headers: read from the bytes, vouched for by the checksum.
  const salt = bytes[4] === 1 ? 0 : bytes.readUInt32LE(56)
  const openOne = openHeader(nameBase, prevTerm, flags, salt)
  const context = frameContextOf(bytes, openOne)
  if (context === undefined) return undefined
  const walk = walkOpenSegment(bytes, nameBase, prevTerm, context)
  if (walk.damage !== undefined || walk.ending !== 'unfinished seal') return undefined
  if (offsetTableState(bytes, walk.end, walk.offsets, walk.frames) !== 'complete') return undefined
  const open = Buffer.from(headerBytes(openOne))
  const sealed = headerBytes(sealedHeader(nameBase, prevTerm, flags, walk.frames, walk.end, salt))
  if (!eachHeaderByte(bytes, (i, byte) => byte === open[i] || byte === sealed[i])) return undefined
  return { kind: 'written', header: openOne, cutShort: 'seal' }
}

function eachHeaderByte(bytes: Buffer, test: (position: number, byte: number) => boolean): boolean {
  for (let i = 0; i < headerSizeBytes; i++) if (!test(i, bytes[i] as number)) return false
  return true
}

/** Why the frames of an open segment end where they do. */
export type FramesEnd = 'zero frame header' | 'torn write' | 'unfinished write' | 'end of file' | 'unfinished seal' | 'stale data'

/** Damage found in a segment: where, at which index, and what. */
export interface FrameDamage {
  offset: number
  index: number
  problem: string
}

/** The frames of an open segment as recovery finds them, and what it would cut after them. */
export interface OpenSegmentWalk {
  /** offsets[i] is the byte offset of the frame of index baseIndex + i, for i < frames. */
  offsets: Uint32Array
  frames: number
  /** Byte offset just past the last valid frame: where the next one goes. */
  end: number
  /** Why the frames stop at `end` (when there is no damage). */
  ending: FramesEnd
  /** Set when the frame at `end` is damaged: recovery must refuse the segment and change nothing. */
  damage: FrameDamage | undefined
  /** One past the last non-zero byte at or after `end`: recovery zeroes [end, nonZeroEnd). */
  nonZeroEnd: number
  /** Non-zero bytes after `end` that held log data (an unfinished seal's offset table does not count). */
  cutBytes: number
  /** Frames with a valid checksum (any index) found at `end` and after: what the cut throws away. */
  cutFrames: number
  /**
   * Recycled segments: the byte ranges after `end` to zero instead of [end, nonZeroEnd), which is
   * old content there: the sectors that hold neither their old content nor zeros (frames of this
   * segment that no flush covered), and the rest of the sector at `end` when a frame of this
   * segment starts there.
   */
  zeroRanges?: [number, number][]
}

/**
 * Walks an open segment's frames from byte 64 and applies the rule at the first one that is not
 * a valid frame of the next index. Reads only; the caller decides what to write.
 */
export function walkOpenSegment(bytes: Buffer, baseIndex: number, prevTerm: number, context: FrameContext = plainContext(bytes.length)): OpenSegmentWalk {
  let offsets = new Uint32Array(1024)
  let frames = 0
  let offset = headerSizeBytes
  let previousTerm = prevTerm
  for (;;) {
    const judged = judgeFrame(bytes, offset, baseIndex + frames, previousTerm, offsets, frames, context)
    if (judged.kind !== 'frame') {
      const walk: OpenSegmentWalk = { offsets, frames, end: offset, ending: 'end of file', damage: undefined, nonZeroEnd: offset, cutBytes: 0, cutFrames: 0 }
      if (judged.kind === 'damage') {
        walk.damage = { offset, index: baseIndex + frames, problem: judged.problem }
        return walk
      }
      walk.ending = judged.ending
      if (context.sectorChecksums !== undefined) return finishRecycledWalk(bytes, walk, context)
      walk.nonZeroEnd = endOfNonZeroBytes(bytes, offset, bytes.length)
      const tableEnd = judged.ending === 'unfinished seal' ? offset + offsetTableSizeBytes(frames) : offset
      walk.cutBytes = Math.max(0, walk.nonZeroEnd - tableEnd)
      walk.cutFrames = checksummedFramesFrom(bytes, tableEnd)
      return walk
    }
    if (frames === offsets.length) {
      const grown = new Uint32Array(offsets.length * 2)
      grown.set(offsets)
      offsets = grown
    }
    offsets[frames++] = offset
    previousTerm = judged.term
    offset += judged.size
  }
}

/**
 * A recycled segment's walk ended at `walk.end`: what after it must be zeroed (frames of this
 * segment no flush covered, in sectors that no longer hold their old content), and what that cuts.
 * Old content is left: no frame of it validates here, and it is what a sector never written back
 * reads as.
 */
function finishRecycledWalk(bytes: Buffer, walk: OpenSegmentWalk, context: FrameContext): OpenSegmentWalk {
  const checksums = context.sectorChecksums as Uint32Array
  const { end } = walk
  const ranges: [number, number][] = []
  let cutBytes = 0
  const firstWhole = Math.ceil(end / recycleSectorBytes)
  // This segment's bytes past `end` in its sector (a torn frame, an unfinished seal's table) go too.
  const ownBytesAtEnd = walk.ending === 'torn write' || walk.ending === 'unfinished write' || walk.ending === 'unfinished seal'
  if (end % recycleSectorBytes !== 0 && ownBytesAtEnd) {
    const to = Math.min(firstWhole * recycleSectorBytes, context.dataEnd)
    if (firstNonZeroByte(bytes, end, to) !== -1) {
      ranges.push([end, to])
      cutBytes += to - end
    }
  }
  for (let sector = firstWhole; sector < checksums.length; sector++) {
    const from = sector * recycleSectorBytes
    const to = from + recycleSectorBytes
    if (crc32Range(bytes, from, to) === checksums[sector] || firstNonZeroByte(bytes, from, to) === -1) continue
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last[1] === from) last[1] = to
    else ranges.push([from, to])
    cutBytes += recycleSectorBytes
  }
  walk.zeroRanges = ranges
  walk.nonZeroEnd = ranges.length === 0 ? end : (ranges[ranges.length - 1] as [number, number])[1]
  walk.cutBytes = cutBytes
  walk.cutFrames = walk.ending === 'unfinished seal' ? 0 : checksummedFramesFrom(bytes, end, context)
  return walk
}

type FrameJudgement = { kind: 'frame'; size: number; term: number } | { kind: 'end'; ending: FramesEnd } | { kind: 'damage'; problem: string }

/** The rule for the bytes at `offset`, where the frame of `expectedIndex` should be. */
function judgeFrame(bytes: Buffer, offset: number, expectedIndex: number, previousTerm: number, offsets: Uint32Array, frames: number, context: FrameContext): FrameJudgement {
  const room = context.dataEnd - offset
  if (room >= frameHeaderSizeBytes) {
    // The common case first, as cheap as before the rule: a frame whose checksum holds.
    const length = bytes.readUInt32LE(offset)
    const salted = context.salt === 0 || frameSalt(bytes, offset) === context.salt
    if (length <= room - frameHeaderSizeBytes && salted && frameChecksum(bytes, offset, length) === bytes.readUInt32LE(offset + 4)) {
      // A frame that checks out is whole: whatever is wrong with it now was wrong when it was written.
      const index = frameIndex(bytes, offset)
      if (index !== expectedIndex) return { kind: 'damage', problem: `wrong index: the frame holds index ${index}` }
      const term = frameTerm(bytes, offset)
      if (term < previousTerm) return { kind: 'damage', problem: `term ${term} is lower than the term before it (${previousTerm})` }
      return { kind: 'frame', size: frameSizeBytes(length), term }
    }
  }
  return judgeEnd(bytes, offset, expectedIndex, previousTerm, offsets, frames, context)
}

/** Where the bytes at `offset` are no valid frame: the end of the log, or damage. */
function judgeEnd(bytes: Buffer, offset: number, expectedIndex: number, previousTerm: number, offsets: Uint32Array, frames: number, context: FrameContext): FrameJudgement {
  const limit = context.dataEnd
  const room = limit - offset
  const recycled = context.sectorChecksums !== undefined
  if (room < frameHeaderSizeBytes) {
    // A file that ends here: nothing more, unless a frame was cut off by the end of the file. In a
    // recycled file no frame of this segment can start here (none fits), so whatever is left is old.
    if (recycled || firstNonZeroByte(bytes, offset, limit) === -1) return { kind: 'end', ending: 'end of file' }
    return { kind: 'damage', problem: 'frame cut off by the end of the file' }
  }
  if (firstNonZeroByte(bytes, offset, offset + frameHeaderSizeBytes) === -1) return { kind: 'end', ending: 'zero frame header' }
  // seal() writes the offset table after the last frame before it marks the header sealed.
  if (offsetTableState(bytes, offset, offsets, frames, context.sectorChecksums) !== 'none') return { kind: 'end', ending: 'unfinished seal' }
  const length = bytes.readUInt32LE(offset)
  if (recycled && !isOwnFrame(bytes, offset, length, room, expectedIndex, context.salt)) {
    // Old content ends the log only where this segment never wrote, or wrote a header only in part:
    // every write into a recycled segment is zero-padded to the end of its sector, so where its
    // frames end some sector of the 32 header bytes holds zeros there or its whole old content (a
    // header across two sectors may have one written back, the other not). A header whose every
    // sector holds something else is a frame of this segment whose own fields were damaged.
    const headerEnd = offset + frameHeaderSizeBytes
    if (hasZeroSectorChunk(bytes, offset, headerEnd) || hasOldSector(bytes, offset, headerEnd, context.sectorChecksums as Uint32Array)) {
      return { kind: 'end', ending: 'stale data' }
    }
    return { kind: 'damage', problem: 'checksum mismatch: neither a frame of this segment nor old content (salt, index and checksum wrong)' }
  }
  if (context.salt !== 0 && !recycled && length <= room - frameHeaderSizeBytes && frameSalt(bytes, offset) !== context.salt) {
    // A new file held zeros: a frame with another salt was never written to it.
    if (frameChecksum(bytes, offset, length) === bytes.readUInt32LE(offset + 4)) return { kind: 'damage', problem: `wrong salt: the frame holds salt ${frameSalt(bytes, offset)}` }
  }
  // A length is written first, whole, and right: torn, unfinished or not, it fits the file.
  if (length > room - frameHeaderSizeBytes) return { kind: 'damage', problem: 'length beyond the segment' }
  if (recycled ? isUnfinishedRecycledFrame(bytes, offset, length, expectedIndex, previousTerm, context) : isUnfinishedFrame(bytes, offset, length, expectedIndex, previousTerm, context.salt)) {
    return { kind: 'end', ending: 'unfinished write' }
  }
  const frameEnd = Math.min(offset + frameSizeBytes(length), limit)
  if (hasZeroSectorChunk(bytes, offset, frameEnd)) return { kind: 'end', ending: 'torn write' }
  if (recycled && hasOldSector(bytes, offset, frameEnd, context.sectorChecksums as Uint32Array)) return { kind: 'end', ending: 'torn write' }
  return { kind: 'damage', problem: 'checksum mismatch' }
}

/**
 * True when the bytes at `offset` of a recycled segment are a frame of this segment, whole or not:
 * its salt is this segment's, or its index the one expected, or its checksum holds with this
 * segment's salt (only its salt bytes damaged). Anything else there is the file's old content:
 * frames of its earlier life carry another salt and lower indexes, and the middle of one has
 * neither (a random salt matches by chance once in 2^32).
 */
function isOwnFrame(bytes: Buffer, offset: number, length: number, room: number, expectedIndex: number, salt: number): boolean {
  if (frameSalt(bytes, offset) === salt || frameIndex(bytes, offset) === expectedIndex) return true
  return length <= room - frameHeaderSizeBytes && frameChecksumWithSalt(bytes, offset, length, salt) === bytes.readUInt32LE(offset + 4)
}

/**
 * True when a sector that [from, to) touches holds the old content the recycle record gives for
 * it: that sector of the frame never reached the disk (a power loss), or a kill stopped the pwrite
 * before it (a prefix of whole pages). Whole sectors are compared, so the sector a frame starts or
 * ends in counts only when all of it is old: before this frame, nothing was written past the last
 * flush's end in the sector where this frame starts, and the one where it ends holds only this
 * frame and later writes.
 */
export function hasOldSector(bytes: Buffer, from: number, to: number, sectorChecksums: Uint32Array): boolean {
  const last = Math.min(Math.floor((to - 1) / recycleSectorBytes), sectorChecksums.length - 1)
  for (let sector = Math.floor(from / recycleSectorBytes); sector <= last; sector++) {
    const start = sector * recycleSectorBytes
    if (crc32Range(bytes, start, start + recycleSectorBytes) === sectorChecksums[sector]) return true
  }
  return false
}

/**
 * The unfinished write of a recycled segment: a truncation (unwriteFrame, through the mapping)
 * killed part way, its checksum word zeroed first, its other fields each zero or what the append
 * wrote, and no frame of this segment after it (a truncation undoes the last frame first). Whatever
 * follows is zeros or old content, where a new file's rule asks for zeros to the end of the file.
 */
function isUnfinishedRecycledFrame(bytes: Buffer, offset: number, length: number, expectedIndex: number, previousTerm: number, context: FrameContext): boolean {
  if (bytes.readUInt32LE(offset + 4) !== 0) return false
  const salt = frameSalt(bytes, offset)
  if (salt !== 0 && salt !== context.salt) return false
  const indexLow = bytes.readUInt32LE(offset + 16)
  const indexHigh = bytes.readUInt32LE(offset + 20)
  if (indexLow !== 0 && indexLow !== expectedIndex >>> 0) return false
  if (indexHigh !== 0 && indexHigh !== Math.floor(expectedIndex / 2 ** 32)) return false
  if (indexLow !== 0 && frameTerm(bytes, offset) < previousTerm) return false
  if ((bytes[offset + 24] as number) > maxEntryType || firstNonZeroByte(bytes, offset + 25, offset + 28) !== -1) return false
  const next = offset + frameSizeBytes(length)
  if (next + frameHeaderSizeBytes > context.dataEnd) return true
  if (firstNonZeroByte(bytes, next, next + frameHeaderSizeBytes) === -1) return true
  return frameSalt(bytes, next) !== context.salt && frameIndex(bytes, next) !== expectedIndex + 1
}

/**
 * True when the frame at `offset` is what a process killed inside writeFrame (or unwriteFrame)
 * leaves: its checksum, the last store, is still zero; each field stored before it is zero or
 * what that append wrote (the expected index, a term no lower than the one before, a known type,
 * zero reserved bytes); and nothing after the payload its length gives is non-zero, to the end
 * of the file, since an append writes into zeros and a kill stops every store after it. Sectors
 * lost to a power loss after the kill only add zeros. Damage to a written frame reads as this
 * only when it makes the checksum word exactly zero in the last frame of the segment.
 */
export function isUnfinishedFrame(bytes: Buffer, offset: number, length: number, expectedIndex: number, previousTerm: number, salt = 0): boolean {
  if (bytes.readUInt32LE(offset + 4) !== 0) return false
  // Version 2: the salt is stored with the header's fields, before the checksum.
  const frameSaltValue = bytes.readUInt32LE(offset + 28)
  if (frameSaltValue !== 0 && frameSaltValue !== salt) return false
  const indexLow = bytes.readUInt32LE(offset + 16)
  const indexHigh = bytes.readUInt32LE(offset + 20)
  const expectedLow = expectedIndex >>> 0
  if (indexLow !== 0 && indexLow !== expectedLow) return false
  if (indexHigh !== 0 && indexHigh !== Math.floor(expectedIndex / 2 ** 32)) return false
  // The term's words are stored before the index's: once the index is there, the term is whole.
  if (indexLow !== 0 && frameTerm(bytes, offset) < previousTerm) return false
  if ((bytes[offset + 24] as number) > maxEntryType || firstNonZeroByte(bytes, offset + 25, offset + 28) !== -1) return false
  return endOfNonZeroBytes(bytes, offset, bytes.length) <= offset + frameHeaderSizeBytes + length
}

/** The highest type byte a frame holds (EntryType.Config). */
const maxEntryType = 2

/**
 * True when some part of [from, to) that lies inside one 512-byte sector (file offsets) is all
 * zero: that sector of the frame never reached the disk.
 */
export function hasZeroSectorChunk(bytes: Buffer, from: number, to: number): boolean {
  for (let start = from; start < to; ) {
    const end = Math.min(to, (Math.floor(start / sectorSizeBytes) + 1) * sectorSizeBytes)
    if (firstNonZeroByte(bytes, start, end) === -1) return true
    start = end
  }
  return false
}

/**
 * Whether the bytes at `position` are the offset table of these frames: 'complete' to its last
 * byte, 'partial' when each byte is the table's or zero (seal() killed during its memcpy, sectors
 * of it lost to a power loss, a truncation zeroing it), 'none' otherwise. In a recycled segment
 * (`sectorChecksums` given) a sector of the table may also hold its whole old content: the seal
 * writes the table with one pwrite, which a kill stops between pages and a power loss loses sector
 * by sector.
 */
export function offsetTableState(bytes: Buffer, position: number, offsets: Uint32Array, frames: number, sectorChecksums?: Uint32Array): 'complete' | 'partial' | 'none' {
  const tableEnd = position + offsetTableSizeBytes(frames)
  if (frames === 0 || tableEnd > bytes.length) return 'none'
  const table = offsetTableBytes(offsets, frames)
  if (bytes.compare(table, 0, table.length, position, tableEnd) === 0) return 'complete'
  let someOfIt = false
  for (let i = 0; i < table.length; ) {
    const sector = Math.floor((position + i) / recycleSectorBytes)
    const next = Math.min(table.length, (sector + 1) * recycleSectorBytes - position)
    const sectorStart = sector * recycleSectorBytes
    const old = sectorChecksums !== undefined && sector < sectorChecksums.length && crc32Range(bytes, sectorStart, sectorStart + recycleSectorBytes) === sectorChecksums[sector]
    if (!old) {
      for (; i < next; i++) {
        const byte = bytes[position + i] as number
        if (byte !== 0 && byte !== table[i]) return 'none'
        if (byte !== 0) someOfIt = true
      }
    }
    i = next
  }
  // Old content alone, with no byte of the table, is no seal: the stale-data rule judges it.
  return sectorChecksums === undefined || someOfIt ? 'partial' : 'none'
}

/**
 * Frames with a valid checksum from `offset` on, whatever their index: what a cut throws away.
 * In a recycled segment only this segment's (its salt): old frames are not cut, only left.
 */
function checksummedFramesFrom(bytes: Buffer, offset: number, context: FrameContext = plainContext(bytes.length)): number {
  let frames = 0
  while (offset + frameHeaderSizeBytes <= context.dataEnd) {
    const length = bytes.readUInt32LE(offset)
    if (length > context.dataEnd - offset - frameHeaderSizeBytes) break
    if (context.sectorChecksums !== undefined && frameSalt(bytes, offset) !== context.salt) break
    if (frameChecksum(bytes, offset, length) !== bytes.readUInt32LE(offset + 4)) break
    frames++
    offset += frameSizeBytes(length)
  }
  return frames
}
