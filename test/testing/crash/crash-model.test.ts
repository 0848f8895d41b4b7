// The crash-test checker on its own: fed the writer's lines and a log built to match (or not),
// it must flag every entry that cannot legitimately be there.
import { describe, expect, it } from 'vitest'
import { CrashModel } from '../../../src/testing/crash/model.js'
import { entryPayload } from '../../../src/testing/crash/payload.js'
import { RaftLog } from '../../../src/storage/raft-log.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'

const seed = 7
const size = { min: 1, max: 64 }

/** A log holding exactly these [index, term] entries, with the payloads the writer would write. */
function logOf(entries: [number, number][]): RaftLog {
  const log = RaftLog.open(tempDir(), { segmentSize: 65536, logger: silentLogger })
  log.append(entries.map(([index, term]) => ({ term, data: entryPayload(seed, index, term, size) })))
  return log
}

function feed(model: CrashModel, lines: string[]): void {
  for (const line of lines) model.observe(line)
}

describe('the crash-test checker', () => {
  it('flags entries that a finished truncation, or an earlier recovery, removed for good', () => {
    const model = new CrashModel(seed, size)
    feed(model, ['W 1 5 1', 'A 5 1', 'W 6 10 3', 'A 10 3', 'T? 5', 'T 5'])
    const first = logOf([1, 2, 3, 4, 5].map((index) => [index, 1]))
    expect(model.check(first, 1).violations).toEqual([])
    first.close()
    // The next writer starts from term 1 (the log's last term) and writes 6..7 again; entries
    // 8..10 of term 3 were cut for good and must not reappear behind them.
    feed(model, ['W 6 7 1', 'A 7 1'])
    const stale = logOf([...[1, 2, 3, 4, 5, 6, 7].map((index): [number, number] => [index, 1]), [8, 3], [9, 3], [10, 3]])
    const { violations } = model.check(stale, 2)
    stale.close()
    expect(violations.map((violation) => violation.index)).toEqual([8, 9, 10])
    expect(violations[0]!.problem).toMatch(/never written/)
  })

  it('accepts entries after an unfinished truncation: the crash may have come before it took effect', () => {
    const model = new CrashModel(seed, size)
    feed(model, ['W 1 5 1', 'A 5 1', 'W 6 10 3', 'A 10 3', 'T? 5'])
    const untouched = logOf([...[1, 2, 3, 4, 5].map((index): [number, number] => [index, 1]), [6, 3], [7, 3], [8, 3], [9, 3], [10, 3]])
    expect(model.check(untouched, 1).violations).toEqual([])
    untouched.close()
  })
})
