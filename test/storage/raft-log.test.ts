import { describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EntryType, RaftLog, RaftLogError } from '../../src/index.js'
import { crc32, droppedSegmentPath, headerSizeBytes, segmentFileName } from '../../src/storage/segment-format.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 8192

function open(dir: string, size = segmentSize): RaftLog {
  return RaftLog.open(dir, { segmentSize: size, logger: silentLogger })
}

function fill(log: RaftLog, count: number, term: number): void {
  const start = log.lastIndex + 1
  log.append(Array.from({ length: count }, (_, i) => ({ term, data: payloadFor(start + i, term) })))
}

function expectCode(action: () => unknown, code: string, messagePart?: string | RegExp): RaftLogError {
  try {
    action()
  } catch (error) {
    expect(error).toBeInstanceOf(RaftLogError)
    expect((error as RaftLogError).code).toBe(code)
    if (messagePart !== undefined) expect((error as Error).message).toMatch(messagePart)
    return error as RaftLogError
  }
  throw new Error(`expected ${code}, nothing was thrown`)
}

function segmentFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()
}

describe('RaftLog basics', () => {
  it('a new log is empty, starts at 1 and has lastTerm 0', () => {
    const log = open(tempDir())
    expect([log.firstIndex, log.lastIndex, log.lastTerm]).toEqual([1, 0, 0])
    expect(log.get(1)).toBeUndefined()
    expect(log.termAt(0)).toBe(0)
    expect(log.termAt(1)).toBeUndefined()
    expect(log.slice(1)).toEqual([])
    log.close()
  })

  it('appends, reads back copies, and survives close and reopen', async () => {
    const dir = tempDir()
    const log = open(dir)
    expect(log.append([{ term: 1, data: Buffer.from('a') }, { term: 1, type: EntryType.NoOp }, { term: 2, data: new Uint8Array([7]) }])).toBe(3)
    const first = log.get(1)!
    expect(first).toEqual({ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(Buffer.from('a')) })
    expect(log.get(2)).toEqual({ index: 2, term: 1, type: EntryType.NoOp, data: new Uint8Array(0) })
    await log.flush()
    log.close()
    // The copy handed out stays valid after the segment is unmapped.
    expect(Buffer.from(first.data).toString()).toBe('a')
    const again = open(dir)
    expect([again.firstIndex, again.lastIndex, again.lastTerm]).toEqual([1, 3, 2])
    expect(again.slice(1).map((e) => [e.index, e.term, e.type, Array.from(e.data)])).toEqual([
      [1, 1, 0, [97]],
      [2, 1, 1, []],
      [3, 2, 0, [7]],
    ])
    again.close()
  })

  it('rotates into new segments and reads across them', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 10; term++) fill(log, 60, term)
    expect(log.lastIndex).toBe(600)
    expect(log.describeSegments().length).toBeGreaterThan(3)
    const all = log.slice(1)
    expect(all.length).toBe(600)
    all.forEach((entry, i) => {
      expect(entry.index).toBe(i + 1)
      expect(entry.data).toEqual(payloadFor(i + 1, entry.term))
    })
    await log.flush()
    // Every segment but the last is sealed once flushed.
    const described = log.describeSegments()
    expect(described.slice(0, -1).every((s) => s.sealed)).toBe(true)
    expect(described.at(-1)!.sealed).toBe(false)
    log.close()
    const again = open(dir)
    expect(again.slice(1).map((e) => e.term)).toEqual(all.map((e) => e.term))
    expect(again.termAt(600)).toBe(10)
    again.close()
  })

  it('slice honours maxBytes but always returns the first entry', () => {
    const log = open(tempDir())
    log.append(Array.from({ length: 10 }, () => ({ term: 1, data: new Uint8Array(100) })))
    expect(log.slice(1, 11, { maxBytes: 350 }).length).toBe(3)
    expect(log.slice(1, 11, { maxBytes: 1 }).length).toBe(1)
    expect(log.slice(4, 6).map((e) => e.index)).toEqual([4, 5])
    log.close()
  })

  it('an entry larger than a segment gets a segment of its own, sized to fit', () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 3, 1)
    const big = payloadFor(99, 1, 3 * segmentSize)
    log.append([{ term: 1, data: big }, { term: 1, data: Buffer.from('after') }])
    expect(log.get(4)!.data).toEqual(big)
    expect(Buffer.from(log.get(5)!.data).toString()).toBe('after')
    log.close()
    const sizes = segmentFiles(dir).map((name) => statSync(join(dir, name)).size)
    expect(Math.max(...sizes)).toBeGreaterThan(3 * segmentSize)
    const again = open(dir)
    expect(again.get(4)!.data).toEqual(big)
    again.close()
  })

  it('a big first entry replaces the empty first segment', () => {
    const dir = tempDir()
    const log = open(dir)
    const big = payloadFor(1, 1, 2 * segmentSize)
    log.append([{ term: 1, data: big }])
    expect(log.firstIndex).toBe(1)
    log.close()
    const again = open(dir)
    expect(again.get(1)!.data).toEqual(big)
    again.close()
  })
})

