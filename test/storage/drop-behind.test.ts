// A log is written once and seldom read again, so once a segment is sealed, the one sealed two
// before it leaves the page cache (PostgreSQL does the same with each WAL segment it closes): the
// next writes reuse pages just freed. Measured with fincore (util-linux), which counts a file's
// cached pages. The two newest sealed segments and the open one stay cached, and a dropped segment
// still reads back exactly. Compaction deletes a dropped file instead of recycling it: recycling
// reads the file whole.
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const fincorePath = '/usr/bin/fincore'

/** Bytes of the file that are in the page cache. */
function cachedBytes(path: string): number {
  if (!existsSync(fincorePath)) throw new Error(`${fincorePath} is missing: install Debian's util-linux-extra (apt-get install -y util-linux-extra), as .ci/run does`)
  return Number(execFileSync(fincorePath, ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' }).trim())
}

/** Polls until `check` holds (the drop runs on the thread pool), or gives up after 5 s. */
async function eventually(check: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 250 && !check(); attempt++) await new Promise((resolve) => setTimeout(resolve, 20))
}

const segmentSize = 4 * 2 ** 20
const entryBytes = 16 * 1024

/** Appends and flushes 16 KiB entries until the log has `count` segments. */
async function fillSegments(log: RaftLog, count: number, flush: 'flush' | 'flushSync'): Promise<void> {
  while (log.describeSegments().length < count) {
    log.append(Array.from({ length: 8 }, (_, i) => ({ term: 1, data: payloadFor(log.lastIndex + 1 + i, 1, entryBytes) })))
    if (flush === 'flush') await log.flush()
    else log.flushSync()
  }
  // The flush after the rotation seals the segment it left.
  log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, entryBytes) }])
  if (flush === 'flush') await log.flush()
  else log.flushSync()
}

describe('sealed segments leave the page cache', () => {
  for (const flush of ['flush', 'flushSync'] as const) {
    it(`keeps the two newest sealed segments and the open one cached, and drops the older ones (${flush})`, async () => {
      const dir = tempDir()
      const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
      // Read through the mapping before the drop: those pages are mapped, and go too.
      log.append([{ term: 1, data: payloadFor(1, 1, entryBytes) }])
      log.flushSync()
      expect(log.get(1)!.data).toHaveLength(entryBytes)
      await fillSegments(log, 5, flush)
      const files = log.describeSegments().map((segment) => join(dir, segment.file))
      expect(log.describeSegments().map((segment) => segment.sealed)).toEqual([true, true, true, true, false])
      await eventually(() => cachedBytes(files[0]!) === 0 && cachedBytes(files[1]!) === 0)
      expect(cachedBytes(files[0]!)).toBe(0)
      expect(cachedBytes(files[1]!)).toBe(0)
      expect(cachedBytes(files[2]!)).toBeGreaterThan(segmentSize / 2)
      expect(cachedBytes(files[3]!)).toBeGreaterThan(segmentSize / 2)
      expect(cachedBytes(files[4]!)).toBeGreaterThan(0)
      // Read back from the device, exactly.
      for (let index = 1; index <= log.lastIndex; index += 37) {
        expect(Buffer.from(log.get(index)!.data).equals(Buffer.from(payloadFor(index, 1, entryBytes)))).toBe(true)
      }
      log.close()
      const reopened = RaftLog.open(dir, { segmentSize, logger: silentLogger })
      expect(reopened.lastIndex).toBeGreaterThan(4 * (segmentSize / entryBytes) * 0.9)
      expect(Buffer.from(reopened.get(2)!.data).equals(Buffer.from(payloadFor(2, 1, entryBytes)))).toBe(true)
      reopened.close()
    })
  }

  it('drops a segment again once a truncation reopened it and it was sealed anew', async () => {
    const dir = tempDir()
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    await fillSegments(log, 5, 'flush')
    const first = log.describeSegments()[0]!
    log.truncateAfter(first.baseIndex + 10)
    expect(log.describeSegments()).toHaveLength(1)
    await fillSegments(log, 5, 'flush')
    const files = log.describeSegments().map((segment) => join(dir, segment.file))
    await eventually(() => cachedBytes(files[0]!) === 0 && cachedBytes(files[1]!) === 0)
    expect(files.map(cachedBytes).map((bytes) => bytes > 0)).toEqual([false, false, true, true, true])
    for (let index = first.baseIndex; index <= log.lastIndex; index += 41) {
      expect(Buffer.from(log.get(index)!.data).equals(Buffer.from(payloadFor(index, 1, entryBytes)))).toBe(true)
    }
    log.close()
  })

  it('drops the sealed segments a restart found cached, once the next segment is sealed', async () => {
    const dir = tempDir()
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    await fillSegments(log, 5, 'flush')
    log.close()
    // Read every file whole: all cached again, as after a restart that read them.
    for (const name of readdirSync(dir).filter((file) => file.startsWith('segment_'))) readFileSync(join(dir, name))
    const reopened = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    await fillSegments(reopened, 7, 'flush')
    const files = reopened.describeSegments().map((segment) => join(dir, segment.file))
    await eventually(() => files.slice(0, 4).every((file) => cachedBytes(file) === 0))
    expect(files.map(cachedBytes).map((bytes) => bytes > 0)).toEqual([false, false, false, false, true, true, true])
    reopened.close()
  })

  it('deletes a dropped segment that compaction frees, and recycles a cached one', async () => {
    const dir = tempDir()
    const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
    await fillSegments(log, 5, 'flush')
    const [oldest, second, cached] = log.describeSegments()
    // The two oldest segments' pages are gone: compaction deletes them. The third's are cached: kept for reuse.
    log.compact(cached!.baseIndex + cached!.entryCount - 1)
    await log.recyclingSettled()
    const names = readdirSync(dir)
    expect(names).not.toContain(oldest!.file)
    expect(names).not.toContain(second!.file)
    expect(names.filter((name) => name.startsWith('recycled-'))).toHaveLength(1)
    // The next rotation takes the recycled file.
    const recycledBefore = log.stats.segmentsRecycled
    await fillSegments(log, 4, 'flush')
    expect(log.stats.segmentsRecycled).toBe(recycledBefore + 1)
    log.close()
  })
})
