// The append path makes no system call per entry, and a flush is one msync of the dirty range.
import { describe, expect, it, vi } from 'vitest'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const calls: string[] = []
/** The madvise hint of every advise() call, in order. */
const advice: string[] = []
/** [offset, length] of every populateRangeAsync() call. */
const populated: [number, number][] = []
/** Set to make the next asynchronous msync fail as a dying disk would. */
const failures = { nextSync: undefined as Error | undefined }

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<Record<string, unknown>>()
  const counted: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(native)) {
    counted[name] =
      typeof value === 'function'
        ? (...args: unknown[]) => {
            // Populating ahead is tracked on its own: it is per MiB, not per entry or flush.
            if (name === 'populateRangeAsync') populated.push([args[1] as number, args[2] as number])
            else calls.push(name)
            if (name === 'advise') advice.push(args[1] as string)
            const failure = failures.nextSync
            if (name === 'syncRangeAsync' && failure !== undefined) {
              failures.nextSync = undefined
              return Promise.reject(failure)
            }
            return (value as (...a: unknown[]) => unknown)(...args)
          }
        : value
  }
  return counted
})

const { RaftLog } = await import('../../src/storage/raft-log.js')

describe('append path', () => {
  it('appending thousands of entries makes no system call per entry; a flush is one msync', async () => {
    populated.length = 0
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
    // The 4 MiB after the header are populated ahead once the segment is made, a MiB at a time.
    expect(populated).toEqual([[64, 2 ** 20]])
    await vi.waitFor(() => expect(populated.at(-1)).toEqual([64 + 3 * 2 ** 20, 2 ** 20]))
    // The first flush of a run also syncs the directory once: the last run may have died before
    // its own flush synced a segment it had renamed in.
    calls.length = 0
    await log.flush()
    expect(calls).toEqual(['fsyncDirectoryAsync'])
    calls.length = 0
    for (let batch = 0; batch < 100; batch++) {
      const first = log.lastIndex + 1
      log.append(Array.from({ length: 50 }, (_, i) => ({ term: 1, data: payloadFor(first + i, 1) })))
    }
    expect(log.lastIndex).toBe(5000)
    expect(calls).toEqual([])
    await log.flush()
    expect(calls).toEqual(['syncRangeAsync'])
    calls.length = 0
    log.get(10)
    log.slice(1, 100)
    expect(calls).toEqual([])
    log.close()
  })

  it('many flushes waiting on one in flight share a single second msync', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
    await log.flush() // the run's first flush, with its directory sync
    log.append([{ term: 1, data: payloadFor(1, 1) }])
    calls.length = 0
    const first = log.flush()
    const waiting: Promise<void>[] = []
    for (let i = 0; i < 10; i++) {
      log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1) }])
      waiting.push(log.flush())
    }
    await Promise.all([first, ...waiting])
    expect(calls).toEqual(['syncRangeAsync', 'syncRangeAsync'])
    log.close()
  })
})

describe('populating ahead', () => {
  it('keeps the pages of the next MiBs faulted in on the thread pool, with one call per MiB appended', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 64 * 1024 * 1024, logger: silentLogger })
    calls.length = 0
    populated.length = 0
    const payload = new Uint8Array(1000)
    // 16 MiB in batches of 64 KiB, letting the event loop turn between batches as a server would.
    for (let batch = 0; batch < 256; batch++) {
      log.append(Array.from({ length: 64 }, () => ({ term: 1, data: payload })))
      await new Promise((resolve) => setImmediate(resolve))
    }
    const appendedBytes = log.describeSegments()[0]!.usedBytes
    expect(calls).toEqual([])
    // MiB steps that never go back (one behind a writer that outran them moves up to it), never
    // more than the bytes appended plus the lead, reaching past the end.
    await vi.waitFor(() => {
      const last = populated.at(-1)!
      expect(last[0] + last[1]).toBeGreaterThanOrEqual(appendedBytes + 4 * 2 ** 20)
    })
    expect(populated.length).toBeLessThanOrEqual(Math.ceil((appendedBytes + 4 * 2 ** 20) / 2 ** 20))
    for (let i = 1; i < populated.length; i++) expect(populated[i]![0]).toBeGreaterThanOrEqual(populated[i - 1]![0] + populated[i - 1]![1])
    log.close()
  })
})

describe('populating ahead of a writer that never yields', () => {
  it('still keeps ahead of the append position, one MiB per append at most', () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 64 * 1024 * 1024, logger: silentLogger })
    populated.length = 0
    const payload = new Uint8Array(1000)
    // 8 MiB in batches of 64 KiB, the event loop never turning: no populate completes meanwhile.
    for (let batch = 0; batch < 128; batch++) log.append(Array.from({ length: 64 }, () => ({ term: 1, data: payload })))
    const appendedBytes = log.describeSegments()[0]!.usedBytes
    const last = populated.at(-1)!
    expect(last[0] + last[1]).toBeGreaterThan(appendedBytes)
    expect(populated.length).toBeLessThanOrEqual(Math.ceil((appendedBytes + 4 * 2 ** 20) / 2 ** 20))
    log.close()
  })
})

describe('readahead advice', () => {
  it('keeps readahead off a segment while it takes appends and turns it back on when it is sealed', async () => {
    advice.length = 0
    const log = RaftLog.open(tempDir(), { segmentSize: 65536, logger: silentLogger })
    expect(advice).toEqual(['random'])
    advice.length = 0
    while (log.describeSegments().length < 2) log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1000) }])
    expect(advice).toEqual(['random'])
    // The flush seals the full segment: reads of it get readahead again.
    await log.flush()
    expect(advice).toEqual(['random', 'normal'])
    // Truncating into the sealed segment opens it for appends again.
    advice.length = 0
    log.truncateAfter(3)
    expect(advice).toEqual(['random'])
    log.close()
  })
})

describe('a failed sync', () => {
  it('puts the log in a failed state that refuses writes with ERR_IO until it is reopened', async () => {
    const dir = tempDir()
    const log = RaftLog.open(dir, { segmentSize: 65536, logger: silentLogger })
    log.append([{ term: 1, data: payloadFor(1, 1) }])
    await log.flush()
    log.append([{ term: 1, data: payloadFor(2, 1) }])
    failures.nextSync = Object.assign(new Error('EIO: i/o error, msync'), { code: 'EIO' })
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_IO' })
    expect(() => log.append([{ term: 1 }])).toThrow(expect.objectContaining({ code: 'ERR_IO', message: expect.stringMatching(/reopened/) }))
    await expect(log.flush()).rejects.toMatchObject({ code: 'ERR_IO' })
    expect(() => log.truncateAfter(0)).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    // Reads still work, and closing releases the directory for a reopen that reads the truth.
    expect(log.get(1)!.data).toEqual(payloadFor(1, 1))
    log.close()
    const again = RaftLog.open(dir, { segmentSize: 65536, logger: silentLogger })
    expect(again.get(1)!.data).toEqual(payloadFor(1, 1))
    again.close()
  })
})
