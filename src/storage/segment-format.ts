// The segment file format, version 1 (DESIGN §3), as pure functions over a Buffer. Segment uses
// them over its mapping; `raftlog verify` and `inspect` use them over read-only mappings.
import { basename, dirname, join } from 'node:path'
import CRC32 from 'crc-32'
import { crc32Range } from './crc32.js'

export const segmentMagic = 'RAFT'
export const segmentVersion = 1
export const headerSizeBytes = 64
export const frameHeaderSizeBytes = 32
export const frameAlignmentBytes = 8
/** The largest payload one entry may carry. */
export const maxEntrySizeBytes = 256 * 1024 * 1024
export const defaultSegmentSizeBytes = 64 * 1024 * 1024
/** Offsets in the offset table are u32, so a segment must stay below 4 GiB; keep a margin. */
export const maxSegmentSizeBytes = 1024 * 1024 * 1024

/** Header flag: frames and offset table are durable; the header is the truth. */
export const flagSealed = 1
/** Header flag: this segment began with reset(); segments below it are leftovers to delete. */
export const flagResetBase = 2

const magicBytes = Buffer.from(segmentMagic, 'ascii')

// Frames are written through a Uint32Array, which uses the host's byte order; the format is
// little-endian, so raftlog runs on little-endian hosts only (x86-64, arm64).
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('raftlog needs a little-endian host')
const twoTo32 = 2 ** 32

export function segmentFileName(baseIndex: number): string {
  return `segment_${String(baseIndex).padStart(20, '0')}.log`
}

const segmentFilePattern = /^segment_(\d{20})\.log$/

/** The base index a segment file's name carries, or undefined for any other file. */
/**
 * Where a segment taken out of the log waits for its unlink on the thread pool: never data, and
 * no longer named like a segment (open removes any a crash left).
 */
export function droppedSegmentPath(segmentPath: string): string {
  return join(dirname(segmentPath), `dropped-${basename(segmentPath).replace(/^segment_/, '').replace(/\.log$/, '')}.tmp`)
}

export function isDroppedSegmentName(name: string): boolean {
  return /^dropped-\d{20}\.tmp$/.test(name)
}

