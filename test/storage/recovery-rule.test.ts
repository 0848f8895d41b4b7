// The recovery rule on segment images built in memory. Properties: whatever a power loss can
// leave (each sector past the durable end new or zero, a seal or a truncation cut short) is never
// refused and never loses a durable frame; a flipped bit in a frame is refused at that frame, the
// only exception being damage that leaves the frame exactly as a torn write would (a whole sector
// of it zero), which no reader of the bytes can tell apart. Replay a failure with the seed
// fast-check prints: FC_SEED=<seed> npx vitest run test/storage/recovery-rule.test.ts
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { hasZeroSectorChunk, judgeHeader, sectorSizeBytes, walkOpenSegment } from '../../src/storage/recovery-rule.js'
import { frameSizeBytes, headerSizeBytes, offsetTableSizeBytes, writeFrame, writeHeader, writeOffsetTable } from '../../src/storage/segment-format.js'
import { prng } from '../../src/testing/crash/payload.js'
import { payloadFor } from '../helpers/entries.js'

const imageSizeBytes = 256 * 1024
const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED)
const runs = { numRuns: 300, ...(seed === undefined ? {} : { seed }) }

interface Image {
  bytes: Buffer
  /** offsets[i]: where the frame of index i + 1 starts; offsets[n] is the end of the frames. */
  offsets: number[]
  lengths: number[]
}

/** An open segment with base index 1 holding frames of these payload sizes (terms rising slowly). */
function image(sizes: readonly number[]): Image {
  const memory = new ArrayBuffer(imageSizeBytes)
  const bytes = Buffer.from(memory)
  const words = new Uint32Array(memory)
  writeHeader(bytes, { version: 1, baseIndex: 1, entryCount: 0, appendPosition: headerSizeBytes, prevTerm: 0, offsetTablePosition: 0, flags: 0, salt: 0 })
  const offsets = [headerSizeBytes]
  sizes.forEach((size, i) => {
    const offset = offsets[i] as number
    offsets.push(offset + writeFrame(bytes, words, offset, i + 1, 1 + (i >> 3), 0, payloadFor(i + 1, 1, size)))
  })
  return { bytes, offsets, lengths: [...sizes] }
}

/** Each sector overlapping [from, to) keeps its bytes there or loses them (zeros), by `random`. */
function loseSectors(bytes: Buffer, from: number, to: number, random: () => number): void {
  for (let sector = Math.floor(from / sectorSizeBytes); sector * sectorSizeBytes < to; sector++) {
    if (random() < 0.5) bytes.fill(0, Math.max(from, sector * sectorSizeBytes), Math.min(to, (sector + 1) * sectorSizeBytes))
  }
}

const sizesArbitrary = fc.array(fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 100, max: 2500 })), { minLength: 1, maxLength: 60 })

