// The append path makes no system call per entry: frames are built in the log's write buffer,
// and a flush is one pwrite and one fdatasync. A batch larger than the buffer goes to the file
// while it is built, and the device is asked to start writing it then.
import { describe, expect, it, vi } from 'vitest'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { recordingDataFileModule, type FileCall } from '../helpers/recording-data-file.js'
import { tempDir } from '../helpers/temp-dir.js'

/** Calls into the addon, by name. */
const calls: string[] = []
/** pwrites, fdatasyncs and write-back hints of the segment files. */
const fileCalls: FileCall[] = []
const failNext = new Set<string>()

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<Record<string, unknown>>()
  const counted: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(native)) {
    counted[name] =
      typeof value === 'function'
        ? (...args: unknown[]) => {
            // Write-back hints are tracked with the file's own calls.
            if (name !== 'startWriteback') calls.push(name)
            return (value as (...a: unknown[]) => unknown)(...args)
          }
        : value
  }
  return counted
})
vi.mock('../../src/storage/data-file.js', async (importOriginal) => recordingDataFileModule(await importOriginal(), fileCalls, failNext))

const { RaftLog } = await import('../../src/storage/raft-log.js')
const { writeBufferMaxBytes } = await import('../../src/storage/write-buffer.js')

function clear(): void {
  calls.length = 0
  fileCalls.length = 0
}

describe('append path', () => {
  it('appending thousands of entries makes no system call per entry; a flush is one pwrite and one fdatasync', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
    // The first flush of a run also syncs the directory once: the last run may have died before
    // its own flush synced a segment it had renamed in.
    clear()
    await log.flush()
    expect([calls, fileCalls]).toEqual([['fsyncDirectoryAsync'], []])
    clear()
    // 2,000 small entries: less than the write buffer holds.
    for (let batch = 0; batch < 40; batch++) {
      const first = log.lastIndex + 1
      log.append(Array.from({ length: 50 }, (_, i) => ({ term: 1, data: payloadFor(first + i, 1) })))
    }
    expect(log.lastIndex).toBe(2000)
    expect([calls, fileCalls]).toEqual([[], []])
    // Read before any reaches the file: served from the write buffer.
    expect(log.get(1234)!.data).toEqual(payloadFor(1234, 1))
    const used = log.describeSegments()[0]!.usedBytes
    await log.flush()
    const file = log.describeSegments()[0]!.file
    expect(calls).toEqual([])
    expect(fileCalls).toEqual([
      { name: 'write', file, offset: 64, length: used - 64 },
      { name: 'fdatasyncAsync', file },
    ])
    clear()
    // Reads come from the mapping and make no system call.
    expect(log.get(10)!.data).toEqual(payloadFor(10, 1))
    expect(log.slice(1, 100)).toHaveLength(99)
    expect([calls, fileCalls]).toEqual([[], []])
    log.close()
  })

  it('a batch larger than the write buffer reaches the file while it is built, and the device is asked to write it then', () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
    clear()
    const payload = new Uint8Array(1000).fill(7)
    const entries = Math.ceil((3 * writeBufferMaxBytes) / 1032)
    log.append(Array.from({ length: entries }, () => ({ term: 1, data: payload })))
    const writes = fileCalls.filter((call) => call.name === 'write')
    const hints = fileCalls.filter((call) => call.name === 'startWriteback')
    expect(writes.length).toBeGreaterThanOrEqual(2)
    expect(hints.map((hint) => [hint.offset, hint.length])).toEqual(writes.map((write) => [write.offset, write.length]))
    // In file order, each where the last ended; no sync until a flush asks for one.
    writes.forEach((write, i) => expect(write.offset).toBe(i === 0 ? 64 : writes[i - 1]!.offset! + writes[i - 1]!.length!))
    expect(fileCalls.some((call) => call.name.startsWith('fdatasync'))).toBe(false)
    expect(log.get(entries)!.data).toEqual(payload)
    log.close()
  })

  it('a log appended to without flushes leaves write-back to the kernel after 64 buffers, until it is flushed again', () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 64 * 1024 * 1024, logger: silentLogger })
    clear()
    const payload = new Uint8Array(writeBufferMaxBytes / 2 - 32)
    // Two frames fill a buffer: 80 buffers written out, no flush.
    for (let i = 0; i < 161; i++) log.append([{ term: 1, data: payload }])
    const count = (name: string): number => fileCalls.filter((call) => call.name === name).length
    expect([count('write'), count('startWriteback')]).toEqual([80, 64])
    log.flushSync()
    clear()
    for (let i = 0; i < 5; i++) log.append([{ term: 1, data: payload }])
    expect([count('write'), count('startWriteback')]).toEqual([2, 2])
    log.close()
  })

  it('a file compaction frees is reused only once its recycle record and its new name are durable', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 65536, logger: silentLogger, recycledSegments: 2 })
    while (log.describeSegments().length < 3) log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, 1000) }])
    await log.flush()
    clear()
    const first = log.describeSegments()[0]!
    log.compact(first.baseIndex + first.entryCount - 1)
    expect(calls).toEqual(['unmap', 'recycleFileAsync'])
    await log.reserveNextSegment()
    // The record, then the directory (the old name gone for good), before the file may be reused.
    expect(calls).toEqual(['unmap', 'recycleFileAsync', 'fsyncDirectoryAsync'])
    const rotations = log.stats.segmentsRecycled
    while (log.stats.segmentsRecycled === rotations) log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, 1000) }])
    log.close()
  })

  it('many flushes waiting on one in flight share a single second fdatasync', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
    await log.flush() // the run's first flush, with its directory sync
    log.append([{ term: 1, data: payloadFor(1, 1) }])
    clear()
    const first = log.flush()
    const waiting: Promise<void>[] = []
    for (let i = 0; i < 10; i++) {
      log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1) }])
      waiting.push(log.flush())
    }
    await Promise.all([first, ...waiting])
    expect(fileCalls.map((call) => call.name)).toEqual(['write', 'fdatasyncAsync', 'write', 'fdatasyncAsync'])
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
    failNext.add('fdatasyncAsync')
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

  it('a failed pwrite fails the log the same way', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 65536, logger: silentLogger })
    log.append([{ term: 1, data: payloadFor(1, 1) }])
    failNext.add('write')
    expect(() => log.flushSync()).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    expect(() => log.append([{ term: 1 }])).toThrow(expect.objectContaining({ code: 'ERR_IO' }))
    log.close()
  })
})
