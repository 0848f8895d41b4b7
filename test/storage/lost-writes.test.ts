// Lost writes: after flush() of index N, the bytes after the flushed frames are overwritten as a
// power failure could leave them. Reopening must give exactly the flushed entries, or more that
// are each byte-exact, never garbage.
import { describe, expect, it } from 'vitest'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLog } from '../../src/index.js'
import { simulatePowerLoss, type LossPattern } from '../../src/cli/crash-test/power-loss.js'
import { prng } from '../../src/cli/crash-test/payload.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const segmentSize = 65536

function open(dir: string): RaftLog {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger })
}

/** Writes 40 flushed entries, then 20 more that are never flushed; returns the boundary. */
async function logWithUnflushedTail(dir: string): Promise<{ file: string; bytes: number }> {
  const log = open(dir)
  log.append(Array.from({ length: 40 }, (_, i) => ({ term: 1 + (i >> 4), data: payloadFor(i + 1, 1 + (i >> 4)) })))
  await log.flush()
  const tail = log.describeSegments().at(-1)!
  log.append(Array.from({ length: 20 }, (_, i) => ({ term: 4, data: payloadFor(41 + i, 4) })))
  log.close() // the page cache keeps these; the overwrite below plays the power failure
  return { file: tail.file, bytes: tail.usedBytes }
}

function expectFlushedPrefix(dir: string, atLeast: number): RaftLog {
  const log = open(dir)
  expect(log.lastIndex).toBeGreaterThanOrEqual(atLeast)
  for (const entry of log.slice(1)) {
    expect(entry.data).toEqual(payloadFor(entry.index, entry.term))
  }
  return log
}

describe('lost writes after a flush', () => {
  const patterns: [LossPattern, number][] = [
    ['zeros', 40],
    ['random-bytes', 40],
    ['half-frame', 40],
    ['stale-frame', 40],
  ]
  it.each(patterns)('%s after the flushed frames: exactly the flushed entries come back', async (pattern, expected) => {
    const dir = tempDir()
    const boundary = await logWithUnflushedTail(dir)
    simulatePowerLoss(dir, boundary, pattern, prng(7))
    const log = expectFlushedPrefix(dir, 40)
    expect(log.lastIndex).toBe(expected)
    // Zeros are what a fresh segment holds anyway; anything else was cut off and counted.
    if (pattern !== 'zeros') expect(log.recovery.cutBytes).toBeGreaterThan(0)
    // The cut-off bytes were zeroed: a later append can never run into them.
    log.append([{ term: 9, data: payloadFor(41, 9) }])
    log.close()
    const again = open(dir)
    expect(again.lastIndex).toBe(41)
    expect(again.recovery.cutBytes).toBe(0)
    again.close()
  })

  it('some pages written back and others lost: a byte-exact prefix, at least the flushed entries', async () => {
    for (let seed = 1; seed <= 8; seed++) {
      const dir = tempDir()
      const boundary = await logWithUnflushedTail(dir)
      simulatePowerLoss(dir, boundary, 'some-pages', prng(seed))
      expectFlushedPrefix(dir, 40).close()
    }
  })

  it('a stale frame with the right index from an older term is not taken for a new one', async () => {
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
    // Put the old frame of index 7 (term 1) back behind the new index 6: its index still fits
    // the position, but the frames before it changed, so it must not be read as entry 7.
    const after = readFileSync(path)
    const oldOffset7 = 64 + [1, 2, 3, 4, 5, 6].reduce((sum, i) => sum + 32 + Math.ceil(payloadFor(i, 1).length / 8) * 8, 0)
    const newEnd = 64 + [1, 2, 3, 4, 5].reduce((sum, i) => sum + 32 + Math.ceil(payloadFor(i, 1).length / 8) * 8, 0) + 32 + Math.ceil(payloadFor(6, 2).length / 8) * 8
    const frame7 = before.subarray(oldOffset7, oldOffset7 + 32 + Math.ceil(payloadFor(7, 1).length / 8) * 8)
    frame7.copy(after, newEnd)
    writeFileSync(path, after)
    const again = open(dir)
    // Index 7 in term 1 after index 6 in term 2 would break the log's order: a frame in an
    // older term than the one before it is a leftover, cut off like any other.
    expect(again.lastIndex).toBe(6)
    expect(again.recovery.cutFrames).toBe(1)
    again.close()
  })
})
