// Lost writes: after flush() of index N, the bytes after the flushed frames are lost as a power
// failure can lose them (each 512-byte sector past the boundary is the new data or zeros, pages
// written back in any order). Reopening must give the flushed entries, or more that are each
// byte-exact, never garbage and never an error: a crash is not damage.
import { describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/index.js'
import { lossPatterns, simulatePowerLoss } from '../../src/testing/crash/power-loss.js'
import { prng } from '../../src/testing/crash/payload.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 65536

function open(dir: string): RaftLog {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger })
}

/** Entries after 40 are large, so that the unflushed ones span sectors and can be torn. */
function dataFor(index: number, term: number): Uint8Array {
  return index > 40 ? payloadFor(index, term, 700) : payloadFor(index, term)
}

/** Writes 40 flushed entries, then 20 more that are never flushed; returns the boundary. */
async function logWithUnflushedTail(dir: string): Promise<{ file: string; bytes: number }> {
  const log = open(dir)
  log.append(Array.from({ length: 40 }, (_, i) => ({ term: 1 + (i >> 4), data: dataFor(i + 1, 1 + (i >> 4)) })))
  await log.flush()
  const tail = log.describeSegments().at(-1)!
  log.append(Array.from({ length: 20 }, (_, i) => ({ term: 4, data: dataFor(41 + i, 4) })))
  log.close() // the page cache keeps these; the loss below plays the power failure
  return { file: tail.file, bytes: tail.usedBytes }
}

function expectFlushedPrefix(dir: string, atLeast: number): RaftLog {
  const log = open(dir)
  expect(log.lastIndex).toBeGreaterThanOrEqual(atLeast)
  for (const entry of log.slice(1)) expect(entry.data).toEqual(dataFor(entry.index, entry.term))
  return log
}

describe('lost writes after a flush', () => {
  it('nothing after the flushed frames reached the disk: exactly the flushed entries come back', async () => {
    const dir = tempDir()
    const boundary = await logWithUnflushedTail(dir)
    simulatePowerLoss(dir, boundary, 'zeros', prng(7))
    const log = expectFlushedPrefix(dir, 40)
    expect([log.lastIndex, log.recovery.cutBytes]).toEqual([40, 0])
    log.close()
  })

  it.each(lossPatterns)('%s: a byte-exact prefix of at least the flushed entries, and the cut bytes are zeroed', async (pattern) => {
    for (let seed = 1; seed <= 12; seed++) {
      const dir = tempDir()
      const boundary = await logWithUnflushedTail(dir)
      simulatePowerLoss(dir, boundary, pattern, prng(seed))
      const log = expectFlushedPrefix(dir, 40)
      const last = log.lastIndex
      // The cut-off bytes were zeroed: a later append can never run into them.
      log.append([{ term: 9, data: dataFor(last + 1, 9) }])
      log.close()
      const again = open(dir)
      expect([again.lastIndex, again.recovery.cutBytes], `${pattern}, seed ${seed}`).toEqual([last + 1, 0])
      again.close()
    }
  })

  it('a stale frame of an older term behind a newer one is damage, not a crash: ERR_CORRUPT, nothing changed', async () => {
    const dir = tempDir()
    const log = open(dir)
    log.append(Array.from({ length: 10 }, (_, i) => ({ term: 1, data: payloadFor(i + 1, 1) })))
    await log.flush()
    const path = join(dir, log.describeSegments()[0]!.file)
    const before = readFileSync(path)
    log.truncateAfter(5)
    log.append([{ term: 2, data: payloadFor(6, 2) }])
    await log.flush()
    log.close()
    // Put the old frame of index 7 (term 1) back behind the new index 6. truncateAfter zeroed and
    // synced it before returning, so no crash can bring it back: its index fits, its term does not.
    const after = readFileSync(path)
    const frameBytes = (index: number, term: number): number => 32 + Math.ceil(payloadFor(index, term).length / 8) * 8
    const oldOffset7 = 64 + [1, 2, 3, 4, 5, 6].reduce((sum, i) => sum + frameBytes(i, 1), 0)
    const newEnd = 64 + [1, 2, 3, 4, 5].reduce((sum, i) => sum + frameBytes(i, 1), 0) + frameBytes(6, 2)
    before.copy(after, newEnd, oldOffset7, oldOffset7 + frameBytes(7, 1))
    writeFileSync(path, after)
    const hash = (): string => createHash('sha256').update(readFileSync(path)).digest('hex')
    const unchanged = hash()
    expect(() => open(dir)).toThrow(
      expect.objectContaining({ code: 'ERR_CORRUPT', message: expect.stringMatching(new RegExp(`at byte ${newEnd} \\(index 7\\): term 1 is lower than the term before it \\(2\\)`)) }),
    )
    expect(hash()).toBe(unchanged)
    expect(readdirSync(dir).filter((name) => name.startsWith('segment_'))).toEqual(['segment_00000000000000000001.log'])
  })
})
