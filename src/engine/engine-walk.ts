// The recovery rule for an engine file (the single-group log's rule, recovery-rule.ts, applied to
// batch frames): from a file's bytes alone, where its frames end, and whether what follows can be
// what a crash leaves or is damage.
//
// Frames reach a file with pwrite into preallocated zeros and are made durable with fdatasync; a
// file is made durable whole (fdatasync) before the next file is created. So only the last file can
// hold a torn end. In it:
// - an all-zero batch header ends the log (nothing from there on was acknowledged);
// - a frame that fails its checks with all its bytes inside some 512-byte sector at zero is a torn
//   write (a sector never written back, or a pwrite a kill stopped between pages): it ends the log;
// - anything else (a checksum mismatch with no zero sector, a wrong batch sequence, a length past
//   the file) cannot come from a crash: it is damage, ERR_CORRUPT naming file and byte.
// In any other file every frame must check out up to an all-zero header followed only by zeros.
import { hasZeroSectorChunk } from '../storage/recovery-rule.js'
import { endOfNonZeroBytes, firstNonZeroByte, readU64 } from '../storage/segment-format.js'
import {
  batchChecksum,
  batchHeaderSizeBytes,
  fileHeaderSizeBytes,
  foldRecordCrc,
  readRecord,
  recordChecksum,
  recordHeaderSizeBytes,
  recordPayloadLength,
  recordProblem,
  recordSizeBytes,
  type RecordFields,
} from './engine-format.js'

/** Why a file's frames end where they do. */
export type WalkEnding = 'zero batch header' | 'torn write' | 'end of file'

/** Damage in an engine file: the byte where it is, and what. */
export interface WalkDamage {
  offset: number
  problem: string
}

export interface FileWalk {
  /** Byte offset just past the last valid frame: where the next one goes. */
  end: number
  /** Frames found valid. */
  batches: number
  /** Sequence of the last valid frame; undefined when there is none. */
  lastBatch: number | undefined
  ending: WalkEnding
  damage: WalkDamage | undefined
  /** Non-zero bytes at or after `end` (a torn write's): recovery zeroes [end, nonZeroEnd). */
  nonZeroEnd: number
}

/** One record of a valid frame, handed to the caller in file order. */
export type RecordVisitor = (fields: RecordFields, offset: number, bytes: Buffer) => void

/**
 * Walks the frames of one file from byte 64, expecting the first to carry `firstBatch`, hands
 * every record of every valid frame to `visit` (a frame only once all of it checked out), and
 * applies the rule where the frames stop. `isLast`: the only file that may end in a torn write.
 * Reads only.
 */
export function walkEngineFile(bytes: Buffer, firstBatch: number, isLast: boolean, visit: RecordVisitor): FileWalk {
  let offset = fileHeaderSizeBytes
  let batches = 0
  let expected = firstBatch
  for (;;) {
    const judged = judgeBatch(bytes, offset, expected)
    if (judged.kind === 'frame') {
      for (const record of judged.records) visit(readRecord(bytes, record), record, bytes)
      batches++
      expected++
      offset = judged.end
      continue
    }
    const walk: FileWalk = { end: offset, batches, lastBatch: batches > 0 ? expected - 1 : undefined, ending: 'end of file', damage: undefined, nonZeroEnd: offset }
    const nonZeroEnd = endOfNonZeroBytes(bytes, offset, bytes.length)
    if (judged.kind === 'end') {
      walk.ending = judged.ending
      walk.nonZeroEnd = nonZeroEnd
      // Past a clean end of a file that is not the last there can be nothing: it was durable whole.
      if (!isLast && nonZeroEnd > offset) walk.damage = { offset: firstNonZeroByte(bytes, offset, bytes.length), problem: 'data after the end of the frames in a file that is not the last' }
      return walk
    }
    // A frame that fails its checks: a torn write only at the end of the last file.
    if (isLast && judged.whole !== true && hasZeroSectorChunk(bytes, offset, Math.min(bytes.length, judged.frameEnd))) {
      walk.ending = 'torn write'
      walk.nonZeroEnd = nonZeroEnd
      return walk
    }
    walk.damage = { offset: judged.at, problem: judged.problem }
    return walk
  }
}

type BatchJudgement =
  | { kind: 'frame'; end: number; records: number[] }
  | { kind: 'end'; ending: WalkEnding }
  /** `whole`: the frame checks out, its fields are wrong: never a torn write. */
  | { kind: 'bad'; at: number; frameEnd: number; problem: string; whole?: boolean }

/** The frame at `offset`, checked whole: header, every record's CRC and fields, the batch CRC. */
function judgeBatch(bytes: Buffer, offset: number, expected: number): BatchJudgement {
  const room = bytes.length - offset
  if (room < batchHeaderSizeBytes) {
    if (firstNonZeroByte(bytes, offset, bytes.length) === -1) return { kind: 'end', ending: 'end of file' }
    return { kind: 'bad', at: offset, frameEnd: bytes.length, problem: 'frame cut off by the end of the file' }
  }
  if (firstNonZeroByte(bytes, offset, offset + batchHeaderSizeBytes) === -1) return { kind: 'end', ending: 'zero batch header' }
  const length = bytes.readUInt32LE(offset)
  if (length > room - batchHeaderSizeBytes || length % 8 !== 0) {
    return { kind: 'bad', at: offset, frameEnd: bytes.length, problem: `batch length ${length} is not a frame that fits the file` }
  }
  const frameEnd = offset + batchHeaderSizeBytes + length
  const count = bytes.readUInt32LE(offset + 16)
  const records: number[] = []
  let crcs = 0
  let at = offset + batchHeaderSizeBytes
  while (at < frameEnd) {
    if (frameEnd - at < recordHeaderSizeBytes) return { kind: 'bad', at, frameEnd, problem: 'record cut off by the end of its batch' }
    const payloadLength = recordPayloadLength(bytes, at)
    if (payloadLength > frameEnd - at - recordHeaderSizeBytes) return { kind: 'bad', at, frameEnd, problem: 'record length beyond its batch' }
    const crc = recordChecksum(bytes, at, payloadLength)
    if (crc !== bytes.readUInt32LE(at + 4)) return { kind: 'bad', at, frameEnd, problem: 'record checksum mismatch' }
    const problem = recordProblem(readRecord(bytes, at))
    if (problem !== undefined) return { kind: 'bad', at, frameEnd, problem, whole: true }
    crcs = foldRecordCrc(crcs, crc)
    records.push(at)
    at += recordSizeBytes(payloadLength)
  }
  if (batchChecksum(bytes, offset, crcs) !== bytes.readUInt32LE(offset + 4)) return { kind: 'bad', at: offset, frameEnd, problem: 'batch checksum mismatch' }
  if (records.length !== count) return { kind: 'bad', at: offset, frameEnd, problem: `batch says ${count} records, holds ${records.length}`, whole: true }
  const sequence = readU64(bytes, offset + 8)
  if (sequence !== expected) return { kind: 'bad', at: offset, frameEnd, problem: `wrong batch sequence: ${sequence}, expected ${expected}`, whole: true }
  return { kind: 'frame', end: frameEnd, records }
}
