// Recycled segments (format version 2): compaction keeps the files it frees and the next rotations
// reuse them. A reused file still holds its old frames and its sectors read as that old content
// when never written back, so the recovery rule leans on the segment's salt and the file's recycle
// record: stale bytes end the log, damage to a frame of the segment is still refused, a torn frame
// over old content is cut, and what the segment wrote past its last flush never comes back.
import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/storage/raft-log.js'
import { RaftLogError } from '../../src/errors.js'
import {
  crc32,
  flagRecycled,
  frameChecksum,
  frameSizeBytes,
  headerSizeBytes,
  openHeader,
  readHeader,
  readRecycleRecord,
  recycledDataEnd,
  segmentFileName,
  writeHeader,
} from '../../src/storage/segment-format.js'
import { checkLog } from '../../src/verify/log-check.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 65536
const term = 3

function open(dir: string): RaftLog {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger, recycledSegments: 2 })
}

function append(log: RaftLog, count: number, size: number): void {
  const first = log.lastIndex + 1
  log.append(Array.from({ length: count }, (_, i) => ({ term, data: payloadFor(first + i, term, size) })))
}

function expectEntries(log: RaftLog, sizeOf: (index: number) => number): void {
  for (const entry of log.slice(log.firstIndex)) expect(entry.data, `index ${entry.index}`).toEqual(payloadFor(entry.index, term, sizeOf(entry.index)))
}

function recycledFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('recycled-'))
}

/**
 * A log whose open segment is a recycled file holding `entries` new entries of 100 bytes, all
 * flushed, and the file's content as it was before it was reused (what never-written sectors hold).
 */
async function logInRecycledSegment(dir: string, entries: number): Promise<{ log: RaftLog; file: string; old: Buffer; sizes: Map<number, number> }> {
  const log = open(dir)
  const sizes = new Map<number, number>()
  const add = (count: number, size: number): void => {
    for (let i = 1; i <= count; i++) sizes.set(log.lastIndex + i, size)
    append(log, count, size)
  }
  while (log.describeSegments().length < 4) add(64, 100)
  await log.flush()
  const second = log.describeSegments()[1]!
  log.compact(second.baseIndex + second.entryCount - 1)
  await log.reserveNextSegment()
  const [recycled] = recycledFiles(dir)
  expect(recycled).toBeDefined()
  const old = readFileSync(join(dir, recycled!))
  expect(readRecycleRecord(old)).toBeDefined()
  // Fill the tail to its end, and rotate into the recycled file.
  while (log.stats.segmentsRecycled === 0) add(1, 100)
  add(entries - 1, 100)
  await log.flush()
  const file = log.describeSegments().at(-1)!.file
  return { log, file, old, sizes }
}

