// Counts read as English: "1 segment, 1 entry", not "1 segments, 1 entries".
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { RaftLog } from '../../src/storage/raft-log.js'
import { runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/temp-dir.js'

describe('counts of one', () => {
  it('verify, inspect and dump say 1 segment, 1 entry, 1 byte', async () => {
    const dir = join(tempDir('raftlog-plurals-'), 'log')
    const log = RaftLog.open(dir, { segmentSize: 65536 })
    log.append([{ term: 1, data: Buffer.from('x') }])
    log.close()
    expect((await runCli(['verify', dir])).stdout).toMatch(/^ok: 1 segment, 1 entry \(1\.\.1\); no state file$/m)
    expect((await runCli(['inspect', dir])).stdout).toMatch(/^1 segment, 1 entry, indexes 1\.\.1$/m)
    expect((await runCli(['dump', dir])).stdout).toBe('1\tterm 1\tnormal\t1 byte\t"x"\n')
  })
})