describe('the recovery rule', () => {
  it('never refuses what a power loss can leave, and keeps every durable frame byte for byte', () => {
    fc.assert(
      fc.property(sizesArbitrary, fc.nat(), fc.integer(), (sizes, durableSeed, lossSeed) => {
        const { bytes, offsets } = image(sizes)
        const durable = durableSeed % (sizes.length + 1)
        const end = offsets[sizes.length] as number
        // Past the durable end, every sector holds the new data or zeros.
        loseSectors(bytes, offsets[durable] as number, end, prng(lossSeed))
        const walk = walkOpenSegment(bytes, 1, 0)
        expect(walk.damage).toBeUndefined()
        expect(walk.frames).toBeGreaterThanOrEqual(durable)
        expect(Array.from(walk.offsets.subarray(0, walk.frames))).toEqual(offsets.slice(0, walk.frames))
      }),
      runs,
    )
  })

  it('never refuses a seal or a truncation of a sealed segment cut short by a crash', () => {
    fc.assert(
      fc.property(sizesArbitrary, fc.nat(), fc.integer(), (sizes, keepSeed, lossSeed) => {
        const { bytes, offsets } = image(sizes)
        const count = sizes.length
        const end = offsets[count] as number
        // seal() writes the table after the frames, then the header; truncate() opens the header
        // first, then zeroes the frames it drops and the table. Either way the header reads open.
        writeOffsetTable(bytes, end, Uint32Array.from(offsets.slice(0, count)), count)
        const keep = keepSeed % (count + 1)
        loseSectors(bytes, offsets[keep] as number, end + offsetTableSizeBytes(count), prng(lossSeed))
        const walk = walkOpenSegment(bytes, 1, 0)
        expect(walk.damage).toBeUndefined()
        expect(walk.frames).toBeGreaterThanOrEqual(keep)
        if (walk.frames === count) expect(['unfinished seal', 'zero frame header']).toContain(walk.ending)
        // A real unfinished seal leaves nothing after its table. (A torn frame whose first bytes
        // share a sector with the last durable frame and are zero reads as a table too: the same
        // end, with the torn rest cut.)
        if (walk.ending === 'unfinished seal' && walk.frames === count) expect(walk.cutBytes).toBe(0)
      }),
      runs,
    )
  })

  it('a flipped bit in a frame is damage at that frame; a cut there only when the frame now looks torn', () => {
    let torn = 0
    fc.assert(
      fc.property(sizesArbitrary, fc.nat(), fc.nat({ max: 7 }), (sizes, positionSeed, bit) => {
        const { bytes, offsets, lengths } = image(sizes)
        const count = sizes.length
        const end = offsets[count] as number
        // Anywhere in the frames or in the 64 bytes after them.
        const position = headerSizeBytes + (positionSeed % (end + 64 - headerSizeBytes))
        bytes[position]! ^= 1 << bit
        const frame = offsets.findIndex((offset, i) => i === count || position < (offsets[i + 1] as number))
        const walk = walkOpenSegment(bytes, 1, 0)
        // Frames before the damaged one are kept, always.
        expect(walk.frames).toBeGreaterThanOrEqual(Math.min(frame, count))
        if (frame === count) {
          // After the last frame: the frames all stay; damage right at the end may be refused.
          expect(walk.frames).toBe(count)
          return
        }
        const start = offsets[frame] as number
        if (position >= start + 32 + (lengths[frame] as number)) {
          // Padding is not part of the checksum: nothing to see.
          expect([walk.frames, walk.damage]).toEqual([count, undefined])
          return
        }
        expect(walk.frames).toBe(frame)
        if (walk.damage !== undefined) {
          expect(walk.damage).toMatchObject({ offset: start, index: frame + 1 })
          return
        }
        // Not refused: the damaged frame must look torn to any reader (a sector of it all zero).
        torn++
        expect(walk.ending).toBe('torn write')
        const length = bytes.readUInt32LE(start)
        expect(hasZeroSectorChunk(bytes, start, Math.min(start + frameSizeBytes(length), bytes.length))).toBe(true)
      }),
      runs,
    )
    // Rare: a flipped length reaching into zeros, or a frame with a zero sector of its own.
    expect(torn).toBeLessThan(runs.numRuns / 10)
  })

  it('judges headers: written, never written (zero header and first sector), or damaged', () => {
    const { bytes } = image([100, 200, 300])
    expect(judgeHeader(bytes, 1)).toMatchObject({ kind: 'written', header: { baseIndex: 1, flags: 0 } })
    const zeroHeader = Buffer.from(bytes)
    zeroHeader.fill(0, 0, headerSizeBytes)
    expect(judgeHeader(zeroHeader, 1)).toEqual({ kind: 'damaged', code: 'ERR_CORRUPT', problem: 'header is all zero, but byte 64 of its sector is not: the header was written, then lost' })
    const zeroSector = Buffer.from(bytes)
    zeroSector.fill(0, 0, sectorSizeBytes)
    expect(judgeHeader(zeroSector, 1)).toEqual({ kind: 'never written', shorterThanHeader: false })
    expect(judgeHeader(Buffer.alloc(0), 1)).toEqual({ kind: 'never written', shorterThanHeader: true })
    expect(judgeHeader(Buffer.alloc(63), 1)).toEqual({ kind: 'never written', shorterThanHeader: true })
    expect(judgeHeader(Buffer.from('hello, not a segment'), 1)).toMatchObject({ kind: 'damaged', problem: expect.stringMatching(/^not a segment: 20 bytes/) })
    const flipped = Buffer.from(bytes)
    flipped[30]! ^= 0x01
    expect(judgeHeader(flipped, 1)).toMatchObject({ kind: 'damaged', problem: 'header checksum mismatch' })
    const foreign = Buffer.from(bytes)
    foreign.write('GIF8', 0)
    expect(judgeHeader(foreign, 1)).toMatchObject({ kind: 'damaged', problem: 'not a segment: header bad magic' })
    // A sealed segment with random bytes over its flags and checksum (the flags' high bit set):
    // damage, judged as such, not a RangeError thrown while checking for a seal cut short.
    const { bytes: sealed, offsets } = image([100, 200, 300])
    writeOffsetTable(sealed, offsets[3]!, Uint32Array.from(offsets.slice(0, 3)), 3)
    writeHeader(sealed, { version: 1, baseIndex: 1, entryCount: 3, appendPosition: offsets[3]!, prevTerm: 0, offsetTablePosition: offsets[3]!, flags: 1, salt: 0 })
    Buffer.from([0x9a, 0x41, 0xf3, 0xce, 0x07, 0x00, 0x13, 0x88, 0x51]).copy(sealed, 48)
    expect(judgeHeader(sealed, 1)).toMatchObject({ kind: 'damaged', problem: 'header checksum mismatch' })
    // The same under a file name whose base index no number holds exactly.
    expect(judgeHeader(sealed, 99999999999999999999)).toMatchObject({ kind: 'damaged', problem: 'header checksum mismatch' })
  })

  it('frames need no room after them: a file that ends at the last frame keeps them all', () => {
    const { bytes, offsets } = image([100, 7, 0, 1500])
    const walk = walkOpenSegment(bytes.subarray(0, offsets[4]), 1, 0)
    expect([walk.frames, walk.ending, walk.damage]).toEqual([4, 'end of file', undefined])
    // A frame cut by the end of the file is not a crash's doing.
    const cut = walkOpenSegment(bytes.subarray(0, (offsets[4] as number) - 8), 1, 0)
    expect(cut.damage).toEqual({ offset: offsets[3], index: 4, problem: 'length beyond the segment' })
  })
})
