// The log after a full disk refused it room: an append or a reset that fails with ENOSPC leaves
// the log as it was, in memory and on disk (nothing of the call readable, nothing after a reopen,
// the in-memory last index never ahead of the file), and the same call succeeds once there is
// room. The disk here is a switch: while it is full, making a new file's blocks fails as
// posix_fallocate or a write of zeros would (ENOSPC); files that already have their blocks (open
// segments, a spare made before) take writes as a real disk's preallocated blocks do.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { existsSync, statSync } from 'node:fs'
import type { RaftLog as RaftLogType } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const disk = { full: false }

function noSpace(path: string): Error {
  return Object.assign(new Error(`ENOSPC: no space left on device, fallocate '${path}'`), { code: 'ENOSPC', syscall: 'fallocate', path })
}

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<typeof import('../../src/storage/native.js')>()
  return {
    ...native,
    mapFile(path: string, sizeBytes: number): ArrayBuffer {
      // A file that already has its blocks maps as before; a new or growing one needs room.
      const has = existsSync(path) && statSync(path).size >= sizeBytes
      if (disk.full && !has) throw noSpace(path)
      return native.mapFile(path, sizeBytes)
    },
    allocateFileAsync(path: string, sizeBytes: number, written?: boolean): Promise<void> {
      if (disk.full) return Promise.reject(noSpace(path))
      return native.allocateFileAsync(path, sizeBytes, written)
    },
  }
})

const { RaftLog } = await import('../../src/storage/raft-log.js')
const { Segment } = await import('../../src/storage/segment.js')

// Segment.create writes the new file's zeros with node:fs: a full disk fails that write.
const realCreate = Segment.create.bind(Segment)
vi.spyOn(Segment, 'create').mockImplementation((dir, baseIndex, prevTerm, sizeBytes, flags, beforeRename) => {
  if (disk.full) throw Object.assign(new Error(`Cannot create segment: ENOSPC: no space left on device, write`), { code: 'ENOSPC' })
  return realCreate(dir, baseIndex, prevTerm, sizeBytes, flags, beforeRename)
})

afterEach(() => {
  disk.full = false
})

const segmentSize = 64 * 1024

function open(dir: string): RaftLogType {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger })
}

function entry(index: number, length = 1000): { term: number; data: Uint8Array } {
  return { term: 1, data: payloadFor(index, 1, length) }
}

/** Every entry from 1 to `last` reads back as appended, and nothing after it. */
function expectEntries(log: RaftLogType, last: number): void {
  expect(log.lastIndex).toBe(last)
  expect(log.get(last + 1)).toBeUndefined()
  for (const read of log.slice(1)) expect(Buffer.from(read.data).equals(Buffer.from(payloadFor(read.index, 1, read.data.length))), `index ${read.index}`).toBe(true)
}

/** Appends one entry at a time until the disk refuses one; returns the last index appended and the error. */
function appendUntilRefused(log: RaftLogType): { last: number; error: { code?: string; message: string } } {
  for (let i = 0; i < 10_000; i++) {
    const last = log.lastIndex
    try {
      log.append([entry(last + 1)])
    } catch (error) {
      return { last, error: error as { code?: string; message: string } }
    }
  }
  throw new Error('the disk never refused an append')
}