export function parseSegmentFileName(name: string): number | undefined {
  const match = segmentFilePattern.exec(name)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export function readU64(buffer: Buffer, offset: number): number {
  const low = buffer.readUInt32LE(offset)
  const high = buffer.readUInt32LE(offset + 4)
  // Above 2^53 a number is no longer exact: such a field can only be garbage.
  return high > 0x1fffff ? Number.NaN : high * twoTo32 + low
}

export function writeU64(buffer: Buffer, offset: number, value: number): void {
  buffer.writeUInt32LE(value >>> 0, offset)
  buffer.writeUInt32LE(Math.floor(value / twoTo32), offset + 4)
}

export function crc32(bytes: Uint8Array, seed?: number): number {
  return CRC32.buf(bytes, seed) >>> 0
}

/** Bytes a frame with this payload occupies, padding included. */
export function frameSizeBytes(payloadLength: number): number {
  return frameHeaderSizeBytes + alignUp(payloadLength, frameAlignmentBytes)
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment
}

/** Bytes the offset table of a sealed segment with `count` frames takes: u32 each, then a CRC. */
export function offsetTableSizeBytes(count: number): number {
  return 4 * count + 4
}

export interface SegmentHeader {
  version: number
  baseIndex: number
  entryCount: number
  appendPosition: number
  prevTerm: number
  offsetTablePosition: number
  flags: number
}

/**
 * Writes a header at the start of `buffer`, built aside and copied in with one memcpy. A disk
 * writes its 64 bytes whole (one sector), but a process killed during the memcpy leaves any mix of
 * the old and new bytes in the page cache: the recovery rule knows which old and new headers the
 * code writes over each other (headerCutShort in recovery-rule.ts).
 */
export function writeHeader(buffer: Uint8Array, header: SegmentHeader): void {
  buffer.set(headerBytes(header), 0)
}

/** The 64 bytes of a header, in a scratch buffer that the next call reuses. */
export function headerBytes(header: SegmentHeader): Buffer {
  const scratch = headerScratch
  scratch.fill(0)
  magicBytes.copy(scratch, 0)
  scratch.writeUInt32LE(header.version, 4)
  writeU64(scratch, 8, header.baseIndex)
  writeU64(scratch, 16, header.entryCount)
  writeU64(scratch, 24, header.appendPosition)
  writeU64(scratch, 32, header.prevTerm)
  writeU64(scratch, 40, header.offsetTablePosition)
  scratch.writeUInt32LE(header.flags, 48)
  scratch.writeUInt32LE(crc32(scratch.subarray(0, 52)), 52)
  return scratch
}

const headerScratch = Buffer.alloc(headerSizeBytes)

/**
 * The header of an open segment. Its entry count and append position are always 0 and 64: recovery
 * walks an open segment's frames and never reads them, and a fixed open header lets recovery tell
 * a seal (or the reopening of a sealed segment) cut short by a kill from damage.
 */
export function openHeader(baseIndex: number, prevTerm: number, flags: number): SegmentHeader {
  return { version: segmentVersion, baseIndex, entryCount: 0, appendPosition: headerSizeBytes, prevTerm, offsetTablePosition: 0, flags: (flags & ~flagSealed) >>> 0 }
}

/** The header seal() writes over a segment of `count` frames ending at `end` (its offset table's position). */
export function sealedHeader(baseIndex: number, prevTerm: number, flags: number, count: number, end: number): SegmentHeader {
  return { version: segmentVersion, baseIndex, entryCount: count, appendPosition: end, prevTerm, offsetTablePosition: end, flags: (flags | flagSealed) >>> 0 }
}

export type HeaderProblem = 'too small' | 'no header' | 'bad magic' | 'checksum mismatch' | 'unsupported version'

/** Parses and checks a header; says what is wrong instead when it cannot be trusted. */
export function readHeader(buffer: Buffer): SegmentHeader | HeaderProblem {
  if (buffer.length < headerSizeBytes) return 'too small'
  if (buffer.subarray(0, headerSizeBytes).every((byte) => byte === 0)) return 'no header'
  if (!buffer.subarray(0, 4).equals(magicBytes)) return 'bad magic'
  if (crc32(buffer.subarray(0, 52)) !== buffer.readUInt32LE(52)) return 'checksum mismatch'
  const version = buffer.readUInt32LE(4)
  if (version !== segmentVersion) return 'unsupported version'
  return {
    version,
    baseIndex: readU64(buffer, 8),
    entryCount: readU64(buffer, 16),
    appendPosition: readU64(buffer, 24),
    prevTerm: readU64(buffer, 32),
    offsetTablePosition: readU64(buffer, 40),
    flags: buffer.readUInt32LE(48),
  }
}

/**
 * Writes a whole frame at `offset` (8-byte aligned) through `words`, a Uint32Array over the same
 * memory: the append path's hot loop, so no bounds-checked Buffer writes and no views. The
 * bytes there must be zero (the log keeps them so), padding included.
 *
 * The order of the stores is part of the recovery rule: length, term, index, type, payload, and
 * the checksum last. A process killed in between leaves a frame whose checksum word is still zero
 * and whose other fields are each zero or final: recovery cuts such a frame when nothing follows
 * it, since an append returns only after its last store, and a flush only after its append.
 */
export function writeFrame(bytes: Uint8Array, words: Uint32Array, offset: number, index: number, term: number, type: number, data: Uint8Array): number {
  const word = offset >>> 2
  words[word] = data.length
  words[word + 2] = term >>> 0
  words[word + 3] = Math.floor(term / twoTo32)
  words[word + 4] = index >>> 0
  words[word + 5] = Math.floor(index / twoTo32)
  bytes[offset + 24] = type
  bytes.set(data, offset + frameHeaderSizeBytes)
  // One pass: the header's bytes here, the payload's from the caller's array itself (no view).
  const headerCrc = crc32Range(bytes, offset + 8, offset + frameHeaderSizeBytes, crc32Range(bytes, offset, offset + 4))
  words[word + 1] = crc32Range(data, 0, data.length, headerCrc)
  return frameSizeBytes(data.length)
}

/** CRC-32 over the frame's bytes 0..3 and 8..(32 + length): everything but the CRC itself. */
export function frameChecksum(bytes: Uint8Array, offset: number, payloadLength: number): number {
  const lengthCrc = crc32Range(bytes, offset, offset + 4)
  return crc32Range(bytes, offset + 8, offset + frameHeaderSizeBytes + payloadLength, lengthCrc)
}

export type FrameProblem = 'no room for a frame' | 'length beyond the segment' | 'checksum mismatch' | 'wrong index'

/**
 * Checks the frame at `offset` that should hold `expectedIndex`, reading no further than `limit`.
 * Returns the frame's size in bytes, or what is wrong with it.
 */
export function checkFrame(buffer: Buffer, offset: number, limit: number, expectedIndex: number): number | FrameProblem {
  if (offset + frameHeaderSizeBytes > limit) return 'no room for a frame'
  const length = buffer.readUInt32LE(offset)
  // Trust a length only after checking it against the space left.
  if (length > limit - offset - frameHeaderSizeBytes) return 'length beyond the segment'
  if (frameChecksum(buffer, offset, length) !== buffer.readUInt32LE(offset + 4)) return 'checksum mismatch'
  if (readU64(buffer, offset + 16) !== expectedIndex) return 'wrong index'
  return frameSizeBytes(length)
}

export function frameTerm(buffer: Buffer, offset: number): number {
  return readU64(buffer, offset + 8)
}

export function frameIndex(buffer: Buffer, offset: number): number {
  return readU64(buffer, offset + 16)
}

export function frameType(buffer: Buffer, offset: number): number {
  return buffer[offset + 24] ?? 0
}

export function framePayloadLength(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset)
}