describe('RaftLog truncateAfter, compact and reset', () => {
  it('truncateAfter drops the suffix, across segments, durably', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 6; term++) fill(log, 50, term)
    await log.flush()
    log.truncateAfter(120)
    expect([log.lastIndex, log.lastTerm]).toEqual([120, 3])
    expect(log.get(121)).toBeUndefined()
    fill(log, 5, 9)
    expect(log.get(121)!.term).toBe(9)
    await log.flush()
    log.close()
    const again = open(dir)
    expect([again.lastIndex, again.lastTerm]).toEqual([125, 9])
    expect(again.slice(118).map((e) => e.term)).toEqual([3, 3, 3, 9, 9, 9, 9, 9])
    again.close()
  })

  it('truncated frames never return, even when the new entry is shorter', () => {
    const dir = tempDir()
    const log = open(dir)
    log.append([{ term: 1, data: new Uint8Array(500).fill(1) }, { term: 1, data: new Uint8Array(500).fill(2) }])
    log.truncateAfter(0)
    log.append([{ term: 2, data: new Uint8Array(1).fill(3) }])
    log.close()
    const again = open(dir)
    expect(again.lastIndex).toBe(1)
    expect(again.recovery.cutBytes).toBe(0)
    again.close()
    // No byte of the old frames is left behind the new one.
    const bytes = readFileSync(join(dir, segmentFileName(1)))
    expect(bytes.subarray(headerSizeBytes + 40).every((b) => b === 0)).toBe(true)
  })

  it('compact drops whole segments only and keeps termAt(firstIndex - 1)', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 8; term++) fill(log, 50, term)
    await log.flush()
    const before = log.describeSegments()
    const second = before[1]!
    log.compact(second.baseIndex + 1)
    // The first segment ends before the second's base: it went; the second holds later entries too.
    expect(log.firstIndex).toBe(second.baseIndex)
    // The entry before the new first one is gone, but its term is still known.
    expect(log.termAt(log.firstIndex - 1)).toBe(before[0]!.entryCount > 0 ? Math.ceil((second.baseIndex - 1) / 50) : 0)
    expectCode(() => log.get(1), 'ERR_OUT_OF_RANGE', /compacted/)
    expect(log.termAt(1)).toBeUndefined()
    log.compact(10_000)
    expect(log.describeSegments().length).toBe(1)
    expect(log.lastIndex).toBe(400)
    log.close()
    const again = open(dir)
    expect(again.lastIndex).toBe(400)
    expect(again.termAt(again.firstIndex - 1)).toBeGreaterThan(0)
    again.close()
  })

  it('a compacted segment leaves the log at once, and one a crash left waiting for its unlink is removed at the next open', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 4; term++) fill(log, 50, term)
    await log.flush()
    const [first, second] = log.describeSegments()
    const firstBytes = readFileSync(join(dir, segmentFileName(first!.baseIndex)))
    log.compact(first!.baseIndex + first!.entryCount - 1)
    expect(segmentFiles(dir)).not.toContain(segmentFileName(first!.baseIndex))
    expect(log.firstIndex).toBe(second!.baseIndex)
    log.close()
    // A kill between the rename and the unlink on the thread pool leaves the file under its dropped name.
    const dropped = droppedSegmentPath(join(dir, segmentFileName(first!.baseIndex)))
    writeFileSync(dropped, firstBytes)
    const again = open(dir)
    expect(existsSync(dropped)).toBe(false)
    expect(again.firstIndex).toBe(second!.baseIndex)
    again.close()
  })

  it('reset empties the log at a new index and keeps the previous term', () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 300, 2)
    log.reset(1000, 7)
    expect([log.firstIndex, log.lastIndex, log.lastTerm, log.termAt(999)]).toEqual([1000, 999, 7, 7])
    expect(segmentFiles(dir)).toEqual([segmentFileName(1000)])
    fill(log, 3, 8)
    log.close()
    const again = open(dir)
    expect([again.firstIndex, again.lastIndex, again.lastTerm, again.termAt(999)]).toEqual([1000, 1002, 8, 7])
    again.reset(5, 1)
    expect([again.firstIndex, again.lastIndex, again.lastTerm]).toEqual([5, 4, 1])
    again.close()
  })

  it('an interrupted reset leaves the new log: segments below the reset segment are removed on open', () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 300, 2)
    log.close()
    const old = segmentFiles(dir)
    // Simulate a crash after the reset segment was made but before the old ones were deleted.
    const other = tempDir()
    const resetLog = open(other)
    resetLog.reset(5000, 4)
    resetLog.close()
    writeFileSync(join(dir, segmentFileName(5000)), readFileSync(join(other, segmentFileName(5000))))
    const again = open(dir)
    expect([again.firstIndex, again.lastIndex, again.lastTerm]).toEqual([5000, 4999, 4])
    expect(again.recovery.removedSegments).toEqual(old)
    again.close()
    expect(segmentFiles(dir)).toEqual([segmentFileName(5000)])
  })
})

