// The segment file format, versions 1 and 2 (DESIGN §3), as pure functions over a Buffer. Segment
// uses them over its mapping; `raftlog verify` and `inspect` use them over read-only mappings.
//
// Version 2 adds a salt: a random non-zero u32 in the header (bytes 56..59, under the header's
// checksum) that every frame of the segment repeats in its bytes 28..31, which its checksum covers.
// A file reused for a new segment (recycled) still holds the frames of its earlier life; their salt
// is another, so none of them validates as a frame of the new segment. Version 1 segments (salt 0,
// those bytes zero) are still read, appended to and sealed as version 1.
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { crc32Aligned, crc32Range } from './crc32.js'

export const segmentMagic = 'RAFT'
/** The version of new segments. */
export const segmentVersion = 2
/** The oldest version still read (and appended to). */
export const oldestSegmentVersion = 1
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
/**
 * Header flag (version 2): the file held an earlier segment (recycled). Its last
 * recycleRecordSizeBytes(size) bytes are the recycle record: the CRC-32 of each 512-byte sector of
 * what the file held before this segment, so that recovery knows what a sector never written back
 * since reads as (zeros, in a new file). Frames end before the record.
 */
export const flagRecycled = 4
/** The unit the recycle record checks: the sector of the recovery rule. */
export const recycleSectorBytes = 512
const recycleMagic = 0x4c594352 // 'RCYL' read little-endian
const recycleRecordHeaderBytes = 16

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

/**
 * Where a segment that compaction freed waits to be reused as a later segment (its recycle record
 * written first): never data, and no longer named like a segment (open removes any a crash left).
 */
export function recycledSegmentPath(segmentPath: string, owner: string): string {
  return join(dirname(segmentPath), `recycled-${basename(segmentPath).replace(/^segment_/, '').replace(/\.log$/, '')}-${owner}.tmp`)
}