/**
 * Zeroes the frame at `offset` by undoing writeFrame's stores in reverse order: checksum first,
 * then the payload, type, index and term, and the length last. A process killed part way leaves
 * what an append killed part way leaves, which recovery cuts; a single memset, whose order is
 * its own, could leave a length zeroed before the payload it measures.
 */
export function unwriteFrame(bytes: Uint8Array, words: Uint32Array, offset: number): void {
  const word = offset >>> 2
  const length = words[word] as number
  words[word + 1] = 0
  bytes.fill(0, offset + frameHeaderSizeBytes, offset + frameHeaderSizeBytes + length)
  bytes[offset + 24] = 0
  words[word + 5] = 0
  words[word + 4] = 0
  words[word + 3] = 0
  words[word + 2] = 0
  words[word] = 0
}

/** Writes the offset table at `position` (8-byte aligned) and returns its size. */
export function writeOffsetTable(buffer: Buffer, position: number, offsets: Uint32Array, count: number): number {
  buffer.set(new Uint8Array(offsets.buffer, offsets.byteOffset, 4 * count), position)
  buffer.writeUInt32LE(crc32(buffer.subarray(position, position + 4 * count)), position + 4 * count)
  return offsetTableSizeBytes(count)
}

/** The bytes of the offset table of these frames, as writeOffsetTable writes them. */
export function offsetTableBytes(offsets: Uint32Array, count: number): Buffer {
  const table = Buffer.alloc(offsetTableSizeBytes(count))
  Buffer.from(offsets.buffer, offsets.byteOffset, 4 * count).copy(table)
  table.writeUInt32LE(crc32(table.subarray(0, 4 * count)), 4 * count)
  return table
}

/** Reads and checks a sealed segment's offset table; undefined when its checksum fails. */
export function readOffsetTable(buffer: Buffer, position: number, count: number): Uint32Array | undefined {
  if (position < headerSizeBytes || position + offsetTableSizeBytes(count) > buffer.length) return undefined
  const table = buffer.subarray(position, position + 4 * count)
  if (crc32(table) !== buffer.readUInt32LE(position + 4 * count)) return undefined
  // A copy: 4 bytes of heap per entry, and it stays valid whatever happens to the mapping.
  const offsets = new Uint32Array(count)
  Buffer.from(offsets.buffer).set(table)
  return offsets
}

/** Offset of the first non-zero byte in [from, to), or -1 when all are zero. */
export function firstNonZeroByte(buffer: Buffer, from: number, to: number): number {
  const chunkBytes = zeroChunk.length
  for (let start = from; start < to; start += chunkBytes) {
    const end = Math.min(start + chunkBytes, to)
    // compare() runs memcmp natively: far faster than a byte loop over 64 MiB.
    if (buffer.compare(zeroChunk, 0, end - start, start, end) !== 0) {
      for (let offset = start; offset < end; offset++) if (buffer[offset] !== 0) return offset
    }
  }
  return -1
}

/** Offset one past the last non-zero byte in [from, to), or `from` when all are zero. */
export function endOfNonZeroBytes(buffer: Buffer, from: number, to: number): number {
  const chunkBytes = zeroChunk.length
  for (let end = to; end > from; end -= chunkBytes) {
    const start = Math.max(from, end - chunkBytes)
    if (buffer.compare(zeroChunk, 0, end - start, start, end) !== 0) {
      for (let offset = end - 1; offset >= start; offset--) if (buffer[offset] !== 0) return offset + 1
    }
  }
  return from
}

const zeroChunk = Buffer.alloc(64 * 1024)
