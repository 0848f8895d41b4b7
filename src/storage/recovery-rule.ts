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
import {
  endOfNonZeroBytes,
  firstNonZeroByte,
  flagSealed,
  frameChecksum,
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
  readU64,
  sealedHeader,
  type SegmentHeader,
} from './segment-format.js'

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
   */
  | { kind: 'never written'; shorterThanHeader: boolean; cutShort?: 'rotation'; problem?: string }
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
  const rotation = Buffer.from(headerBytes(openHeader(nameBase, 0, 0)))
  const dependsOnPrevious = (i: number): boolean => (i >= 32 && i < 40) || (i >= 52 && i < 56)
  if (eachHeaderByte(bytes, (i, byte) => byte === 0 || byte === rotation[i] || dependsOnPrevious(i))) {
    if (firstNonZeroByte(bytes, headerSizeBytes, Math.min(sectorSizeBytes, bytes.length)) === -1) {
      return { kind: 'never written', shorterThanHeader: false, cutShort: 'rotation', problem }
    }
  }
  const prevTerm = readU64(bytes, 32)
  // Unsigned: flags are a u32, and random damage may set the high bit.
  const flags = (bytes.readUInt32LE(48) & ~flagSealed) >>> 0
  if (Number.isNaN(prevTerm)) return undefined
  const walk = walkOpenSegment(bytes, nameBase, prevTerm)
  if (walk.damage !== undefined || walk.ending !== 'unfinished seal') return undefined
  if (offsetTableState(bytes, walk.end, walk.offsets, walk.frames) !== 'complete') return undefined
  const open = Buffer.from(headerBytes(openHeader(nameBase, prevTerm, flags)))
  const sealed = headerBytes(sealedHeader(nameBase, prevTerm, flags, walk.frames, walk.end))
  if (!eachHeaderByte(bytes, (i, byte) => byte === open[i] || byte === sealed[i])) return undefined
  return { kind: 'written', header: openHeader(nameBase, prevTerm, flags), cutShort: 'seal' }
}

function eachHeaderByte(bytes: Buffer, test: (position: number, byte: number) => boolean): boolean {
  for (let i = 0; i < headerSizeBytes; i++) if (!test(i, bytes[i] as number)) return false
  return true
}

/** Why the frames of an open segment end where they do. */
export type FramesEnd = 'zero frame header' | 'torn write' | 'unfinished write' | 'end of file' | 'unfinished seal'

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
}

/**
 * Walks an open segment's frames from byte 64 and applies the rule at the first one that is not
 * a valid frame of the next index. Reads only; the caller decides what to write.
 */