export function isRecycledSegmentName(name: string): boolean {
  return /^recycled-\d{20}-[0-9a-f]{12}\.tmp$/.test(name)
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

/**
 * CRC-32 of all of `bytes` (continuing from `seed`, a previous result). crc32Range: zlib's native
 * crc32 for long ranges. The npm crc-32 loop this used took 4-6 ms for the 254 KiB offset table of
 * a 64 MiB segment of 1 KiB entries (measured, on the event loop at every seal): it runs too
 * rarely there to be optimized.
 */
export function crc32(bytes: Uint8Array, seed = 0): number {
  return crc32Range(bytes, 0, bytes.length, seed)
}

/** Bytes a frame with this payload occupies, padding included. */
export function frameSizeBytes(payloadLength: number): number {
  // Bit operations, not alignUp's division: this runs for every entry appended (lengths < 2^31).
  return (frameHeaderSizeBytes + payloadLength + 7) & ~7
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
  /** Version 2: the salt every frame repeats and its checksum covers; 0 in version 1. */
  salt: number
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
  if (header.version >= 2) scratch.writeUInt32LE(header.salt, 56)
  scratch.writeUInt32LE(headerChecksum(scratch, header.version), 52)
  return scratch
}

/** Version 1 checksums bytes 0..51; version 2 bytes 0..51 and 56..63 (its salt). */
function headerChecksum(bytes: Buffer, version: number): number {
  const first = crc32Range(bytes, 0, 52)
  return version >= 2 ? crc32Range(bytes, 56, 64, first) : first
}

/** The version a segment of this salt has: salt 0 is version 1. */
export function versionForSalt(salt: number): number {
  return salt === 0 ? 1 : 2
}

/** A new segment's salt: random, non-zero, and not `previous` (the salt of the file's earlier life). */
export function newSalt(previous = 0): number {
  for (;;) {
    const salt = randomBytes(4).readUInt32LE(0)
    if (salt !== 0 && salt !== previous) return salt
  }
}

const headerScratch = Buffer.alloc(headerSizeBytes)

/**
 * The header of an open segment. Its entry count and append position are always 0 and 64: recovery
 * walks an open segment's frames and never reads them, and a fixed open header lets recovery tell
 * a seal (or the reopening of a sealed segment) cut short by a kill from damage.
 */
export function openHeader(baseIndex: number, prevTerm: number, flags: number, salt = 0): SegmentHeader {
  return { version: versionForSalt(salt), baseIndex, entryCount: 0, appendPosition: headerSizeBytes, prevTerm, offsetTablePosition: 0, flags: (flags & ~flagSealed) >>> 0, salt }
}

/** The header seal() writes over a segment of `count` frames ending at `end` (its offset table's position). */
export function sealedHeader(baseIndex: number, prevTerm: number, flags: number, count: number, end: number, salt = 0): SegmentHeader {
  return { version: versionForSalt(salt), baseIndex, entryCount: count, appendPosition: end, prevTerm, offsetTablePosition: end, flags: (flags | flagSealed) >>> 0, salt }
}

export type HeaderProblem = 'too small' | 'no header' | 'bad magic' | 'checksum mismatch' | 'unsupported version'

/** Parses and checks a header; says what is wrong instead when it cannot be trusted. */
export function readHeader(buffer: Buffer): SegmentHeader | HeaderProblem {
  if (buffer.length < headerSizeBytes) return 'too small'
  if (buffer.subarray(0, headerSizeBytes).every((byte) => byte === 0)) return 'no header'
  if (!buffer.subarray(0, 4).equals(magicBytes)) return 'bad magic'
  const version = buffer.readUInt32LE(4)
  const stored = buffer.readUInt32LE(52)
  // The checksum first: a damaged version field is damage, not a version from the future (whose
  // header is checksummed one way or the other).
  if (version < oldestSegmentVersion || version > segmentVersion) {
    return headerChecksum(buffer, 1) === stored || headerChecksum(buffer, 2) === stored ? 'unsupported version' : 'checksum mismatch'
  }
  if (headerChecksum(buffer, version) !== stored) return 'checksum mismatch'
  const salt = version >= 2 ? buffer.readUInt32LE(56) : 0
  if (version >= 2 && salt === 0) return 'checksum mismatch'
  return {
    version,
    baseIndex: readU64(buffer, 8),
    entryCount: readU64(buffer, 16),
    appendPosition: readU64(buffer, 24),
    prevTerm: readU64(buffer, 32),
    offsetTablePosition: readU64(buffer, 40),
    flags: buffer.readUInt32LE(48),
    salt,
  }
}

/**
 * Writes a whole frame at `offset` (8-byte aligned) through `words`, a Uint32Array over the same
 * memory: the append path's hot loop, so no bounds-checked Buffer writes and no views. The
 * bytes there must be zero (the log keeps them so), padding included.
 *
 * The order of the stores is part of the recovery rule: length, term, index, type, salt, payload,
 * and the checksum last. A process killed in between leaves a frame whose checksum word is still zero
 * and whose other fields are each zero or final: recovery cuts such a frame when nothing follows
 * it, since an append returns only after its last store, and a flush only after its append.
 */
export function writeFrame(bytes: Uint8Array, words: Uint32Array, offset: number, index: number, term: number, type: number, data: Uint8Array, salt = 0): number {
  const word = offset >>> 2
  words[word] = data.length
  words[word + 2] = term >>> 0
  words[word + 3] = Math.floor(term / twoTo32)
  words[word + 4] = index >>> 0
  words[word + 5] = Math.floor(index / twoTo32)
  bytes[offset + 24] = type
  words[word + 7] = salt
  bytes.set(data, offset + frameHeaderSizeBytes)
  // One pass over each byte, reading words where the frame was just built (8-byte aligned): the
  // length, then the header's other fields and a small payload in one go; a large payload from the
  // caller's array itself, natively (no view).
  const lengthCrc = crc32Aligned(bytes, words, offset, offset + 4)
  if (data.length < nativeCrcMinBytes) {
    words[word + 1] = crc32Aligned(bytes, words, offset + 8, offset + frameHeaderSizeBytes + data.length, lengthCrc)
  } else {
    words[word + 1] = crc32Range(data, 0, data.length, crc32Aligned(bytes, words, offset + 8, offset + frameHeaderSizeBytes, lengthCrc))
  }
  return frameSizeBytes(data.length)
}

/** Payloads from this size on are checksummed natively (crc32Range's threshold). */
const nativeCrcMinBytes = 512

/** CRC-32 over the frame's bytes 0..3 and 8..(32 + length): everything but the CRC itself. */
export function frameChecksum(bytes: Uint8Array, offset: number, payloadLength: number): number {
  const lengthCrc = crc32Range(bytes, offset, offset + 4)
  return crc32Range(bytes, offset + 8, offset + frameHeaderSizeBytes + payloadLength, lengthCrc)
}

/**
 * The checksum the frame at `offset` would have with `salt` in its bytes 28..31, whatever they
 * hold: a frame of this segment whose salt bytes alone were damaged checks out this way.
 */
export function frameChecksumWithSalt(bytes: Uint8Array, offset: number, payloadLength: number, salt: number): number {
  saltScratch.writeUInt32LE(salt, 0)
  let crc = crc32Range(bytes, offset, offset + 4)
  crc = crc32Range(bytes, offset + 8, offset + 28, crc)
  crc = crc32Range(saltScratch, 0, 4, crc)
  return crc32Range(bytes, offset + frameHeaderSizeBytes, offset + frameHeaderSizeBytes + payloadLength, crc)
}

const saltScratch = Buffer.alloc(4)

/** The salt a frame carries (bytes 28..31); zero in a version 1 frame. */
export function frameSalt(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset + 28)
}

