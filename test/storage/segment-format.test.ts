import { describe, expect, it } from 'vitest'
import {
  checkFrame,
  flagSealed,
  frameSizeBytes,
  headerSizeBytes,
  parseSegmentFileName,
  readHeader,
  readOffsetTable,
  segmentFileName,
  writeFrame,
  writeHeader,
  writeOffsetTable,
} from '../../src/storage/segment-format.js'

function segmentBuffer(size = 4096): { bytes: Buffer; words: Uint32Array } {
  const memory = new ArrayBuffer(size)
  return { bytes: Buffer.from(memory), words: new Uint32Array(memory) }
}

const header = { version: 1, baseIndex: 42, entryCount: 3, appendPosition: 200, prevTerm: 7, offsetTablePosition: 0, flags: 0, salt: 0 }

describe('segment format', () => {
  it('names files by base index in 20 digits and parses them back', () => {
    expect(segmentFileName(1)).toBe('segment_00000000000000000001.log')
    expect(parseSegmentFileName(segmentFileName(2 ** 53 - 1))).toBe(2 ** 53 - 1)
    expect(parseSegmentFileName('segment_1.log')).toBeUndefined()
    expect(parseSegmentFileName('segment_00000000000000000001.log.tmp')).toBeUndefined()
  })

  it('a header reads back as written, starting with RAFT', () => {
    const { bytes } = segmentBuffer()
    writeHeader(bytes, { ...header, flags: flagSealed, offsetTablePosition: 1024 })
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('RAFT')
    expect(readHeader(bytes)).toEqual({ ...header, flags: flagSealed, offsetTablePosition: 1024 })
  })

  it('a damaged header says what is wrong', () => {
    const { bytes } = segmentBuffer()
    expect(readHeader(bytes)).toBe('no header')
    expect(readHeader(bytes.subarray(0, 10))).toBe('too small')
    writeHeader(bytes, header)
    bytes[20] = bytes[20]! ^ 1
    expect(readHeader(bytes)).toBe('checksum mismatch')
    writeHeader(bytes, header)
    bytes.write('XAFT', 0)
    expect(readHeader(bytes)).toBe('bad magic')
  })

  it('frames are 8-byte aligned, validate at their index, and fail on any change', () => {
    const { bytes, words } = segmentBuffer()
    const data = Buffer.from('hello, raft')
    const size = writeFrame(bytes, words, headerSizeBytes, 42, 7, 0, data)
    expect(size).toBe(frameSizeBytes(data.length))
    expect(size % 8).toBe(0)
    expect(checkFrame(bytes, headerSizeBytes, bytes.length, 42)).toBe(size)
    expect(checkFrame(bytes, headerSizeBytes, bytes.length, 43)).toBe('wrong index')
    expect(checkFrame(bytes, headerSizeBytes, headerSizeBytes + 20, 42)).toBe('no room for a frame')
    expect(checkFrame(bytes, headerSizeBytes, headerSizeBytes + 40, 42)).toBe('length beyond the segment')
    for (const offset of [0, 8, 16, 24, 32, 40]) {
      const copy = Buffer.from(bytes)
      copy[headerSizeBytes + offset] = copy[headerSizeBytes + offset]! ^ 0x10
      expect(checkFrame(copy, headerSizeBytes, copy.length, 42), `byte ${offset}`).not.toBe(size)
    }
    // A zeroed region is never a frame.
    expect(checkFrame(bytes, 1024, bytes.length, 43)).not.toBeTypeOf('number')
  })

  it('an offset table reads back, and a damaged one is refused', () => {
    const { bytes } = segmentBuffer()
    const offsets = new Uint32Array([64, 96, 160])
    writeOffsetTable(bytes, 512, offsets, 3)
    expect(Array.from(readOffsetTable(bytes, 512, 3)!)).toEqual([64, 96, 160])
    bytes[516] = bytes[516]! ^ 1
    expect(readOffsetTable(bytes, 512, 3)).toBeUndefined()
    expect(readOffsetTable(bytes, 4090, 3)).toBeUndefined()
  })
})
