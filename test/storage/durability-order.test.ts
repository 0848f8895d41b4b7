// What reaches the disk before a call returns, seen at the addon's and the segment files'
// boundaries: every msync and directory fsync (with its range), every pwrite and fdatasync of a
// segment file, recorded in order; any of them can be made to fail once.
import { describe, expect, it, vi } from 'vitest'
import type { RaftLog as RaftLogType } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { recordingDataFileModule } from '../helpers/recording-data-file.js'
import { tempDir } from '../helpers/temp-dir.js'

interface Call {
  name: string
  file?: string
  offset?: number
  length?: number
}

const calls: Call[] = []
/** The next call of that name fails as a dying disk would. */
const failNext = new Set<string>()
const recorded = new Set(['syncRange', 'syncRangeAsync', 'fsyncDirectory', 'fsyncDirectoryAsync'])

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<Record<string, unknown>>()
  const wrapped: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(native)) {
    if (typeof value !== 'function' || !recorded.has(name)) {
      wrapped[name] = value
      continue
    }
    wrapped[name] = (...args: unknown[]) => {
      calls.push(name.startsWith('sync') ? { name, offset: args[1] as number, length: args[2] as number } : { name })
      if (failNext.delete(name)) {
        const error = Object.assign(new Error(`EIO: i/o error, ${name}`), { code: 'EIO' })
        if (name.endsWith('Async')) return Promise.reject(error)
        throw error
      }
      return (value as (...a: unknown[]) => unknown)(...args)
    }
  }
  return wrapped
})
vi.mock('../../src/storage/data-file.js', async (importOriginal) => recordingDataFileModule(await importOriginal(), calls, failNext))

const { RaftLog } = await import('../../src/storage/raft-log.js')
const { RaftStateFile } = await import('../../src/storage/raft-state-file.js')

const segmentSize = 65536

/** A log whose first segment is full and whose second was made by a rotation, nothing flushed since. */
async function rotatedLog(): Promise<{ log: RaftLogType; firstSegmentLast: number }> {
  const log = RaftLog.open(tempDir(), { segmentSize, logger: silentLogger })
  await log.flush()
  while (log.describeSegments().length < 2) log.append([{ term: log.lastIndex < 30 ? 1 : 3, data: payloadFor(log.lastIndex + 1, 1000) }])
  const [first] = log.describeSegments()
  return { log, firstSegmentLast: first!.baseIndex + first!.entryCount - 1 }
}

describe('durability order', () => {
  it('compact makes the new first segment\'s header durable before deleting what is below it', async () => {
    const { log, firstSegmentLast } = await rotatedLog()
    calls.length = 0
    log.compact(firstSegmentLast)
    // The header holds the term before the new first index. No directory fsync on the caller's
    // thread: it can wait 10-20 ms for the journal; the next flush makes the deletion durable.
    expect(calls).toEqual([{ name: 'syncRange', offset: 0, length: 64 }])
    expect(log.termAt(firstSegmentLast)).toBe(3)
    log.close()
  })

  it('the flush after a compact makes the deletion durable, on the thread pool', async () => {
    const { log, firstSegmentLast } = await rotatedLog()
    await log.flush()
    log.compact(firstSegmentLast)
    // The freed file is made ready for reuse with a directory fsync of its own, on the thread
    // pool: done before the count, which it joined whenever it finished during the flush.
    await log.recyclingSettled()
    calls.length = 0
    await log.flush()
    expect(calls.filter((call) => call.name.startsWith('fsyncDirectory'))).toEqual([{ name: 'fsyncDirectoryAsync' }])
    log.close()
  })

  it('flushSync while a flush() is in flight also syncs what that flush is still writing', async () => {
    const { log } = await rotatedLog()
    const inFlight = log.flush()
    log.append([{ term: 3, data: payloadFor(log.lastIndex + 1, 10) }])
    calls.length = 0
    log.flushSync()
    // The full first segment (being sealed by the flush in flight), the new one with its header
    // and the entry appended since, and the directory the rotation changed: all again, here.
    const [first, second] = log.describeSegments()
    const synced = calls.filter((call) => call.name === 'fdatasync').map((call) => call.file)
    expect(synced).toEqual([first!.file, second!.file])
    expect(calls.some((call) => call.name === 'write' && call.file === second!.file && call.offset! + call.length! === second!.usedBytes)).toBe(true)
    expect(calls.some((call) => call.name === 'fsyncDirectory')).toBe(true)
    expect(log.describeSegments()[0]!.sealed).toBe(true)
    await inFlight
    log.close()
  })

  it('an msync that finishes after a truncation does not vouch for what was appended since', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize, logger: silentLogger })
    await log.flush()
    for (let index = 1; index <= 20; index++) log.append([{ term: 1, data: payloadFor(index, 10) }])
    const inFlight = log.flush()
    log.truncateAfter(10)
    const cut = log.describeSegments()[0]!.usedBytes
    for (let index = 11; index <= 20; index++) log.append([{ term: 2, data: payloadFor(index, 20) }])
    await inFlight
    calls.length = 0
    log.flushSync()
    // The fdatasync that was in flight covered the old frames, not the new ones: they are written
    // (from the cut to the end) and synced again.
    expect(calls.map(({ name, offset, length }) => ({ name, offset, length }))).toEqual([
      { name: 'write', offset: cut, length: log.describeSegments()[0]!.usedBytes - cut },
      { name: 'fdatasync', offset: undefined, length: undefined },
    ])
    log.close()
  })

  it('a failed directory sync in truncateAfter fails the log with ERR_IO', async () => {
    const { log, firstSegmentLast } = await rotatedLog()
    await log.flush()
    failNext.add('fsyncDirectory')
    expect(() => log.truncateAfter(firstSegmentLast - 1)).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    expect(() => log.append([{ term: 3 }])).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    log.close()
  })

  it('a flush queued behind one that fails is not promised by close() when close cannot flush either', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize, logger: silentLogger })
    await log.flush()
    log.append([{ term: 1, data: payloadFor(1, 10) }])
    failNext.add('fdatasyncAsync')
    const failing = log.flush()
    log.append([{ term: 1, data: payloadFor(2, 10) }])
    const queued = log.flush()
    failNext.add('fdatasync')
    expect(() => log.close()).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    await expect(failing).rejects.toMatchObject({ code: 'ERR_IO' })
    await expect(queued).rejects.toMatchObject({ code: 'ERR_IO' })
  })

  it('opening a state file syncs its directory every time, not only when the file is new', () => {
    const path = `${tempDir()}/raft_state.meta`
    RaftStateFile.open(path).close()
    calls.length = 0
    // A crash right after the file was made could have left its name unsynced.
    RaftStateFile.open(path).close()
    expect(calls.filter((call) => call.name === 'fsyncDirectory')).toHaveLength(1)
  })
})
