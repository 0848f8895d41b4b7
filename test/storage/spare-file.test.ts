// The next segment's file is made on the thread pool (prepareSpare). A log closed while that is
// still running must not leave the file behind, nor touch the spare of a log opened after it on
// the same directory in the same process (a node restarting). The preallocation is held here
// until the test lets it run, so the order of events is the test's, not the thread pool's.
import { describe, expect, it, vi } from 'vitest'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { RaftLog as RaftLogType } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

/** Preallocations asked for and not yet run: run() makes the file, then settles the promise. */
const held: { path: string; run: () => Promise<void> }[] = []

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<typeof import('../../src/storage/native.js')>()
  return {
    ...native,
    allocateFileAsync: (path: string, sizeBytes: number) =>
      new Promise<void>((resolve, reject) => {
        held.push({
          path,
          run: async () => {
            await native.allocateFileAsync(path, sizeBytes).then(resolve, reject)
            // Let the log's completion handler run before the test looks.
            await new Promise((settled) => setImmediate(settled))
          },
        })
      }),
  }
})

const { RaftLog } = await import('../../src/storage/raft-log.js')

const segmentSize = 1024 * 1024

function open(dir: string): RaftLogType {
  return RaftLog.open(dir, { segmentSize, logger: silentLogger })
}

/** Appends `count` entries of 1000 bytes: 600 take the first segment past half, which starts making the spare. */
function append(log: RaftLogType, count: number): void {
  const start = log.lastIndex + 1
  log.append(Array.from({ length: count }, (_, i) => ({ term: 1, data: payloadFor(start + i, 1, 1000) })))
}

function spares(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('next-segment'))
}

describe('the spare segment file', () => {
  it('close() while the spare is still being made leaves no file behind once the making ends', async () => {
    const dir = tempDir()
    const log = open(dir)
    append(log, 600)
    expect(held).toHaveLength(1)
    log.close()
    await held.shift()!.run()
    expect(spares(dir)).toEqual([])
  })

  it('a late preallocation of a closed log does not disturb the spare of the log reopened after it', async () => {
    const dir = tempDir()
    const first = open(dir)
    append(first, 600)
    first.close()
    const second = open(dir)
    append(second, 1)
    expect(held).toHaveLength(2)
    const [late, current] = held.splice(0)
    await current!.run()
    const [spare] = spares(dir)
    const spareInode = statSync(join(dir, spare!)).ino
    // The closed log's preallocation finishes only now, after the new log's spare is ready.
    await late!.run()
    expect(spares(dir)).toEqual([spare])
    expect(statSync(join(dir, spare!)).size).toBe(segmentSize)
    // The rotation takes it, whole.
    append(second, 500)
    const segments = second.describeSegments()
    expect(segments).toHaveLength(2)
    expect(statSync(join(dir, segments[1]!.file)).ino).toBe(spareInode)
    second.close()
    expect(spares(dir)).toEqual([])
    const again = open(dir)
    expect(again.lastIndex).toBe(1101)
    expect(again.get(1101)!.data).toEqual(payloadFor(1101, 1, 1000))
    again.close()
    for (const left of held.splice(0)) await left.run()
    expect(spares(dir)).toEqual([])
  })

  it('a log that has filled a segment starts the next spare at its rotation, not when the new tail is half full', async () => {
    const dir = tempDir()
    const log = open(dir)
    append(log, 600)
    expect(held).toHaveLength(1)
    await held.shift()!.run()
    // Into the spare, and 10 entries into the new tail: far from half of it.
    append(log, 500)
    const segments = log.describeSegments()
    expect(segments).toHaveLength(2)
    expect(segments[1]!.usedBytes * 2).toBeLessThan(segments[1]!.sizeBytes)
    // At a writer's full speed the paced zero-fill needs most of a segment's time.
    expect(held).toHaveLength(1)
    await held.shift()!.run()
    expect(spares(dir)).toHaveLength(1)
    log.close()
    expect(spares(dir)).toEqual([])
  })
})
