// Options of the public API with a name it does not know are refused, naming it: in JavaScript a
// typo would otherwise be ignored and the default used (a 64 MiB segment for `segmentsize`).
import { describe, expect, it } from 'vitest'
import { readdirSync } from 'node:fs'
import { RaftLog } from '../src/storage/raft-log.js'
import { LogEngine } from '../src/engine/log-engine.js'
import { tempDir } from './helpers/temp-dir.js'

describe('unknown options', () => {
  it('RaftLog.open refuses one, suggesting the option it resembles, and makes no segment', () => {
    const dir = tempDir()
    expect(() => RaftLog.open(dir, { segmentsize: 8192 } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: 'RaftLog.open: unknown option "segmentsize" (did you mean segmentSize?); the options are segmentSize, recycledSegments, logger' }))
    expect(readdirSync(dir).filter((file) => file.endsWith('.seg'))).toEqual([])
    expect(() => RaftLog.open(dir, { segmentSize: 65536, bogus: 1 } as never)).toThrow(/unknown option "bogus"; the options are/)
    // An option set to undefined is absent, as a caller passing its own optional settings on has it.
    const log = RaftLog.open(dir, { segmentSize: 65536, recycledSegments: undefined })
    log.close()
  })

  it('LogEngine.open refuses one', () => {
    expect(() => LogEngine.open(tempDir(), { filesize: 1 << 20 } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/^LogEngine.open: unknown option "filesize" \(did you mean fileSize\?\)/) }))
  })
})
