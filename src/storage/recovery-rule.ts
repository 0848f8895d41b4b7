// The recovery rule (DESIGN §3): from a segment file's bytes alone, what a crash can have left
// there, and so what recovery may cut, and what is damage it must refuse. RaftLog.open() and the
// read-only tools (verify, inspect, dump, repair) all judge a segment here, so `raftlog verify`
// reports exactly what open() would refuse or cut.
//
// The disk model, the one etcd's WAL relies on: segment files are preallocated, so a region never
// written back reads as zeros; a 512-byte sector is written whole or not at all; pages are written
// back in any order. After a power loss every sector past the last durable byte therefore holds
// either the new data or zeros, nothing else. So:
// - an all-zero frame header ends the log (nothing from there on was acknowledged);
// - a frame failing its checksum with all its bytes inside some sector at zero is a torn write,
//   and ends the log too;
// - anything else (a checksum mismatch with no zero sector, a wrong index, a term going back, a
//   length past the file, a damaged header) cannot come from a crash: it is damage.
import {
  frameChecksum,
  frameHeaderSizeBytes,
  frameIndex,
  frameSizeBytes,
  frameTerm,
  firstNonZeroByte,
  endOfNonZeroBytes,
  headerSizeBytes,
  offsetTableSizeBytes,
  crc32,
  readHeader,
  type SegmentHeader,
} from './segment-format.js'

/** The unit a disk writes atomically. Smaller than any page, so it holds for every disk. */
export const sectorSizeBytes = 512

/** What a segment's first 64 bytes (and its first sector) say about it. */
export type HeaderVerdict =
  | { kind: 'written'; header: SegmentHeader }
  /** All zero, and so is the rest of the first sector: nothing in the file was ever acknowledged. */
  | { kind: 'never written'; shorterThanHeader: boolean }
  | { kind: 'damaged'; problem: string; code: 'ERR_CORRUPT' | 'ERR_UNSUPPORTED_VERSION' }

/**
 * A header is written whole (64 bytes inside one sector), and a rotation's header is synced by the
 * flush that acknowledges its first frames. So an all-zero header over an all-zero first sector
 * was never written back; but the first frame shares that sector, so a zero header with anything
 * else in its sector was written, and then damaged. Any other unreadable header is damage too.
 */
export function judgeHeader(bytes: Buffer): HeaderVerdict {
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
  if (typeof header === 'string') return damaged(header === 'bad magic' ? 'not a segment: header bad magic' : `header ${header}`)
  return { kind: 'written', header }
}

function damaged(problem: string): HeaderVerdict {
  return { kind: 'damaged', problem, code: 'ERR_CORRUPT' }
}

/** Why the frames of an open segment end where they do. */
export type FramesEnd = 'zero frame header' | 'torn write' | 'end of file' | 'unfinished seal'

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
  return judgeEnd(bytes, offset, offsets, frames)
}

/** Where the bytes at `offset` are no valid frame: the end of the log, or damage. */
function judgeEnd(bytes: Buffer, offset: number, offsets: Uint32Array, frames: number): FrameJudgement {
  const room = bytes.length - offset
  if (room < frameHeaderSizeBytes) {
    // A file that ends here: nothing more, unless a frame was cut off by the end of the file.
    if (firstNonZeroByte(bytes, offset, bytes.length) === -1) return { kind: 'end', ending: 'end of file' }
    return { kind: 'damage', problem: 'frame cut off by the end of the file' }
  }
  if (firstNonZeroByte(bytes, offset, offset + frameHeaderSizeBytes) === -1) return { kind: 'end', ending: 'zero frame header' }
  // seal() writes the offset table after the last frame before it marks the header sealed.
  if (isOffsetTableOf(bytes, offset, offsets, frames)) return { kind: 'end', ending: 'unfinished seal' }
  const length = bytes.readUInt32LE(offset)
  // A length is written with its frame's first bytes, in one sector: torn or not, it fits the file.
  if (length > room - frameHeaderSizeBytes) return { kind: 'damage', problem: 'length beyond the segment' }
  const frameEnd = Math.min(offset + frameSizeBytes(length), bytes.length)
  return hasZeroSectorChunk(bytes, offset, frameEnd) ? { kind: 'end', ending: 'torn write' } : { kind: 'damage', problem: 'checksum mismatch' }
}

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
 * True when the bytes at `position` are the offset table of these frames, each sector of it either
 * written or still zero: a crash during seal(), or during the truncation of a sealed segment.
 */
function isOffsetTableOf(bytes: Buffer, position: number, offsets: Uint32Array, frames: number): boolean {
  const tableEnd = position + offsetTableSizeBytes(frames)
  if (frames === 0 || tableEnd > bytes.length) return false
  const table = Buffer.alloc(tableEnd - position)
  Buffer.from(offsets.buffer, offsets.byteOffset, 4 * frames).copy(table)
  table.writeUInt32LE(crc32(table.subarray(0, 4 * frames)), 4 * frames)
  for (let start = position; start < tableEnd; ) {
    const end = Math.min(tableEnd, (Math.floor(start / sectorSizeBytes) + 1) * sectorSizeBytes)
    const written = bytes.compare(table, start - position, end - position, start, end) === 0
    if (!written && firstNonZeroByte(bytes, start, end) !== -1) return false
    start = end
  }
  return true
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