describe('RaftLog recovery and corruption', () => {
  it('a byte flipped in a sealed segment is ERR_CORRUPT naming file, offset and index', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 4; term++) fill(log, 60, term)
    await log.flush()
    log.close()
    const first = join(dir, segmentFileName(1))
    const bytes = readFileSync(first)
    bytes[headerSizeBytes + 32 + 3] = bytes[headerSizeBytes + 32 + 3]! ^ 0xff // inside the payload of index 1
    writeFileSync(first, bytes)
    const again = open(dir)
    const error = expectCode(() => again.get(1), 'ERR_CORRUPT', /segment_00000000000000000001\.log is corrupt at byte 64 \(index 1\)/)
    expect(error.details).toMatchObject({ offset: 64, index: 1 })
    // The other entries of that segment are still readable, and still verified.
    expect(again.get(2)!.data).toEqual(payloadFor(2, 1))
    expectCode(() => again.slice(1, 3), 'ERR_CORRUPT')
    again.close()
  })

  it('a missing middle segment is ERR_CORRUPT', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 6; term++) fill(log, 60, term)
    await log.flush()
    log.close()
    const files = segmentFiles(dir)
    expect(files.length).toBeGreaterThan(2)
    rmSync(join(dir, files[1]!))
    expectCode(() => open(dir), 'ERR_CORRUPT', /a segment is missing/)
    // The failed open released its lock: a second try is still ERR_CORRUPT, not ERR_LOCKED.
    expectCode(() => open(dir), 'ERR_CORRUPT')
  })

  it('a headerless last segment left by a crash during rotation is reinitialised', async () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 100, 3)
    await log.flush()
    const next = log.lastIndex + 1
    log.close()
    writeFileSync(join(dir, segmentFileName(next)), Buffer.alloc(segmentSize))
    const again = open(dir)
    expect(again.recovery.reinitializedSegments).toEqual([segmentFileName(next)])
    expect([again.lastIndex, again.lastTerm]).toEqual([100, 3])
    fill(again, 1, 3)
    expect(again.get(101)!.data).toEqual(payloadFor(101, 3))
    again.close()
  })

  it('a last segment left empty, or with frames written back behind a first page that never was, starts afresh', async () => {
    for (const leftover of ['empty file', 'first page never written back']) {
      const dir = tempDir()
      const log = open(dir)
      fill(log, 100, 3)
      await log.flush()
      const next = log.lastIndex + 1
      log.close()
      const path = join(dir, segmentFileName(next))
      if (leftover === 'empty file') {
        writeFileSync(path, '')
      } else {
        // A rotation's later frames written back, but not the page of its header (synced only by a
        // flush). The header shares its sector with the first frame: that sector is zero too.
        const other = open(tempDir())
        other.reset(next, 3)
        fill(other, 100, 3)
        other.close()
        const bytes = readFileSync(join(other.dir, segmentFileName(next)))
        expect(bytes.subarray(4096).some((byte) => byte !== 0)).toBe(true)
        bytes.fill(0, 0, 4096)
        writeFileSync(path, bytes)
      }
      const again = open(dir)
      expect(again.recovery.reinitializedSegments, leftover).toEqual([segmentFileName(next)])
      expect([again.lastIndex, again.lastTerm]).toEqual([100, 3])
      again.close()
    }
  })

  it('a middle segment whose header never reached the disk ends the log there: nothing from it on was acknowledged', async () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 100, 3)
    await log.flush()
    const acknowledged = log.lastIndex
    // One batch over two rotations, then power lost before any flush: the headers of the new
    // segments were never synced (the first is all zero), while pages of the last were written back.
    fill(log, 400, 3)
    const made = log.describeSegments().filter((segment) => segment.baseIndex > acknowledged)
    expect(made.length).toBeGreaterThanOrEqual(2)
    // The files as the page cache holds them now, before any flush or seal: what a power loss
    // after some write-back leaves. The first new segment's first page (its header) never got there.
    const crashed = tempDir()
    for (const name of readdirSync(dir).filter((name) => name.startsWith('segment_'))) writeFileSync(join(crashed, name), readFileSync(join(dir, name)))
    log.close()
    const firstNew = join(crashed, made[0]!.file)
    const bytes = readFileSync(firstNew)
    bytes.fill(0, 0, 4096)
    writeFileSync(firstNew, bytes)
    const again = open(crashed)
    expect(again.recovery.removedSegments).toEqual(made.slice(1).map((segment) => segment.file).reverse())
    expect(again.recovery.reinitializedSegments).toEqual([made[0]!.file])
    // Everything before the unwritten header stays (its pages were written back here), byte for byte.
    const kept = made[0]!.baseIndex - 1
    expect(kept).toBeGreaterThanOrEqual(acknowledged)
    expect([again.lastIndex, again.lastTerm]).toEqual([kept, 3])
    expect(again.slice(1).map((entry) => entry.data)).toEqual(Array.from({ length: kept }, (_, i) => payloadFor(i + 1, 3)))
    again.close()
  })

  it('a zero header before a sealed segment is damage, not a crash: ERR_CORRUPT, nothing deleted', async () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 400, 3)
    await log.flush() // every full segment sealed, every header durable
    const segments = log.describeSegments()
    expect(segments.length).toBeGreaterThanOrEqual(3)
    log.close()
    const middle = join(dir, segments[1]!.file)
    const bytes = readFileSync(middle)
    bytes.fill(0, 0, headerSizeBytes)
    writeFileSync(middle, bytes)
    expectCode(() => open(dir), 'ERR_CORRUPT', segments[1]!.file)
    expect(readdirSync(dir).filter((name) => name.startsWith('segment_')).sort()).toEqual(segments.map((segment) => segment.file).sort())
  })

  it('a last segment with a bad header but valid frames behind it is reported, not wiped', () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 10, 1)
    log.close()
    const path = join(dir, segmentFileName(1))
    const bytes = readFileSync(path)
    bytes[10] = bytes[10]! ^ 0x55
    writeFileSync(path, bytes)
    expectCode(() => open(dir), 'ERR_CORRUPT', /header checksum mismatch/)
    expect(readFileSync(path).subarray(64)).toEqual(bytes.subarray(64))
  })

  it('a segment of another format version is ERR_UNSUPPORTED_VERSION', () => {
    const dir = tempDir()
    open(dir).close()
    const path = join(dir, segmentFileName(1))
    const bytes = readFileSync(path)
    // A well-formed header of version 3: magic and CRC right, version unknown.
    bytes.writeUInt32LE(3, 4)
    bytes.writeUInt32LE(crc32(Buffer.concat([bytes.subarray(0, 52), bytes.subarray(56, 64)])), 52)
    writeFileSync(path, bytes)
    expectCode(() => open(dir), 'ERR_UNSUPPORTED_VERSION', /segment_00000000000000000001\.log/)
  })

  it('a second open of the same directory is ERR_LOCKED until the first closes', () => {
    const dir = tempDir()
    const log = open(dir)
    expectCode(() => open(dir), 'ERR_LOCKED', new RegExp(dir))
    log.close()
    open(dir).close()
  })

  it('the next segment is made ready on the thread pool and taken by the rotation', async () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 60, 1) // past half of the first 8 KiB segment
    expect(log.describeSegments().length).toBe(1)
    const spareName = (): string | undefined => readdirSync(dir).find((name) => /^next-segment-[0-9a-f]{12}\.tmp$/.test(name))
    // Made on the thread pool: wait until it has its full size, then for the news to come back.
    const full = (): boolean => spareName() !== undefined && statSync(join(dir, spareName()!)).size === segmentSize
    for (let i = 0; i < 400 && !full(); i++) await new Promise((resolve) => setTimeout(resolve, 5))
    const spare = join(dir, spareName()!)
    expect(statSync(spare).size).toBe(segmentSize)
    await new Promise((resolve) => setTimeout(resolve, 100))
    const spareBytes = readFileSync(spare)
    expect(spareBytes.every((byte) => byte === 0)).toBe(true)
    const spareInode = statSync(spare).ino
    fill(log, 100, 1) // rotates into the spare
    expect(log.describeSegments().length).toBe(2)
    expect(statSync(join(dir, log.describeSegments()[1]!.file)).ino).toBe(spareInode)
    expect(log.slice(1).map((e) => e.data)).toEqual(Array.from({ length: 160 }, (_, i) => payloadFor(i + 1, 1)))
    // The rotation started the next spare at once; a ready spare is removed by close() itself
    // (one still being made, once its making ends: spare-file.test.ts).
    await log.reserveNextSegment()
    expect(spareName()).toBeDefined()
    log.close()
    expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([])
    // Spares a crash left, under this version's names and the one before.
    writeFileSync(spare, 'left by a crash')
    writeFileSync(join(dir, 'next-segment.tmp'), 'left by a crash')
    open(dir).close()
    expect(readdirSync(dir).filter((name) => name.startsWith('next-segment'))).toEqual([])
  })

  it('leftover temporary segment files are removed on open', () => {
    const dir = tempDir()
    open(dir).close()
    writeFileSync(join(dir, `${segmentFileName(77)}.tmp`), 'half made')
    open(dir).close()
    expect(existsSync(join(dir, `${segmentFileName(77)}.tmp`))).toBe(false)
  })
})

