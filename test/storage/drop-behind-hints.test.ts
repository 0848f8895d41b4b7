// Dropping a sealed segment from the page cache is a hint: when the kernel refuses it (madvise on a
// locked mapping answers EINVAL) or the addon cannot do it, every flush still makes every appended
// entry durable and seals every full segment, and the log takes writes as before.
import { describe, expect, it, vi } from 'vitest'
import { RaftLog } from '../../src/storage/raft-log.js'
import { payloadFor, silentLogger } from '../helpers/entries.js'
import { tempDir } from '../helpers/temp-dir.js'

const refuse = { madvise: false, dropCache: false }

vi.mock('../../src/storage/native.js', async (importOriginal) => {
  const native = await importOriginal<typeof import('../../src/storage/native.js')>()
  return {
    ...native,
    advise(buffer: ArrayBuffer, advice: Parameters<typeof native.advise>[1]): void {
      if (refuse.madvise && advice === 'dontneed') throw Object.assign(new Error('EINVAL: invalid argument, madvise'), { code: 'EINVAL', syscall: 'madvise' })
      native.advise(buffer, advice)
    },
    dropCacheAsync(fd: number): Promise<void> {
      // As an addon built before dropCacheAsync existed: the call itself throws.
      if (refuse.dropCache) throw new TypeError('addon(...).dropCacheAsync is not a function')
      return native.dropCacheAsync(fd)
    },
  }
})

const segmentSize = 4 * 2 ** 20
const entryBytes = 16 * 1024

/** Appends 16 KiB entries, without flushing, until the log has `count` segments. */
function appendSegments(log: RaftLog, count: number): void {
  while (log.describeSegments().length < count) log.append(Array.from({ length: 8 }, (_, i) => ({ term: 1, data: payloadFor(log.lastIndex + 1 + i, 1, entryBytes) })))
}

describe('a refused drop-behind', () => {
  for (const refused of ['madvise', 'dropCache'] as const) {
    for (const flush of ['flushSync', 'flush'] as const) {
      it(`changes nothing a ${flush} promises (${refused} refused)`, async () => {
        refuse[refused] = true
        try {
          const dir = tempDir()
          const log = RaftLog.open(dir, { segmentSize, logger: silentLogger })
          appendSegments(log, 6)
          if (flush === 'flushSync') log.flushSync()
          else await log.flush()
          expect(log.describeSegments().map((segment) => segment.sealed)).toEqual([true, true, true, true, true, false])
          // Still takes writes.
          log.append([{ term: 1, data: payloadFor(log.lastIndex + 1, 1, entryBytes) }])
          await log.flush()
          const last = log.lastIndex
          log.close()
          const reopened = RaftLog.open(dir, { segmentSize, logger: silentLogger })
          expect(reopened.lastIndex).toBe(last)
          for (let index = 1; index <= last; index += 53) {
            expect(Buffer.from(reopened.get(index)!.data).equals(Buffer.from(payloadFor(index, 1, entryBytes)))).toBe(true)
          }
          reopened.close()
        } finally {
          refuse[refused] = false
        }
      })
    }
  }
})
