import { describe, expect, it } from 'vitest'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Segment } from '../../src/storage/segment.js'
import { EntryType } from '../../src/storage/log-entry.js'
import { headerSizeBytes, segmentFileName } from '../../src/storage/segment-format.js'
import { payloadFor } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

function openSegment(path: string): Segment {
  const { verdict, segment } = Segment.inspect(path)
  if (segment === undefined) throw new Error(`header: ${JSON.stringify(verdict)}`)
  return segment
}

describe('Segment', () => {
  it('is created whole under its real name, with nothing temporary left', () => {
    const dir = tempDir()
    const segment = Segment.create(dir, 10, 3, 8192)
    expect(readdirSync(dir)).toEqual([segmentFileName(10)])
    expect([segment.baseIndex, segment.prevTerm, segment.entryCount, segment.nextIndex, segment.isSealed]).toEqual([10, 3, 0, 10, false])
    segment.close()
  })

  it('appends, seals with an offset table, and reopens sealed with every frame readable', () => {
    const dir = tempDir()
    const segment = Segment.create(dir, 1, 0, 8192)
    for (let index = 1; index <= 20; index++) segment.append(2, EntryType.Normal, payloadFor(index, 2))
    segment.syncData()
    segment.seal()
    segment.close()
    const again = openSegment(join(dir, segmentFileName(1)))
    expect([again.isSealed, again.entryCount, again.nextIndex]).toEqual([true, 20, 21])
    for (let index = 1; index <= 20; index++) expect(again.read(index).data).toEqual(payloadFor(index, 2))
    again.close()
  })

  it('refuses an entry that would leave no room for the offset table', () => {
    const segment = Segment.create(tempDir(), 1, 0, 4096)
    expect(segment.hasRoomFor(4096 - headerSizeBytes - 32 - 8)).toBe(true)
    expect(segment.hasRoomFor(4096 - headerSizeBytes - 32)).toBe(false)
    segment.close()
  })

  it('truncating a sealed segment reopens it and zeroes the removed frames and table', () => {
    const dir = tempDir()
    const segment = Segment.create(dir, 1, 0, 8192)
    for (let index = 1; index <= 10; index++) segment.append(1, EntryType.Normal, payloadFor(index, 1))
    segment.syncData()
    segment.seal()
    segment.truncate(4)
    expect([segment.isSealed, segment.entryCount]).toEqual([false, 4])
    const end = segment.usedBytes
    segment.close()
    const bytes = readFileSync(join(dir, segmentFileName(1)))
    expect(bytes.subarray(end).every((byte) => byte === 0)).toBe(true)
    const again = openSegment(join(dir, segmentFileName(1)))
    const walk = again.scanFrames()
    expect([walk.frames, walk.ending, walk.damage]).toEqual([4, 'zero frame header', undefined])
    expect(again.finishRecovery(walk, 8192)).toEqual({ cutBytes: 0, cutFrames: 0 })
    expect(again.entryCount).toBe(4)
    again.close()
  })

  it('inspect maps nothing and writes nothing for a header that is not a written one', () => {
    const dir = tempDir()
    const segment = Segment.create(dir, 5, 1, 8192)
    segment.append(1, EntryType.Normal, payloadFor(5, 1))
    segment.syncData()
    segment.close()
    const path = join(dir, segmentFileName(5))
    const bytes = readFileSync(path)
    bytes[12] = bytes[12]! ^ 0x01
    writeFileSync(path, bytes)
    expect(Segment.inspect(path)).toEqual({ verdict: { kind: 'damaged', problem: 'header checksum mismatch', code: 'ERR_CORRUPT' }, segment: undefined })
    expect(readFileSync(path)).toEqual(bytes)
  })

  it('scanFrames changes nothing on disk: only finishRecovery writes', () => {
    const dir = tempDir()
    const segment = Segment.create(dir, 1, 0, 8192)
    for (let index = 1; index <= 5; index++) segment.append(1, EntryType.Normal, payloadFor(index, 1))
    const end = segment.usedBytes
    segment.syncData()
    segment.close()
    const path = join(dir, segmentFileName(1))
    const bytes = readFileSync(path)
    // Frame 6 (over 2 KiB) torn: its first sectors written back, the third not.
    const nextSector = end - (end % 512) + 512
    bytes.writeUInt32LE(2000, end)
    bytes.writeUInt32LE(0xdeadbeef, end + 4)
    bytes.fill(0xab, nextSector, nextSector + 512)
    writeFileSync(path, bytes)
    const again = openSegment(path)
    const walk = again.scanFrames()
    expect([walk.frames, walk.end, walk.ending, walk.damage]).toEqual([5, end, 'torn write', undefined])
    expect(readFileSync(path)).toEqual(bytes)
    expect(again.finishRecovery(walk, 8192)).toEqual({ cutBytes: nextSector + 512 - end, cutFrames: 0 })
    again.close()
    expect(readFileSync(path).subarray(end).every((byte) => byte === 0)).toBe(true)
  })

  it('a rotation segment is not durable until a flush syncs its header with its frames', () => {
    const dir = tempDir()
    const segment = Segment.createForRotation(dir, 7, 2, 8192)
    expect(segment.hasUnsyncedBytes).toBe(true)
    segment.append(2, EntryType.Normal, payloadFor(7, 2))
    segment.syncData()
    expect(segment.hasUnsyncedBytes).toBe(false)
    segment.close()
    // A first page that never reached the disk: the frames behind the header were never acknowledged.
    const path = join(dir, segmentFileName(7))
    const bytes = readFileSync(path)
    bytes.fill(0, 0, 4096)
    bytes.fill(0x5a, 5000, 5100)
    writeFileSync(path, bytes)
    expect(Segment.inspect(path).verdict).toEqual({ kind: 'never written', shorterThanHeader: false })
    const wiped = Segment.reinitialize(path, 7, 2)
    expect([wiped.entryCount, wiped.prevTerm]).toEqual([0, 2])
    wiped.close()
    expect(readFileSync(path).subarray(headerSizeBytes).every((byte) => byte === 0)).toBe(true)
  })
})
