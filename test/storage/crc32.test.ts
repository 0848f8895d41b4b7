import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import CRC32 from 'crc-32'
import { crc32Aligned, crc32Range } from '../../src/storage/crc32.js'

describe('crc32Range', () => {
  it('equals the crc-32 package on any range, continued from any seed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat(), fc.integer(), (bytes, a, b, seed) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1))
        const expected = CRC32.buf(bytes.subarray(start, end), seed) >>> 0
        expect(crc32Range(bytes, start, end, seed >>> 0)).toBe(expected)
      }),
      { numRuns: 400 },
    )
  })

  it('matches the published check value', () => {
    expect(crc32Range(Buffer.from('123456789'), 0, 9)).toBe(0xcbf43926)
  })
})

describe('crc32Aligned', () => {
  it('equals crc32Range on any range that starts on a 4-byte boundary, continued from any seed', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(), fc.nat(), fc.integer(), (data, a, b, seed) => {
        const memory = new ArrayBuffer((data.length + 3) & ~3)
        const bytes = new Uint8Array(memory)
        bytes.set(data)
        const words = new Uint32Array(memory)
        const start = data.length === 0 ? 0 : (a % data.length) & ~3
        const end = start + (data.length === 0 ? 0 : b % (data.length - start + 1))
        expect(crc32Aligned(bytes, words, start, end, seed >>> 0)).toBe(crc32Range(bytes, start, end, seed >>> 0))
      }),
      { numRuns: 400 },
    )
  })
})
