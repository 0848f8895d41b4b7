// Segments are zero-filled when they are made, so every block an append writes into was written
// before: fdatasync then writes data only, where a block reserved with posix_fallocate is
// "unwritten" to ext4 and its first write costs the flush a journal commit. A log written
// without flushes, or flushed in large batches, gets its spares only reserved: the zeros would
// cost more than the flushes gain. Checked with filefrag (e2fsprogs), which lists the file's
// extents and flags unwritten ones.
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

/** filefrag's extent lines for a file, and how many of them are unwritten. */
function extents(path: string): { all: number; unwritten: number } {
  const lines = execFileSync('filefrag', ['-v', path], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => /^\s*\d+:/.test(line))
  return { all: lines.length, unwritten: lines.filter((line) => line.includes('unwritten')).length }
}

/** The spare segment file of the log in `dir`, once it is made whole (its extents listed), a moment given for its last writes. */
async function spareOf(dir: string): Promise<string> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const name = readdirSync(dir).find((file) => file.startsWith('next-segment-'))
    if (name !== undefined && extents(join(dir, name)).all > 0) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      return join(dir, name)
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error('no spare segment was made')
}

describe('segment files', () => {
  it('are made with every block written: the first segment, and the spare made ready for a rotation', async () => {
    const dir = tempDir()
    const segmentSize = 4 * 2 ** 20
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    const first = join(dir, log.describeSegments()[0]!.file)
    expect(extents(first)).toMatchObject({ unwritten: 0 })
    expect(extents(first).all).toBeGreaterThan(0)
    // A log flushed after each small append (a Raft node flushes every turn); past half of the
    // open segment, the spare is made on the thread pool.
    while (log.describeSegments()[0]!.usedBytes * 2 <= segmentSize) {
      log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, 4000) }])
      log.flushSync()
    }
    const spare = await spareOf(dir)
    expect(extents(spare)).toMatchObject({ unwritten: 0 })
    // The rotation renames it in: the next segment's blocks were all written before.
    while (log.describeSegments().length < 2) {
      log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, 4000) }])
      log.flushSync()
    }
    expect(extents(join(dir, log.describeSegments()[1]!.file))).toMatchObject({ unwritten: 0 })
    log.close()
  })

  it('a log written without flushes, or flushed in large batches, gets its spares only reserved: zeros would double the bytes sent to the device', async () => {
    const dir = tempDir()
    const segmentSize = 4 * 2 ** 20
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    const entry = (): { term: number; data: Uint8Array } => ({ term: 1, data: payloadFor(log.lastIndex + 1, 1, 4000) })
    const appendUntil = (segments: number, flushEvery: number): void => {
      for (let appended = 1; log.describeSegments().length < segments; appended++) {
        log.append([entry()])
        if (flushEvery > 0 && appended % flushEvery === 0) log.flushSync()
      }
    }
    // No flush: the first spare (made once the open segment is half full) is only reserved.
    while (log.describeSegments()[0]!.usedBytes * 2 <= segmentSize) log.append([entry()])
    const spare = await spareOf(dir)
    expect(extents(spare).unwritten).toBe(extents(spare).all)
    // Rotated into, and still no flush: the next spare is reserved too.
    appendUntil(2, 0)
    const next = await spareOf(dir)
    expect(extents(next).unwritten).toBe(extents(next).all)
    // Small flushes (a 4000-byte entry each) while the segment fills: the next spare is zero-filled.
    appendUntil(3, 1)
    const written = await spareOf(dir)
    expect(extents(written)).toMatchObject({ unwritten: 0 })
    // Large flushes (about 1 MiB each, past smallFlushBytes): a flush into written blocks saves
    // them little, and the zeros would double what they send: reserved again.
    appendUntil(4, 256)
    const large = await spareOf(dir)
    expect(extents(large).unwritten).toBe(extents(large).all)
    log.close()
  })

  it('a flush of one small entry writes a page or two, not the megabyte of zeros around it', () => {
    // The page cache keeps the folio size of the write that brought a page in: zeros written a
    // MiB at a time would make every small pwrite dirty, and fdatasync write, the whole MiB.
    const writeBytes = (): number => Number(/^write_bytes: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1])
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 2 ** 20, logger: silentLogger })
    log.flushSync()
    for (let round = 0; round < 5; round++) {
      const before = writeBytes()
      log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, 100) }])
      log.flushSync()
      expect(writeBytes() - before).toBeLessThanOrEqual(2 * 4096)
    }
    log.close()
  })
})