describe('RaftLog refuses bad input without writing anything', () => {
  const badIndexes: unknown[] = [-1, 1.5, Number.NaN, Infinity, '3', null, undefined, 2 ** 53, 10n]

  it.each(badIndexes)('get(%s) is ERR_BAD_ARGUMENT', (value) => {
    const log = open(tempDir())
    expectCode(() => log.get(value as number), 'ERR_BAD_ARGUMENT', /RaftLog.get: index/)
    log.close()
  })

  it.each(badIndexes.filter((v) => v !== undefined))('truncateAfter, compact, termAt, slice and reset refuse %s', (value) => {
    const log = open(tempDir())
    fill(log, 5, 1)
    expectCode(() => log.truncateAfter(value as number), 'ERR_BAD_ARGUMENT', /index/)
    expectCode(() => log.compact(value as number), 'ERR_BAD_ARGUMENT', /upTo/)
    expectCode(() => log.termAt(value as number), 'ERR_BAD_ARGUMENT', /index/)
    expectCode(() => log.slice(value as number), 'ERR_BAD_ARGUMENT', /from/)
    expectCode(() => log.reset(value as number, 1), 'ERR_BAD_ARGUMENT', /nextIndex/)
    expectCode(() => log.reset(10, value as number), 'ERR_BAD_ARGUMENT', /prevTerm/)
    expect(log.lastIndex).toBe(5)
    log.close()
  })

  it('append refuses bad terms, types and data, and writes nothing of the batch', () => {
    const dir = tempDir()
    const log = open(dir)
    fill(log, 3, 5)
    const bad: [unknown, string, RegExp][] = [
      [[{ term: 4 }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.term 4 is lower than the term before it \(5\)/],
      [[{ term: 5 }, { term: -1 }], 'ERR_BAD_ARGUMENT', /entries\[1\]\.term/],
      [[{ term: 6 }, { term: 5 }], 'ERR_BAD_ARGUMENT', /entries\[1\]\.term 5 is lower/],
      [[{ term: 1.5 }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.term/],
      [[{ term: Number.NaN }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.term/],
      [[{ term: 5, data: 'text' }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.data must be a Uint8Array/],
      [[{ term: 5, data: [1, 2] }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.data/],
      [[{ term: 5, type: 9 }], 'ERR_BAD_ARGUMENT', /entries\[0\]\.type/],
      [[null], 'ERR_BAD_ARGUMENT', /entries\[0\]/],
      [{ term: 5 }, 'ERR_BAD_ARGUMENT', /entries must be an array/],
    ]
    for (const [entries, code, message] of bad) {
      expectCode(() => log.append(entries as never), code, message)
      expect(log.lastIndex).toBe(3)
    }
    expectCode(() => log.append([{ term: 5 }, { term: 5, data: { length: 2 ** 30 } as never }]), 'ERR_BAD_ARGUMENT')
    expect(log.lastIndex).toBe(3)
    log.close()
  })

  it('an entry above the size limit is ERR_ENTRY_TOO_LARGE', () => {
    const log = open(tempDir())
    expectCode(() => log.append([{ term: 1, data: new Uint8Array(256 * 1024 * 1024 + 1) }]), 'ERR_ENTRY_TOO_LARGE', /limit/)
    expect(log.lastIndex).toBe(0)
    log.close()
  })

  it('out-of-range reads and truncations are ERR_OUT_OF_RANGE', () => {
    const log = open(tempDir())
    fill(log, 5, 1)
    expectCode(() => log.slice(3, 9), 'ERR_OUT_OF_RANGE', /past the end/)
    expectCode(() => log.slice(4, 2), 'ERR_OUT_OF_RANGE', /after/)
    // Said as the caller asked it: no `to` was given, and index 0 was never an entry.
    expectCode(() => log.slice(10), 'ERR_OUT_OF_RANGE', /^RaftLog.slice: from 10 is past the end of the log \(lastIndex 5\)$/)
    expectCode(() => log.get(0), 'ERR_OUT_OF_RANGE', /^RaftLog.get: index 0 is no entry: indexes start at 1: the log now starts at 1$/)
    log.reset(10, 1)
    expectCode(() => log.truncateAfter(3), 'ERR_OUT_OF_RANGE', /before the log/)
    expectCode(() => log.get(9), 'ERR_OUT_OF_RANGE', /compacted/)
    log.close()
  })

  it('every call after close is ERR_CLOSED', async () => {
    const log = open(tempDir())
    log.close()
    log.close() // idempotent
    for (const call of [
      () => log.firstIndex,
      () => log.lastIndex,
      () => log.lastTerm,
      () => log.append([{ term: 1 }]),
      () => log.get(1),
      () => log.slice(1),
      () => log.termAt(1),
      () => log.truncateAfter(0),
      () => log.compact(0),
      () => log.reset(1, 0),
      () => log.flushSync(),
    ]) {
      expectCode(call, 'ERR_CLOSED', /closed/)
    }
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  it('bad options and directories are refused with the argument named', () => {
    expectCode(() => RaftLog.open(tempDir(), { segmentSize: 1000 }), 'ERR_BAD_ARGUMENT', /segmentSize must be a multiple of the page size/)
    expectCode(() => RaftLog.open(tempDir(), { segmentSize: -4096 }), 'ERR_BAD_ARGUMENT', /segmentSize/)
    expectCode(() => RaftLog.open('' as string), 'ERR_BAD_ARGUMENT', /dir/)
    const file = join(tempDir(), 'plain-file')
    writeFileSync(file, 'x')
    expectCode(() => RaftLog.open(file), 'EEXIST', /plain-file/)
  })
})

describe('RaftLog flush', () => {
  it('concurrent flushes share syncs and all resolve', async () => {
    const log = open(tempDir())
    const flushes: Promise<void>[] = []
    for (let i = 0; i < 20; i++) {
      fill(log, 30, 1)
      flushes.push(log.flush())
    }
    await Promise.all(flushes)
    expect(log.describeSegments().slice(0, -1).every((s) => s.sealed)).toBe(true)
    log.close()
  })

  it('a truncation while a flush is in flight does not seal a reopened segment', async () => {
    const dir = tempDir()
    const log = open(dir)
    for (let term = 1; term <= 4; term++) fill(log, 60, term)
    const pending = log.flush()
    log.truncateAfter(30)
    fill(log, 10, 9)
    await pending
    await log.flush()
    log.close()
    const again = open(dir)
    expect([again.lastIndex, again.lastTerm]).toEqual([40, 9])
    expect(again.slice(1).map((e) => e.data)).toEqual(
      Array.from({ length: 40 }, (_, i) => payloadFor(i + 1, i < 30 ? 1 : 9)),
    )
    again.close()
  })
})
