// The recovery rule against a process killed in the middle of a write: the real code's stores
// into a segment are recorded in order (test/helpers/store-recorder.ts) and every prefix of them
// is judged, a memcpy or memset counting as any subset of its bytes. What a kill can leave must
// open, with every frame written before the operation began and only frames that were written;
// a frame of another state (say one whose checksum word is not zero) must still be refused.
import { describe, expect, it } from 'vitest'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/storage/raft-log.js'
import { Segment } from '../../src/storage/segment.js'
import { planRecovery, type RecoveryOutcome } from '../../src/storage/recovery-plan.js'
import { frameContextOf, judgeHeader, plainContext, walkOpenSegment } from '../../src/storage/recovery-rule.js'
import { parseSegmentFileName, segmentFileName, writeFrame } from '../../src/storage/segment-format.js'
import { prng } from '../../src/testing/crash/payload.js'
import { killStates, loseSectorsAfter, recordSegment, StoreRecorder } from '../helpers/store-recorder.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSizeBytes = 16384

interface Image {
  name: string
  bytes: Buffer
}

/** What open() would do with these segment files, judged as RaftLog.open() and verify judge them. */
function recover(images: Image[]): RecoveryOutcome {
  return planRecovery(
    images.map(({ name, bytes }) => {
      const nameBase = parseSegmentFileName(name) as number
      const verdict = judgeHeader(bytes, nameBase)
      return {
        name,
        nameBase,
        verdict,
        walk: () => {
          if (verdict.kind !== 'written') throw new Error('walk of an unwritten segment')
          return walkOpenSegment(bytes, verdict.header.baseIndex, verdict.header.prevTerm, frameContextOf(bytes, verdict.header) ?? plainContext(bytes.length))
        },
      }
    }),
  )
}

/** Entries the plan keeps; fails the test (with `label`) when the plan refuses the log. */
function keptEntries(images: Image[], label: string): number {
  const outcome = recover(images)
  if (outcome.kind === 'damage') expect.fail(`${label}: refused: ${JSON.stringify(outcome.damage)}`)
  return outcome.kept.reduce((sum, segment) => sum + segment.nextIndex - segment.baseIndex, 0)
}

/** Opens the images for real (RaftLog.open, which writes its recovery) and returns the entries' terms. */
function openImages(images: Image[]): { index: number; term: number; data: Uint8Array }[] {
  const dir = tempDir()
  for (const { name, bytes } of images) writeFileSync(join(dir, name), bytes)
  const log = RaftLog.open(dir, { segmentSize: segmentSizeBytes, logger: silentLogger })
  try {
    const entries = log.slice(log.firstIndex)
    // Reopening what recovery left must give the same log.
    log.close()
    const again = RaftLog.open(dir, { segmentSize: segmentSizeBytes, logger: silentLogger })
    expect(again.lastIndex).toBe(entries.at(-1)?.index ?? again.firstIndex - 1)
    again.close()
    return entries
  } finally {
    log.close()
  }
}

const term = 3

/** A segment file at base 1 with frames of these payload sizes, made by the real append path. */
function segmentWith(dir: string, sizes: readonly number[]): Segment {
  const segment = Segment.create(dir, 1, 2, segmentSizeBytes)
  sizes.forEach((size, i) => segment.append(term, 0, payloadFor(i + 1, term, size)))
  segment.syncData()
  return segment
}

function image(segment: Segment, bytes: Buffer): Image {
  return { name: segment.fileName, bytes }
}

function expectWrittenEntries(entries: { index: number; term: number; data: Uint8Array }[], sizes: readonly number[]): void {
  for (const entry of entries) expect(entry.data).toEqual(payloadFor(entry.index, term, sizes[entry.index - 1]))
}

const frameSizes = [0, 1, 40, 700, 3000]