describe('recycled segments', () => {
  it('compaction keeps the cached files it frees, at most two, and rotations reuse them (no new file)', async () => {
    const dir = tempDir()
    const log = open(dir)
    while (log.describeSegments().length < 6) append(log, 64, 100)
    await log.flush()
    // Five sealed: the three oldest left the page cache (drop-behind), and are deleted when freed.
    const fifth = log.describeSegments()[4]!
    log.compact(fifth.baseIndex + fifth.entryCount - 1)
    expect(recycledFiles(dir)).toHaveLength(2)
    // Both made ready on the thread pool (their records written and synced).
    const pool = (): { ready: boolean }[] => log['recycled' as keyof RaftLog] as unknown as { ready: boolean }[]
    for (let tries = 0; !pool().every((file) => file.ready); tries++) {
      expect(tries).toBeLessThan(500)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await log.reserveNextSegment()
    const before = log.stats.segmentsRotated
    while (log.stats.segmentsRotated < before + 2) append(log, 1, 100)
    expect(log.stats.segmentsRecycled).toBe(2)
    expect(recycledFiles(dir)).toHaveLength(0)
    await log.flush()
    const tail = readHeader(readFileSync(join(dir, log.describeSegments().at(-1)!.file)))
    expect(typeof tail !== 'string' && (tail.flags & flagRecycled) !== 0 && tail.version === 2).toBe(true)
    log.close()
    expect(checkLog(dir).problems).toEqual([])
  })

  it('stale frames of a recycled file end the log: it reopens exactly, nothing cut, verify agrees', async () => {
    const dir = tempDir()
    const { log, file, sizes } = await logInRecycledSegment(dir, 10)
    const last = log.lastIndex
    log.close()
    const bytes = readFileSync(join(dir, file))
    const header = readHeader(bytes)
    if (typeof header === 'string') throw new Error(header)
    // The old life's frames are still there, after the new ones and the zeros that pad the last
    // write to the end of its sector.
    const end = headerSizeBytes + 10 * frameSizeBytes(100)
    const sectorEnd = Math.ceil(end / 512) * 512
    expect(bytes.subarray(end, sectorEnd).every((byte) => byte === 0)).toBe(true)
    expect(bytes.subarray(sectorEnd, sectorEnd + 512).some((byte) => byte !== 0)).toBe(true)
    const again = open(dir)
    expect(again.lastIndex).toBe(last)
    expect(again.recovery.cutBytes).toBe(0)
    expectEntries(again, (index) => sizes.get(index) ?? 100)
    again.close()
    expect(checkLog(dir).problems).toEqual([])
    // Reopening wrote nothing over the old content.
    expect(readFileSync(join(dir, file)).equals(bytes)).toBe(true)
  })

  it('a damaged frame of a recycled segment (its salt right) is ERR_CORRUPT, and so is one whose salt alone was damaged', async () => {
    const dir = tempDir()
    const { log, file } = await logInRecycledSegment(dir, 10)
    log.close()
    const path = join(dir, file)
    const good = readFileSync(path)
    const lastFrame = headerSizeBytes + 9 * frameSizeBytes(100)
    for (const [what, offset] of [
      ['a payload byte of the last frame', lastFrame + 40],
      ['the salt of the last frame', lastFrame + 29],
      ['a payload byte of a middle frame', headerSizeBytes + 4 * frameSizeBytes(100) + 50],
      ['the index of the last frame', lastFrame + 16],
    ] as const) {
      const bytes = Buffer.from(good)
      bytes[offset] = (bytes[offset] as number) ^ 0x10
      writeFileSync(path, bytes)
      let error: unknown
      try {
        open(dir).close()
      } catch (thrown) {
        error = thrown
      }
      expect(error, what).toBeInstanceOf(RaftLogError)
      expect((error as RaftLogError).code, what).toBe('ERR_CORRUPT')
      // Refused: nothing changed on disk.
      expect(readFileSync(path).equals(bytes), what).toBe(true)
      expect(checkLog(dir).outcome.kind, what).toBe('damage')
    }
    writeFileSync(path, good)
    open(dir).close()
  })

  it("damage that leaves a frame neither this segment's nor old content (its index, salt and payload hit together) is ERR_CORRUPT, not the end of the log", async () => {
    // crash-test --mode corrupt --seed 3302 round 840 found 13 random bytes over a frame's index,
    // salt and first payload bytes read as old content: the log ended there, silently shorter.
    const dir = tempDir()
    const { log, file } = await logInRecycledSegment(dir, 10)
    log.close()
    const path = join(dir, file)
    const good = readFileSync(path)
    for (const frame of [4, 9]) {
      const at = headerSizeBytes + frame * frameSizeBytes(100)
      const bytes = Buffer.from(good)
      for (let i = 16; i < 36; i++) bytes[at + i] = (bytes[at + i] as number) ^ 0x5a
      writeFileSync(path, bytes)
      expect(() => open(dir).close(), `frame ${frame}`).toThrow(/corrupt/)
    }
    writeFileSync(path, good)
    open(dir).close()
  })

  it('a frame torn over old content (sectors never written back) is cut, and what was written past it never returns', async () => {
    const dir = tempDir()
    const { log, file, old, sizes } = await logInRecycledSegment(dir, 10)
    const durable = readFileSync(join(dir, file))
    const flushedLast = log.lastIndex
    const durableEnd = headerSizeBytes + 10 * frameSizeBytes(100)
    // A batch of 1,000-byte frames, each over several sectors, written and then lost in part.
    for (let i = 1; i <= 6; i++) sizes.set(flushedLast + i, 1000)
    append(log, 6, 1000)
    await log.flush()
    log.close()
    const written = readFileSync(join(dir, file))
    const path = join(dir, file)
    const sector = 512
    const firstNewSector = Math.floor(durableEnd / sector)
    // Power loss: the sector where the batch starts reached the disk, the next one did not (it
    // reads as the file's old content), the rest did: the batch's first frame is torn.
    const lost = Buffer.from(written)
    old.copy(lost, (firstNewSector + 1) * sector, (firstNewSector + 1) * sector, (firstNewSector + 2) * sector)
    writeFileSync(path, lost)
    const again = open(dir)
    expect(again.lastIndex).toBe(flushedLast)
    expect(again.recovery.cutBytes).toBeGreaterThan(0)
    expectEntries(again, (index) => sizes.get(index) ?? 100)
    // The later frames of the lost batch, whole on disk, must never come back: a shorter entry at
    // the same place, then a reopen.
    again.append([{ term, data: payloadFor(flushedLast + 1, term, 8) }])
    await again.flush()
    again.close()
    const third = open(dir)
    expect(third.lastIndex).toBe(flushedLast + 1)
    expect(third.get(flushedLast + 1)?.data).toEqual(payloadFor(flushedLast + 1, term, 8))
    third.close()
    expect(checkLog(dir).problems).toEqual([])
    // Untouched by all this: what was durable before the lost batch.
    expect(readFileSync(path).subarray(0, durableEnd).equals(durable.subarray(0, durableEnd))).toBe(true)
  })

  it('a frame header across two sectors, the first written back and the second not, is a torn write', async () => {
    // crash-test --mode both --seed 6601 rounds 74 and 866: the flushed frames ended 8 and 16 bytes
    // before a sector's end; the next frame's length and checksum reached the disk, its index and
    // salt (the next sector) did not: refused as damage, where it is a torn write.
    const dir = tempDir()
    const { log, file, old, sizes } = await logInRecycledSegment(dir, 7)
    const flushedLast = log.lastIndex
    const durableEnd = headerSizeBytes + 7 * frameSizeBytes(100)
    expect(durableEnd % 512).toBe(504)
    for (let i = 1; i <= 4; i++) sizes.set(flushedLast + i, 100)
    append(log, 4, 100)
    await log.flush()
    log.close()
    const path = join(dir, file)
    const lost = readFileSync(path)
    const next = Math.ceil(durableEnd / 512) * 512
    old.copy(lost, next, next, next + 512)
    writeFileSync(path, lost)
    const again = open(dir)
    expect(again.lastIndex).toBe(flushedLast)
    expectEntries(again, (index) => sizes.get(index) ?? 100)
    again.close()
  })

  it("a seal cut short in a recycled segment (its table's sectors each the table, zeros or old content) opens and seals again", async () => {
    // crash-test --mode power-loss --kill-from outside --recycled-segments 2: refused 2 times in
    // 1,000 rounds as "neither a frame of this segment nor old content" just before the recycle
    // record, where a seal's offset table was lost in part (or a kill stopped its write).
    const dir = tempDir()
    const { log, file, old, sizes } = await logInRecycledSegment(dir, 10)
    const segments = log.describeSegments().length
    while (log.describeSegments().length === segments) {
      sizes.set(log.lastIndex + 1, 100)
      append(log, 1, 100)
    }
    await log.flush()
    await log.flush()
    const last = log.lastIndex
    log.close()
    const path = join(dir, file)
    const sealed = readFileSync(path)
    const header = readHeader(sealed)
    if (typeof header === 'string') throw new Error(header)
    expect(header.flags & flagRecycled).not.toBe(0)
    const tableStart = header.offsetTablePosition
    const tableEnd = tableStart + 4 * header.entryCount + 4
    const firstWhole = Math.ceil(tableStart / 512) * 512
    expect(tableEnd - firstWhole).toBeGreaterThan(512)
    // What a power loss during the seal leaves: the open header (the sealed one never written
    // back), the table's first sectors written back, its last one still the file's old content.
    const lost = Buffer.from(sealed)
    writeHeader(lost, openHeader(header.baseIndex, header.prevTerm, header.flags, header.salt))
    const lastSector = Math.floor((tableEnd - 1) / 512) * 512
    old.copy(lost, lastSector, lastSector, lastSector + 512)
    writeFileSync(path, lost)
    expect(checkLog(dir).problems).toEqual([])
    const again = open(dir)
    expect(again.lastIndex).toBe(last)
    expectEntries(again, (index) => sizes.get(index) ?? 100)
    again.close()
    expect(readHeader(readFileSync(path))).toMatchObject({ entryCount: header.entryCount })
    // And what a kill during the table's pwrite leaves: a prefix of whole pages of it, the rest
    // old content (the sealed header not yet written).
    const killed = Buffer.from(sealed)
    writeHeader(killed, openHeader(header.baseIndex, header.prevTerm, header.flags, header.salt))
    const firstPageAfter = Math.ceil((tableStart + 1) / 4096) * 4096
    if (firstPageAfter < tableEnd) old.copy(killed, firstPageAfter, firstPageAfter, Math.ceil(tableEnd / 512) * 512)
    else old.copy(killed, firstWhole, firstWhole, Math.ceil(tableEnd / 512) * 512)
    writeFileSync(path, killed)
    const third = open(dir)
    expect(third.lastIndex).toBe(last)
    expectEntries(third, (index) => sizes.get(index) ?? 100)
    third.close()
    // The same cut seal in the last segment (the next one's directory entry lost too): the segment
    // stays open, and recovery zeroes the table's bytes in the sector where its frames end, as it
    // zeroes an unfinished seal's table in a new file.
    const next = readdirSync(dir).filter((name) => name.startsWith('segment_') && name > file)
    expect(next.length).toBeGreaterThan(0)
    for (const name of next) rmSync(join(dir, name))
    writeFileSync(path, killed)
    const alone = open(dir)
    expect(alone.lastIndex).toBe(header.baseIndex + header.entryCount - 1)
    expectEntries(alone, (index) => sizes.get(index) ?? 100)
    alone.close()
    const sectorEnd = Math.ceil(tableStart / 512) * 512
    expect(readFileSync(path).subarray(header.appendPosition, sectorEnd).every((byte) => byte === 0)).toBe(true)
  })

  it('every kill state of the pwrite of a batch into a recycled file opens with the flushed frames', async () => {
    const dir = tempDir()
    const { log, file, sizes } = await logInRecycledSegment(dir, 3)
    const durable = readFileSync(join(dir, file))
    const flushedLast = log.lastIndex
    const durableEnd = headerSizeBytes + 3 * frameSizeBytes(100)
    for (let i = 1; i <= 8; i++) sizes.set(flushedLast + i, 1500)
    append(log, 8, 1500)
    await log.flush()
    log.close()
    const written = readFileSync(join(dir, file))
    const path = join(dir, file)
    // A kill stops a pwrite between two pages: a prefix of whole pages of the batch is in the file.
    const pages = Math.ceil((durableEnd + 8 * frameSizeBytes(1500)) / 4096)
    for (let page = Math.floor(durableEnd / 4096) + 1; page <= pages; page++) {
      const state = Buffer.from(durable)
      written.copy(state, durableEnd, durableEnd, page * 4096)
      writeFileSync(path, state)
      const again = open(dir)
      expect(again.lastIndex, `pages to ${page}`).toBeGreaterThanOrEqual(flushedLast)
      expectEntries(again, (index) => sizes.get(index) ?? 100)
      again.close()
    }
  })

  it('a rotation into a recycled file whose header never reached the disk starts it afresh', async () => {
    const dir = tempDir()
    const { log, file, old } = await logInRecycledSegment(dir, 1)
    const before = log.describeSegments()
    const previous = before.at(-2)!
    log.close()
    // The crash left the file renamed in, holding its old content whole (old header, old frames).
    writeFileSync(join(dir, file), old)
    const again = open(dir)
    expect(again.recovery.reinitializedSegments).toEqual([file])
    expect(again.lastIndex).toBe(previous.baseIndex + previous.entryCount - 1)
    append(again, 3, 100)
    await again.flush()
    again.close()
    expect(checkLog(dir).problems).toEqual([])
  })

  it('the same when the reused file still holds the open header of its earlier life (compacted before a flush sealed it)', async () => {
    const dir = tempDir()
    const { log, file, old } = await logInRecycledSegment(dir, 1)
    const previous = log.describeSegments().at(-2)!
    log.close()
    const bytes = Buffer.from(old)
    const header = readHeader(bytes)
    if (typeof header === 'string') throw new Error(header)
    writeHeader(bytes, openHeader(header.baseIndex, header.prevTerm, header.flags, header.salt))
    writeFileSync(join(dir, file), bytes)
    const again = open(dir)
    expect(again.recovery.reinitializedSegments).toEqual([file])
    expect(again.lastIndex).toBe(previous.baseIndex + previous.entryCount - 1)
    again.close()
  })

  it('a freed file a crash left before its recycle record was durable is removed by open()', () => {
    const dir = tempDir()
    open(dir).close()
    const leftover = `recycled-${'1'.padStart(20, '0')}-0123456789ab.tmp`
    writeFileSync(join(dir, leftover), Buffer.alloc(segmentSize, 7))
    const log = open(dir)
    expect(recycledFiles(dir)).toEqual([])
    log.close()
  })

  it('a recycled segment whose recycle record is damaged is refused (it was durable before the file was reused)', async () => {
    const dir = tempDir()
    const { log, file } = await logInRecycledSegment(dir, 5)
    log.close()
    const path = join(dir, file)
    const bytes = readFileSync(path)
    const at = recycledDataEnd(bytes.length) + 100
    bytes[at] = (bytes[at] as number) ^ 1
    writeFileSync(path, bytes)
    expect(() => open(dir)).toThrow(/recycle record/)
  })
})

/** Rewrites a segment of this version as format version 1: no salt in its header or its frames. */
function downgradeToVersion1(path: string, frames: number): void {
  const bytes = readFileSync(path)
  bytes.writeUInt32LE(1, 4)
  bytes.writeUInt32LE(0, 56)
  bytes.writeUInt32LE(crc32(bytes.subarray(0, 52)), 52)
  let offset = headerSizeBytes
  for (let i = 0; i < frames; i++) {
    const length = bytes.readUInt32LE(offset)
    bytes.writeUInt32LE(0, offset + 28)
    bytes.writeUInt32LE(frameChecksum(bytes, offset, length), offset + 4)
    offset += frameSizeBytes(length)
  }
  writeFileSync(path, bytes)
}

describe('format version 1 segments', () => {
  it('still open, verify, take appends and are sealed as version 1; the next segment is version 2', async () => {
    const dir = tempDir()
    const log = open(dir)
    append(log, 20, 100)
    await log.flush()
    log.close()
    const path = join(dir, segmentFileName(1))
    downgradeToVersion1(path, 20)
    expect(checkLog(dir).problems).toEqual([])
    const again = open(dir)
    expect(again.lastIndex).toBe(20)
    expectEntries(again, () => 100)
    while (again.describeSegments().length < 2) append(again, 16, 100)
    await again.flush()
    expectEntries(again, () => 100)
    again.close()
    const first = readHeader(readFileSync(path))
    const secondName = readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()[1]!
    const second = readHeader(readFileSync(join(dir, secondName)))
    expect(typeof first !== 'string' && first.version === 1 && first.salt === 0 && (first.flags & 1) === 1).toBe(true)
    expect(typeof second !== 'string' && second.version === 2 && second.salt !== 0).toBe(true)
    expect(checkLog(dir).problems).toEqual([])
    const third = open(dir)
    expectEntries(third, () => 100)
    third.close()
  })
})