export type FrameProblem = 'no room for a frame' | 'length beyond the segment' | 'checksum mismatch' | 'wrong index' | 'wrong salt'

/**
 * Checks the frame at `offset` that should hold `expectedIndex`, reading no further than `limit`.
 * Returns the frame's size in bytes, or what is wrong with it. `salt` is the segment's (0 for
 * version 1, whose frames are not checked there).
 */
export function checkFrame(buffer: Buffer, offset: number, limit: number, expectedIndex: number, salt = 0): number | FrameProblem {
  if (offset + frameHeaderSizeBytes > limit) return 'no room for a frame'
  const length = buffer.readUInt32LE(offset)
  // Trust a length only after checking it against the space left.
  if (length > limit - offset - frameHeaderSizeBytes) return 'length beyond the segment'
  if (frameChecksum(buffer, offset, length) !== buffer.readUInt32LE(offset + 4)) return 'checksum mismatch'
  if (salt !== 0 && frameSalt(buffer, offset) !== salt) return 'wrong salt'
  if (readU64(buffer, offset + 16) !== expectedIndex) return 'wrong index'
  return frameSizeBytes(length)
}

/** Bytes at the end of a recycled file of `sizeBytes` that its recycle record takes (whole pages). */
export function recycleRecordSizeBytes(sizeBytes: number): number {
  return alignUp(recycleRecordHeaderBytes + 4 * (sizeBytes / recycleSectorBytes), 4096)
}

/** Whether files of `sizeBytes` are worth recycling: the record takes at most a sixteenth of them. */
export function isRecyclableSize(sizeBytes: number): boolean {
  return sizeBytes % recycleSectorBytes === 0 && 16 * recycleRecordSizeBytes(sizeBytes) <= sizeBytes
}

/** Where the frames of a recycled file of `sizeBytes` must end: its recycle record starts there. */
export function recycledDataEnd(sizeBytes: number): number {
  return sizeBytes - recycleRecordSizeBytes(sizeBytes)
}

/**
 * The recycle record of a recycled file: the CRC-32 of each sector before it, as the file held
 * them before its new segment's header was written. Undefined when it is missing or damaged.
 * Layout at recycledDataEnd(size): magic RCYL, sector count u32, CRC-32 of the list u32, zero u32,
 * then the list (u32 each).
 */
export function readRecycleRecord(buffer: Buffer): Uint32Array | undefined {
  if (buffer.length < 2 * 4096 || buffer.length % recycleSectorBytes !== 0) return undefined
  const at = recycledDataEnd(buffer.length)
  const count = at / recycleSectorBytes
  if (buffer.readUInt32LE(at) !== recycleMagic || buffer.readUInt32LE(at + 4) !== count) return undefined
  const listStart = at + recycleRecordHeaderBytes
  if (crc32Range(buffer, listStart, listStart + 4 * count) !== buffer.readUInt32LE(at + 8)) return undefined
  const list = new Uint32Array(count)
  Buffer.from(list.buffer).set(buffer.subarray(listStart, listStart + 4 * count))
  return list
}

/** The bytes of a recycle record for these sector checksums (tests; the addon writes the real ones). */
export function recycleRecordBytes(sectorChecksums: Uint32Array): Buffer {
  const list = Buffer.from(sectorChecksums.buffer, sectorChecksums.byteOffset, 4 * sectorChecksums.length)
  const record = Buffer.alloc(recycleRecordHeaderBytes + list.length)
  record.writeUInt32LE(recycleMagic, 0)
  record.writeUInt32LE(sectorChecksums.length, 4)
  record.writeUInt32LE(crc32Range(list, 0, list.length), 8)
  list.copy(record, recycleRecordHeaderBytes)
  return record
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
 * then the payload, salt, type, index and term, and the length last. A process killed part way leaves
 * what an append killed part way leaves, which recovery cuts; a single memset, whose order is
 * its own, could leave a length zeroed before the payload it measures.
 */
export function unwriteFrame(bytes: Uint8Array, words: Uint32Array, offset: number): void {
  const word = offset >>> 2
  const length = words[word] as number
  words[word + 1] = 0
  bytes.fill(0, offset + frameHeaderSizeBytes, offset + frameHeaderSizeBytes + length)
  words[word + 7] = 0
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