describe('a log on a full disk', () => {
  it('an append the disk has no room for throws ENOSPC and leaves the log as it was, in memory and after a reopen; it succeeds once there is room', async () => {
    const dir = tempDir()
    const log = open(dir)
    log.append(Array.from({ length: 20 }, (_, i) => entry(i + 1)))
    await log.flush()
    disk.full = true
    // What fits in the open segment (and a spare made before the disk filled) still goes in.
    const { last, error } = appendUntilRefused(log)
    expect(error.code).toBe('ENOSPC')
    expect(error.message).toMatch(/no space left/)
    expect(last).toBeGreaterThan(20)
    expectEntries(log, last)
    // The refused call left nothing behind for a flush to make durable.
    await log.flush()
    log.close()
    const reopened = open(dir)
    expectEntries(reopened, last)
    // Still full: refused again, the same way; then room returns and the same append goes in.
    expect(() => reopened.append([entry(last + 1)])).toThrow(expect.objectContaining({ code: 'ENOSPC' }))
    expect(reopened.lastIndex).toBe(last)
    disk.full = false
    expect(reopened.append([entry(last + 1)])).toBe(last + 1)
    await reopened.flush()
    reopened.close()
    const again = open(dir)
    expectEntries(again, last + 1)
    again.close()
  })

  it('a batch whose later entries need a segment the disk has no room for is taken back whole: none of it is readable, flushed or recovered', async () => {
    const dir = tempDir()
    const log = open(dir)
    disk.full = true
    const { last } = appendUntilRefused(log)
    // Small entries that fit the open segment, then one that needs a new segment.
    const batch = [entry(last + 1, 8), entry(last + 2, 8), entry(last + 3, segmentSize / 2)]
    expect(() => log.append(batch)).toThrow(expect.objectContaining({ code: 'ENOSPC' }))
    expectEntries(log, last)
    const statsBefore = { ...log.stats }
    await log.flush()
    log.close()
    const reopened = open(dir)
    expectEntries(reopened, last)
    disk.full = false
    expect(reopened.append(batch)).toBe(last + 3)
    expectEntries(reopened, last + 3)
    expect(statsBefore.entriesAppended).toBe(last)
    reopened.close()
  })

  it('reset() the disk has no room for changes nothing: the log keeps every segment and entry, in memory and on disk', async () => {
    const dir = tempDir()
    const log = open(dir)
    // Three segments' worth.
    log.append(Array.from({ length: 150 }, (_, i) => entry(i + 1)))
    await log.flush()
    const segments = log.describeSegments().map((segment) => segment.file)
    expect(segments.length).toBeGreaterThan(2)
    disk.full = true
    // A snapshot at an index inside the last segment: the reset would replace that segment's name.
    const tailBase = log.describeSegments().at(-1)!.baseIndex
    expect(() => log.reset(tailBase, 1)).toThrow(expect.objectContaining({ code: 'ENOSPC' }))
    expectEntries(log, 150)
    expect(log.describeSegments().map((segment) => segment.file)).toEqual(segments)
    // Not failed: the same log takes appends and, once there is room, the reset.
    disk.full = false
    log.append([entry(151)])
    await log.flush()
    log.close()
    const reopened = open(dir)
    expectEntries(reopened, 151)
    reopened.reset(tailBase, 1)
    expect(reopened.firstIndex).toBe(tailBase)
    expect(reopened.lastIndex).toBe(tailBase - 1)
    reopened.close()
  })

  it('reserveNextSegment() rejects with ENOSPC while the disk is full, resolves once there is room, and then a rotation needs none', async () => {
    const dir = tempDir()
    const log = open(dir)
    disk.full = true
    const { last } = appendUntilRefused(log)
    await expect(log.reserveNextSegment()).rejects.toMatchObject({ code: 'ENOSPC' })
    disk.full = false
    await log.reserveNextSegment()
    // Full again, but the next segment's blocks are held: the refused append now goes in.
    disk.full = true
    expect(log.append([entry(last + 1)])).toBe(last + 1)
    await log.flush()
    log.close()
    disk.full = false
    const reopened = open(dir)
    expectEntries(reopened, last + 1)
    reopened.close()
  })

  it('usedBytes counts the frames the log holds and drops when compaction removes segments', async () => {
    const log = open(tempDir())
    const empty = log.usedBytes
    log.append(Array.from({ length: 150 }, (_, i) => entry(i + 1)))
    await log.flush()
    const full = log.usedBytes
    // 150 frames of 32 bytes of header and 1000 of data (rounded up to 8), plus segment headers.
    expect(full - empty).toBeGreaterThanOrEqual(150 * 1032)
    log.compact(120)
    expect(log.usedBytes).toBeLessThan(full)
    log.close()
  })
})
