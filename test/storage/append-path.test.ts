// The append path makes no system call per entry, and a flush is one msync of the dirty range.
import { describe, expect, it, vi } from 'vitest'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const calls: string[] = []

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<Record<string, unknown>>()
  const counted: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(native)) {
    counted[name] =
      typeof value === 'function'
        ? (...args: unknown[]) => {
            calls.push(name)
            return (value as (...a: unknown[]) => unknown)(...args)
          }
        : value
  }
  return counted
})

const { RaftLog } = await import('../../src/storage/raft-log.js')

describe('append path', () => {
  it('appending thousands of entries calls into the addon not once; a flush is one msync', async () => {
    const log = RaftLog.open(tempDir(), { segmentSize: 16 * 1024 * 1024, logger: silentLogger })
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