describe('a process killed in the middle of a write', () => {
  it.each(frameSizes)('inside the stores of a %i-byte frame written through the mapping: every prefix opens with the frames before it, or with it whole', (size) => {
    // How raftlog wrote frames before its write buffer, and so what files of earlier versions can
    // hold; and what truncation, which undoes them in reverse through the mapping, relies on.
    const before = [40, 40, 300]
    const sizes = [...before, size]
    const segment = segmentWith(tempDir(), before)
    const bytes = Buffer.from(segment['bytes' as keyof Segment] as unknown as Buffer)
    segment.close()
    const recorder = new StoreRecorder(bytes, new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2))
    const end = 64 + 72 + 72 + 336
    writeFrame(recorder.bytes, recorder.words, end, 4, term, 0, payloadFor(4, term, size), segment.salt)
    const finalBytes = Buffer.from(bytes)
    killStates(recorder.before, recorder.stores).forEach(({ image: state, label }, n) => {
      const kept = keptEntries([{ name: segmentFileName(1), bytes: state }], label)
      expect([3, 4], label).toContain(kept)
      if (kept === 4) expect(state.equals(finalBytes), `${label}: a frame kept whole`).toBe(true)
      if (n % 5 === 0) expectWrittenEntries(openImages([{ name: segmentFileName(1), bytes: state }]), sizes)
    })
  })

  it.each([[[40, 300]], [[3000, 10_000, 40, 40]], [[0, 0, 5000]]])('inside the pwrite of a flush of frames %j: every prefix of whole pages opens with the frames before it, and whole frames only', (sizes) => {
    const before = [40, 700]
    const segment = segmentWith(tempDir(), before)
    const { recorder, stop } = recordSegment(segment)
    sizes.forEach((size, i) => segment.append(term, 0, payloadFor(3 + i, term, size)))
    segment.syncData()
    stop()
    expect(recorder.stores.length).toBeGreaterThanOrEqual(1)
    const all = [...before, ...sizes]
    killStates(recorder.before, recorder.stores).forEach(({ image: bytes, label }, n) => {
      expect(keptEntries([image(segment, bytes)], label)).toBeGreaterThanOrEqual(2)
      if (n % 2 === 0) expectWrittenEntries(openImages([image(segment, bytes)]), all)
    })
    segment.close()
  })

  it('inside the pwrite of frames, then the sectors written after the last flush each lost or not', () => {
    const random = prng(11)
    for (const size of [...frameSizes, 9000]) {
      const before = [40, 500]
      const segment = segmentWith(tempDir(), before)
      const { recorder, stop } = recordSegment(segment)
      segment.append(term, 0, payloadFor(3, term, size))
      segment.append(term, 0, payloadFor(4, term, 40))
      segment.syncData()
      stop()
      expect(recorder.stores.length).toBeGreaterThanOrEqual(1)
      for (const { image: bytes, label } of killStates(recorder.before, recorder.stores)) {
        for (let k = 0; k < 3; k++) {
          const lost = loseSectorsAfter(bytes, recorder.before, 64 + 72 + 536, random)
          expect(keptEntries([image(segment, lost)], `${size}: ${label}, loss ${k}`)).toBeGreaterThanOrEqual(2)
        }
      }
      segment.close()
    }
  })

  it('inside a seal (offset table, then header), with the next segment after it: every prefix keeps every frame', () => {
    const dir = tempDir()
    const sizes = [40, 0, 700, 40, 3000, 40]
    const segment = segmentWith(dir, sizes)
    const next = Segment.create(dir, 7, term, segmentSizeBytes)
    next.append(term, 0, payloadFor(7, term, 10))
    next.syncData()
    const nextImage = image(next, Buffer.from(next['bytes' as keyof Segment] as unknown as Buffer))
    const { recorder, stop } = recordSegment(segment)
    segment.seal()
    stop()
    killStates(recorder.before, recorder.stores).forEach(({ image: bytes, label }, n) => {
      expect(keptEntries([image(segment, bytes), nextImage], label), label).toBe(7)
      if (n % 3 === 0) expect(openImages([image(segment, bytes), nextImage]).map((entry) => entry.index), label).toEqual([1, 2, 3, 4, 5, 6, 7])
    })
    segment.close()
    next.close()
  })

  it.each([false, true])('inside a truncation (sealed before: %s): every prefix keeps a prefix of the frames, at least those kept', (sealed) => {
    const sizes = [40, 700, 0, 40, 3000, 40, 1]
    const segment = segmentWith(tempDir(), sizes)
    if (sealed) segment.seal()
    const { recorder, stop } = recordSegment(segment)
    segment.truncate(2)
    stop()
    killStates(recorder.before, recorder.stores).forEach(({ image: bytes, label }, n) => {
      const kept = keptEntries([image(segment, bytes)], label)
      expect(kept, label).toBeGreaterThanOrEqual(2)
      if (n % 4 === 0) expectWrittenEntries(openImages([image(segment, bytes)]), sizes)
    })
    segment.close()
  })

  it("inside a rotation's header write: the new segment is started afresh, the last one kept whole", () => {
    const dir = tempDir()
    const sizes = [40, 700, 40]
    const segment = segmentWith(dir, sizes)
    const previous = image(segment, Buffer.from(segment['bytes' as keyof Segment] as unknown as Buffer))
    const next = Segment.createForRotation(dir, 4, term, segmentSizeBytes)
    // The rotation writes its header with one memcpy over a file of zeros.
    const written = Buffer.from(next['bytes' as keyof Segment] as unknown as Buffer)
    const zeros = Buffer.alloc(written.length)
    const store = { positions: [] as number[], values: [] as number[], bulk: true }
    written.forEach((byte, i) => {
      if (byte !== 0) store.positions.push(i), store.values.push(byte)
    })
    expect(Math.max(...store.positions)).toBeLessThan(64)
    killStates(zeros, [store]).forEach(({ image: bytes, label }) => {
      expect(keptEntries([previous, { name: segmentFileName(4), bytes }], label)).toBe(3)
      const entries = openImages([previous, { name: segmentFileName(4), bytes }])
      expect(entries.map((entry) => entry.index), label).toEqual([1, 2, 3])
    })
    segment.close()
    next.close()
  })

  it("inside recovery's own cut: a kill while it zeroes what it cut leaves what it found", () => {
    for (const size of frameSizes) {
      const segment = segmentWith(tempDir(), [40, 300])
      const bytes = Buffer.from(segment['bytes' as keyof Segment] as unknown as Buffer)
      segment.close()
      const recorder = new StoreRecorder(bytes, new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2))
      writeFrame(recorder.bytes, recorder.words, 64 + 72 + 336, 3, term, 0, payloadFor(3, term, size), segment.salt)
      // A frame cut short two thirds through its stores, as a kill leaves it.
      const states = killStates(recorder.before, recorder.stores)
      const { image: unfinished } = states[Math.floor((states.length * 2) / 3)] as { image: Buffer }
      const dir = tempDir()
      const name = segmentFileName(1)
      writeFileSync(join(dir, name), unfinished)
      const { segment: reopened } = Segment.inspect(join(dir, name))
      const walk = reopened!.scanFrames()
      const cut = recordSegment(reopened!)
      reopened!.finishRecovery(walk, segmentSizeBytes)
      cut.stop()
      for (const { image: bytes, label } of killStates(cut.recorder.before, cut.recorder.stores)) {
        expect(keptEntries([{ name, bytes }], `${size}: ${label}`)).toBeGreaterThanOrEqual(2)
      }
      reopened!.close()
    }
  })

  it('damage is still refused: a frame whose checksum word is zero with a frame after it, or that is not the last thing written', () => {
    const sizes = [40, 40, 40]
    const segment = segmentWith(tempDir(), sizes)
    const bytes = Buffer.from(segment['bytes' as keyof Segment] as unknown as Buffer)
    segment.close()
    // The second frame's checksum zeroed: the third frame after it proves the write was finished.
    const second = Buffer.from(bytes)
    second.writeUInt32LE(0, 64 + 72 + 4)
    expect(recover([{ name: segmentFileName(1), bytes: second }])).toMatchObject({ kind: 'damage', damage: { offset: 136, index: 2, problem: 'checksum mismatch' } })
    // The last frame's checksum zeroed but its index is not the one that append wrote.
    const wrongIndex = Buffer.from(bytes)
    wrongIndex.writeUInt32LE(0, 64 + 144 + 4)
    wrongIndex.writeUInt32LE(9, 64 + 144 + 16)
    expect(recover([{ name: segmentFileName(1), bytes: wrongIndex }])).toMatchObject({ kind: 'damage', damage: { offset: 208, index: 3 } })
    // A flipped bit in the last frame (its checksum word not zero) is damage, as before.
    const flipped = Buffer.from(bytes)
    flipped[64 + 144 + 40]! ^= 4
    expect(recover([{ name: segmentFileName(1), bytes: flipped }])).toMatchObject({ kind: 'damage', damage: { offset: 208, index: 3, problem: 'checksum mismatch' } })
  })
})
