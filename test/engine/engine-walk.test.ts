// The recovery rule for one engine file, on bytes built with the format's own functions.
import { describe, expect, it } from 'vitest'
import { batchHeaderSizeBytes, fileHeaderBytes, fileHeaderSizeBytes, foldRecordCrc, RecordKind, recordSizeBytes, writeBatchHeader, writeRecord } from '../../src/engine/engine-format.js'
import { walkEngineFile } from '../../src/engine/engine-walk.js'

/** A file of `size` bytes holding frames of `records` entries of `payload` bytes each, batch sequences from 1. */
function fileWith(frames: number, records: number, payload: number, size = 64 * 1024): { bytes: Buffer; ends: number[] } {
  const bytes = Buffer.alloc(size)
  fileHeaderBytes({ sequence: 1, firstBatch: 1 }).copy(bytes)
  const ends: number[] = []
  let offset = fileHeaderSizeBytes
  for (let frame = 0; frame < frames; frame++) {
    let at = offset + batchHeaderSizeBytes
    let crcs = 0
    for (let r = 0; r < records; r++) {
      const data = new Uint8Array(payload).fill(1 + ((frame * records + r) % 250))
      crcs = foldRecordCrc(crcs, writeRecord(bytes, at, { kind: RecordKind.Entry, group: 1, index: frame * records + r + 1, term: 1, entryType: 0, vote: 0 }, data))
      at += recordSizeBytes(payload)
    }
    writeBatchHeader(bytes, offset, at - offset - batchHeaderSizeBytes, frame + 1, records, crcs)
    offset = at
    ends.push(offset)
  }
  return { bytes, ends }
}

const walk = (bytes: Buffer, isLast = true) => {
  const seen: number[] = []
  const result = walkEngineFile(bytes, 1, isLast, (fields) => seen.push(fields.index))
  return { ...result, seen }
}

describe('walkEngineFile', () => {
  it('hands over every record of every valid frame, and ends at the zero header after them', () => {
    const { bytes, ends } = fileWith(3, 4, 100)
    const result = walk(bytes)
    expect(result.seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect([result.end, result.batches, result.lastBatch, result.ending, result.damage]).toEqual([ends[2], 3, 3, 'zero batch header', undefined])
  })

  it('a last frame with an all-zero sector is a torn write: cut, its records never handed over', () => {
    const { bytes, ends } = fileWith(3, 8, 200)
    const sector = Math.ceil((ends[1]! + 100) / 512) * 512
    bytes.fill(0, sector, sector + 512)
    const result = walk(bytes)
    expect([result.end, result.ending, result.damage, result.seen.length]).toEqual([ends[1], 'torn write', undefined, 16])
    expect(result.nonZeroEnd).toBe(ends[2])
  })

  it('the same torn frame in a file that is not the last is damage', () => {
    const { bytes, ends } = fileWith(3, 8, 200)
    const sector = Math.ceil((ends[1]! + 100) / 512) * 512
    bytes.fill(0, sector, sector + 512)
    expect(walk(bytes, false).damage).toMatchObject({ problem: 'record checksum mismatch' })
  })

  it('a flipped byte with no zero sector is damage, naming the byte of the record', () => {
    const { bytes, ends } = fileWith(2, 2, 100)
    const at = ends[0]! + batchHeaderSizeBytes + 40 + 3
    bytes[at] = (bytes[at] as number) ^ 0x55
    expect(walk(bytes).damage).toEqual({ offset: ends[0]! + batchHeaderSizeBytes, problem: 'record checksum mismatch' })
  })

  it('a whole frame with the wrong batch sequence is damage even when a sector of it is zero', () => {
    const { bytes, ends } = fileWith(2, 1, 1200)
    // Give the second frame sequence 7, checksums recomputed, with zero payload sectors.
    const second = ends[0]!
    bytes.fill(0, second, ends[1])
    const crc = writeRecord(bytes, second + batchHeaderSizeBytes, { kind: RecordKind.Entry, group: 1, index: 2, term: 1, entryType: 0, vote: 0 }, new Uint8Array(1200))
    writeBatchHeader(bytes, second, recordSizeBytes(1200), 7, 1, foldRecordCrc(0, crc))
    expect(walk(bytes).damage).toEqual({ offset: second, problem: 'wrong batch sequence: 7, expected 2' })
  })

  it('data after a clean end in a file that is not the last is damage', () => {
    const { bytes, ends } = fileWith(1, 1, 10)
    bytes[ends[0]! + 4096] = 1
    expect(walk(bytes, false).damage).toMatchObject({ offset: ends[0]! + 4096 })
    expect(walk(bytes, true).nonZeroEnd).toBe(ends[0]! + 4097)
  })
})