export function walkOpenSegment(bytes: Buffer, baseIndex: number, prevTerm: number): OpenSegmentWalk {
  let offsets = new Uint32Array(1024)
  let frames = 0
  let offset = headerSizeBytes
  let previousTerm = prevTerm
  for (;;) {
    const judged = judgeFrame(bytes, offset, baseIndex + frames, previousTerm, offsets, frames)
    if (judged.kind !== 'frame') {
      const walk: OpenSegmentWalk = { offsets, frames, end: offset, ending: 'end of file', damage: undefined, nonZeroEnd: offset, cutBytes: 0, cutFrames: 0 }
      if (judged.kind === 'damage') {
        walk.damage = { offset, index: baseIndex + frames, problem: judged.problem }
        return walk
      }
      walk.ending = judged.ending
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

type FrameJudgement = { kind: 'frame'; size: number; term: number } | { kind: 'end'; ending: FramesEnd } | { kind: 'damage'; problem: string }

/** The rule for the bytes at `offset`, where the frame of `expectedIndex` should be. */
function judgeFrame(bytes: Buffer, offset: number, expectedIndex: number, previousTerm: number, offsets: Uint32Array, frames: number): FrameJudgement {
  const room = bytes.length - offset
  if (room >= frameHeaderSizeBytes) {
    // The common case first, as cheap as before the rule: a frame whose checksum holds.
    const length = bytes.readUInt32LE(offset)
    if (length <= room - frameHeaderSizeBytes && frameChecksum(bytes, offset, length) === bytes.readUInt32LE(offset + 4)) {
      // A frame that checks out is whole: whatever is wrong with it now was wrong when it was written.
      const index = frameIndex(bytes, offset)
      if (index !== expectedIndex) return { kind: 'damage', problem: `wrong index: the frame holds index ${index}` }
      const term = frameTerm(bytes, offset)
      if (term < previousTerm) return { kind: 'damage', problem: `term ${term} is lower than the term before it (${previousTerm})` }
      return { kind: 'frame', size: frameSizeBytes(length), term }
    }
  }
  return judgeEnd(bytes, offset, expectedIndex, previousTerm, offsets, frames)
}

/** Where the bytes at `offset` are no valid frame: the end of the log, or damage. */
function judgeEnd(bytes: Buffer, offset: number, expectedIndex: number, previousTerm: number, offsets: Uint32Array, frames: number): FrameJudgement {
  const room = bytes.length - offset
  if (room < frameHeaderSizeBytes) {
    // A file that ends here: nothing more, unless a frame was cut off by the end of the file.
    if (firstNonZeroByte(bytes, offset, bytes.length) === -1) return { kind: 'end', ending: 'end of file' }
    return { kind: 'damage', problem: 'frame cut off by the end of the file' }
  }
  if (firstNonZeroByte(bytes, offset, offset + frameHeaderSizeBytes) === -1) return { kind: 'end', ending: 'zero frame header' }
  // seal() writes the offset table after the last frame before it marks the header sealed.
  if (offsetTableState(bytes, offset, offsets, frames) !== 'none') return { kind: 'end', ending: 'unfinished seal' }
  const length = bytes.readUInt32LE(offset)
  // A length is written first, whole, and right: torn, unfinished or not, it fits the file.
  if (length > room - frameHeaderSizeBytes) return { kind: 'damage', problem: 'length beyond the segment' }
  if (isUnfinishedFrame(bytes, offset, length, expectedIndex, previousTerm)) return { kind: 'end', ending: 'unfinished write' }
  const frameEnd = Math.min(offset + frameSizeBytes(length), bytes.length)
  return hasZeroSectorChunk(bytes, offset, frameEnd) ? { kind: 'end', ending: 'torn write' } : { kind: 'damage', problem: 'checksum mismatch' }
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
export function isUnfinishedFrame(bytes: Buffer, offset: number, length: number, expectedIndex: number, previousTerm: number): boolean {
  if (bytes.readUInt32LE(offset + 4) !== 0) return false
  const indexLow = bytes.readUInt32LE(offset + 16)
  const indexHigh = bytes.readUInt32LE(offset + 20)
  const expectedLow = expectedIndex >>> 0
  if (indexLow !== 0 && indexLow !== expectedLow) return false
  if (indexHigh !== 0 && indexHigh !== Math.floor(expectedIndex / 2 ** 32)) return false
  // The term's words are stored before the index's: once the index is there, the term is whole.
  if (indexLow !== 0 && frameTerm(bytes, offset) < previousTerm) return false
  if ((bytes[offset + 24] as number) > maxEntryType || firstNonZeroByte(bytes, offset + 25, offset + frameHeaderSizeBytes) !== -1) return false
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
 * of it lost to a power loss, a truncation zeroing it), 'none' otherwise.
 */
export function offsetTableState(bytes: Buffer, position: number, offsets: Uint32Array, frames: number): 'complete' | 'partial' | 'none' {
  const tableEnd = position + offsetTableSizeBytes(frames)
  if (frames === 0 || tableEnd > bytes.length) return 'none'
  const table = offsetTableBytes(offsets, frames)
  if (bytes.compare(table, 0, table.length, position, tableEnd) === 0) return 'complete'
  for (let i = 0; i < table.length; i++) {
    const byte = bytes[position + i] as number
    if (byte !== 0 && byte !== table[i]) return 'none'
  }
  return 'partial'
}

/** Frames with a valid checksum from `offset` on, whatever their index: what a cut throws away. */
function checksummedFramesFrom(bytes: Buffer, offset: number): number {
  let frames = 0
  while (offset + frameHeaderSizeBytes <= bytes.length) {
    const length = bytes.readUInt32LE(offset)
    if (length > bytes.length - offset - frameHeaderSizeBytes) break
    if (frameChecksum(bytes, offset, length) !== bytes.readUInt32LE(offset + 4)) break
    frames++
    offset += frameSizeBytes(length)
  }
  return frames
}
